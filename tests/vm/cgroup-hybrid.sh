#!/bin/busybox sh
# PID 1 of the hybrid VM (tests/vm_cgroup_v2.rs): systemd's hybrid layout, cgroup v1 controllers
# (cpu,cpuacct, memory, pids, blkio) under a tmpfs /sys/fs/cgroup plus an empty cgroup2 `unified`
# mount; the kubelet's systemd-driver slices in every hierarchy, v1 limits, a throttled CPU
# burner, a memory holder and an OOM victim; kubepods.slice frozen (v1 freezer); every
# cgroup's files printed before and after one nodex scrape, as "<phase> <id> <hierarchy>/<file>".
. /lib/vm.sh
. /etc/vm.env

CG=/sys/fs/cgroup
mount -t tmpfs -o mode=755 tmpfs $CG || vm_fail "tmpfs on $CG"
HIER="cpu,cpuacct memory pids blkio freezer"
for h in $HIER; do
  mkdir $CG/$h && mount -t cgroup -o "$h" cgroup "$CG/$h" || vm_fail "cannot mount v1 $h"
done
ln -s cpu,cpuacct $CG/cpu
ln -s cpu,cpuacct $CG/cpuacct
mkdir $CG/unified && mount -t cgroup2 cgroup2 $CG/unified || vm_fail "cannot mount cgroup2"

# cg PATH: creates PATH in every hierarchy.
cg() {
  for h in $HIER unified; do mkdir -p "$CG/$h/$1" || vm_fail "mkdir $h/$1"; done
}
# setf HIER PATH FILE VALUE
setf() {
  echo "$4" > "$CG/$1/$2/$3" || vm_fail "cannot write $4 to $1/$2/$3"
}
# enter PATH: moves the calling subshell into PATH in every hierarchy.
enter() {
  for h in $HIER unified; do echo 0 > "$CG/$h/$1/cgroup.procs" || exit 1; done
}
bundle() {
  d=/run/containerd/io.containerd.runtime.v2.task/k8s.io/$1
  mkdir -p "$d"
  printf '{"ociVersion":"1.1.0","annotations":{"io.kubernetes.cri.container-type":"container","io.kubernetes.cri.container-name":"%s","io.kubernetes.cri.image-name":"%s","io.kubernetes.cri.sandbox-name":"%s","io.kubernetes.cri.sandbox-namespace":"%s","io.kubernetes.cri.sandbox-uid":"%s"}}' \
    "$2" "$3" "$4" "$5" "$6" > "$d/config.json"
  mkdir -p "/var/log/pods/$5_$4_$6/$2"
}
us() { echo "$1" | tr - _; }

K=kubepods.slice
BU_POD=$K/kubepods-burstable.slice/kubepods-burstable-pod$(us "$BU_UID").slice
BU=$BU_POD/cri-containerd-$BU_ID.scope
BE_POD=$K/kubepods-besteffort.slice/kubepods-besteffort-pod$(us "$BE_UID").slice
BE=$BE_POD/cri-containerd-$BE_ID.scope
GU_POD=$K/kubepods-pod$(us "$GU_UID").slice
GU=$GU_POD/cri-containerd-$GU_ID.scope
for p in "$BU" "$BE" "$GU"; do cg "$p"; done
setf cpu,cpuacct $K/kubepods-besteffort.slice cpu.shares 2
setf cpu,cpuacct "$BU" cpu.cfs_quota_us 20000
setf cpu,cpuacct "$BU" cpu.shares 1024
setf memory "$BU" memory.limit_in_bytes 134217728
setf memory "$BU" memory.soft_limit_in_bytes 16777216
setf pids "$BU" pids.max 64
setf cpu,cpuacct "$GU" cpu.cfs_quota_us 10000
setf cpu,cpuacct "$GU" cpu.shares 102
setf memory "$GU" memory.limit_in_bytes 16777216
bundle "$BU_ID" burner registry.example/burner:1 web-0 shop "$BU_UID"
bundle "$BE_ID" holder registry.example/holder:3 cache-1 data "$BE_UID"
bundle "$GU_ID" victim registry.example/victim:7 oom-0 batch "$GU_UID"

(enter "$BU" && while :; do :; done) &
(enter "$BU" && exec sleep 100000) &
(
  enter "$BE"
  dd if=/dev/zero of=/dev/ram0 bs=65536 count=128 2>/dev/null
  dd if=/dev/zero of=/mnt/cache bs=65536 count=128 2>/dev/null
  sync
  head -c 4194304 /dev/zero > /tmp/hold
  x=$(head -c 4000000 /dev/zero | tr '\0' a)
  touch /tmp/holder-ready
  while :; do sleep 100000; done
) &
(enter "$GU" && exec sleep 100000) &
(enter "$GU" && x=$(head -c 67108864 /dev/zero | tr '\0' a))

throttled() {
  n=$(sed -n 's/^nr_throttled //p' "$CG/cpu,cpuacct/$BU/cpu.stat")
  [ "${n:-0}" -ge 5 ]
}
vm_wait "the burner to be throttled 5 times" throttled
vm_wait "the holder's memory" test -e /tmp/holder-ready
vm_wait "the OOM kill" grep -q '^oom_kill [1-9]' "$CG/memory/$GU/memory.oom_control"

vm_nodex --collector.disable-defaults --collector.container_cpu --collector.container_memory \
  --collector.container_diskio --collector.container_process --collector.container_spec \
  --collector.container_oom --collector.container_pressure --collector.machine
echo FROZEN > $CG/freezer/$K/freezer.state
vm_wait "kubepods.slice to freeze" grep -q FROZEN $CG/freezer/$K/freezer.state

FILES="cpu,cpuacct/cpuacct.usage cpu,cpuacct/cpuacct.stat cpu,cpuacct/cpu.stat
  cpu,cpuacct/cpu.cfs_quota_us cpu,cpuacct/cpu.cfs_period_us cpu,cpuacct/cpu.shares
  memory/memory.usage_in_bytes memory/memory.stat memory/memory.limit_in_bytes
  memory/memory.soft_limit_in_bytes memory/memory.memsw.limit_in_bytes
  memory/memory.max_usage_in_bytes memory/memory.failcnt memory/memory.oom_control
  pids/cgroup.procs pids/pids.current pids/pids.max
  blkio/blkio.throttle.io_service_bytes_recursive blkio/blkio.throttle.io_serviced_recursive
  unified/cpu.pressure unified/memory.pressure unified/io.pressure"
dump() {
  find $CG/memory/$K -type d | while read -r d; do
    id=${d#$CG/memory}
    for f in $FILES; do
      vm_file "$1 $id $f" "$CG/${f%%/*}$id/${f#*/}"
    done
  done
}
dump before
vm_scrape scrape
dump after
vm_file "nodex log" /tmp/nodex.log
vm_done
