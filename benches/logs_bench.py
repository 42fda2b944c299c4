#!/usr/bin/env python3
"""container_logs scrape cost at 1000 containers with logs (run by hand, not in CI).

Builds the synthetic cgroup v2 tree of container_bench.py (the fixture's containerd pod
replicated, each copy renamed to its own pod name and uid in its OCI bundles) and, per app
container, a kubelet log directory /var/log/pods/<ns>_<pod>_<uid>/<container>/ holding 0.log
(current), one plain rotated file and one gzipped one. Runs the release nodex over it and reports
CPU per scrape of:

- floor: `find <pod-log-dir> -mindepth 3 -printf '%s %i'` (one readdir per directory and one
  lstat per file, the syscalls container_logs makes), CPU of the find process;
- peer: nodex with only container_oom (the shared cgroup walk plus one small cgroup file read per
  container), the same walk container_logs rides on;
- container_logs (default flags);
- container_logs with --collector.container_logs.count-lines, the bench appending --append-bytes
  of CRI lines to every 0.log before each scrape (the write rate is that over the scrape interval).

    cargo build --release && python3 benches/logs_bench.py
"""

import argparse
import os
import shutil
import subprocess
import tempfile
import time

from benchlib import cpu_seconds, fetch, free_port, start
from container_bench import BURSTABLE, FIXTURE, POD, REPO, TASKS

UID = "1b2c3d4e-0000-4000-8000-123456789abc"


def build_tree(base, containers):
    shutil.copytree(FIXTURE, base, symlinks=True)
    logs = []
    line = b"2026-12-01T22:00:00.123456789Z stdout F " + b"x" * 80 + b"\n"
    for p in range(containers // 2):
        uid = f"{p:08x}-0000-4000-8000-000000000000"
        pod_dir = os.path.join(base, BURSTABLE, f"kubepods-burstable-pod{p:08x}_0000_4000_8000_000000000000.slice")
        shutil.copytree(os.path.join(FIXTURE, BURSTABLE, POD), pod_dir, symlinks=True)
        for kind in "bc":
            old = kind * 64
            new = (f"{p:08x}{kind}" * 8)[:64]
            os.rename(os.path.join(pod_dir, f"cri-containerd-{old}.scope"),
                      os.path.join(pod_dir, f"cri-containerd-{new}.scope"))
            task = os.path.join(base, TASKS, new)
            shutil.copytree(os.path.join(FIXTURE, TASKS, old), task, symlinks=True)
            cfg = os.path.join(task, "config.json")
            with open(cfg) as f:
                text = f.read()
            with open(cfg, "w") as f:
                f.write(text.replace(UID, uid).replace('"web-0"', f'"web-{p}"'))
        d = os.path.join(base, "root/var/log/pods", f"shop_web-{p}_{uid}", "app")
        os.makedirs(d)
        with open(os.path.join(d, "0.log"), "wb") as f:
            f.write(line * 200)
        with open(os.path.join(d, "0.log.20261201-220000"), "wb") as f:
            f.write(line * 1000)
        with open(os.path.join(d, "0.log.20261201-210000.gz"), "wb") as f:
            f.write(b"\x1f\x8b" + b"\0" * 4000)
        logs.append(os.path.join(d, "0.log"))
    return logs


def nodex_cpu(nodex, base, flags, scrapes, before_scrape=None):
    port = free_port()
    cmd = [nodex, f"--web.listen-address=127.0.0.1:{port}", f"--path.procfs={base}/proc",
           f"--path.sysfs={base}/sys", f"--path.rootfs={base}/root", "--collector.disable-defaults", *flags]
    url = f"http://127.0.0.1:{port}/metrics"
    proc = start(cmd, url)
    try:
        for _ in range(3):
            if before_scrape:
                before_scrape()
            fetch(url, timeout=60)
        cpu = 0.0
        for _ in range(scrapes):
            if before_scrape:
                before_scrape()
            c0 = cpu_seconds(proc.pid)
            fetch(url, True, timeout=60)
            cpu += cpu_seconds(proc.pid) - c0
        return cpu / scrapes * 1000
    finally:
        proc.kill()
        proc.wait()


def find_cpu(base, runs):
    t0 = os.times()
    for _ in range(runs):
        subprocess.run(["find", os.path.join(base, "root/var/log/pods"), "-mindepth", "3", "-printf", "%s %i\n"],
                       stdout=subprocess.DEVNULL, check=True)
    t1 = os.times()
    return ((t1.children_user - t0.children_user) + (t1.children_system - t0.children_system)) / runs * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--containers", type=int, default=1000, help="app containers with logs (pods)")
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--append-bytes", type=int, default=2048, help="bytes appended per container per scrape")
    parser.add_argument("--nodex", default=os.path.join(REPO, "target/release/nodex"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "tree")
        logs = build_tree(base, args.containers * 2)
        chunk = (b"2026-12-01T22:00:01.5Z stderr F " + b"y" * 90 + b"\n")
        chunk = chunk * (args.append_bytes // len(chunk))

        def append():
            for path in logs:
                with open(path, "ab") as f:
                    f.write(chunk)

        floor = find_cpu(base, args.scrapes)
        peer = nodex_cpu(args.nodex, base, ["--collector.container_oom"], args.scrapes)
        default = nodex_cpu(args.nodex, base, ["--collector.container_logs"], args.scrapes)
        lines = nodex_cpu(args.nodex, base, ["--collector.container_logs",
                                             "--collector.container_logs.count-lines"], args.scrapes, append)
        print(f"{len(logs)} containers with logs, 4 files each, {args.scrapes} scrapes, {os.cpu_count()} CPUs, "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
        print("| run | CPU per scrape | ratio to floor |")
        print("|---|---|---|")
        for name, v in [("floor: find (readdir + lstat)", floor), ("container_oom alone (walk peer)", peer),
                        ("container_logs", default),
                        (f"container_logs + count-lines, {len(chunk)} B/container/scrape "
                         f"({len(chunk) * len(logs) / 2**20:.1f} MiB read per scrape)", lines)]:
            print(f"| {name} | {v:.1f} ms | {v / floor:.1f}x |")


if __name__ == "__main__":
    main()
