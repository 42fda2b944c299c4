#!/bin/busybox sh
# PID 1 of the churn VM (tests/vm_cgroup_v2.rs): pure cgroup v2. Containers in the kubelet's
# cgroupfs layout (kubepods/besteffort/pod<uid>/<64 hex>) are created and removed as fast as the
# shell can while nodex is scraped, then the kernel's count of dying cgroups below kubepods
# (`nr_dying_descendants` in cgroup.stat: removed cgroups something still holds) must fall to 0
# and, after one more scrape, nodex must hold no descriptor on a removed pod (it keeps those of
# the cgroups its last walk found, for the next walk). A control first shows the count does see
# a descriptor held on a removed cgroup, so the check can fail.
. /lib/vm.sh

CG=/sys/fs/cgroup
mount -t cgroup2 cgroup2 $CG || vm_fail "cannot mount cgroup2"
CTRL="+cpu +memory +io +pids"
echo "$CTRL" > $CG/cgroup.subtree_control || vm_fail "cannot enable $CTRL"
K=$CG/kubepods
mkdir $K $K/besteffort || vm_fail "mkdir kubepods"
echo "$CTRL" > $K/cgroup.subtree_control || vm_fail "kubepods controllers"
echo "$CTRL" > $K/besteffort/cgroup.subtree_control || vm_fail "besteffort controllers"

dying() { sed -n 's/^nr_dying_descendants //p' $K/cgroup.stat; }
# settled: polls up to 20 s for no dying cgroup below kubepods (the kernel frees a released
# cgroup after an RCU grace period), then prints the count either way.
settled() {
  n=0
  while [ "$(dying)" != 0 ] && [ "$n" -lt 400 ]; do
    n=$((n + 1))
    sleep 0.05
  done
  dying
}
hex64() {
  a=$(cat /proc/sys/kernel/random/uuid)
  b=$(cat /proc/sys/kernel/random/uuid)
  echo "$a$b" | tr -d -
}

# Controls: which descriptors held on a removed cgroup keep it dying. hold KIND opens one in
# a fresh cgroup, removes the cgroup and prints the count once the kernel had time to free it
# (settled), then again after closing it.
hold() {
  d=$K/besteffort/held-$1
  mkdir "$d" || vm_fail "mkdir $d"
  case $1 in
  dir) exec 3<"$d" ;;
  memory) exec 3<"$d/memory.stat" ;;
  procs) exec 3<"$d/cgroup.procs" && head -c 1 <&3 >/dev/null ;;
  esac
  err=$(rmdir "$d" 2>&1) || vm_fail "rmdir $d with a $1 descriptor held: $err"
  vm_section "control $1" settled
  exec 3<&-
  vm_section "control $1 released" settled
}
hold dir
hold memory
hold procs
# The descriptor count below sees a descriptor held on a removed pod (here, this shell's own).
mkdir $K/besteffort/podcontrol || vm_fail "mkdir podcontrol"
exec 3<$K/besteffort/podcontrol
rmdir $K/besteffort/podcontrol || vm_fail "rmdir podcontrol"
vm_section "control descriptors" sh -c "ls -l /proc/$$/fd | grep -c ' -> $K/besteffort/pod' || true"
exec 3<&-

vm_nodex --collector.disable-defaults --collector.container_cpu --collector.container_memory \
  --collector.container_diskio --collector.container_process --collector.container_spec \
  --collector.container_oom --collector.container_pressure
NODEX=$(pidof nodex) || vm_fail "nodex is not running"

# Churn: keep four pods alive; make one (a pod cgroup and its container), remove the oldest.
(
  i=0
  live=""
  while [ ! -e /tmp/stop ]; do
    pod=$K/besteffort/pod$(cat /proc/sys/kernel/random/uuid)
    c=$pod/$(hex64)
    mkdir "$pod" && echo "$CTRL" > "$pod/cgroup.subtree_control" && mkdir "$c" || exit 1
    live="$live $c"
    set -- $live
    if [ $# -gt 4 ]; then
      rmdir "$1" "${1%/*}" || exit 1
      shift
      live="$*"
    fi
    i=$((i + 1))
  done
  for c in $live; do rmdir "$c" "${c%/*}" || exit 1; done
  echo $i > /tmp/made
) &
CHURN=$!
vm_wait "the first churned pod" sh -c "ls -d $K/besteffort/pod* >/dev/null 2>&1"
s=0
while [ $s -lt 40 ]; do
  wget -q -O /tmp/scrape http://127.0.0.1:9100/metrics || vm_fail "scrape $s failed"
  s=$((s + 1))
done
vm_file "last scrape" /tmp/scrape
touch /tmp/stop
wait $CHURN || vm_fail "the churn loop failed"
vm_file "made" /tmp/made
vm_section "dying after churn" settled
# The walk of the next scrape closes the descriptors of the pods removed since the last.
wget -q -O /dev/null http://127.0.0.1:9100/metrics || vm_fail "scrape after churn failed"
vm_section "nodex descriptors" sh -c "ls -l /proc/$NODEX/fd | grep -c ' -> $K/besteffort/pod' || true"
vm_file "nodex log" /tmp/nodex.log
vm_done
