#!/bin/busybox sh
# PID 1 of the cgroup v2 benchmark VM (benches/cgroup_v2_vm.rs): for each size in $SIZES, N
# containers in the kubelet's cgroupfs layout (kubepods/{besteffort,burstable}/pod<uid>/<64 hex>,
# two per pod, a quarter of the pods burstable) with the four controllers enabled, a process
# holding 1 MiB in every $SHARE-th container; then $ROUNDS rounds of, for each build in $BUILDS
# (/bin/nodex, and /bin/nodex-before when the benchmark is given one), $SCRAPES scrapes (gzip, as
# Prometheus asks), and $SCRAPES passes of the floor (cgroup_floor orc and pread on the same
# files). Each build runs only for its turn (started, warmed up with two scrapes, timed, stopped),
# so neither it nor the floor reads another's open descriptors (nodex keeps one per walked
# cgroup between scrapes, and the root cgroup's processes are read like a container's). Prints
# per build and round its CPU ticks (utime + stime, USER_HZ), wall time (centiseconds from
# /proc/uptime) and peak RSS, and the floor's JSON; the tree is removed before the next size.
# Settings in /etc/vm.env.
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

FLAGS="--collector.disable-defaults --collector.container_cpu --collector.container_memory \
  --collector.container_diskio --collector.container_process --collector.container_spec \
  --collector.container_oom --collector.container_pressure --collector.container_network \
  --collector.machine"
URL=http://127.0.0.1:9100/metrics
scrape() {
  wget -q -O /dev/null --header 'Accept-Encoding: gzip' $URL || vm_fail "$1: scrape failed"
}
# turn BUILD SIZE ROUND: one build's timed turn.
turn() {
  # shellcheck disable=SC2086
  /bin/"$1" --web.listen-address=127.0.0.1:9100 $FLAGS 2>>/tmp/nodex.log &
  pid=$!
  vm_wait "$1 to listen" wget -q -O /dev/null http://127.0.0.1:9100/
  scrape "$1"
  scrape "$1"
  t0=$(ticks "$pid")
  w0=$(centis)
  s=0
  while [ $s -lt "$SCRAPES" ]; do
    scrape "$1"
    s=$((s + 1))
  done
  vm_section "$1 $2 $3" echo "$(($(ticks "$pid") - t0)) $(($(centis) - w0)) $SCRAPES"
  vm_section "rss $1 $2 $3" sed -n 's/^VmHWM: *//p' /proc/"$pid"/status
  kill "$pid"
  wait "$pid" || true
}

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
  vm_section "cgroups $size" sh -c "find $CG -type d | wc -l"
  r=0
  while [ $r -lt "$ROUNDS" ]; do
    for b in $BUILDS; do
      turn "$b" "$size" "$r"
    done
    vm_section "orc $size $r" /bin/cgroup_floor orc "$SCRAPES" "$FLOOR_ARGS"
    vm_section "pread $size $r" /bin/cgroup_floor pread "$SCRAPES" "$FLOOR_ARGS"
    r=$((r + 1))
  done
  # Remove this size's tree (its processes first) before the next one.
  echo 1 > "$B/cgroup.kill" || vm_fail "cgroup.kill"
  vm_wait "the holders of size $size to exit" grep -q '^populated 0' "$B/cgroup.events"
  find "$B" -depth -type d -exec rmdir {} + || vm_fail "rmdir $B"
done
vm_file "nodex log" /tmp/nodex.log
vm_done
