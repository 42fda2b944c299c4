#!/usr/bin/env python3
"""Soak test: many sequential scrapes of one exporter, watching its RSS, open fds and threads.

Starts the release nodex (default collectors, which include the container_* collectors) on a
free 127.0.0.1 port, scrapes it --scrapes times (default 20,000) one after another, and samples
the process's VmRSS and Threads (/proc/<pid>/status) and open fds (/proc/<pid>/fd) after the
warm-up and then every --every scrapes (default 1000). Scrapes mostly reuse one keep-alive
connection, as Prometheus does; every 10th opens a new one, so connection handling is soaked too.
Every response must be a 200 with a non-empty body.

The baseline is the sample taken after --warmup scrapes (default 200: allocator arenas, per-worker
buffers and caches are filled by then). Fails (exit 1) if the last sample exceeds the baseline by
more than the tolerances (--rss-tolerance-mib, default 8 MiB; --fd-tolerance and
--thread-tolerance, default 2 each), or if a scrape failed. With --node-exporter it soaks Debian's
node_exporter 1.5 instead, with the same limits. Run by hand:

    cargo build --release && python3 benches/soak.py
"""

import argparse
import http.client
import os
import subprocess
import sys
import time

from benchlib import NODE_EXPORTER, free_port



def sample(pid):
    rss = threads = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return {"rss_mib": rss, "fds": fds, "threads": threads}


class Scraper:
    def __init__(self, port):
        self.port = port
        self.conn = None
        self.count = 0

    def scrape(self):
        if self.conn is None or self.count % 10 == 0:
            if self.conn is not None:
                self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        self.count += 1
        self.conn.request("GET", "/metrics")
        resp = self.conn.getresponse()
        body = resp.read()
        if resp.status != 200 or not body:
            raise RuntimeError(f"scrape {self.count}: HTTP {resp.status}, {len(body)} bytes")
        return len(body)


def wait_up(port, proc):
    deadline = time.time() + 20
    while True:
        try:
            Scraper(port).scrape()
            return
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                sys.exit("exporter did not start")
            time.sleep(0.05)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scrapes", type=int, default=20000)
    parser.add_argument("--every", type=int, default=1000, help="sample every N scrapes")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--nodex", default="target/release/nodex")
    parser.add_argument("--node-exporter", action="store_true", help="soak node_exporter 1.5 instead")
    parser.add_argument("--rss-tolerance-mib", type=float, default=8.0)
    parser.add_argument("--fd-tolerance", type=int, default=2)
    parser.add_argument("--thread-tolerance", type=int, default=2)
    args = parser.parse_args()

    binary = NODE_EXPORTER if args.node_exporter else args.nodex
    name = "node_exporter 1.5" if args.node_exporter else "nodex"
    port = free_port()
    proc = subprocess.Popen([binary, f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    failed = None
    rows = []
    try:
        wait_up(port, proc)
        start_sample = sample(proc.pid)
        scraper = Scraper(port)
        for _ in range(args.warmup):
            scraper.scrape()
        rows.append((0, sample(proc.pid)))
        started = time.time()
        size = 0
        for n in range(1, args.scrapes + 1):
            try:
                size = scraper.scrape()
            except (OSError, RuntimeError, http.client.HTTPException) as e:
                failed = f"scrape {n} failed: {e}"
                break
            if n % args.every == 0:
                rows.append((n, sample(proc.pid)))
                s = rows[-1][1]
                print(f"{n:6d} scrapes  RSS {s['rss_mib']:6.1f} MiB  fds {s['fds']:3d}  threads {s['threads']:3d}",
                      flush=True)
        elapsed = time.time() - started
    finally:
        proc.kill()
        proc.wait()

    first, last = rows[0][1], rows[-1][1]
    print(f"\n{name}: {rows[-1][0]} scrapes after {args.warmup} warm-up scrapes in {elapsed:.0f} s "
          f"({rows[-1][0] / elapsed:.1f}/s), last response {size} bytes; at start-up "
          f"RSS {start_sample['rss_mib']:.1f} MiB, fds {start_sample['fds']}, threads {start_sample['threads']}\n")
    print("| | after warm-up | last | growth | tolerance |")
    print("|---|---|---|---|---|")
    limits = {"rss_mib": args.rss_tolerance_mib, "fds": args.fd_tolerance, "threads": args.thread_tolerance}
    labels = {"rss_mib": "RSS (MiB)", "fds": "open fds", "threads": "threads"}
    problems = [failed] if failed else []
    for key in ("rss_mib", "fds", "threads"):
        growth = last[key] - first[key]
        fmt = "{:.1f}" if key == "rss_mib" else "{}"
        print(f"| {labels[key]} | {fmt.format(first[key])} | {fmt.format(last[key])} | "
              f"{fmt.format(growth)} | {fmt.format(limits[key])} |")
        if growth > limits[key]:
            problems.append(f"{labels[key]} grew by {fmt.format(growth)} (tolerance {fmt.format(limits[key])})")
    print(f"| peak RSS over samples (MiB) | | {max(s['rss_mib'] for _, s in rows):.1f} | | |")
    for p in problems:
        print(f"FAIL: {p}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
