#!/usr/bin/env python3
"""Scrape benchmark: nodex against node_exporter, measured in one run on the same host.

Starts Debian's node_exporter and the release nodex on loopback ports, both with their default
collectors, warms each up, then scrapes each N times in turn (sequentially, one client) and reports
per exporter: CPU time per scrape (user+system of the exporter process, from /proc/<pid>/stat),
median and p90 wall time per scrape (seen by the client), peak RSS (VmHWM) and response size, plus
nodex/node_exporter ratios. Run by hand (not part of CI's pass/fail):

    cargo build --release && python3 benches/scrape_bench.py --scrapes 500
"""

import argparse
import os
import statistics

from benchlib import NODE_EXPORTER, cpu_seconds, fetch, free_port, peak_rss_bytes, start


def measure(name, cmd, url, scrapes, warmup):
    proc = start(cmd, url)
    try:
        for _ in range(warmup):
            fetch(url)
        cpu0 = cpu_seconds(proc.pid)
        walls, size = [], 0
        for _ in range(scrapes):
            wall, size = fetch(url)
            walls.append(wall)
        cpu = (cpu_seconds(proc.pid) - cpu0) / scrapes
        walls.sort()
        return {
            "name": name,
            "cpu_ms": cpu * 1000,
            "wall_ms": statistics.median(walls) * 1000,
            "p90_ms": walls[int(len(walls) * 0.9) - 1] * 1000,
            "rss_mib": peak_rss_bytes(proc.pid) / 2**20,
            "bytes": size,
        }
    finally:
        proc.kill()
        proc.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scrapes", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--nodex", default="target/release/nodex")
    parser.add_argument("--nodex-arg", action="append", default=[], help="extra nodex flag (repeatable)")
    parser.add_argument("--ne-arg", action="append", default=[], help="extra node_exporter flag (repeatable)")
    args = parser.parse_args()

    ne_port, nodex_port = free_port(), free_port()
    ne = measure(
        "node_exporter 1.5",
        [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{ne_port}", *args.ne_arg],
        f"http://127.0.0.1:{ne_port}/metrics",
        args.scrapes,
        args.warmup,
    )
    nx = measure(
        "nodex",
        [args.nodex, f"--web.listen-address=127.0.0.1:{nodex_port}", *args.nodex_arg],
        f"http://127.0.0.1:{nodex_port}/metrics",
        args.scrapes,
        args.warmup,
    )
    print(f"{args.scrapes} sequential scrapes each, {os.cpu_count()} CPUs, kernel {os.uname().release}\n")
    print("| exporter | CPU per scrape | median wall | p90 wall | peak RSS | response |")
    print("|---|---|---|---|---|---|")
    for r in (ne, nx):
        print(f"| {r['name']} | {r['cpu_ms']:.2f} ms | {r['wall_ms']:.2f} ms | {r['p90_ms']:.2f} ms "
              f"| {r['rss_mib']:.1f} MiB | {r['bytes']} B |")
    print(f"| **nodex / node_exporter** | **{nx['cpu_ms'] / ne['cpu_ms']:.2f}x** | "
          f"**{nx['wall_ms'] / ne['wall_ms']:.2f}x** | {nx['p90_ms'] / ne['p90_ms']:.2f}x | "
          f"**{nx['rss_mib'] / ne['rss_mib']:.2f}x** | {nx['bytes'] / ne['bytes']:.2f}x |")


if __name__ == "__main__":
    main()
