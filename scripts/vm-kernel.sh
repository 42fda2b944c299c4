#!/usr/bin/env bash
# Fetches the kernel of Debian's linux-image-amd64 (the versioned package it depends on) into
# target/vm-kernel/<package>/ without installing it: vmlinuz and the brd (RAM disk) module, which
# the cgroup VM tests (tests/common/vm.rs) boot under qemu. Prints that directory. Idempotent: a
# fetched kernel is reused. Needs apt-get and dpkg-deb (any Debian machine).
set -euo pipefail
cd "$(dirname "$0")/.."
pkg="$(apt-cache depends linux-image-amd64 2>/dev/null |
  sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -1)"
if [ -z "$pkg" ]; then
  echo "error: apt-cache knows no linux-image-amd64 (run apt-get update)" >&2
  exit 1
fi
dir="target/vm-kernel/$pkg"
if [ -f "$dir/vmlinuz" ] && [ -f "$dir/brd.ko" ]; then
  echo "$PWD/$dir"
  exit 0
fi
mkdir -p target/vm-kernel
tmp="$(mktemp -d target/vm-kernel/fetch.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -q "$pkg" >/dev/null 2>&1) || {
  echo "error: apt-get download $pkg failed" >&2
  exit 1
}
# dpkg-deb -x would unpack every module (~400 MB); only the kernel and brd.ko are needed.
mkdir "$tmp/x"
dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp/x" --wildcards './boot/vmlinuz-*' './lib/modules/*/kernel/drivers/block/brd.ko'
mkdir -p "$dir"
cp "$tmp"/x/boot/vmlinuz-* "$dir/vmlinuz.part"
cp "$tmp"/x/lib/modules/*/kernel/drivers/block/brd.ko "$dir/brd.ko"
mv "$dir/vmlinuz.part" "$dir/vmlinuz"
echo "$PWD/$dir"
