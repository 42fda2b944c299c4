#!/bin/busybox sh
# PID 1 of the project-quota VM (tests/vm_quota.rs). /fs.img is an ext4 image the test built
# with quota,project and a kubelet pod layout whose `cache` emptyDir heads project $PROJID (the
# inherit flag set) and an `outside` file in the same project; e2fsck wrote the quota files.
# Copies it to /dev/ram2, mounts it with prjquota, prints every entry's st_blocks below cache,
# scratch and outside, writes one file into cache (the kernel gives it the project and charges
# it), prints that file's, then one scrape of nodex's container_disk. The paths come from
# /etc/vm.env, written by the test.
. /lib/vm.sh
. /etc/vm.env

mount -t cgroup2 cgroup2 /sys/fs/cgroup || vm_fail "cannot mount cgroup2"
vm_wait "/dev/ram2" test -b /dev/ram2
dd if=/fs.img of=/dev/ram2 bs=65536 2>/dev/null || vm_fail "dd /fs.img to /dev/ram2"
rm /fs.img
mkdir /q
mount -t ext4 -o prjquota /dev/ram2 /q || vm_fail "mount -o prjquota /dev/ram2"
V=/q/$VOLUMES

# walk NAME PATH: section NAME, one line `<st_blocks> <block unit>` per entry below PATH (itself
# included), as an independent du.
walk() {
  vm_section "$1" find "$2" -xdev -exec stat -c '%b %B' {} ';'
}
walk "walk cache" "$V/cache"
walk "walk scratch" "$V/scratch"
walk "walk outside" /q/outside

head -c "$LATE_BYTES" /dev/zero | tr '\0' q > "$V/cache/late" || vm_fail "write cache/late"
sync
walk "walk late" "$V/cache/late"

vm_nodex --collector.disable-defaults --collector.container_disk \
  '--collector.container.cgroup-include=^/nodex-matches-nothing$' \
  --collector.container.pod-log-dir=/q/logs --collector.container.kubelet-root=/q/kubelet \
  --collector.container.disk.budget=60s
vm_scrape scrape
vm_file "nodex log" /tmp/nodex.log
vm_done
