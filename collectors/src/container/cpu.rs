//! container_cpu: `container_cpu_{usage,user,system}_seconds_total` and, for containers with a
//! CFS quota, `container_cpu_cfs_*` (v1 `cpuacct.*`/`cpu.stat`, v2 `cpu.stat`/`cpu.max`).

use super::parse::{cpu_max, flat_keyed_lookup, limit, single};
use super::walk::{read, Container, Ctrl, Kind, Snapshot};
use super::{container_group, family, flags::COMMON_FLAGS};
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
    /// Burst counters (periods, seconds), only with a quota: cAdvisor serves them under the
    /// same condition as the CFS ones, 0 where `cpu.stat` has no `nr_bursts` (before 5.14).
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
            let (cfs, burst) = read(&cpu, "cpu.stat")
                .and_then(|b| v1_bandwidth(&b))
                .unwrap_or_default();
            s.cfs = Some(cfs);
            s.burst = Some(burst);
        }
    }
    Some(s)
}

/// v1 `cpu.stat` bandwidth counters: ([periods, throttled periods, throttled s],
/// [bursts, burst s]); the times are ns (kernel/sched/core.c `cpu_cfs_stat_show`), a missing
/// key is 0 (`nr_bursts`/`burst_time` exist since 5.14).
pub fn v1_bandwidth(cpu_stat: &[u8]) -> Option<([f64; 3], [f64; 2])> {
    let keys = [
        "nr_periods",
        "nr_throttled",
        "throttled_time",
        "nr_bursts",
        "burst_time",
    ];
    let [p, t, tt, b, bt] = flat_keyed_lookup(cpu_stat, keys).ok()?;
    let v = |x: Option<u64>| x.unwrap_or(0) as f64;
    Some(([v(p), v(t), v(tt) / 1e9], [v(b), v(bt) / 1e9]))
}

/// v2 counters from `cpu.stat` (µs; runc's `statCpu` multiplies by 1000, cAdvisor divides ns by
/// 1e9) and the `cpu.max` quota: the CFS and burst counters only with a quota, as cAdvisor.
pub fn v2_stats(cpu_stat: &[u8], quota: Option<u64>) -> Option<CpuStats> {
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
    let v = flat_keyed_lookup(cpu_stat, keys).ok()?;
    // Divide (not multiply by 1e-6) so that 1995000 µs prints as 1.995, as cAdvisor's ns / 1e9.
    let f = |i: usize, per_unit: f64| v[i].unwrap_or(0) as f64 / per_unit;
    let mut s = CpuStats {
        usage: f(0, 1e6),
        user: f(1, 1e6),
        system: f(2, 1e6),
        ..CpuStats::default()
    };
    if quota.is_some_and(|q| q > 0) {
        s.cfs = Some([f(3, 1.0), f(4, 1.0), f(5, 1e6)]);
        s.burst = Some([f(6, 1.0), f(7, 1e6)]);
    }
    Some(s)
}

fn read_v2(snap: &Snapshot, id: &str) -> Option<CpuStats> {
    let dir = snap.hier.dir(Ctrl::Cpu, id)?;
    let quota = read(&dir, "cpu.max").and_then(|b| cpu_max(&b).ok().and_then(|(q, _)| q));
    v2_stats(&read(&dir, "cpu.stat")?, quota)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// cpu.stat of a v2 cgroup with a quota on a kernel before 5.14 (no burst keys; kernel
    /// Documentation/admin-guide/cgroup-v2.rst "cpu.stat").
    const V2_OLD: &[u8] = b"usage_usec 1995000\nuser_usec 1500000\nsystem_usec 495000\n\
nr_periods 120\nnr_throttled 7\nthrottled_usec 350000\n";

    #[test]
    fn v2_burst_is_served_with_the_quota_as_cadvisor() {
        let s = v2_stats(V2_OLD, Some(50000)).expect("parses");
        assert_eq!(s.usage, 1.995);
        assert_eq!(s.cfs, Some([120.0, 7.0, 0.35]));
        assert_eq!(s.burst, Some([0.0, 0.0]));
        let unlimited = v2_stats(V2_OLD, None).expect("parses");
        assert_eq!((unlimited.cfs, unlimited.burst), (None, None));
    }

    #[test]
    fn v1_burst_time_is_nanoseconds() {
        let stat = b"nr_periods 10\nnr_throttled 2\nthrottled_time 1500000000\n\
nr_bursts 3\nburst_time 250000000\n";
        assert_eq!(v1_bandwidth(stat), Some(([10.0, 2.0, 1.5], [3.0, 0.25])));
        let old = v1_bandwidth(b"nr_periods 10\nnr_throttled 2\nthrottled_time 0\n");
        assert_eq!(old.map(|(_, b)| b), Some([0.0, 0.0]));
    }
}
