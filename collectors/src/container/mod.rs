//! Container collectors: cAdvisor's `container_*` and `machine_*` families, computed from the
//! cgroup file system at scrape time (no background polling, no watches).
//!
//! Every cgroup is a container whose `id` is its path relative to the hierarchy root. One walk
//! of the cgroup trees per scrape ([`walk::Snapshot`]) is shared by all group collectors through
//! `Settings::shared`; each group then asks the cgroup reader ([`cgroup`]) for typed stats of
//! its containers, which reads only the files those need (open, read, close), relative to the
//! cgroup directory descriptors the walk opened and keeps until the scrape's groups are done
//! ([`cgroup::Dir`]). A cgroup that vanishes mid-scrape is skipped silently. Labels follow
//! the kubelet's `/metrics/cadvisor` (`id, name, image, pod, namespace, container`) by default,
//! with names taken from the runtimes' state on disk ([`runtime`], joined in [`identity`]).

pub mod cgroup;
pub mod config;
pub mod cpu;
pub mod diskio;
pub mod flags;
pub mod identity;
pub mod layout;
pub mod logs;
pub mod machine;
pub mod memory;
pub mod network;
pub mod oom;
pub mod pressure;
pub mod process;
pub mod runtime;
pub mod spec;
pub mod storage;
pub mod walk;

use std::sync::Arc;

use crate::collector::{Collector, Settings};
use crate::error::CollectError;
use crate::expfmt::MetricSink;
use walk::{Config, Container, Shared, Snapshot};

/// The work of one group: write its families for the containers of a snapshot.
pub type EmitFn = fn(&Settings, &Snapshot, &mut MetricSink) -> Result<(), CollectError>;

/// A container group collector: takes the shared snapshot, then emits its families.
pub struct Group {
    settings: Arc<Settings>,
    shared: Arc<Shared>,
    emit: EmitFn,
}

impl Group {
    /// Builds a group, creating the shared walk state on first use.
    pub fn build(settings: &Arc<Settings>, emit: EmitFn) -> Result<Box<dyn Collector>, String> {
        let config = Config::from_settings(settings)?;
        let shared = settings
            .shared
            .get_or_init("container", || Shared::new(config));
        shared.add_group();
        Ok(Box::new(Group {
            settings: Arc::clone(settings),
            shared,
            emit,
        }))
    }
}

impl Collector for Group {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let snap = self.shared.snapshot(&self.settings)?;
        let result = (self.emit)(&self.settings, &snap, sink);
        self.shared.finish(&snap);
        result
    }
}

/// Defines the `CollectorInfo` of a container group.
macro_rules! container_group {
    ($name:literal, $sources:literal, $emit:path, $flags:expr) => {
        /// Registration of this collector.
        pub const INFO: $crate::collector::CollectorInfo = $crate::collector::CollectorInfo {
            name: $name,
            default_enabled: true,
            sources: $sources,
            flags: $flags,
            build: |settings| $crate::container::Group::build(settings, $emit),
        };
    };
}
pub(crate) use container_group;

/// Writes one sample for container `c` with its labels plus `extra`; `stats` samples carry the
/// snapshot time when `--collector.container.timestamps` is on.
pub(crate) fn sample(
    sink: &mut MetricSink,
    snap: &Snapshot,
    c: &Container,
    extra: &[(&str, &str)],
    value: f64,
    stats: bool,
) {
    let ts = (stats && snap.config.timestamps).then_some(snap.time_ms);
    sink.sample_in_set(&snap.label_sets, c.set, extra, value, ts);
}

/// Writes one family over `rows` of (container, extra labels, value).
pub(crate) fn family<'a>(
    sink: &mut MetricSink,
    snap: &Snapshot,
    (name, help, kind): (&str, &str, crate::expfmt::MetricType),
    rows: impl IntoIterator<Item = (&'a Container, Vec<(&'a str, &'a str)>, f64)>,
) {
    let mut rows = rows.into_iter().peekable();
    if rows.peek().is_none() {
        return;
    }
    sink.family(name, help, kind);
    for (c, extra, value) in rows {
        sample(sink, snap, c, &extra, value, true);
    }
}
