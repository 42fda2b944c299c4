#!/usr/bin/env python3
"""Container-side scrape cost over 100, 1000 and 3000 containers (run by hand, not in CI).

Builds a synthetic cgroup v2 tree per size from tests/fixtures/cgroup-v2: its Burstable pod (a
containerd sandbox and an app container, with their OCI bundles) replicated with fresh pod uids
and container ids. Runs the release nodex over it with only the nine container groups enabled and
reports CPU and median wall time per scrape, peak RSS and response size:

    cargo build --release && python3 benches/container_bench.py
"""

import argparse
import os
import shutil
import statistics
import tempfile

from benchlib import cpu_seconds, fetch, free_port, peak_rss_bytes, start

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(REPO, "tests/fixtures/cgroup-v2")
BURSTABLE = "sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice"
POD = "kubepods-burstable-pod1b2c3d4e_0000_4000_8000_123456789abc.slice"
TASKS = "root/run/containerd/io.containerd.runtime.v2.task/k8s.io"
GROUPS = ["container_cpu", "container_diskio", "container_memory", "container_network", "container_oom",
          "container_pressure", "container_process", "container_spec", "machine"]


def build_tree(base, containers):
    shutil.copytree(FIXTURE, base, symlinks=True)
    for p in range(containers // 2):
        pod_dir = os.path.join(base, BURSTABLE, f"kubepods-burstable-pod{p:08x}_0000_4000_8000_000000000000.slice")
        shutil.copytree(os.path.join(FIXTURE, BURSTABLE, POD), pod_dir, symlinks=True)
        for kind in "bc":
            old = kind * 64
            new = (f"{p:08x}{kind}" * 8)[:64]
            os.rename(os.path.join(pod_dir, f"cri-containerd-{old}.scope"),
                      os.path.join(pod_dir, f"cri-containerd-{new}.scope"))
            shutil.copytree(os.path.join(FIXTURE, TASKS, old), os.path.join(base, TASKS, new), symlinks=True)
    return sum(len(dirs) for _, dirs, _ in os.walk(os.path.join(base, "sys/fs/cgroup"))) + 1


def measure(nodex, base, scrapes, gzip):
    port = free_port()
    cmd = [nodex, f"--web.listen-address=127.0.0.1:{port}", f"--path.procfs={base}/proc",
           f"--path.sysfs={base}/sys", f"--path.rootfs={base}/root", "--collector.disable-defaults",
           *[f"--collector.{g}" for g in GROUPS]]
    url = f"http://127.0.0.1:{port}/metrics"
    proc = start(cmd, url)
    try:
        for _ in range(3):
            fetch(url, timeout=60)
        cpu0 = cpu_seconds(proc.pid)
        walls, size = [], 0
        for _ in range(scrapes):
            wall, size = fetch(url, gzip, timeout=60)
            walls.append(wall)
        cpu = (cpu_seconds(proc.pid) - cpu0) / scrapes
        rss = peak_rss_bytes(proc.pid) / 2**20
        return cpu * 1000, statistics.median(walls) * 1000, rss, size
    finally:
        proc.kill()
        proc.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,3000", help="container counts")
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--nodex", default=os.path.join(REPO, "target/release/nodex"))
    parser.add_argument("--no-gzip", action="store_true", help="ask for an uncompressed body (Prometheus asks for gzip)")
    args = parser.parse_args()
    encoding = "identity" if args.no_gzip else "gzip, as Prometheus asks"
    print(f"{args.scrapes} sequential scrapes per size, {os.cpu_count()} CPUs, response encoding {encoding}\n")
    print("| containers | cgroups | CPU per scrape | median wall | peak RSS | response |")
    print("|---|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            base = os.path.join(tmp, "tree")
            cgroups = build_tree(base, size)
            cpu, wall, rss, body = measure(args.nodex, base, args.scrapes, not args.no_gzip)
            print(f"| {size} | {cgroups} | {cpu:.1f} ms | {wall:.1f} ms | {rss:.1f} MiB | {body / 1024:.0f} KiB |")


if __name__ == "__main__":
    main()
