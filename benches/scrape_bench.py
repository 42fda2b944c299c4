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

`--nodex` may be given more than once (`--nodex static=.build/nodex --nodex dynamic=target/release/nodex`):
every build is scraped in the same rounds, each round starting one exporter later. `--floor` adds the kernel's floor to the table: the calls of
one scrape of the first nodex build (an extra instance, not the measured one) are recorded with strace, and `collectors/examples/floor.rs` replays them
(the same opens, reads, stats and netlink dumps, nothing parsed or formatted) once per round, its CPU
per replay taken from /proc like the exporters'.
"""

import argparse
import os
import statistics
import subprocess
import tempfile
import time

from benchlib import CLK_TCK, NODE_EXPORTER, fetch, free_port, peak_rss_bytes, start


def cpu_seconds(pid):
    """(user, system) CPU time of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


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
        (user0, sys0), (user1, sys1) = self.cpu0, cpu_seconds(self.proc.pid)
        user, system = (user1 - user0) / scrapes, (sys1 - sys0) / scrapes
        cpu = user + system
        walls = sorted(self.walls)
        return {
            "name": self.name,
            "cpu_ms": cpu * 1000,
            "user_ms": user * 1000,
            "sys_ms": system * 1000,
            "wall_ms": statistics.median(walls) * 1000,
            "p90_ms": walls[int(len(walls) * 0.9) - 1] * 1000,
            "rss_mib": peak_rss_bytes(self.proc.pid) / 2**20,
            "bytes": self.size,
        }

    def stop(self):
        self.proc.kill()
        self.proc.wait()


# The calls a host scrape makes for its data (HTTP and runtime calls are not replayed).
TRACED = "openat,pread64,read,getdents64,close,statx,newfstatat,fstat,statfs,sendto,prlimit64,uname"


def record(pid, url, directory):
    """Records the calls nodex (pid) makes during one scrape of url, and its kept descriptors."""
    trace, fdmap = os.path.join(directory, "trace"), os.path.join(directory, "fdmap")
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-s", "64", "-o", trace, "-e", f"trace={TRACED}",
                               "-p", str(pid)], stderr=subprocess.DEVNULL)
    time.sleep(1)  # strace attaches to every thread before the scrape starts
    fetch(url)
    time.sleep(0.5)
    tracer.terminate()
    tracer.wait()
    with open(fdmap, "w") as f:
        subprocess.run(["ls", "-l", f"/proc/{pid}/fd"], stdout=f, check=True)
    return trace, fdmap


class Floor:
    """The floor reader, replaying one recorded scrape per round."""

    def __init__(self, binary, trace, fdmap, warmup):
        self.name = "floor (kernel reads only)"
        self.proc = subprocess.Popen([binary, trace, fdmap], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        for _ in range(warmup):
            self.scrape()
        self.walls, self.size = [], 0
        self.cpu0 = cpu_seconds(self.proc.pid)

    def scrape(self):
        start = time.perf_counter()
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        self.proc.stdout.readline()
        if hasattr(self, "walls"):
            self.walls.append(time.perf_counter() - start)

    result = Exporter.result

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scrapes", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--pause-ms", type=float, default=0,
                        help="idle time after each scrape, as between Prometheus scrapes (0: none)")
    parser.add_argument("--nodex", action="append", default=[],
                        help="[label=]path of a nodex binary (repeatable; default target/release/nodex)")
    parser.add_argument("--floor", nargs="?", const="target/release/examples/floor",
                        help="add the kernel floor, replayed by this floor binary "
                             "(default target/release/examples/floor)")
    parser.add_argument("--nodex-arg", action="append", default=[], help="extra nodex flag (repeatable)")
    parser.add_argument("--ne-arg", action="append", default=[], help="extra node_exporter flag (repeatable)")
    args = parser.parse_args()

    builds = [n.split("=", 1) if "=" in n else ["nodex", n] for n in args.nodex or ["target/release/nodex"]]
    ne_port = free_port()
    exporters = []
    scratch = tempfile.TemporaryDirectory()
    try:
        exporters.append(Exporter(
            "node_exporter 1.5",
            [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{ne_port}", *args.ne_arg],
            f"http://127.0.0.1:{ne_port}/metrics",
            args.warmup,
        ))
        for label, path in builds:
            port = free_port()
            exporters.append(Exporter(
                label,
                [path, f"--web.listen-address=127.0.0.1:{port}", *args.nodex_arg],
                f"http://127.0.0.1:{port}/metrics",
                args.warmup,
            ))
        if args.floor:
            # Recorded from an instance of its own: a process strace attached to and left runs
            # slower afterwards (0.2-0.3 ms more per scrape here).
            port = free_port()
            recorded = Exporter("recorded", [builds[0][1], f"--web.listen-address=127.0.0.1:{port}",
                                             *args.nodex_arg], f"http://127.0.0.1:{port}/metrics", args.warmup)
            try:
                trace, fdmap = record(recorded.proc.pid, recorded.url, scratch.name)
            finally:
                recorded.stop()
            exporters.append(Floor(args.floor, trace, fdmap, args.warmup))
        for round_ in range(args.scrapes):
            # Each round starts one exporter later: the one scraped right after node_exporter
            # finds its Go runtime still busy on the other core (0.2-0.3 ms more wall time).
            for k in range(len(exporters)):
                exporters[(round_ + k) % len(exporters)].scrape()
                time.sleep(args.pause_ms / 1000)
        results = [e.result() for e in exporters]
    finally:
        for exporter in exporters:
            exporter.stop()
        scratch.cleanup()
    ne = results[0]
    print(f"{args.scrapes} scrapes each, alternating, {os.cpu_count()} CPUs, kernel {os.uname().release}\n")
    print("| exporter | CPU per scrape (user + system) | median wall | p90 wall | peak RSS | response "
          "| CPU ratio | wall ratio | RSS ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        # The floor is no exporter: its memory and response are not comparable.
        floor = r["name"].startswith("floor")
        rss = "-" if floor else f"{r['rss_mib']:.1f} MiB"
        rss_ratio = "-" if floor else f"**{r['rss_mib'] / ne['rss_mib']:.2f}x**"
        size = "-" if floor else f"{r['bytes']} B"
        print(f"| {r['name']} | {r['cpu_ms']:.2f} ms ({r['user_ms']:.2f} + {r['sys_ms']:.2f}) "
              f"| {r['wall_ms']:.2f} ms | {r['p90_ms']:.2f} ms | {rss} | {size} "
              f"| **{r['cpu_ms'] / ne['cpu_ms']:.2f}x** | {r['wall_ms'] / ne['wall_ms']:.2f}x | {rss_ratio} |")


if __name__ == "__main__":
    main()
