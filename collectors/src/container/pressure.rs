//! container_pressure: `container_pressure_{cpu,memory,io}_{waiting,stalled}_seconds_total`
//! from the cgroup2 `*.pressure` files (PSI `some` = waiting, `full` = stalled; µs → s).
//! cgroup v2 only (on a hybrid host, the cgroup's twin in the unified hierarchy). Pod and
//! sandbox cgroups are skipped unless `--collector.container.pressure-pod-level`
//! (kubernetes#136642: most PSI series cost came from them).

use super::cgroup::{CgroupError, Pressure};
use super::walk::{Container, Kind, Snapshot};
use super::{container_group, family};
use crate::collector::Settings;
use crate::error::CollectError;
use crate::expfmt::{MetricSink, MetricType};

container_group!(
    "container_pressure",
    "cgroup2 cpu.pressure, memory.pressure, io.pressure",
    emit,
    &[]
);

const RESOURCES: [(&str, &str); 3] = [("cpu", "CPU"), ("memory", "memory"), ("io", "IO")];

fn emit(_: &Settings, snap: &Snapshot, sink: &mut MetricSink) -> Result<(), CollectError> {
    if !snap.hier.has_unified() {
        return Err(CollectError::NoData("no cgroup2 hierarchy".into()));
    }
    let pod_level = snap.config.pressure_pod_level;
    let wanted = |c: &&Container| pod_level || !matches!(c.kind, Kind::Pod | Kind::Sandbox);
    let all: Vec<(&Container, [Option<Pressure>; 3])> = snap
        .containers
        .iter()
        .filter(wanted)
        .filter_map(|c| Some((c, snap.hier.pressure(&c.id)?.map(CgroupError::log))))
        .collect();
    for (i, (res, what)) in RESOURCES.into_iter().enumerate() {
        let stats: Vec<(&Container, Pressure)> =
            all.iter().filter_map(|(c, p)| Some((*c, p[i]?))).collect();
        family(
            sink,
            snap,
            (
                &format!("container_pressure_{res}_waiting_seconds_total"),
                &format!("Total time duration tasks in the container have waited due to {what} congestion."),
                MetricType::Counter,
            ),
            stats.iter().map(|(c, p)| (*c, vec![], p.some as f64 / 1e6)),
        );
        family(
            sink,
            snap,
            (
                &format!("container_pressure_{res}_stalled_seconds_total"),
                &format!("Total time duration no tasks in the container could make progress due to {what} congestion."),
                MetricType::Counter,
            ),
            // cAdvisor serves `full` as 0 when the file has no such line (runc leaves it zero).
            stats
                .iter()
                .map(|(c, p)| (*c, vec![], p.full.unwrap_or(0) as f64 / 1e6)),
        );
    }
    Ok(())
}
