#!/usr/bin/env bash
# Prints the path of a clean Debian root (debootstrap --variant=minbase) for the package test,
# making it on first use under target/tools/ (about a minute; later runs reuse it and never
# change it: tests/deb.rs installs into a throw-away overlay on top).
# Usage: scripts/debian-root.sh [suite] [mirror]   (defaults: the host's suite, deb.debian.org)
set -euo pipefail
cd "$(dirname "$0")/.."
suite="${1:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}"
mirror="${2:-http://deb.debian.org/debian}"
root="$PWD/target/tools/debian-$suite"
if [ -x "$root/usr/bin/dpkg" ] && [ -f "$root/.complete" ]; then
  echo "$root"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "error: debootstrap missing (apt-get install debootstrap)" >&2; exit 1; }
rm -rf "$root.tmp"
mkdir -p "$(dirname "$root")"
# adduser is what the package's postinst uses to make its user; minbase leaves it out.
debootstrap --variant=minbase --include=adduser "$suite" "$root.tmp" "$mirror" >&2
rm -rf "$root.tmp/var/cache/apt/archives/"*.deb
touch "$root.tmp/.complete"
rm -rf "$root"
mv "$root.tmp" "$root"
echo "$root"
