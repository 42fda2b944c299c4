#!/usr/bin/env python3
"""Load benchmark: wrk against nodex and Debian's node_exporter 1.5, in one run, on loopback.

For each exporter and each --web.max-requests value (default: the default 40, then 0 = no limit),
starts the exporter alone on a free 127.0.0.1 port with its default collectors, warms it up, runs
`wrk -t2 -c64 -d60s` with benches/wrk_report.lua, and reports p50/p90/p99 latency, scrapes per
second (all responses and 200s only), the status-code counts (503 is the documented answer past
--web.max-requests), socket errors and timeouts, and the exporter's CPU time per 200 response
(the work of answering 503s included).
Exporters run one at a time, so they do not compete for the CPUs. wrk's latency percentiles cover
every response, fast 503s included; the no-limit runs show the latency of real scrapes.

Fails (exit 1) if nodex answered anything but 200 and 503, had socket errors or timeouts, or
answered 503 when it had no limit. Run by hand (about 4.5 minutes with the defaults):

    apt-get install wrk && cargo build --release && python3 benches/load_bench.py
"""

import argparse
import json
import os
import subprocess
import sys

from benchlib import NODE_EXPORTER, cpu_seconds, fetch, free_port, peak_rss_bytes, start

HERE = os.path.dirname(os.path.abspath(__file__))


def fuse_mounts():
    """FUSE mounts present now: a stuck one (another program's test) stalls statfs and skews a run."""
    with open("/proc/mounts") as f:
        return sorted(line.split()[1] for line in f if line.split()[2].startswith("fuse"))


def run(name, binary, extra, max_requests, args):
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    cmd = [binary, f"--web.listen-address=127.0.0.1:{port}", f"--web.max-requests={max_requests}", *extra]
    fuse_before = fuse_mounts()
    proc = start(cmd, url)
    try:
        for _ in range(args.warmup):
            fetch(url)
        cpu0 = cpu_seconds(proc.pid)
        out = subprocess.run(
            ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s",
             f"--timeout={args.timeout}s", "-s", os.path.join(HERE, "wrk_report.lua"), url],
            capture_output=True, text=True, check=True,
        ).stdout
        cpu = cpu_seconds(proc.pid) - cpu0
        rss = peak_rss_bytes(proc.pid) / 2**20
        alive = proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
    line = next((l for l in out.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        sys.exit(f"wrk printed no RESULT line:\n{out}")
    r = json.loads(line[len("RESULT "):])
    r["status"] = {int(k): v for k, v in r["status"].items()}
    secs = r["duration_us"] / 1e6
    ok = r["status"].get(200, 0)
    r["fuse"] = sorted(set(fuse_before) | set(fuse_mounts()))
    r.update(name=name, max_requests=max_requests, rps=r["requests"] / secs, ok_rps=ok / secs,
             cpu_ms_per_ok=(cpu * 1000 / ok) if ok else float("nan"), rss_mib=rss, alive=alive)
    return r


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=60, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--timeout", type=int, default=30, help="wrk request timeout, seconds")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--max-requests", type=int, action="append", default=None,
                        help="--web.max-requests values to run (repeatable; default 40 and 0)")
    parser.add_argument("--nodex", default="target/release/nodex")
    parser.add_argument("--nodex-arg", action="append", default=[], help="extra nodex flag (repeatable)")
    parser.add_argument("--no-node-exporter", action="store_true")
    args = parser.parse_args()
    limits = args.max_requests or [40, 0]

    results = []
    for limit in limits:
        results.append(run("nodex", args.nodex, args.nodex_arg, limit, args))
        if not args.no_node_exporter:
            results.append(run("node_exporter 1.5", NODE_EXPORTER, [], limit, args))

    if args.nodex_arg:
        print(f"nodex flags: {' '.join(args.nodex_arg)}")
    print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s --timeout={args.timeout}s on 127.0.0.1, "
          f"{os.cpu_count()} CPUs, kernel {os.uname().release}, default collectors\n")
    print("| exporter | --web.max-requests | requests/s | 200/s | p50 | p90 | p99 | max | status codes "
          "| socket errors / timeouts | exporter CPU per 200 | peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(r["status"].items()))
        errs = r["connect_errors"] + r["read_errors"] + r["write_errors"]
        print(f"| {r['name']} | {r['max_requests']} | {r['rps']:.1f} | {r['ok_rps']:.1f} "
              f"| {r['p50_us'] / 1000:.1f} ms | {r['p90_us'] / 1000:.1f} ms | {r['p99_us'] / 1000:.1f} ms "
              f"| {r['max_us'] / 1000:.1f} ms | {codes} | {errs} / {r['timeouts']} "
              f"| {r['cpu_ms_per_ok']:.2f} ms | {r['rss_mib']:.1f} MiB |")

    for r in results:
        if r["fuse"]:
            print(f"NOTE: FUSE mounts during the {r['name']} --web.max-requests={r['max_requests']} run "
                  f"(a stuck one stalls the filesystem collector): {', '.join(r['fuse'])}")
    failures = []
    for r in results:
        if r["name"] != "nodex":
            continue
        allowed = {200, 503} if r["max_requests"] > 0 else {200}
        bad = {k: v for k, v in r["status"].items() if k not in allowed}
        if bad:
            failures.append(f"nodex --web.max-requests={r['max_requests']}: unexpected statuses {bad}")
        if r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"]:
            failures.append(f"nodex --web.max-requests={r['max_requests']}: socket errors or timeouts")
        if not r["alive"]:
            failures.append(f"nodex --web.max-requests={r['max_requests']}: process died")
    for f in failures:
        print(f"FAIL: {f}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
