#!/bin/sh
# run-with-keyring.sh — runs "$@" on a private session bus with an unlocked
# gnome-keyring (the recipe of FIELD-NOTES: libsecret without a desktop).
#
# SPDX-License-Identifier: GPL-3.0-or-later
set -eu

if [ "${OM_IN_KEYRING_SESSION:-}" != 1 ]; then
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/om-keyring.XXXXXX")
  mkdir -p "$tmp/.cache" "$tmp/.local/share" "$tmp/.config"
  status=0
  # A DISPLAY without our bus would make gnome-keyring prompt: drop it.
  env -u DISPLAY -u WAYLAND_DISPLAY HOME="$tmp" XDG_DATA_HOME="$tmp/.local/share" \
    XDG_CONFIG_HOME="$tmp/.config" XDG_CACHE_HOME="$tmp/.cache" XDG_RUNTIME_DIR="$tmp" \
    OM_IN_KEYRING_SESSION=1 dbus-run-session -- "$0" "$@" || status=$?
  rm -rf "$tmp"
  exit "$status"
fi

printf '%s' "om-test-keyring" | gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null 2>&1 &
gkd=$!
trap 'kill "$gkd" 2>/dev/null; wait "$gkd" 2>/dev/null || true' EXIT

tries=0
until gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
        --method org.freedesktop.DBus.NameHasOwner org.freedesktop.secrets 2>/dev/null | grep -q true; do
  tries=$((tries + 1))
  if [ "$tries" -gt 100 ] || ! kill -0 "$gkd" 2>/dev/null; then
    echo "run-with-keyring.sh: gnome-keyring-daemon did not come up" >&2
    exit 1
  fi
  sleep 0.1
done

status=0
"$@" || status=$?
exit "$status"
