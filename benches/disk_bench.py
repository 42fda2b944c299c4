#!/usr/bin/env python3
"""Cost and staleness of container_disk at 100 and 1000 containers (run by hand, not in CI).

Builds container_bench's synthetic cgroup v2 tree (containerd pods) and gives every container a
writable layer: an overlay mount on its task's rootfs in proc/1/mountinfo whose upperdir holds 20
files, or 10,000 files (100 directories of 100) for --heavy-share of the layers. Runs the release
nodex with only container_disk on, scrapes back to back and reports:

- CPU and wall per scrape (mean, max) while walking, and the same scrape with a zero budget (the
  cgroup walk and layer lookup without measuring): the difference is what the budget bounds;
- cold start: scrapes until every container has a value;
- staleness: scrapes for a full re-measurement cycle after that (the age of the oldest value is
  this many scrape intervals);
- the floor: GNU `du -s` of all the layers once (CPU), in the same run, and nodex's CPU for one
  full cycle as a ratio of it.

--ab compares reused listings with --no-collector.container.disk.reuse-listings instead: both
nodex run at once on the same tree (settled: built more than 2 s before), scraped alternately,
and each reports its CPU per full re-measurement cycle in the steady state (after two cycles,
the first listing every directory, the second the first that can reuse them) and the
directories whose listing it reused.

    cargo build --release && python3 benches/disk_bench.py
    cargo build --release && python3 benches/disk_bench.py --ab
"""

import argparse
import contextlib
import os
import resource
import statistics
import subprocess
import tempfile
import time
import urllib.request

from benchlib import cpu_seconds, free_port, start
from container_bench import build_tree

TASKS = "run/containerd/io.containerd.runtime.v2.task/k8s.io"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def add_layers(base, heavy_share):
    ids = sorted(os.listdir(os.path.join(base, "root", TASKS)))
    st = os.stat(base)
    major, minor = os.major(st.st_dev), os.minor(st.st_dev)
    lines = [f"20 1 {major}:{minor} / / rw - ext4 /dev/bench rw"]
    heavy_every = max(1, round(1 / heavy_share)) if heavy_share > 0 else 0
    layers, files = [], 0
    for n, cid in enumerate(ids):
        upper = f"/var/lib/containerd/snapshots/{n}/fs"
        path = os.path.join(base, "root", upper[1:])
        if heavy_every and n % heavy_every == 0:
            for d in range(100):
                os.makedirs(os.path.join(path, f"d{d}"))
                for f in range(100):
                    open(os.path.join(path, f"d{d}", f"f{f}"), "w").close()
            files += 10000
        else:
            os.makedirs(path)
            for f in range(20):
                with open(os.path.join(path, f"f{f}"), "w") as fh:
                    fh.write("x" * 100)
            files += 20
        layers.append(path)
        lines.append(f"{1000 + n} 1 0:{100 + n} / /{TASKS}/{cid}/rootfs rw - overlay overlay "
                     f"rw,lowerdir=/l,upperdir={upper},workdir=/var/lib/containerd/snapshots/{n}/work")
    with open(os.path.join(base, "proc/1/mountinfo"), "a") as f:
        f.write("\n".join(lines) + "\n")
    scopes = {d for _, dirs, _ in os.walk(os.path.join(base, "sys/fs/cgroup")) for d in dirs}
    with_cgroup = sum(1 for cid in ids if f"cri-containerd-{cid}.scope" in scopes)
    return layers, files, with_cgroup


def scrape(url):
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as resp:
        body = resp.read().decode()
    return time.perf_counter() - t, body


def stamps(body):
    out = {}
    for line in body.splitlines():
        if line.startswith("container_fs_usage_measured_timestamp_seconds{"):
            labels, value = line.rsplit(" ", 1)
            out[labels] = float(value)
    return out


def du_floor(layers):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(["du", "-s", *layers], stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def measure(nodex, base, containers, budget):
    port = free_port()
    cmd = [nodex, f"--web.listen-address=127.0.0.1:{port}", f"--path.procfs={base}/proc",
           f"--path.sysfs={base}/sys", f"--path.rootfs={base}/root", "--collector.disable-defaults",
           "--collector.container_disk", f"--collector.container.disk.budget={budget}"]
    url = f"http://127.0.0.1:{port}/metrics"
    proc = start(cmd, url)
    try:
        cpus, walls, cold, cycle = [], [], None, None
        first_full = None
        for n in range(1, 10000):
            cpu0 = cpu_seconds(proc.pid)
            wall, body = scrape(url)
            cpus.append(cpu_seconds(proc.pid) - cpu0)
            walls.append(wall)
            s = stamps(body)
            if cold is None and len(s) >= containers:
                cold, first_full = n, max(s.values())
            elif cold is not None and min(s.values()) > first_full:
                cycle = n - cold
                break
        return cold, cycle, sum(cpus), statistics.mean(cpus), statistics.mean(walls), max(walls)
    finally:
        proc.kill()
        proc.wait()


def reused_total(body):
    for line in body.splitlines():
        if line.startswith("nodex_container_disk_listings_reused_total "):
            return float(line.split()[1])
    return 0.0


class Arm:
    """One nodex of an A/B run and where it is in its measurement cycles."""

    def __init__(self, nodex, base, budget, extra):
        self.port = free_port()
        cmd = [nodex, f"--web.listen-address=127.0.0.1:{self.port}", f"--path.procfs={base}/proc",
               f"--path.sysfs={base}/sys", f"--path.rootfs={base}/root", "--collector.disable-defaults",
               "--collector.container_disk", f"--collector.container.disk.budget={budget}", *extra]
        self.url = f"http://127.0.0.1:{self.port}/metrics"
        self.proc = start(cmd, self.url)
        self.phase, self.mark, self.cpu0, self.scrapes, self.cycles = "cold", 0.0, 0.0, 0, 0
        self.reused0, self.cpu, self.reused = 0.0, 0.0, 0.0

    def step(self, containers, cycles):
        wall, body = scrape(self.url)
        s = stamps(body)
        if self.phase == "cold" and len(s) >= containers:
            self.phase, self.mark = "warm", max(s.values())
        elif self.phase in ("warm", "warm2") and min(s.values()) > self.mark:
            self.mark = max(s.values())
            if self.phase == "warm":
                self.phase = "warm2"
            else:
                self.phase = "measure"
                self.cpu0, self.reused0 = cpu_seconds(self.proc.pid), reused_total(body)
        elif self.phase == "measure":
            self.scrapes += 1
            if min(s.values()) > self.mark:
                self.mark = max(s.values())
                self.cycles += 1
                if self.cycles == cycles:
                    self.phase = "done"
                    self.cpu = cpu_seconds(self.proc.pid) - self.cpu0
                    self.reused = reused_total(body) - self.reused0

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def ab(nodex, base, containers, budget, cycles):
    arms = {"reuse": Arm(nodex, base, budget, []),
            "no reuse": Arm(nodex, base, budget, ["--no-collector.container.disk.reuse-listings"])}
    try:
        while any(a.phase != "done" for a in arms.values()):
            for arm in arms.values():
                if arm.phase != "done":
                    arm.step(containers, cycles)
        return {k: (a.cpu / cycles, a.scrapes / cycles, a.reused / cycles) for k, a in arms.items()}
    finally:
        for arm in arms.values():
            arm.stop()


def baseline(nodex, base, scrapes=5):
    """CPU and wall per scrape of the same collector with a zero budget (no walking)."""
    port = free_port()
    cmd = [nodex, f"--web.listen-address=127.0.0.1:{port}", f"--path.procfs={base}/proc",
           f"--path.sysfs={base}/sys", f"--path.rootfs={base}/root", "--collector.disable-defaults",
           "--collector.container_disk", "--collector.container.disk.budget=0s"]
    url = f"http://127.0.0.1:{port}/metrics"
    proc = start(cmd, url)
    try:
        scrape(url)
        cpu0 = cpu_seconds(proc.pid)
        walls = [scrape(url)[0] for _ in range(scrapes)]
        return (cpu_seconds(proc.pid) - cpu0) / scrapes, statistics.mean(walls)
    finally:
        proc.kill()
        proc.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000", help="container counts")
    parser.add_argument("--heavy-share", type=float, default=0.05, help="share of layers with 10,000 files")
    parser.add_argument("--budget", default="100ms")
    parser.add_argument("--nodex", default=os.path.join(REPO, "target/release/nodex"))
    parser.add_argument("--ab", action="store_true", help="reused listings against none")
    parser.add_argument("--cycles", type=int, default=3, help="steady-state cycles per arm (--ab)")
    args = parser.parse_args()
    if args.ab:
        main_ab(args)
        return
    print(f"budget {args.budget}, {args.heavy_share:.0%} of layers with 10,000 files, others 20, "
          f"{os.cpu_count()} CPUs, scrapes back to back\n")
    print("| containers | files | cold start (scrapes) | full cycle (scrapes) | CPU/scrape | wall/scrape mean, max "
          "| budget 0: CPU, wall | nodex CPU per cycle | `du -s` CPU (wall) | ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        with bench_tree(size, args.heavy_share) as (base, layers, files, containers):
            du_cpu, du_wall = du_floor(layers)
            base_cpu, base_wall = baseline(args.nodex, base)
            cold, cycle, _, cpu, wall, wall_max = measure(args.nodex, base, containers, args.budget)
            per_cycle = cpu * (cycle or 0)
            ratio = per_cycle / du_cpu if du_cpu > 0 else float("nan")
            print(f"| {containers} | {files} | {cold} | {cycle} | {cpu * 1000:.1f} ms | {wall * 1000:.1f}, "
                  f"{wall_max * 1000:.1f} ms | {base_cpu * 1000:.1f}, {base_wall * 1000:.1f} ms "
                  f"| {per_cycle * 1000:.0f} ms | {du_cpu * 1000:.0f} ms ({du_wall * 1000:.0f} ms) "
                  f"| {ratio:.2f} |")


@contextlib.contextmanager
def bench_tree(size, heavy_share):
    """A kubelet-shaped tree of `size` containers with their layers, in a temporary directory
    (below $BENCH_TMP if set) removed afterwards: (base, layers, files, containers)."""
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        base = os.path.join(tmp, "tree")
        build_tree(base, size)
        layers, files, containers = add_layers(base, heavy_share)
        subprocess.run(["sync"], check=False)
        yield base, layers, files, containers


def main_ab(args):
    print(f"A/B, budget {args.budget}, {args.heavy_share:.0%} of layers with 10,000 files, others 20, "
          f"{os.cpu_count()} CPUs, both arms at once, scraped alternately, {args.cycles} steady cycles\n")
    print("| containers | files | arm | CPU per full cycle | scrapes per cycle | listings reused per cycle |")
    print("|---|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        with bench_tree(size, args.heavy_share) as (base, layers, files, containers):
            time.sleep(2.5)  # directories settled: their listings may be kept from the first walk
            for arm, (cpu, scrapes, reused) in ab(args.nodex, base, containers, args.budget,
                                                  args.cycles).items():
                print(f"| {containers} | {files} | {arm} | {cpu * 1000:.0f} ms | {scrapes:.1f} | {reused:.0f} |")


if __name__ == "__main__":
    main()
