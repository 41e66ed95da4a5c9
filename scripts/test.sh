#!/usr/bin/env bash
# Installs what is needed, builds, and runs the whole test suite twice: a
# normal build with warnings as errors, then the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer.  Ends with one line of totals.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh || exit 1

# The tests' OpenID provider (tests/oidc, Node): npm ci from the lockfile when
# node_modules is missing or the lockfile changed since the last install.
oidc_sum=$(sha256sum tests/oidc/package-lock.json | cut -d' ' -f1)
if [ "$(cat tests/oidc/node_modules/.om-lock.sha256 2>/dev/null)" != "$oidc_sum" ]; then
  npm ci --prefix tests/oidc --no-audit --no-fund || exit 1
  echo "$oidc_sum" > tests/oidc/node_modules/.om-lock.sha256
fi

jobs=$(nproc)
status=0

run_suite () {
  local dir=$1; shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" -Dwerror=true "$@" >/dev/null || return 1
  fi
  rm -f "$dir/meson-logs/testlog.json"
  meson compile -C "$dir" || return 1
  meson test -C "$dir" --print-errorlogs --num-processes "$jobs" || return 1
}

run_suite build || status=1

if [ "${OM_SKIP_SANITIZERS:-0}" != 1 ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp
  run_suite build-asan -Db_sanitize=address,undefined -Dbuildtype=debug || status=1
fi

dirs=(build)
[ "${OM_SKIP_SANITIZERS:-0}" != 1 ] && dirs+=(build-asan)
python3 scripts/test-totals.py "${dirs[@]}"
exit $status
