# Shell helpers for the VM init scripts (tests/common/vm.rs installs this as /lib/vm.sh; the
# scripts source it first): basic mounts, loopback, the brd RAM disk, and the console markers
# that tests/common/vm.rs parses.

# Ends the run: the test stops qemu when it reads @@@DONE.
vm_done() {
  echo "@@@DONE"
  reboot -f
}

# vm_fail MESSAGE: reports MESSAGE in the "error" section and ends the run.
vm_fail() {
  echo "@@@BEGIN error"
  echo "$1"
  echo "@@@END error"
  vm_done
}

# vm_section NAME COMMAND...: COMMAND's output as section NAME.
vm_section() {
  name=$1
  shift
  echo "@@@BEGIN $name"
  "$@"
  echo "@@@END $name"
}

# vm_file NAME FILE: FILE's content as section NAME, if FILE exists.
vm_file() {
  if [ -e "$2" ]; then
    echo "@@@BEGIN $1"
    cat "$2"
    echo "@@@END $1"
  fi
}

# vm_wait WHAT COMMAND...: polls COMMAND every 50 ms until it succeeds; fails the run after 120 s.
vm_wait() {
  what=$1
  shift
  n=0
  until "$@"; do
    n=$((n + 1))
    [ "$n" -gt 2400 ] && vm_fail "timed out waiting for: $what"
    sleep 0.05
  done
}

# vm_nodex ARGS...: starts nodex on 127.0.0.1:9100 (log in /tmp/nodex.log) and waits until it
# answers.
vm_nodex() {
  /bin/nodex --web.listen-address=127.0.0.1:9100 "$@" 2>/tmp/nodex.log &
  vm_wait "nodex to listen" wget -q -O /dev/null http://127.0.0.1:9100/
}

# vm_scrape NAME: one scrape of /metrics as section NAME.
vm_scrape() {
  vm_section "$1" wget -q -O - http://127.0.0.1:9100/metrics
}

/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
ip link set lo up
for m in $(cat /lib/modules/order); do
  case $m in
  brd.ko) insmod /lib/modules/$m rd_nr=3 rd_size=32768 ;;
  *) insmod /lib/modules/$m ;;
  esac
done
# /dev/ram0 (32 MiB) is written raw; /dev/ram1 holds an ext2 file system on /mnt whose files
# are page cache (active_file/inactive_file) charged to the cgroup that reads or writes them;
# /dev/ram2 takes a file system image a test brings (tests/vm/quota.sh).
# devtmpfs creates the nodes asynchronously.
vm_wait "/dev/ram1" test -b /dev/ram1
mke2fs -q /dev/ram1 >/dev/null || vm_fail "mke2fs /dev/ram1"
mount -t ext4 /dev/ram1 /mnt || vm_fail "mount /dev/ram1"

