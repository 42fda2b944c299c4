#!/usr/bin/env bash
# Regenerates every golden file and the README's collector table from the current code:
#   tests/golden/<collector>.prom          (collectors/tests/golden.rs)
#   tests/golden/cgroup-*/<family>.prom     (collectors/tests/container_golden.rs)
#   the full fixture-tree golden            (tests/fixture_tree.rs)
#   README.md between the collector-table markers (the collector_table example)
# Review `git diff tests/golden README.md` before committing: a golden change is a behaviour
# change and must be explained.
set -euo pipefail
cd "$(dirname "$0")/.."

UPDATE_GOLDEN=1 cargo test -q -p nodex-collectors --test golden --test container_golden
UPDATE_GOLDEN=1 cargo test -q --test fixture_tree

table=$(mktemp)
trap 'rm -f "$table"' EXIT
cargo run -q -p nodex-collectors --example collector_table >"$table"
python3 - "$table" <<'PY'
import sys
start, end = "<!-- collector-table:start -->\n", "<!-- collector-table:end -->"
readme = open("README.md").read()
i, j = readme.index(start) + len(start), readme.index(end)
table = open(sys.argv[1]).read()
if readme[i:j] != table:
    open("README.md", "w").write(readme[:i] + table + readme[j:])
    print("README.md: collector table regenerated")
PY
git status --short -- tests/golden README.md
