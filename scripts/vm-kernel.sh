#!/usr/bin/env bash
# Fetches the kernel of Debian's linux-image-amd64 (the versioned package it depends on) into
# target/vm-kernel/<package>/ without installing it: vmlinuz, the brd (RAM disk) module, ext4
# with its dependencies (crc16, crc32c, mbcache, jbd2) and the v2 quota format (quota_tree,
# quota_v2: ext4's hidden quota files; the kernel has CONFIG_QUOTA=y, CONFIG_QFMT_V2=m), which
# the VM tests (tests/common/vm.rs) boot under qemu. Prints that directory. Idempotent: a fetched kernel is reused. Needs apt-get
# and dpkg-deb (any Debian machine).
set -euo pipefail
cd "$(dirname "$0")/.."
pkg="$(apt-cache depends linux-image-amd64 2>/dev/null |
  sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -1)"
if [ -z "$pkg" ]; then
  echo "error: apt-cache knows no linux-image-amd64 (run apt-get update)" >&2
  exit 1
fi
dir="target/vm-kernel/$pkg"
# In load order: a module's dependencies come before it (modules.dep: quota_v2 needs quota_tree).
modules="drivers/block/brd.ko lib/crc16.ko crypto/crc32c_generic.ko fs/mbcache.ko fs/jbd2/jbd2.ko
  fs/ext4/ext4.ko fs/quota/quota_tree.ko fs/quota/quota_v2.ko"
if [ -f "$dir/vmlinuz" ] && [ -f "$dir/modules" ] && [ "$(cat "$dir/modules")" = "$modules" ]; then
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
# dpkg-deb -x would unpack every module (~400 MB); only the kernel and these are needed.
mkdir "$tmp/x"
patterns=('./boot/vmlinuz-*')
for m in $modules; do patterns+=("./lib/modules/*/kernel/$m"); done
dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp/x" --wildcards "${patterns[@]}"
mkdir -p "$dir"
rm -f "$dir"/*.ko "$dir/modules"
cp "$tmp"/x/boot/vmlinuz-* "$dir/vmlinuz"
for m in $modules; do cp "$tmp"/x/lib/modules/*/kernel/"$m" "$dir/"; done
echo "$modules" > "$dir/modules"
echo "$PWD/$dir"
