#!/usr/bin/env bash
# Installs nodex for systemd on a bare-metal host: binary, unit, defaults, a dedicated user and
# the textfile directory. The unit gives the user CAP_DAC_READ_SEARCH alone (container metadata). Run as root from the repository after `cargo build --release`
# (or pass the binary's path as the first argument).
set -euo pipefail
cd "$(dirname "$0")/.."
binary="${1:-target/release/nodex}"
[ -x "$binary" ] || { echo "error: $binary not found; build it first (cargo build --release)" >&2; exit 1; }
id nodex >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /var/lib/nodex --shell /usr/sbin/nologin nodex
install -m 0755 "$binary" /usr/local/bin/nodex
install -m 0644 deploy/systemd/nodex.service /etc/systemd/system/nodex.service
[ -e /etc/default/nodex ] || install -m 0644 deploy/systemd/nodex.default /etc/default/nodex
install -d -o nodex -g nodex -m 0755 /var/lib/nodex /var/lib/nodex/textfile
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable --now nodex.service
  echo "nodex is running: curl -s localhost:9100/metrics | head"
else
  echo "installed; systemd is not running here, start /usr/local/bin/nodex by hand"
  echo "(as the unit does: user nodex with only CAP_DAC_READ_SEARCH, e.g. setpriv --reuid nodex --regid nodex --init-groups --inh-caps +dac_read_search --ambient-caps +dac_read_search --bounding-set -all,+dac_read_search /usr/local/bin/nodex)"
fi
