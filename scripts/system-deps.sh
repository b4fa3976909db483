#!/usr/bin/env bash
# Debian packages Qt (PySide6) needs at run time, plus Xvfb for the window tests.
# Installs what is missing when run as root (or with passwordless sudo); otherwise
# prints the one command to run and carries on (offscreen tests still work).
set -euo pipefail

PKGS=(libegl1 libgl1 libopengl0 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libfreetype6
      libglib2.0-0 libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0
      libxcb-randr0 libxcb-render-util0 libxcb-image0 libxcb-xinerama0 libxcb-xkb1 libx11-xcb1
      fonts-dejavu-core xvfb xauth)

command -v dpkg-query >/dev/null || { echo "system-deps: not a Debian system, skipping the check"; exit 0; }

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "system-deps: missing Debian packages: ${missing[*]}"
    echo "system-deps: install them with: sudo apt-get install -y ${missing[*]}"
    exit 0
fi
echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
