#!/usr/bin/env python3
"""Container scrape cost on real kernel cgroups, beside the floor (run by hand as root, not in CI).

For each size N it creates N container cgroups in the kubelet's cgroupfs layout
(`kubepods/{besteffort,burstable}/pod<uid>/<64-hex id>`, two containers per pod, a quarter of the
pods burstable) in every mounted cgroup hierarchy (v1, v2 or hybrid, read from
/proc/self/mountinfo), all below one uniquely named top-level cgroup `nodex-bench-<pid>` so that
nothing else is touched. A share of the containers gets a small process holding 1 MiB. It then
scrapes the release nodex (default collectors, so the container groups too; gzip as Prometheus
asks) and, interleaved round by round, runs the floor (collectors/examples/cgroup_floor.rs) on the
same hierarchies: `orc` lists every hierarchy and opens, reads and closes each cgroup file nodex
reads relative to its cgroup's directory descriptor; `pread` re-reads descriptors kept open. It
reports CPU and wall per scrape (median over rounds, with min-max), peak RSS, the ratio to the
floor, and nodex's open descriptors after the scrapes (all, and those on the bench's cgroups).
One exporter runs at a time (started for its turn in each round, warmed up, timed, stopped), so
none reads another's descriptors and the floor reads none of theirs.
Everything it made is removed at the end, also on SIGINT/SIGTERM/SIGHUP.

    cargo build --release && cargo build --release --example cgroup_floor -p nodex-collectors
    sudo python3 benches/cgroup_bench.py [--nodex-before OLD_BINARY] [--sizes 100,1000,3000]

`--docker N` adds a run with N real Docker containers (an image built FROM scratch holding
/bin/busybox, running `sleep`), scraped the same way.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from benchlib import cpu_seconds, fetch, free_port, peak_rss_bytes, start

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP = f"nodex-bench-{os.getpid()}"

# The files the container groups read in each cgroup, per controller (collectors/src/container:
# cpu.rs, memory.rs, oom.rs, process.rs, spec.rs, diskio.rs, pressure.rs). `stat:` entries are the
# start-time markers spec.rs stats, `.` the cgroup directory itself, `+fd` the /proc/<pid>/fd
# listing and links of each pid (process.rs). cpu.stat is read only under a
# CFS quota and cgroup.procs of cpu/memory only for runtime containers, so neither is listed for v1.
V1_FILES = {
    "cpu": ["cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us", ".", "stat:cgroup.clone_children"],
    "cpuacct": ["cpuacct.usage", "cpuacct.stat"],
    "memory": ["memory.usage_in_bytes", "memory.use_hierarchy", "memory.stat", "memory.max_usage_in_bytes",
               "memory.failcnt", "memory.kmem.usage_in_bytes", "memory.limit_in_bytes",
               "memory.soft_limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.oom_control",
               ".", "stat:cgroup.clone_children"],
    "pids": ["cgroup.procs+fd", "pids.current", "pids.max", ".", "stat:cgroup.clone_children"],
    "blkio": ["blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_serviced_recursive"],
}
V2_FILES = ["cpu.stat", "cpu.max", "cpu.weight", "memory.stat", "memory.current", "memory.swap.current",
            "memory.events", "memory.events.local", "memory.peak", "memory.max", "memory.min", "memory.swap.max",
            "io.stat",
            "cgroup.procs+fd", "pids.current", "pids.max", ".", "stat:cgroup.events"]
PRESSURE = ["cpu.pressure", "memory.pressure", "io.pressure"]


def mounts():
    """(v1 mounts as (path, controllers), v2 mount paths) from /proc/self/mountinfo."""
    v1, v2 = [], []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            fstype, _source, opts = right.split()[:3]
            point = left.split()[4]
            if fstype == "cgroup":
                ctrls = [o for o in opts.split(",") if o not in ("rw", "ro") and "=" not in o]
                v1.append((point, ctrls))
            elif fstype == "cgroup2":
                v2.append(point)
    return v1, v2


def floor_args(v1, v2):
    """The floor's `<root>=<files>` arguments: the same hierarchies and files nodex reads."""
    args = []
    if v1:
        seen = set()
        for ctrl, files in V1_FILES.items():
            point = next((p for p, c in v1 if ctrl in c), None)
            if point and point not in seen:
                seen.add(point)
                merged = [f for c, fs in V1_FILES.items() if any(p == point and c in cs for p, cs in v1) for f in fs]
                args.append(f"{point}={','.join(dict.fromkeys(merged))}")
        if v2:
            args.append(f"{v2[0]}={','.join(PRESSURE)}")
    elif v2:
        args.append(f"{v2[0]}={','.join(V2_FILES + PRESSURE)}")
    return args


class Bench:
    """The cgroups, processes and exporters one run made; `cleanup` removes them all."""

    def __init__(self, v1, v2):
        self.v2_only = not v1
        self.roots = [p for p, _ in v1] + v2
        self.cpuset = [p for p, c in v1 if "cpuset" in c]
        self.made = []  # cgroup paths relative to the hierarchy roots, parents first
        self.children = []
        self.procs = []
        self.docker = []
        self.image = None

    def mkdir(self, rel):
        for root in self.roots:
            os.mkdir(os.path.join(root, rel))
        self.made.append(rel)

    def build(self, containers):
        if not self.made:
            self.mkdir(TOP)
            if self.v2_only:
                enable(os.path.join(self.roots[0], TOP))
        base = f"{TOP}/n{containers}"
        self.mkdir(base)
        self.mkdir(f"{base}/kubepods")
        leaves = []
        for qos in ("besteffort", "burstable"):
            self.mkdir(f"{base}/kubepods/{qos}")
        for p in range((containers + 1) // 2):
            qos = "burstable" if p % 4 == 3 else "besteffort"
            pod = f"{base}/kubepods/{qos}/pod{uuid.uuid4()}"
            self.mkdir(pod)
            for _ in range(2 if 2 * p + 1 < containers else 1):
                leaf = f"{pod}/{uuid.uuid4().hex}{uuid.uuid4().hex}"
                self.mkdir(leaf)
                leaves.append(leaf)
        if self.v2_only:
            for rel in self.made:
                if rel not in leaves:
                    enable(os.path.join(self.roots[0], rel))
        return base, leaves

    def populate(self, leaves, share):
        """Puts a process holding 1 MiB into every `share`-th leaf (all hierarchies but cpuset)."""
        go_r, go_w = os.pipe()
        for leaf in leaves[::share]:
            pid = os.fork()
            if pid == 0:
                try:  # the child must never unwind into the parent's cleanup
                    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                        signal.signal(sig, signal.SIG_DFL)
                    os.close(go_w)
                    os.read(go_r, 1)
                    held = bytearray(1 << 20)
                    for i in range(0, len(held), 4096):
                        held[i] = 1
                    signal.pause()
                finally:
                    os._exit(0)
            self.children.append(pid)
            for root in self.roots:
                if root in self.cpuset:
                    continue
                with open(os.path.join(root, leaf, "cgroup.procs"), "w") as f:
                    f.write(str(pid))
        os.close(go_r)
        os.write(go_w, b"x" * len(self.children))
        os.close(go_w)

    def stop_children(self):
        for pid in self.children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in self.children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        self.children = []

    def remove(self, prefix):
        """rmdir bottom-up every cgroup made below `prefix`, in every hierarchy."""
        self.stop_children()
        keep = []
        for rel in reversed(self.made):
            if rel != prefix and not rel.startswith(prefix + "/"):
                keep.append(rel)
                continue
            for root in self.roots:
                path = os.path.join(root, rel)
                for attempt in range(50):
                    try:
                        os.rmdir(path)
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        time.sleep(0.02 * (attempt + 1))  # a killed task may still be exiting
        self.made = list(reversed(keep))

    def cleanup(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self.procs = []
        if self.docker:
            subprocess.run(["docker", "rm", "-f", *self.docker], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
            self.docker = []
        if self.image:
            subprocess.run(["docker", "rmi", "-f", self.image], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
            self.image = None
        self.remove(TOP)


def enable(path):
    """Enables the v2 controllers the groups read in the children of `path`."""
    with open(os.path.join(path, "cgroup.controllers")) as f:
        have = f.read().split()
    wanted = [c for c in ("cpu", "memory", "io", "pids") if c in have]
    if wanted:
        with open(os.path.join(path, "cgroup.subtree_control"), "w") as f:
            f.write(" ".join(f"+{c}" for c in wanted))


def fds(pid, needle):
    """(all open descriptors of pid, those whose target contains needle)."""
    total = mine = 0
    for name in os.listdir(f"/proc/{pid}/fd"):
        total += 1
        try:
            mine += needle in os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            pass
    return total, mine


def floor(binary, mode, passes, args):
    out = subprocess.run([binary, mode, str(passes), *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def stats(values):
    return statistics.median(values), min(values), max(values)


def fmt(triple, unit=" ms"):
    med, lo, hi = triple
    return f"{med:.0f}{unit} ({lo:.0f}-{hi:.0f})"


def run_size(bench, label, nodexes, floor_bin, fargs, rounds, per_round, gzip):
    """Interleaves rounds of nodex scrapes (each binary) and floor passes; returns table rows.

    Only one exporter runs at a time: each is started for its turn in a round, warmed up with
    two scrapes (the first walk opens every directory, later ones reuse the kept descriptors),
    timed, and stopped. Exporters running side by side would read each other's open
    descriptors (`container_file_descriptors` of the cgroup they run in), and the floor would
    read theirs: nodex keeps one descriptor per walked cgroup directory between scrapes."""
    servers = [(name, binary, extra, {"cpu": [], "wall": [], "rss": 0, "fds": (0, 0)})
               for name, binary, extra in nodexes]
    fl = {"orc": {"cpu": [], "wall": []}, "pread": {"cpu": [], "wall": []}}
    files, stat_count, links = {}, 0, 0
    for _ in range(rounds):
        for name, binary, extra, acc in servers:
            port = free_port()
            url = f"http://127.0.0.1:{port}/metrics"
            proc = start([binary, *extra, f"--web.listen-address=127.0.0.1:{port}"], url)
            bench.procs.append(proc)
            try:
                for _ in range(2):
                    fetch(url, gzip, timeout=120)
                cpu0 = cpu_seconds(proc.pid)
                walls = [fetch(url, gzip, timeout=120)[0] for _ in range(per_round)]
                acc["cpu"].append((cpu_seconds(proc.pid) - cpu0) / per_round * 1000)
                acc["wall"].append(statistics.median(walls) * 1000)
                acc["rss"] = max(acc["rss"], peak_rss_bytes(proc.pid))
                acc["fds"] = fds(proc.pid, TOP)
            finally:
                proc.kill()
                proc.wait()
                bench.procs.remove(proc)
        for mode, acc in fl.items():
            r = floor(floor_bin, mode, per_round, fargs)
            # pread keeps one descriptor per file and stops at the descriptor limit: scale its
            # pass to the files orc reads (it runs second, so orc's count is known).
            scale = files["orc"] / r["files"] if mode == "pread" and r["files"] else 1
            acc["cpu"].append(statistics.median(r["cpu_ms"]) * scale)
            acc["wall"].append(statistics.median(r["wall_ms"]) * scale)
            files[mode] = r["files"]
            if mode == "orc":
                stat_count, links = r["stats"], r["links"]
    orc = stats(fl["orc"]["cpu"])[0]
    rows = []
    for name, _, _, acc in servers:
        cpu = stats(acc["cpu"])
        total, mine = acc["fds"]
        rows.append(f"| {label} | {name} | {fmt(cpu)} | {fmt(stats(acc['wall']))} | "
                    f"{acc['rss'] / 2**20:.1f} MiB | {cpu[0] / orc:.2f} | {total} / {mine} |")
    what = {"orc": f"floor orc ({files['orc']} files, {stat_count} stats, {links} fd links)",
            "pread": f"floor pread (scaled from {files['pread']} files)" if files["pread"] < files["orc"]
            else f"floor pread ({files['pread']} files)"}
    for mode, acc in fl.items():
        rows.append(f"| {label} | {what[mode]} | {fmt(stats(acc['cpu']))} | "
                    f"{fmt(stats(acc['wall']))} | - | {stats(acc['cpu'])[0] / orc:.2f} | - |")
    return rows


def docker_containers(bench, count):
    """Builds a FROM-scratch busybox image and starts `count` containers sleeping in it."""
    with tempfile.TemporaryDirectory() as ctx:
        subprocess.run(["cp", "/bin/busybox", os.path.join(ctx, "busybox")], check=True)
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write('FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT ["/bin/busybox"]\n')
        bench.image = f"{TOP}:latest"
        subprocess.run(["docker", "build", "-q", "-t", bench.image, ctx], check=True, stdout=subprocess.DEVNULL)
    for i in range(count):
        out = subprocess.run(["docker", "run", "-d", "--name", f"{TOP}-{i}", "--network", "none",
                              bench.image, "sleep", "86400"], capture_output=True, text=True, check=True)
        bench.docker.append(out.stdout.strip())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,3000", help="container counts ('' for none)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per size")
    parser.add_argument("--scrapes", type=int, default=4, help="scrapes (and floor passes) per round")
    parser.add_argument("--share", type=int, default=10, help="one container in SHARE gets a process")
    parser.add_argument("--nodex", default=os.path.join(REPO, "target/release/nodex"))
    parser.add_argument("--nodex-before", help="a second binary (e.g. main's) scraped in the same rounds")
    parser.add_argument("--nofile", type=int, default=0,
                        help="also scrape nodex run under this descriptor limit (few or no kept directories)")
    parser.add_argument("--floor", default=os.path.join(REPO, "target/release/examples/cgroup_floor"))
    parser.add_argument("--container-only", action="store_true",
                        help="also scrape with only the container groups enabled")
    parser.add_argument("--docker", type=int, default=0, help="also run with this many Docker containers")
    parser.add_argument("--no-gzip", action="store_true")
    parser.add_argument("--print-floor-args", metavar="ROOT",
                        help="print the floor's argument for a pure cgroup v2 mount at ROOT and exit "
                             "(benches/cgroup_v2_vm.rs runs the floor inside an emulated v2 kernel)")
    args = parser.parse_args()
    if args.print_floor_args:
        print(floor_args([], [args.print_floor_args])[0])
        return

    v1, v2 = mounts()
    if not v1 and not v2:
        sys.exit("no cgroup file system mounted")
    kind = "hybrid" if v1 and v2 else "v1" if v1 else "v2"
    bench = Bench(v1, v2)

    def interrupted(signum, _frame):
        raise SystemExit(f"signal {signum}")

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)
    groups = ["container_cpu", "container_diskio", "container_memory", "container_network", "container_oom",
              "container_pressure", "container_process", "container_spec", "machine"]
    nodexes = [("nodex", args.nodex, [])]
    if args.nodex_before:
        nodexes.insert(0, ("nodex before", args.nodex_before, []))
    if args.nofile:
        nodexes.append((f"nodex (nofile {args.nofile})", "prlimit",
                        [f"--nofile={args.nofile}:{args.nofile}", args.nodex]))
    if args.container_only:
        only = ["--collector.disable-defaults", *[f"--collector.{g}" for g in groups]]
        nodexes += [(f"{n} (containers only)", b, [*extra, *only]) for n, b, extra in list(nodexes)]
    fargs = floor_args(v1, v2)
    print(f"cgroup {kind}: {len(v1)} v1 hierarchies, {len(v2)} cgroup2 mounts; {os.cpu_count()} CPUs; "
          f"{args.rounds} rounds x {args.scrapes} scrapes; one container in {args.share} holds a process; "
          f"{'identity' if args.no_gzip else 'gzip'} responses; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    print("| containers | reader | CPU per scrape (min-max) | median wall (min-max) | peak RSS | / floor orc | fds after (all / on bench cgroups) |")
    print("|---|---|---|---|---|---|---|")
    try:
        for size in (int(s) for s in args.sizes.split(",") if s):
            base, leaves = bench.build(size)
            bench.populate(leaves, args.share)
            cgroups = sum(1 for _ in os.walk(bench.roots[0]))
            rows = run_size(bench, f"{size} ({cgroups} cgroups)", nodexes, args.floor, fargs,
                            args.rounds, args.scrapes, not args.no_gzip)
            for row in rows:
                print(row, flush=True)
            bench.remove(base)
        if args.docker:
            docker_containers(bench, args.docker)
            rows = run_size(bench, f"{args.docker} docker", nodexes, args.floor, fargs,
                                     args.rounds, args.scrapes, not args.no_gzip)
            for row in rows:
                print(row, flush=True)
    finally:
        bench.cleanup()


if __name__ == "__main__":
    main()
