//! nodex's container families on a real cgroup v2 kernel, and on a hybrid host. This host runs
//! cgroup v1, so the test boots Debian's kernel under qemu (`tests/common/vm.rs`) with
//! `tests/vm/cgroup-v2.sh` (or `cgroup-hybrid.sh`) as `/init`: kubelet systemd-driver slices
//! with containerd scopes, the limits the kubelet and runc write, a throttled CPU burner, a
//! memory holder (anon, tmpfs, page cache on ext2, raw writes to `/dev/ram0`) and an OOM kill.
//! `kubepods.slice` is frozen, then every cgroup's kernel files are printed before and after
//! one scrape of nodex running in the same VM. Each family must equal the kernel's value
//! converted as cAdvisor converts it (google/cadvisor `container/libcontainer/handler.go`,
//! `container/common/helpers.go`, `metrics/prometheus.go`; runc `libcontainer/cgroups/fs2` and
//! `fs`), within the before/after range, which is a single value for a frozen cgroup.
//!
//! Needs qemu-system-x86, busybox-static, binutils and a kernel `scripts/vm-kernel.sh` can
//! fetch (apt); `scripts/test-all.sh` installs them. Without them it fails in CI (`CI` set) and
//! skips elsewhere. `NODEX_VM_TIMEOUT` (seconds) overrides the 600 s boot limit;
//! `NODEX_VM_CONSOLE=<file>` keeps the console output (as `<file>.v2`, `<file>.hybrid`).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::vm::{self, Cpio, Initramfs, Prerequisites};
use common::{parse_exposition, Family};
use nodex_test_support::skip_unless_ci;

/// Pod uids and containerd ids of the three pods the script creates (burstable, besteffort,
/// guaranteed).
const BU_UID: &str = "1b2c3d4e-0000-4000-8000-123456789abc";
const BU_ID: &str = "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1";
const BE_UID: &str = "5a5a5a5a-2222-4222-8222-0123456789ab";
const BE_ID: &str = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";
const GU_UID: &str = "7c7c7c7c-3333-4333-8333-abcdefabcdef";
const GU_ID: &str = "a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3";

/// Kernel files by cgroup id, then by file name.
type Files = BTreeMap<String, BTreeMap<String, String>>;

/// Splits the sections `<phase> <id> <file>` into [`Files`].
fn kernel_files(sections: &BTreeMap<String, String>, phase: &str) -> Files {
    let mut out: Files = BTreeMap::new();
    for (name, text) in sections {
        let mut parts = name.splitn(3, ' ');
        if parts.next() != Some(phase) {
            continue;
        }
        let (Some(id), Some(file)) = (parts.next(), parts.next()) else {
            continue;
        };
        out.entry(id.to_string())
            .or_default()
            .insert(file.to_string(), text.clone());
    }
    out
}

/// A value of a flat-keyed file (`cpu.stat`, `memory.stat`, `memory.events`).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

/// `total=` of the `some` or `full` line of a PSI file (µs).
fn psi_total(text: &str, line: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(line))?
        .split_whitespace()
        .find_map(|f| f.strip_prefix("total="))?
        .parse()
        .ok()
}

/// A memory limit file as cAdvisor serves it: `max` is `math.MaxUint64` (`readUInt64` in
/// container/common/helpers.go), and `specMemoryValue` (metrics/prometheus.go) serves anything
/// above 2^62 as 0 ("unlimited").
fn spec_memory(text: &str) -> Option<f64> {
    let v = match text.trim() {
        "max" => u64::MAX,
        t => t.parse::<u64>().ok()?,
    };
    Some(if v > 1 << 62 { 0.0 } else { v as f64 })
}

/// `rbytes` etc. of one device line of `io.stat`.
fn io_stat(text: &str, dev: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(&format!("{dev} ")))?;
    line.split_whitespace()
        .find_map(|f| f.strip_prefix(&format!("{key}=")))?
        .parse()
        .ok()
}

/// cAdvisor's `convertCPUWeightToCPULimit` (container/common/helpers.go): [1-10000] to [2-262144].
fn cadvisor_shares(weight: u64) -> u64 {
    2 + ((weight - 1) * 262142) / 9999
}

struct Row {
    family: String,
    id: String,
    kernel: String,
    nodex: String,
    ok: bool,
}

struct Comparison<'a> {
    before: &'a Files,
    after: &'a Files,
    scrape: &'a BTreeMap<String, Family>,
    rows: Vec<Row>,
}

impl Comparison<'_> {
    /// Compares `family{id, extra}` with `kernel` applied to the file `file` read before and
    /// after the scrape: nodex must lie within that range (exactly the value when both agree,
    /// with 1e-9 relative slack for the float text). A file absent in the VM is not compared;
    /// a series nodex lacks for a present file is a failure.
    fn check(
        &mut self,
        family: &str,
        id: &str,
        extra: &[(&str, &str)],
        file: &str,
        kernel: impl Fn(&str) -> Option<f64>,
    ) {
        let value = |files: &Files| files.get(id)?.get(file).and_then(|t| kernel(t));
        let (Some(a), Some(b)) = (value(self.before), value(self.after)) else {
            return;
        };
        self.check_range(family, id, extra, a.min(b), a.max(b));
    }

    fn check_range(&mut self, family: &str, id: &str, extra: &[(&str, &str)], lo: f64, hi: f64) {
        let got = self.sample(family, id, extra);
        let slack = hi.abs() * 1e-9;
        let ok = got.is_some_and(|v| v >= lo - slack && v <= hi + slack);
        let kernel = if lo == hi {
            format!("{lo}")
        } else {
            format!("{lo}..{hi}")
        };
        let label = extra
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        self.rows.push(Row {
            family: if label.is_empty() {
                family.to_string()
            } else {
                format!("{family}{{{label}}}")
            },
            id: id.to_string(),
            kernel,
            nodex: got.map_or("(missing)".to_string(), |v| format!("{v}")),
            ok,
        });
    }

    fn sample(&self, family: &str, id: &str, extra: &[(&str, &str)]) -> Option<f64> {
        self.scrape
            .get(family)?
            .samples
            .iter()
            .find(|s| {
                s.labels.get("id").map(String::as_str) == Some(id)
                    && extra
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
    }

    fn print(&self) {
        let short = |id: &str| {
            id.rsplit('/')
                .next()
                .map(|l| {
                    if l.len() > 40 {
                        format!("{}…", &l[..40])
                    } else {
                        l.to_string()
                    }
                })
                .unwrap_or_default()
        };
        eprintln!(
            "{:<62} {:<44} {:>26} {:>26}",
            "family", "cgroup (last component)", "kernel", "nodex"
        );
        for r in &self.rows {
            eprintln!(
                "{:<62} {:<44} {:>26} {:>26}{}",
                r.family,
                short(&r.id),
                r.kernel,
                r.nodex,
                if r.ok { "" } else { "  <-- MISMATCH" }
            );
        }
    }
}

fn vm_env() -> String {
    format!(
        "BU_UID={BU_UID}\nBU_ID={BU_ID}\nBE_UID={BE_UID}\nBE_ID={BE_ID}\nGU_UID={GU_UID}\nGU_ID={GU_ID}\n"
    )
}

fn slice_uid(uid: &str) -> String {
    uid.replace('-', "_")
}

/// Boots `script` as `/init`; `None` when the prerequisites are missing outside CI.
fn run_vm(name: &str, script: &str) -> Option<BTreeMap<String, String>> {
    let started = Instant::now();
    let p = match Prerequisites::find() {
        Ok(p) => p,
        Err(why) => {
            skip_unless_ci(&format!("cgroup VM ({name}): {why}"));
            return None;
        }
    };
    let prepared = started.elapsed();
    let mut cpio = Initramfs::base(&p, script).unwrap_or_else(|e| panic!("initramfs: {e}"));
    cpio.file("etc/vm.env", 0o644, vm_env().as_bytes());
    let dir = tempfile::tempdir().expect("temp dir");
    let initrd = dir.path().join("initrd.cpio");
    std::fs::write(&initrd, cpio.finish()).expect("write initrd");
    let booted = Instant::now();
    let console = vm::boot(&p, &initrd, 512, vm::timeout(Duration::from_secs(600)))
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "prerequisites (static nodex build, kernel) {:.1} s, VM {:.1} s",
        prepared.as_secs_f64(),
        booted.elapsed().as_secs_f64()
    );
    if let Some(path) = std::env::var_os("NODEX_VM_CONSOLE") {
        let path = format!("{}.{name}", path.to_string_lossy());
        std::fs::write(&path, &console).expect("write NODEX_VM_CONSOLE");
    }
    let sections = vm::sections(&console);
    if let Some(err) = sections.get("error") {
        panic!("the VM script failed: {err}\nconsole:\n{console}");
    }
    Some(sections)
}

#[test]
fn container_families_match_the_kernel_on_cgroup_v2() {
    let Some(sections) = run_vm("v2", include_str!("vm/cgroup-v2.sh")) else {
        return;
    };
    let scrape_text = sections.get("scrape").expect("scrape section");
    let scrape = parse_exposition(scrape_text);
    let before = kernel_files(&sections, "before");
    let after = kernel_files(&sections, "after");
    assert!(
        before.len() >= 9,
        "expected the 9 kubepods cgroups, got {:?}",
        before.keys()
    );
    let log = sections.get("nodex log").cloned().unwrap_or_default();

    let k = "/kubepods.slice";
    let bu_pod = format!(
        "{k}/kubepods-burstable.slice/kubepods-burstable-pod{}.slice",
        slice_uid(BU_UID)
    );
    let bu = format!("{bu_pod}/cri-containerd-{BU_ID}.scope");
    let be_pod = format!(
        "{k}/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice",
        slice_uid(BE_UID)
    );
    let be = format!("{be_pod}/cri-containerd-{BE_ID}.scope");
    let gu_pod = format!("{k}/kubepods-pod{}.slice", slice_uid(GU_UID));
    let gu = format!("{gu_pod}/cri-containerd-{GU_ID}.scope");

    let mut c = Comparison {
        before: &before,
        after: &after,
        scrape: &scrape,
        rows: Vec::new(),
    };
    let f = |v: u64| v as f64;
    for id in before.keys() {
        let id = id.as_str();
        let pod_level = [&bu_pod, &be_pod, &gu_pod].iter().any(|p| *p == id);
        // container_cpu (cAdvisor: usage_usec, user_usec, system_usec in ns; cfs counters only
        // with a quota).
        for (family, key) in [
            ("container_cpu_usage_seconds_total", "usage_usec"),
            ("container_cpu_user_seconds_total", "user_usec"),
            ("container_cpu_system_seconds_total", "system_usec"),
        ] {
            let extra: &[(&str, &str)] = if key == "usage_usec" {
                &[("cpu", "total")]
            } else {
                &[]
            };
            c.check(family, id, extra, "cpu.stat", |t| {
                keyed(t, key).map(|v| v as f64 / 1e6)
            });
        }
        let quota = before[id]
            .get("cpu.max")
            .is_some_and(|t| !t.starts_with("max"));
        if quota {
            for (family, key, scale) in [
                ("container_cpu_cfs_periods_total", "nr_periods", 1.0),
                (
                    "container_cpu_cfs_throttled_periods_total",
                    "nr_throttled",
                    1.0,
                ),
                (
                    "container_cpu_cfs_throttled_seconds_total",
                    "throttled_usec",
                    1e6,
                ),
            ] {
                c.check(family, id, &[], "cpu.stat", |t| {
                    keyed(t, key).map(|v| v as f64 / scale)
                });
            }
        } else {
            assert!(
                c.sample("container_cpu_cfs_periods_total", id, &[])
                    .is_none(),
                "{id} has no quota but CFS series"
            );
        }
        // container_memory (cAdvisor: usage = memory.current, working set = usage -
        // inactive_file floored at 0, rss = anon, cache = file, mapped_file = file_mapped,
        // swap = memory.swap.current, failcnt = memory.events max).
        c.check(
            "container_memory_usage_bytes",
            id,
            &[],
            "memory.current",
            |t| t.trim().parse::<u64>().ok().map(f),
        );
        for (family, key) in [
            ("container_memory_rss", "anon"),
            ("container_memory_cache", "file"),
            ("container_memory_mapped_file", "file_mapped"),
        ] {
            c.check(family, id, &[], "memory.stat", |t| keyed(t, key).map(f));
        }
        let ws = |files: &Files| -> Option<f64> {
            let d = files.get(id)?;
            let usage: u64 = d.get("memory.current")?.trim().parse().ok()?;
            let inactive = keyed(d.get("memory.stat")?, "inactive_file")?;
            Some(usage.saturating_sub(inactive) as f64)
        };
        if let (Some(a), Some(b)) = (ws(&before), ws(&after)) {
            c.check_range(
                "container_memory_working_set_bytes",
                id,
                &[],
                a.min(b),
                a.max(b),
            );
        }
        c.check(
            "container_memory_swap",
            id,
            &[],
            "memory.swap.current",
            |t| t.trim().parse::<u64>().ok().map(f),
        );
        // runc's fs2 statMemory sets no Failcnt (memory.events `max` is not read), so cAdvisor
        // serves 0 on v2 whatever the kernel counted.
        c.check("container_memory_failcnt", id, &[], "memory.events", |_| {
            Some(0.0)
        });
        // runc reads memory.peak (kernel 5.19+) as MaxUsage.
        c.check(
            "container_memory_max_usage_bytes",
            id,
            &[],
            "memory.peak",
            |t| t.trim().parse::<u64>().ok().map(f),
        );
        // The killed task's own cgroup only (cAdvisor's count): memory.events.local, not the
        // hierarchical memory.events.
        c.check(
            "container_oom_events_total",
            id,
            &[],
            "memory.events.local",
            |t| keyed(t, "oom_kill").map(f),
        );
        // container_pressure: some = waiting, full = stalled, µs → s; pod cgroups are left out
        // by default (kubernetes#136642).
        if !pod_level {
            for res in ["cpu", "memory", "io"] {
                let file = format!("{res}.pressure");
                for (kind, line) in [("waiting", "some"), ("stalled", "full")] {
                    c.check(
                        &format!("container_pressure_{res}_{kind}_seconds_total"),
                        id,
                        &[],
                        &file,
                        |t| psi_total(t, line).map(|v| v as f64 / 1e6),
                    );
                }
            }
        }
        // container_spec (helpers.go GetSpec, unified mode).
        c.check("container_spec_cpu_shares", id, &[], "cpu.weight", |t| {
            t.trim().parse().ok().map(|w| cadvisor_shares(w) as f64)
        });
        c.check("container_spec_cpu_period", id, &[], "cpu.max", |t| {
            t.split_whitespace().nth(1)?.parse::<u64>().ok().map(f)
        });
        if quota {
            c.check("container_spec_cpu_quota", id, &[], "cpu.max", |t| {
                t.split_whitespace().next()?.parse::<u64>().ok().map(f)
            });
        }
        c.check(
            "container_spec_memory_limit_bytes",
            id,
            &[],
            "memory.max",
            spec_memory,
        );
        c.check(
            "container_spec_memory_reservation_limit_bytes",
            id,
            &[],
            "memory.min",
            spec_memory,
        );
        c.check(
            "container_spec_memory_swap_limit_bytes",
            id,
            &[],
            "memory.swap.max",
            spec_memory,
        );
        // container_process: processes listed in cgroup.procs, threads = pids.current,
        // threads_max = pids.max when set.
        c.check("container_processes", id, &[], "cgroup.procs", |t| {
            Some(t.lines().filter(|l| !l.trim().is_empty()).count() as f64)
        });
        c.check("container_threads", id, &[], "pids.current", |t| {
            t.trim().parse::<u64>().ok().map(f)
        });
        c.check("container_threads_max", id, &[], "pids.max", |t| {
            t.trim().parse::<u64>().ok().map(f)
        });
        // container_diskio: io.stat of /dev/ram0 (1:0) and /dev/ram1 (1:1).
        for (dev, name) in [("1:0", "/dev/ram0"), ("1:1", "/dev/ram1")] {
            for (family, key) in [
                ("container_fs_reads_bytes_total", "rbytes"),
                ("container_fs_reads_total", "rios"),
                ("container_fs_writes_bytes_total", "wbytes"),
                ("container_fs_writes_total", "wios"),
            ] {
                c.check(family, id, &[("device", name)], "io.stat", |t| {
                    io_stat(t, dev, key).map(f)
                });
            }
        }
    }
    c.print();
    let failed: Vec<&Row> = c.rows.iter().filter(|r| !r.ok).collect();
    assert!(
        failed.is_empty(),
        "{} of {} comparisons failed (table above); nodex log:\n{log}",
        failed.len(),
        c.rows.len()
    );

    // The workloads did what they were for, so the comparisons above covered real values.
    let b = |id: &str, file: &str| before[id].get(file).cloned().unwrap_or_default();
    assert!(keyed(&b(&bu, "cpu.stat"), "nr_throttled").unwrap_or(0) >= 5);
    assert!(keyed(&b(&be, "memory.stat"), "anon").unwrap_or(0) >= 4_000_000);
    assert!(keyed(&b(&be, "memory.stat"), "inactive_file").unwrap_or(0) > 0);
    assert!(io_stat(&b(&be, "io.stat"), "1:0", "wbytes").unwrap_or(0) >= 8 << 20);
    assert!(keyed(&b(&gu, "memory.events"), "oom_kill").unwrap_or(0) >= 1);
    assert!(psi_total(&b(&bu, "cpu.pressure"), "some").unwrap_or(0) > 0);
    let compared = |family: &str| c.rows.iter().any(|r| r.family.starts_with(family));
    for family in [
        "container_cpu_usage_seconds_total",
        "container_cpu_cfs_throttled_periods_total",
        "container_cpu_cfs_throttled_seconds_total",
        "container_memory_working_set_bytes",
        "container_memory_rss",
        "container_oom_events_total",
        "container_pressure_cpu_waiting_seconds_total",
        "container_pressure_memory_stalled_seconds_total",
        "container_spec_cpu_shares",
        "container_spec_cpu_quota",
        "container_spec_memory_limit_bytes",
        "container_spec_memory_reservation_limit_bytes",
        "container_threads_max",
        "container_fs_writes_bytes_total",
    ] {
        assert!(compared(family), "{family} was not compared");
    }

    // Labels: app containers from containerd's bundle, pods from /var/log/pods, slices empty.
    let labels = |id: &str| -> BTreeMap<String, String> {
        scrape["container_memory_usage_bytes"]
            .samples
            .iter()
            .find(|s| s.labels.get("id").map(String::as_str) == Some(id))
            .map(|s| s.labels.clone())
            .unwrap_or_else(|| panic!("no container_memory_usage_bytes for {id}"))
    };
    let want = |id: &str, container: &str, image: &str, name: &str, ns: &str, pod: &str| {
        [
            ("container", container),
            ("id", id),
            ("image", image),
            ("name", name),
            ("namespace", ns),
            ("pod", pod),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(
        labels(&bu),
        want(
            &bu,
            "burner",
            "registry.example/burner:1",
            BU_ID,
            "shop",
            "web-0"
        )
    );
    assert_eq!(
        labels(&gu),
        want(
            &gu,
            "victim",
            "registry.example/victim:7",
            GU_ID,
            "batch",
            "oom-0"
        )
    );
    assert_eq!(
        labels(&be_pod),
        want(&be_pod, "", "", "", "data", "cache-1")
    );
    assert_eq!(labels(k), want(k, "", "", "", "", ""));
    eprintln!("{} comparisons, all equal", c.rows.len());
}

/// v1 `blkio.throttle.*_recursive` value of one device and operation (`1:0 Write 8388608`).
fn blkio(text: &str, dev: &str, op: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        (f.next()? == dev && f.next()? == op).then(|| f.next()?.parse().ok())?
    })
}

/// The hybrid layout (systemd's: cgroup v1 controllers plus an empty cgroup2 `unified` mount):
/// v1 files, converted as cAdvisor converts them (runc `libcontainer/cgroups/fs`), and PSI from
/// the cgroup's twin in the unified hierarchy.
#[test]
fn container_families_match_the_kernel_on_a_hybrid_host() {
    let Some(sections) = run_vm("hybrid", include_str!("vm/cgroup-hybrid.sh")) else {
        return;
    };
    let scrape = parse_exposition(sections.get("scrape").expect("scrape section"));
    let before = kernel_files(&sections, "before");
    let after = kernel_files(&sections, "after");
    assert!(
        before.len() >= 9,
        "expected the 9 kubepods cgroups, got {:?}",
        before.keys()
    );
    let log = sections.get("nodex log").cloned().unwrap_or_default();
    let bu = format!(
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{BU_ID}.scope",
        slice_uid(BU_UID)
    );
    let gu = format!(
        "/kubepods.slice/kubepods-pod{}.slice/cri-containerd-{GU_ID}.scope",
        slice_uid(GU_UID)
    );
    let mut c = Comparison {
        before: &before,
        after: &after,
        scrape: &scrape,
        rows: Vec::new(),
    };
    let f = |v: u64| v as f64;
    let num = |t: &str| t.trim().parse::<u64>().ok().map(|v| v as f64);
    for id in before.keys() {
        let id = id.as_str();
        let pod_level = id.ends_with(".slice") && id.contains("-pod");
        c.check(
            "container_cpu_usage_seconds_total",
            id,
            &[("cpu", "total")],
            "cpu,cpuacct/cpuacct.usage",
            |t| num(t).map(|v| v / 1e9),
        );
        // cpuacct.stat is in USER_HZ ticks (100/s).
        for (family, key) in [
            ("container_cpu_user_seconds_total", "user"),
            ("container_cpu_system_seconds_total", "system"),
        ] {
            c.check(family, id, &[], "cpu,cpuacct/cpuacct.stat", |t| {
                keyed(t, key).map(|v| v as f64 / 100.0)
            });
        }
        let quota = before[id]
            .get("cpu,cpuacct/cpu.cfs_quota_us")
            .is_some_and(|t| t.trim() != "-1");
        if quota {
            for (family, key, scale) in [
                ("container_cpu_cfs_periods_total", "nr_periods", 1.0),
                (
                    "container_cpu_cfs_throttled_periods_total",
                    "nr_throttled",
                    1.0,
                ),
                (
                    "container_cpu_cfs_throttled_seconds_total",
                    "throttled_time",
                    1e9,
                ),
            ] {
                c.check(family, id, &[], "cpu,cpuacct/cpu.stat", |t| {
                    keyed(t, key).map(|v| v as f64 / scale)
                });
            }
            c.check(
                "container_spec_cpu_quota",
                id,
                &[],
                "cpu,cpuacct/cpu.cfs_quota_us",
                num,
            );
        }
        c.check(
            "container_spec_cpu_shares",
            id,
            &[],
            "cpu,cpuacct/cpu.shares",
            num,
        );
        c.check(
            "container_spec_cpu_period",
            id,
            &[],
            "cpu,cpuacct/cpu.cfs_period_us",
            num,
        );
        c.check(
            "container_memory_usage_bytes",
            id,
            &[],
            "memory/memory.usage_in_bytes",
            num,
        );
        c.check(
            "container_memory_max_usage_bytes",
            id,
            &[],
            "memory/memory.max_usage_in_bytes",
            num,
        );
        c.check(
            "container_memory_failcnt",
            id,
            &[],
            "memory/memory.failcnt",
            num,
        );
        // v1 memory.stat: the hierarchical total_* keys (runc fs memory.go, cAdvisor handler.go).
        for (family, key) in [
            ("container_memory_rss", "total_rss"),
            ("container_memory_cache", "total_cache"),
            ("container_memory_mapped_file", "total_mapped_file"),
        ] {
            c.check(family, id, &[], "memory/memory.stat", |t| {
                keyed(t, key).map(f)
            });
        }
        let ws = |files: &Files| -> Option<f64> {
            let d = files.get(id)?;
            let usage: u64 = d.get("memory/memory.usage_in_bytes")?.trim().parse().ok()?;
            let inactive = keyed(d.get("memory/memory.stat")?, "total_inactive_file")?;
            Some(usage.saturating_sub(inactive) as f64)
        };
        if let (Some(a), Some(b)) = (ws(&before), ws(&after)) {
            c.check_range(
                "container_memory_working_set_bytes",
                id,
                &[],
                a.min(b),
                a.max(b),
            );
        }
        c.check(
            "container_oom_events_total",
            id,
            &[],
            "memory/memory.oom_control",
            |t| keyed(t, "oom_kill").map(f),
        );
        for (family, file) in [
            (
                "container_spec_memory_limit_bytes",
                "memory/memory.limit_in_bytes",
            ),
            (
                "container_spec_memory_reservation_limit_bytes",
                "memory/memory.soft_limit_in_bytes",
            ),
            (
                "container_spec_memory_swap_limit_bytes",
                "memory/memory.memsw.limit_in_bytes",
            ),
        ] {
            c.check(family, id, &[], file, spec_memory);
        }
        c.check("container_processes", id, &[], "pids/cgroup.procs", |t| {
            Some(t.lines().filter(|l| !l.trim().is_empty()).count() as f64)
        });
        c.check("container_threads", id, &[], "pids/pids.current", num);
        c.check("container_threads_max", id, &[], "pids/pids.max", num);
        let bytes = "blkio/blkio.throttle.io_service_bytes_recursive";
        let ops = "blkio/blkio.throttle.io_serviced_recursive";
        for (dev, name) in [("1:0", "/dev/ram0"), ("1:1", "/dev/ram1")] {
            for (family, file, op) in [
                ("container_fs_writes_bytes_total", bytes, "Write"),
                ("container_fs_writes_total", ops, "Write"),
                ("container_fs_reads_bytes_total", bytes, "Read"),
                ("container_fs_reads_total", ops, "Read"),
            ] {
                c.check(family, id, &[("device", name)], file, |t| {
                    blkio(t, dev, op).map(f)
                });
            }
        }
        if !pod_level {
            for res in ["cpu", "memory", "io"] {
                let file = format!("unified/{res}.pressure");
                for (kind, line) in [("waiting", "some"), ("stalled", "full")] {
                    c.check(
                        &format!("container_pressure_{res}_{kind}_seconds_total"),
                        id,
                        &[],
                        &file,
                        |t| psi_total(t, line).map(|v| v as f64 / 1e6),
                    );
                }
            }
        }
    }
    c.print();
    let failed = c.rows.iter().filter(|r| !r.ok).count();
    assert_eq!(
        failed,
        0,
        "{failed} of {} comparisons failed (table above); nodex log:\n{log}",
        c.rows.len()
    );
    let b = |id: &str, file: &str| before[id].get(file).cloned().unwrap_or_default();
    assert!(keyed(&b(&bu, "cpu,cpuacct/cpu.stat"), "nr_throttled").unwrap_or(0) >= 5);
    assert!(keyed(&b(&gu, "memory/memory.oom_control"), "oom_kill").unwrap_or(0) >= 1);
    for family in [
        "container_cpu_cfs_throttled_seconds_total",
        "container_memory_working_set_bytes",
        "container_oom_events_total",
        "container_spec_cpu_shares",
        "container_spec_memory_limit_bytes",
        "container_fs_writes_bytes_total",
        "container_pressure_cpu_waiting_seconds_total",
    ] {
        assert!(
            c.rows.iter().any(|r| r.family.starts_with(family)),
            "{family} was not compared"
        );
    }
    eprintln!("{} comparisons, all equal", c.rows.len());
}

#[test]
fn cpio_header_layout_follows_the_kernel_format() {
    // buffer-format.rst: "070701", then ino, mode, uid, gid, nlink, mtime, filesize, maj, min,
    // rmaj, rmin, namesize (with the NUL), chksum, as 8 hex digits each; name padded to 4.
    let mut c = Cpio::new();
    c.file("init", 0o755, b"ab");
    let bytes = c.finish();
    let header = concat!(
        "070701", "00000001", "000081ED", "00000000", "00000000", "00000001", "00000000",
        "00000002", "00000000", "00000000", "00000000", "00000000", "00000005", "00000000"
    );
    assert_eq!(&bytes[..110], header.as_bytes());
    assert_eq!(&bytes[110..116], b"init\0\0");
    assert_eq!(&bytes[116..120], b"ab\0\0");
    assert_eq!(&bytes[120..126], b"070701");
    assert!(bytes.len().is_multiple_of(4));
}

#[test]
fn cpio_archive_unpacks_with_gnu_cpio() {
    if std::process::Command::new("cpio")
        .arg("--version")
        .output()
        .is_err()
    {
        skip_unless_ci("GNU cpio (Debian package cpio) is not installed");
        return;
    }
    let mut c = Cpio::new();
    c.dir("bin")
        .file("bin/tool", 0o750, b"#!/bin/sh\necho odd-length")
        .symlink("bin/alias", "tool")
        .file("empty", 0o644, b"");
    let dir = tempfile::tempdir().expect("temp dir");
    let archive = dir.path().join("a.cpio");
    std::fs::write(&archive, c.finish()).expect("write");
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).expect("mkdir");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg("cpio -i -d --quiet < \"$1\"")
        .arg("sh")
        .arg(&archive)
        .current_dir(&out_dir)
        .status()
        .expect("cpio");
    assert!(status.success(), "cpio -i failed");
    use std::os::unix::fs::PermissionsExt;
    let tool = out_dir.join("bin/tool");
    assert_eq!(
        std::fs::read(&tool).expect("bin/tool"),
        b"#!/bin/sh\necho odd-length"
    );
    let mode = std::fs::metadata(&tool).expect("stat").permissions().mode();
    assert_eq!(mode & 0o7777, 0o750);
    assert_eq!(
        std::fs::read_link(out_dir.join("bin/alias")).expect("link"),
        std::path::PathBuf::from("tool")
    );
    assert_eq!(std::fs::read(out_dir.join("empty")).expect("empty"), b"");
}

/// Issue 12's safety rule for kept descriptors, on a real cgroup v2 kernel: containers created
/// and removed while nodex is scraped leave no dying cgroup behind (`nr_dying_descendants` in
/// `cgroup.stat`, the kernel's count of removed cgroups something still holds, falls to 0) and
/// nodex holds no descriptor on a removed pod after the next scrape (a control shows the count
/// sees a held one). The script also reports whether a descriptor held on a removed cgroup (its
/// directory, `memory.stat`, a half-read `cgroup.procs`) keeps it dying: on Debian's 6.1 kernel
/// none does (kernfs open files pin the node, not the cgroup), so the descriptor count, not the
/// dying count, is what fails if nodex kept a removed cgroup's descriptor past the next walk.
#[test]
fn churned_cgroups_do_not_linger_as_dying_on_cgroup_v2() {
    let Some(sections) = run_vm("churn", include_str!("vm/cgroup-v2-churn.sh")) else {
        return;
    };
    let value = |name: &str| -> u64 {
        let text = sections
            .get(name)
            .unwrap_or_else(|| panic!("no {name} section"));
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}: {text:?}"))
    };
    for kind in ["dir", "memory", "procs"] {
        eprintln!(
            "dying cgroups with a {kind} descriptor held on a removed cgroup: {}, released: {}",
            value(&format!("control {kind}")),
            value(&format!("control {kind} released"))
        );
    }
    assert!(
        value("control descriptors") >= 1,
        "the descriptor count does not see a descriptor held on a removed pod"
    );
    let made = value("made");
    assert!(made >= 5, "the churn loop made only {made} pods");
    let scrape = parse_exposition(sections.get("last scrape").expect("last scrape"));
    let churned = scrape
        .values()
        .flat_map(|f| &f.samples)
        .filter_map(|s| s.labels.get("id"))
        .filter(|id| id.starts_with("/kubepods/besteffort/pod") && id.matches('/').count() == 4)
        .count();
    assert!(churned > 0, "the last scrape saw no churned container");
    let log = sections.get("nodex log").cloned().unwrap_or_default();
    assert_eq!(
        value("dying after churn"),
        0,
        "removed cgroups still held after {made} pods were churned; nodex log:\n{log}"
    );
    assert_eq!(
        value("nodex descriptors"),
        0,
        "nodex holds descriptors on removed pods after the next scrape"
    );
    eprintln!(
        "{made} pods churned under 40 scrapes, {churned} churned-container series in the last"
    );
}
