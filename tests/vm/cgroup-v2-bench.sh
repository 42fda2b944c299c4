#!/bin/busybox sh
# PID 1 of the cgroup v2 benchmark VM (benches/cgroup_v2_vm.rs): for each size in $SIZES, N
# containers in the kubelet's cgroupfs layout (kubepods/{besteffort,burstable}/pod<uid>/<64 hex>,
# two per pod, a quarter of the pods burstable) with the four controllers enabled, a process
# holding 1 MiB in every $SHARE-th container; then $ROUNDS rounds of $SCRAPES nodex scrapes
# (gzip, as Prometheus asks) and $SCRAPES passes of the floor (cgroup_floor orc and pread on the
# same files) each. Prints per round nodex's CPU ticks (utime + stime, USER_HZ) and wall time
# (centiseconds from /proc/uptime) for the round, and the floor's JSON; the tree is removed
# before the next size. Settings in /etc/vm.env.
. /lib/vm.sh
. /etc/vm.env

CG=/sys/fs/cgroup
mount -t cgroup2 cgroup2 $CG || vm_fail "cannot mount cgroup2"
CTRL="+cpu +memory +io +pids"
echo "$CTRL" > $CG/cgroup.subtree_control || vm_fail "cannot enable $CTRL"

# parent PATH: a cgroup whose children get the four controllers.
parent() {
  mkdir "$1" && echo "$CTRL" > "$1/cgroup.subtree_control" || vm_fail "parent $1"
}
hex64() {
  a=$(cat /proc/sys/kernel/random/uuid)
  b=$(cat /proc/sys/kernel/random/uuid)
  echo "$a$b" | tr -d -
}
ticks() {
  set -- $(cat /proc/"$1"/stat)
  echo $((${14} + ${15}))
}
centis() {
  set -- $(cat /proc/uptime)
  echo "${1%.*}${1#*.}"
}

vm_nodex --collector.disable-defaults --collector.container_cpu --collector.container_memory \
  --collector.container_diskio --collector.container_process --collector.container_spec \
  --collector.container_oom --collector.container_pressure --collector.container_network \
  --collector.machine
NODEX=$(pidof nodex) || vm_fail "nodex is not running"
URL=http://127.0.0.1:9100/metrics

parent $CG/bench
for size in $SIZES; do
  # This size's tree.
  B=$CG/bench/n$size
  parent "$B"
  parent "$B/kubepods"
  parent "$B/kubepods/besteffort"
  parent "$B/kubepods/burstable"
  c=0
  p=0
  while [ $c -lt "$size" ]; do
    if [ $((p % 4)) = 3 ]; then qos=burstable; else qos=besteffort; fi
    pod=$B/kubepods/$qos/pod$(cat /proc/sys/kernel/random/uuid)
    parent "$pod"
    for k in 1 2; do
      [ $c -lt "$size" ] || break
      leaf=$pod/$(hex64)
      mkdir "$leaf" || vm_fail "mkdir $leaf"
      if [ $((c % SHARE)) = 0 ]; then
        (echo 0 > "$leaf/cgroup.procs" && x=$(head -c 1048576 /dev/zero | tr '\0' a) &&
          while :; do sleep 100000; done) &
      fi
      c=$((c + 1))
    done
    p=$((p + 1))
  done
  # Every holder has moved itself and filled its 1 MiB once no subshell is still reading.
  vm_wait "the holders of size $size" sh -c "! pidof head >/dev/null && ! pidof tr >/dev/null"
  wget -q -O /dev/null --header 'Accept-Encoding: gzip' $URL || vm_fail "warm-up scrape"
  vm_section "cgroups $size" sh -c "find $CG -type d | wc -l"
  r=0
  while [ $r -lt "$ROUNDS" ]; do
    t0=$(ticks "$NODEX")
    w0=$(centis)
    s=0
    while [ $s -lt "$SCRAPES" ]; do
      wget -q -O /dev/null --header 'Accept-Encoding: gzip' $URL || vm_fail "scrape failed"
      s=$((s + 1))
    done
    vm_section "nodex $size $r" echo "$(($(ticks "$NODEX") - t0)) $(($(centis) - w0)) $SCRAPES"
    vm_section "orc $size $r" /bin/cgroup_floor orc "$SCRAPES" "$FLOOR_ARGS"
    vm_section "pread $size $r" /bin/cgroup_floor pread "$SCRAPES" "$FLOOR_ARGS"
    r=$((r + 1))
  done
  vm_section "rss $size" sed -n 's/^VmHWM: *//p' /proc/"$NODEX"/status
  # Remove this size's tree (its processes first) before the next one.
  echo 1 > "$B/cgroup.kill" || vm_fail "cgroup.kill"
  vm_wait "the holders of size $size to exit" grep -q '^populated 0' "$B/cgroup.events"
  find "$B" -depth -type d -exec rmdir {} + || vm_fail "rmdir $B"
done
vm_file "nodex log" /tmp/nodex.log
vm_done
