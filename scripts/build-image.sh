#!/usr/bin/env bash
# Builds a static, non-PIE nodex (glibc, +crt-static; no start-up relocations to page in) and the
# FROM-scratch image. Against the dynamic build it runs the same user-space instructions per host
# scrape (benches/callgrind_scrape.py: the same IFUNC-selected string functions, the same malloc)
# with ~1.6 MiB less resident (no libc, libm, ld.so pages).
# Usage: scripts/build-image.sh [tag]   (default tag: nodex:dev)
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-nodex:dev}"
target="$(rustc -vV | sed -n 's/^host: //p')"
RUSTFLAGS='-C target-feature=+crt-static -C relocation-model=static' cargo build --release --locked --target "$target"
mkdir -p .build
cp "target/$target/release/nodex" .build/nodex
if readelf -d .build/nodex | grep -q NEEDED; then
  echo "error: .build/nodex needs shared libraries; the image has none" >&2
  exit 1
fi
docker build -q -t "$tag" . >/dev/null
echo "$tag"
