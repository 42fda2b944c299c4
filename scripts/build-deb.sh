#!/usr/bin/env bash
# Builds target/debian/nodex_<version>_<arch>.deb with cargo-deb and prints its path.
#
# The binary is the static one scripts/build-image.sh builds (same flags and target, so one
# release build serves the image and the package). The unit is deploy/systemd/nodex.service with
# the binary at /usr/bin, where a package puts it (deploy/install.sh uses /usr/local/bin).
# cargo-deb is pinned; scripts/test-all.sh installs it when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
target="$(rustc -vV | sed -n 's/^host: //p')"
command -v cargo-deb >/dev/null || { echo "error: cargo-deb missing: cargo install cargo-deb --version 3.8.0 --locked" >&2; exit 1; }
RUSTFLAGS='-C target-feature=+crt-static -C relocation-model=static' \
  cargo build --release --locked --target "$target" >&2
mkdir -p target/deb-assets
sed 's|/usr/local/bin/nodex|/usr/bin/nodex|g' deploy/systemd/nodex.service > target/deb-assets/nodex.service
mkdir -p target/debian
deb="$(cargo deb --no-build --locked --target "$target" --output target/debian/)"
echo "$PWD/${deb#"$PWD/"}"
