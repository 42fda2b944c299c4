//! container_oom: `container_oom_events_total` from the kernel's per-cgroup OOM-kill counter
//! (v2 `memory.events.local oom_kill`, v1 `memory.oom_control oom_kill`, kernel ≥ 4.13) instead
//! of cAdvisor's `/dev/kmsg` parsing, which misses events (cadvisor#3015). cAdvisor counts a kill
//! for the killed task's own cgroup (`task_memcg` of the kernel's `oom-kill:` line); v1's counter
//! is that local count, v2's `memory.events` sums the subtree, so v2 reads the local file
//! (kernel ≥ 5.2) and falls back to `memory.events` before it.

use super::cgroup::CgroupError;
use super::walk::{Kind, Snapshot};
use super::{container_group, family};
use crate::collector::Settings;
use crate::error::CollectError;
use crate::expfmt::{MetricSink, MetricType};

container_group!(
    "container_oom",
    "cgroup memory.oom_control (v1), memory.events.local or memory.events (v2)",
    emit,
    &[]
);

fn emit(_: &Settings, snap: &Snapshot, sink: &mut MetricSink) -> Result<(), CollectError> {
    family(
        sink,
        snap,
        (
            "container_oom_events_total",
            "Count of out of memory events observed for the container",
            MetricType::Counter,
        ),
        snap.containers
            .iter()
            .filter(|c| c.kind != Kind::Sandbox)
            .filter_map(|c| {
                let kills = CgroupError::log(snap.hier.oom_kills(&c.id))??;
                Some((c, vec![], kills as f64))
            }),
    );
    Ok(())
}
