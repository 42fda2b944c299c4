#!/usr/bin/env python3
"""User-space instructions per host scrape of one or more nodex builds, counted by callgrind.

Instruction counts do not depend on what else the machine runs, so two builds compare where CPU
times on a shared VM do not. Every build runs under `valgrind --tool=callgrind` with
instrumentation off, is warmed up with 10 scrapes, then all are scraped N times in alternation
(the host's interfaces, mounts and sockets change under other work, and with them the work of a
scrape: alternation gives every build the same host) with instrumentation on, and the count of
that window is divided by N. Host collectors only (the container groups and machine off), as in
scrape_bench.py's host comparison. Needs valgrind (`apt-get install valgrind`).

    python3 benches/callgrind_scrape.py --scrapes 40 static=target/x86_64-unknown-linux-gnu/release/nodex \\
        dynamic=target/release/nodex

The profiles stay in the output directory (`callgrind_annotate <dir>/<label>.out.1`).
"""

import argparse
import os
import subprocess
import tempfile
import time

from benchlib import fetch, free_port

HOST_ONLY = [f"--no-collector.{c}" for c in (
    "container_cpu", "container_disk", "container_diskio", "container_logs", "container_memory", "container_network", "container_oom",
    "container_pressure", "container_process", "container_spec", "machine")]


def total(profile):
    """The event total of a callgrind profile."""
    with open(profile) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scrapes", type=int, default=40)
    parser.add_argument("--out", default=None, help="directory for the profiles (default: a new temporary one)")
    parser.add_argument("builds", nargs="+", help="label=path of a nodex binary")
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="nodex-callgrind-")
    runs = []
    try:
        for build in args.builds:
            label, path = build.split("=", 1)
            port = free_port()
            profile = os.path.join(out, f"{label}.out")
            proc = subprocess.Popen(
                ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={profile}",
                 path, f"--web.listen-address=127.0.0.1:{port}", *HOST_ONLY],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            runs.append((label, proc, f"http://127.0.0.1:{port}/metrics", profile))
        for _, proc, url, _ in runs:
            deadline = time.time() + 120
            while True:
                try:
                    fetch(url, timeout=60)
                    break
                except OSError:
                    if time.time() > deadline or proc.poll() is not None:
                        raise SystemExit(f"{url} did not answer under valgrind")
                    time.sleep(0.2)
            for _ in range(10):
                fetch(url, timeout=60)
        for _, proc, _, _ in runs:
            subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        sizes = {}
        for _ in range(args.scrapes):
            for label, _, url, _ in runs:
                _, sizes[label] = fetch(url, timeout=60)
        for _, proc, _, _ in runs:
            subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    finally:
        for _, proc, _, _ in runs:
            proc.terminate()
            proc.wait()
    print(f"{args.scrapes} scrapes each, alternating; profiles in {out}\n")
    print("| build | instructions per scrape | response |")
    print("|---|---|---|")
    for label, _, _, profile in runs:
        print(f"| {label} | {total(profile + '.1') / args.scrapes:,.0f} | {sizes[label]} B |")


if __name__ == "__main__":
    main()
