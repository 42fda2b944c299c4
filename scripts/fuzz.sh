#!/usr/bin/env bash
# Bounded fuzz run of every nodex parser (fuzz/, one cargo-fuzz target `parsers` that picks the
# parser by the first input byte). Builds with the nightly toolchain, with debug assertions (so
# integer overflow panics), replays the committed corpus fuzz/corpus/parsers, then fuzzes for
# FUZZ_SECONDS (default 75) and fails on any crash, panic, out-of-memory (> 512 MB in one
# allocation or 1 GB RSS) or input slower than 10 s. New inputs go to a scratch corpus; crash
# inputs are kept in fuzz/artifacts/parsers/ (reproduce with
# `cargo +nightly fuzz run -a parsers fuzz/artifacts/parsers/<file>`).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-75}"
if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz.sh: the nightly toolchain is needed (rustup toolchain install nightly)" >&2
  exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

cargo +nightly fuzz build -a parsers

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
artifacts=fuzz/artifacts/parsers
mkdir -p "$artifacts"
before="$(ls "$artifacts" | wc -l)"
status=0
cargo +nightly fuzz run -a parsers "$scratch" fuzz/corpus/parsers -- \
  -max_total_time="$seconds" -rss_limit_mb=1024 -malloc_limit_mb=512 -timeout=10 \
  -max_len=16384 -print_final_stats=1 -artifact_prefix="$artifacts/" \
  >"$scratch.log" 2>&1 || status=$?
grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done )' "$scratch.log" || true
after="$(ls "$artifacts" | wc -l)"
if [ "$status" -ne 0 ] || [ "$after" -ne "$before" ]; then
  tail -n 60 "$scratch.log"
  rm -f "$scratch.log"
  echo "fuzz.sh: FAILED (exit $status); inputs in $artifacts/" >&2
  exit 1
fi
rm -f "$scratch.log"
echo "fuzz.sh: ${seconds}s of fuzzing, no crash"
