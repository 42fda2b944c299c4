//! container_cpu: `container_cpu_{usage,user,system}_seconds_total` and, for containers with a
//! CFS quota, `container_cpu_cfs_*` (v1 `cpuacct.*`/`cpu.stat`, v2 `cpu.stat`/`cpu.max`).

use super::parse::{cpu_max, flat_keyed_lookup, limit, single};
use super::walk::{read, Container, Ctrl, Kind, Snapshot};
use super::{container_group, family, COMMON_FLAGS};
use crate::collector::Settings;
use crate::error::CollectError;
use crate::expfmt::{MetricSink, MetricType};

container_group!(
    "container_cpu",
    "cgroup cpuacct.usage, cpuacct.stat, cpu.stat, cpu.cfs_quota_us (v1); cpu.stat, cpu.max (v2)",
    emit,
    COMMON_FLAGS
);

/// v1 `cpuacct.stat` ticks are USER_HZ (100 on every Linux ABI).
const USER_HZ: f64 = 100.0;

/// CPU counters of one container, in seconds.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct CpuStats {
    /// Total usage.
    pub usage: f64,
    /// User time.
    pub user: f64,
    /// System time.
    pub system: f64,
    /// CFS counters, only when a quota is set: periods, throttled periods, throttled seconds.
    pub cfs: Option<[f64; 3]>,
    /// v2 burst counters (periods, seconds), only with a quota.
    pub burst: Option<[f64; 2]>,
}

fn read_v1(snap: &Snapshot, id: &str) -> Option<CpuStats> {
    let acct = snap.hier.dir(Ctrl::Cpuacct, id)?;
    let usage = single(&read(&acct, "cpuacct.usage")?).ok()? as f64 / 1e9;
    let [user, system] = read(&acct, "cpuacct.stat")
        .and_then(|b| flat_keyed_lookup(&b, ["user", "system"]).ok())
        .unwrap_or_default();
    let mut s = CpuStats {
        usage,
        user: user.unwrap_or(0) as f64 / USER_HZ,
        system: system.unwrap_or(0) as f64 / USER_HZ,
        ..CpuStats::default()
    };
    if let Some(cpu) = snap.hier.dir(Ctrl::Cpu, id) {
        let quota = read(&cpu, "cpu.cfs_quota_us").and_then(|b| limit(&b).ok().flatten());
        if quota.is_some_and(|q| q > 0) {
            let [p, t, tt] = read(&cpu, "cpu.stat")
                .and_then(|b| {
                    flat_keyed_lookup(&b, ["nr_periods", "nr_throttled", "throttled_time"]).ok()
                })
                .unwrap_or_default();
            s.cfs = Some([
                p.unwrap_or(0) as f64,
                t.unwrap_or(0) as f64,
                tt.unwrap_or(0) as f64 / 1e9,
            ]);
        }
    }
    Some(s)
}

fn read_v2(snap: &Snapshot, id: &str) -> Option<CpuStats> {
    let dir = snap.hier.dir(Ctrl::Cpu, id)?;
    let keys = [
        "usage_usec",
        "user_usec",
        "system_usec",
        "nr_periods",
        "nr_throttled",
        "throttled_usec",
        "nr_bursts",
        "burst_usec",
    ];
    let v = flat_keyed_lookup(&read(&dir, "cpu.stat")?, keys).ok()?;
    // Divide (not multiply by 1e-6) so that 1995000 µs prints as 1.995, as cAdvisor's ns / 1e9.
    let f = |i: usize, per_unit: f64| v[i].unwrap_or(0) as f64 / per_unit;
    let mut s = CpuStats {
        usage: f(0, 1e6),
        user: f(1, 1e6),
        system: f(2, 1e6),
        ..CpuStats::default()
    };
    let quota = read(&dir, "cpu.max").and_then(|b| cpu_max(&b).ok().and_then(|(q, _)| q));
    if quota.is_some_and(|q| q > 0) {
        s.cfs = Some([f(3, 1.0), f(4, 1.0), f(5, 1e6)]);
        if v[6].is_some() {
            s.burst = Some([f(6, 1.0), f(7, 1e6)]);
        }
    }
    Some(s)
}

/// Reads the CPU counters of a container; `None` when its cgroup is gone or unreadable.
pub fn read_stats(snap: &Snapshot, id: &str) -> Option<CpuStats> {
    if snap.hier.v2 {
        read_v2(snap, id)
    } else {
        read_v1(snap, id)
    }
}

fn emit(_: &Settings, snap: &Snapshot, sink: &mut MetricSink) -> Result<(), CollectError> {
    let stats: Vec<(&Container, CpuStats)> = snap
        .containers
        .iter()
        .filter(|c| c.kind != Kind::Sandbox)
        .filter_map(|c| read_stats(snap, &c.id).map(|s| (c, s)))
        .collect();
    let counter = MetricType::Counter;
    family(
        sink,
        snap,
        (
            "container_cpu_usage_seconds_total",
            "Cumulative cpu time consumed in seconds.",
            counter,
        ),
        stats
            .iter()
            .filter(|(_, s)| s.usage > 0.0)
            .map(|(c, s)| (*c, vec![("cpu", "total")], s.usage)),
    );
    family(
        sink,
        snap,
        (
            "container_cpu_user_seconds_total",
            "Cumulative user cpu time consumed in seconds.",
            counter,
        ),
        stats.iter().map(|(c, s)| (*c, vec![], s.user)),
    );
    family(
        sink,
        snap,
        (
            "container_cpu_system_seconds_total",
            "Cumulative system cpu time consumed in seconds.",
            counter,
        ),
        stats.iter().map(|(c, s)| (*c, vec![], s.system)),
    );
    let cfs = [
        (
            "container_cpu_cfs_periods_total",
            "Number of elapsed enforcement period intervals.",
        ),
        (
            "container_cpu_cfs_throttled_periods_total",
            "Number of throttled period intervals.",
        ),
        (
            "container_cpu_cfs_throttled_seconds_total",
            "Total time duration the container has been throttled.",
        ),
    ];
    for (i, (name, help)) in cfs.into_iter().enumerate() {
        family(
            sink,
            snap,
            (name, help, counter),
            stats
                .iter()
                .filter_map(|(c, s)| s.cfs.map(|v| (*c, vec![], v[i]))),
        );
    }
    let burst = [
        (
            "container_cpu_cfs_burst_periods_total",
            "Number of periods when burst occurs.",
        ),
        (
            "container_cpu_cfs_burst_seconds_total",
            "Total time duration the container has been bursted.",
        ),
    ];
    for (i, (name, help)) in burst.into_iter().enumerate() {
        family(
            sink,
            snap,
            (name, help, counter),
            stats
                .iter()
                .filter_map(|(c, s)| s.burst.map(|v| (*c, vec![], v[i]))),
        );
    }
    Ok(())
}
