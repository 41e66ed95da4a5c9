#!/usr/bin/env bash
# Installs every Debian 12 package that the build, the tests and the demo need.
# Idempotent: does nothing (and needs no root) when everything is present.
set -euo pipefail

packages=(
  # build
  build-essential meson ninja-build pkg-config gettext
  libglib2.0-dev libjson-glib-dev libcurl4-openssl-dev libsqlite3-dev
  libolm-dev libsecret-1-dev libncurses-dev libgtk-4-dev libadwaita-1-dev
  libqrencode-dev
  # the test homeserver
  libsoup-3.0-dev
  # tests: terminal, display, keyring, sanitizers, fuzzing
  tmux xvfb xauth dbus dbus-x11 gnome-keyring libsecret-tools
  clang libclang-rt-14-dev python3
  # tests: a QR decoder to read back the terminal QR codes
  zbar-tools
  # packaging validators
  desktop-file-utils appstream
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  apt_get=(apt-get)
elif command -v sudo >/dev/null 2>&1; then
  apt_get=(sudo apt-get)
else
  echo "install-deps: these Debian packages are missing: ${missing[*]}" >&2
  echo "install-deps: run this script as root (or install sudo) so it can apt-get them." >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${apt_get[@]}" update -qq
"${apt_get[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2
