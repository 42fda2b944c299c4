//! container_spec: `container_spec_cpu_{period,quota,shares}`,
//! `container_spec_memory_{limit,reservation_limit,swap_limit}_bytes`,
//! `container_{creation,start}_time_seconds` (no timestamps: these are spec),
//! `container_last_seen`, `container_health_state` and nodex's own
//! `nodex_container_metadata_readable{runtime}` (per runtime state directory found).
//! The start time is Docker's `State.StartedAt` where Docker knows the container, else the
//! cgroup time (cAdvisor's raw and containerd handlers).

use super::cgroup::CgroupError;
use super::runtime::Meta;
use super::walk::{Container, Kind, Snapshot};
use super::{container_group, family};
use crate::collector::Settings;
use crate::error::CollectError;
use crate::expfmt::{MetricSink, MetricType};

container_group!(
    "container_spec",
    "cgroup cpu.shares, cpu.cfs_{period,quota}_us, memory.{,memsw.,soft_}limit_in_bytes (v1); cpu.weight, cpu.max, memory.{max,swap.max,min} (v2); cgroup dir mtimes, /proc/uptime",
    emit,
    &[]
);

/// Limits above 2^62 mean "unlimited" and are exported as 0, as cAdvisor does.
const MAX_MEMORY: u64 = 1 << 62;

/// The spec of one container.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Spec {
    /// cpu shares, period and quota (0 = none), when the cpu controller has them.
    pub cpu: Option<[u64; 3]>,
    /// memory limit, reservation, swap limit (0 = unlimited), when the memory controller has them.
    pub memory: Option<[u64; 3]>,
    /// Start time (unix seconds).
    pub start: Option<f64>,
    /// Creation time (unix seconds).
    pub created: Option<f64>,
}

fn memory_value(v: Option<u64>) -> u64 {
    match v {
        Some(v) if v <= MAX_MEMORY => v,
        _ => 0,
    }
}

/// The cgroup time ([`Snapshot::cgroup_time`]), not earlier than boot time.
fn start_time(snap: &Snapshot, id: &str, boot: f64) -> Option<f64> {
    snap.cgroup_time(id).map(|t| t.max(boot).floor())
}

/// Boot time as cAdvisor computes it: now − uptime, truncated to the minute.
fn boot_time(settings: &Settings, now: f64) -> f64 {
    let uptime = std::fs::read_to_string(settings.roots.proc("uptime"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    ((now - uptime) / 60.0).floor() * 60.0
}

fn emit(settings: &Settings, snap: &Snapshot, sink: &mut MetricSink) -> Result<(), CollectError> {
    let boot = boot_time(settings, snap.time_secs);
    let specs: Vec<(&Container, Spec)> = snap
        .containers
        .iter()
        .filter(|c| c.kind != Kind::Sandbox)
        .map(|c| {
            let cgroup_time = start_time(snap, &c.id, boot);
            let runtime = |f: fn(&Meta) -> Option<f64>| c.meta.as_deref().and_then(f);
            let spec = Spec {
                cpu: CgroupError::log(snap.hier.cpu_spec(&c.id)),
                memory: CgroupError::log(snap.hier.memory_spec(&c.id)).map(|m| m.map(memory_value)),
                start: runtime(|m| m.started).map(f64::floor).or(cgroup_time),
                created: runtime(|m| m.created).map(f64::floor).or(cgroup_time),
            };
            (c, spec)
        })
        .filter(|(_, s)| s.start.is_some())
        .collect();
    let gauge = MetricType::Gauge;
    let spec_family = |sink: &mut MetricSink, name, help, rows: Vec<(&Container, f64)>| {
        if rows.is_empty() {
            return;
        }
        sink.family(name, help, gauge);
        for (c, v) in rows {
            super::sample(sink, snap, c, &[], v, false);
        }
    };
    let cpu = [
        ("container_spec_cpu_shares", "CPU share of the container."),
        ("container_spec_cpu_period", "CPU period of the container."),
        ("container_spec_cpu_quota", "CPU quota of the container."),
    ];
    for (i, (name, help)) in cpu.into_iter().enumerate() {
        let rows = specs
            .iter()
            .filter_map(|(c, s)| s.cpu.map(|v| (*c, v[i])))
            .filter(|(_, v)| i != 2 || *v != 0)
            .map(|(c, v)| (c, v as f64))
            .collect();
        spec_family(sink, name, help, rows);
    }
    let memory = [
        (
            "container_spec_memory_limit_bytes",
            "Memory limit for the container.",
        ),
        (
            "container_spec_memory_reservation_limit_bytes",
            "Memory reservation limit for the container.",
        ),
        (
            "container_spec_memory_swap_limit_bytes",
            "Memory swap limit for the container.",
        ),
    ];
    for (i, (name, help)) in memory.into_iter().enumerate() {
        let rows = specs
            .iter()
            .filter_map(|(c, s)| s.memory.map(|v| (*c, v[i] as f64)))
            .collect();
        spec_family(sink, name, help, rows);
    }
    let created = specs
        .iter()
        .filter_map(|(c, s)| s.created.map(|t| (*c, t)))
        .collect();
    spec_family(
        sink,
        "container_creation_time_seconds",
        "Container creation time since unix epoch in seconds.",
        created,
    );
    let starts = specs
        .iter()
        .filter_map(|(c, s)| s.start.map(|t| (*c, t)))
        .collect();
    spec_family(
        sink,
        "container_start_time_seconds",
        "Start time of the container since unix epoch in seconds.",
        starts,
    );
    family(
        sink,
        snap,
        (
            "container_last_seen",
            "Last time a container was seen by the exporter",
            gauge,
        ),
        specs
            .iter()
            .map(|(c, _)| (*c, vec![], snap.time_secs.floor())),
    );
    family(
        sink,
        snap,
        (
            "container_health_state",
            "The result of the container's health check",
            gauge,
        ),
        specs.iter().map(|(c, _)| {
            let status = c.meta.as_deref().map_or("", |m| m.health.as_str());
            (*c, vec![], health_value(status))
        }),
    );
    if !snap.runtimes.is_empty() {
        sink.family(
            "nodex_container_metadata_readable",
            "Whether nodex could read the runtime's container metadata (1) or not (0): with 0 the \
             runtime's containers lack image and, without the kubelet logs, pod labels.",
            gauge,
        );
        for (runtime, ok) in &snap.runtimes {
            sink.sample(&[("runtime", runtime.name())], f64::from(u8::from(*ok)));
        }
    }
    Ok(())
}

/// cAdvisor's health value: 1 healthy, −1 without a health check, 0 starting or unhealthy.
fn health_value(status: &str) -> f64 {
    match status {
        "healthy" => 1.0,
        "" => -1.0,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_values() {
        assert_eq!(health_value("healthy"), 1.0);
        assert_eq!(health_value("unhealthy"), 0.0);
        assert_eq!(health_value("starting"), 0.0);
        assert_eq!(health_value(""), -1.0);
    }

    #[test]
    fn unlimited_memory_is_zero() {
        assert_eq!(memory_value(None), 0);
        assert_eq!(memory_value(Some(9223372036854771712)), 0);
        assert_eq!(memory_value(Some(268435456)), 268435456);
    }
}
