#!/bin/busybox sh
# PID 1 of the pure cgroup v2 VM (tests/vm_cgroup_v2.rs). Builds the kubelet's systemd-driver
# layout (kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid>.slice/
# cri-containerd-<id>.scope) with containerd's bundle config.json and /var/log/pods entries,
# sets the limits the kubelet and runc set (cpu.max, cpu.weight, memory.max/min/low, pids.max),
# runs a CPU burner (throttled), a memory holder (anon, tmpfs, 8 MiB written to /dev/ram0 and
# 8 MiB of page cache in a file on /mnt)
# and an OOM victim, freezes kubepods.slice, and prints every cgroup's kernel files before
# and after one nodex scrape. The ids come from /etc/vm.env, written by the test.
. /lib/vm.sh
. /etc/vm.env

CG=/sys/fs/cgroup
mount -t cgroup2 cgroup2 $CG || vm_fail "cannot mount cgroup2"
CTRL="+cpu +memory +io +pids"

# slice PATH: a non-leaf cgroup with the four controllers enabled for its children.
slice() {
  mkdir "$CG/$1" && echo "$CTRL" > "$CG/$1/cgroup.subtree_control" || vm_fail "slice $1"
}
# setf PATH FILE VALUE
setf() {
  echo "$3" > "$CG/$1/$2" || vm_fail "cannot write $3 to $1/$2"
}
# bundle ID NAME IMAGE POD NAMESPACE UID: containerd's OCI bundle with the CRI annotations.
bundle() {
  d=/run/containerd/io.containerd.runtime.v2.task/k8s.io/$1
  mkdir -p "$d"
  printf '{"ociVersion":"1.1.0","annotations":{"io.kubernetes.cri.container-type":"container","io.kubernetes.cri.container-name":"%s","io.kubernetes.cri.image-name":"%s","io.kubernetes.cri.sandbox-name":"%s","io.kubernetes.cri.sandbox-namespace":"%s","io.kubernetes.cri.sandbox-uid":"%s"}}' \
    "$2" "$3" "$4" "$5" "$6" > "$d/config.json"
  mkdir -p "/var/log/pods/$5_$4_$6/$2"
}
us() { echo "$1" | tr - _; }

echo "$CTRL" > $CG/cgroup.subtree_control || vm_fail "cannot enable $CTRL"
K=kubepods.slice
slice $K
slice $K/kubepods-burstable.slice
slice $K/kubepods-besteffort.slice
setf $K/kubepods-besteffort.slice cpu.weight 1

# Burstable pod: requests 1 CPU (shares 1024 -> weight 39), limit 200m (cpu.max 20000/100000).
BU_POD=$K/kubepods-burstable.slice/kubepods-burstable-pod$(us "$BU_UID").slice
BU=$BU_POD/cri-containerd-$BU_ID.scope
slice "$BU_POD"
setf "$BU_POD" cpu.max "20000 100000"
setf "$BU_POD" memory.max 268435456
mkdir "$CG/$BU"
setf "$BU" cpu.max "20000 100000"
setf "$BU" cpu.weight 39
setf "$BU" memory.max 134217728
setf "$BU" memory.min 8388608
setf "$BU" memory.low 16777216
setf "$BU" pids.max 64
bundle "$BU_ID" burner registry.example/burner:1 web-0 shop "$BU_UID"

# BestEffort pod: no limits; holds anon memory and a tmpfs file, writes 8 MiB to /dev/ram0
# (raw brd writes bypass the page cache) and an 8 MiB file on /mnt (ext2 on /dev/ram1: page
# cache, inactive_file, written back under the cgroup).
BE_POD=$K/kubepods-besteffort.slice/kubepods-besteffort-pod$(us "$BE_UID").slice
BE=$BE_POD/cri-containerd-$BE_ID.scope
slice "$BE_POD"
mkdir "$CG/$BE"
bundle "$BE_ID" holder registry.example/holder:3 cache-1 data "$BE_UID"

# Guaranteed pod: memory.max 16 MiB, one process outgrows it and is OOM-killed.
GU_POD=$K/kubepods-pod$(us "$GU_UID").slice
GU=$GU_POD/cri-containerd-$GU_ID.scope
slice "$GU_POD"
mkdir "$CG/$GU"
setf "$GU" cpu.max "10000 100000"
setf "$GU" cpu.weight 10
setf "$GU" memory.max 16777216
setf "$GU" memory.swap.max 0
bundle "$GU_ID" victim registry.example/victim:7 oom-0 batch "$GU_UID"

# Workloads; `echo 0 > cgroup.procs` moves the writing subshell itself.
(echo 0 > "$CG/$BU/cgroup.procs" && while :; do :; done) &
echo $! > /run/containerd/io.containerd.runtime.v2.task/k8s.io/$BU_ID/init.pid
(echo 0 > "$CG/$BU/cgroup.procs" && exec sleep 100000) &
(
  echo 0 > "$CG/$BE/cgroup.procs" || exit 1
  dd if=/dev/zero of=/dev/ram0 bs=65536 count=128 2>/dev/null
  dd if=/dev/zero of=/mnt/cache bs=65536 count=128 2>/dev/null
  sync
  head -c 4194304 /dev/zero > /tmp/hold
  x=$(head -c 4000000 /dev/zero | tr '\0' a)
  touch /tmp/holder-ready
  while :; do sleep 100000; done
) &
echo $! > /run/containerd/io.containerd.runtime.v2.task/k8s.io/$BE_ID/init.pid
(echo 0 > "$CG/$GU/cgroup.procs" && exec sleep 100000) &
echo $! > /run/containerd/io.containerd.runtime.v2.task/k8s.io/$GU_ID/init.pid
(echo 0 > "$CG/$GU/cgroup.procs" && x=$(head -c 67108864 /dev/zero | tr '\0' a))

throttled() {
  n=$(sed -n 's/^nr_throttled //p' "$CG/$BU/cpu.stat")
  [ "${n:-0}" -ge 5 ]
}
vm_wait "the burner to be throttled 5 times" throttled
vm_wait "the holder's memory" test -e /tmp/holder-ready
vm_wait "the OOM kill" grep -q '^oom_kill [1-9]' "$CG/$GU/memory.events"

vm_nodex --collector.disable-defaults --collector.container_cpu --collector.container_memory \
  --collector.container_diskio --collector.container_process --collector.container_spec \
  --collector.container_oom --collector.container_pressure --collector.machine
echo 1 > $CG/$K/cgroup.freeze
vm_wait "kubepods.slice to freeze" grep -q '^frozen 1' $CG/$K/cgroup.events

FILES="cgroup.procs cpu.stat cpu.max cpu.weight cpu.pressure memory.current memory.stat memory.max
  memory.min memory.low memory.swap.max memory.swap.current memory.peak memory.events memory.events.local
  memory.pressure io.stat io.pressure pids.current pids.max"
dump() {
  find $CG/$K -type d | while read -r d; do
    for f in $FILES; do
      vm_file "$1 ${d#$CG} $f" "$d/$f"
    done
  done
}
dump before
vm_scrape scrape
dump after
vm_file "nodex log" /tmp/nodex.log
vm_done
