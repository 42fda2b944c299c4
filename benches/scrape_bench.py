#!/usr/bin/env python3
"""Scrape benchmark: nodex against node_exporter, measured in one run on the same host.

Starts Debian's node_exporter and the release nodex on loopback ports, both with their default
collectors, warms each up, then scrapes them N times in alternation (one client, one scrape of
each per round, so that a noisy neighbour or a CPU frequency change costs both alike) and
reports per exporter: CPU time per scrape (user+system of the exporter process, from
/proc/<pid>/stat), median and p90 wall time per scrape (seen by the client), peak RSS (VmHWM)
and response size, plus nodex/node_exporter ratios. `--pause-ms` idles after each scrape, so
that each one starts from an idle process as under Prometheus. Run by hand (not part of CI's pass/fail):

    cargo build --release && python3 benches/scrape_bench.py --scrapes 500
"""

import argparse
import os
import statistics
import time

from benchlib import NODE_EXPORTER, cpu_seconds, fetch, free_port, peak_rss_bytes, start


class Exporter:
    """One running exporter and what the benchmark measured of it."""

    def __init__(self, name, cmd, url, warmup):
        self.name, self.url = name, url
        self.proc = start(cmd, url)
        for _ in range(warmup):
            fetch(url)
        self.walls, self.size = [], 0
        self.cpu0 = cpu_seconds(self.proc.pid)

    def scrape(self):
        wall, self.size = fetch(self.url)
        self.walls.append(wall)

    def result(self):
        scrapes = len(self.walls)
        cpu = (cpu_seconds(self.proc.pid) - self.cpu0) / scrapes
        walls = sorted(self.walls)
        return {
            "name": self.name,
            "cpu_ms": cpu * 1000,
            "wall_ms": statistics.median(walls) * 1000,
            "p90_ms": walls[int(len(walls) * 0.9) - 1] * 1000,
            "rss_mib": peak_rss_bytes(self.proc.pid) / 2**20,
            "bytes": self.size,
        }

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scrapes", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--pause-ms", type=float, default=0,
                        help="idle time after each scrape, as between Prometheus scrapes (0: none)")
    parser.add_argument("--nodex", default="target/release/nodex")
    parser.add_argument("--nodex-arg", action="append", default=[], help="extra nodex flag (repeatable)")
    parser.add_argument("--ne-arg", action="append", default=[], help="extra node_exporter flag (repeatable)")
    args = parser.parse_args()

    ne_port, nodex_port = free_port(), free_port()
    exporters = []
    try:
        exporters.append(Exporter(
            "node_exporter 1.5",
            [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{ne_port}", *args.ne_arg],
            f"http://127.0.0.1:{ne_port}/metrics",
            args.warmup,
        ))
        exporters.append(Exporter(
            "nodex",
            [args.nodex, f"--web.listen-address=127.0.0.1:{nodex_port}", *args.nodex_arg],
            f"http://127.0.0.1:{nodex_port}/metrics",
            args.warmup,
        ))
        for _ in range(args.scrapes):
            for exporter in exporters:
                exporter.scrape()
                time.sleep(args.pause_ms / 1000)
        ne, nx = (e.result() for e in exporters)
    finally:
        for exporter in exporters:
            exporter.stop()
    print(f"{args.scrapes} scrapes each, alternating, {os.cpu_count()} CPUs, kernel {os.uname().release}\n")
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
