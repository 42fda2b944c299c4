//! container_cpu: `container_cpu_{usage,user,system}_seconds_total` and, for containers with a
//! CFS quota, `container_cpu_cfs_*` (v1 `cpuacct.*`/`cpu.stat`, v2 `cpu.stat`/`cpu.max`).

use super::cgroup::{CgroupError, CpuStats};
use super::walk::{Container, Kind, Snapshot};
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

fn emit(_: &Settings, snap: &Snapshot, sink: &mut MetricSink) -> Result<(), CollectError> {
    let stats: Vec<(&Container, CpuStats)> = snap
        .containers
        .iter()
        .filter(|c| c.kind != Kind::Sandbox)
        .filter_map(|c| CgroupError::log(snap.hier.cpu(&c.id)).map(|s| (c, s)))
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
