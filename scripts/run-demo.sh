#!/usr/bin/env bash
# Installs what is needed, builds, starts the bundled test homeserver in
# demo mode (a seeded tenant, rooms, users and a concierge who answers),
# and opens the terminal client signed in as "demo".
#
# Environment: OM_DEMO_PORT (default 8008), OM_DEMO_USER/OM_DEMO_PASSWORD
# (default demo/demo), OM_DEMO_ROOM (default the board-games event room).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

if [ ! -f build/build.ninja ]; then
  meson setup build >/dev/null
fi
meson compile -C build >/dev/null

state=${XDG_STATE_HOME:-$HOME/.local/state}/openmeet-chat
mkdir -p "$state/demo-homeserver"
log=$state/demo-homeserver.log
port=${OM_DEMO_PORT:-8008}

start_homeserver () {
  build/tests/homeserver/om-test-homeserver --demo --port "$1" \
    --data-dir "$state/demo-homeserver" >"$state/demo-homeserver.url" 2>"$log" &
  hs_pid=$!
  for _ in $(seq 100); do
    if grep -q LISTENING "$state/demo-homeserver.url" 2>/dev/null; then
      return 0
    fi
    kill -0 "$hs_pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

if ! start_homeserver "$port"; then
  # The port is taken (or was): let the system pick one.
  start_homeserver 0 || { echo "run-demo: the homeserver did not start; see $log" >&2; exit 1; }
fi
trap 'kill $hs_pid 2>/dev/null; wait $hs_pid 2>/dev/null' EXIT

url=$(awk '/LISTENING/ {print $2}' "$state/demo-homeserver.url")
server=${url#http://}
echo "Demo homeserver at $url (users demo, alice, bob; password = user name)."
if [ -n "${OM_DEMO_LINE:-}" ]; then
  # Line mode (OM_DEMO_LINE=1): the timeline as lines, one message per line typed.
  echo "Type a message and press Enter; /rooms lists rooms, /room <alias> switches, /quit leaves."
  OPENMEET_PASSWORD="${OM_DEMO_PASSWORD:-demo}" build/src/tui/openmeet-tui --line \
    --homeserver "$url" --user "${OM_DEMO_USER:-demo}" \
    --room "${OM_DEMO_ROOM:-#event-board-games-night-demo:$server}"
  exit $?
fi
echo "Full-screen client: type and press Enter to send; Alt-Up/Down or Ctrl-P/N switch rooms,"
echo "Alt-1..9 picks one, PageUp scrolls back, /help lists commands, /quit leaves."
sleep 1
OPENMEET_PASSWORD=${OM_DEMO_PASSWORD:-demo} build/src/tui/openmeet-tui \
  --homeserver "$url" --user "${OM_DEMO_USER:-demo}"
