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
use crate::options::{FlagKind, FlagSpec};
use walk::{Config, Container, Shared, Snapshot};

/// Flags shared by all container groups (declared once, on `container_cpu`).
pub const COMMON_FLAGS: &[FlagSpec] = &[
    FlagSpec {
        name: "collector.container.cgroup-include",
        help: "Regexp of cgroup ids (paths relative to the hierarchy root) to report.",
        kind: FlagKind::Value,
        default: "",
        aliases: &[],
    },
    FlagSpec {
        name: "collector.container.cgroup-exclude",
        help: "Regexp of cgroup ids to skip (their children are still walked). The default drops \
               systemd mount units and CRI-O's conmon scopes, which cAdvisor ignores too.",
        kind: FlagKind::Value,
        default: r"\.mount$|/crio-conmon-[0-9a-f]{64}\.scope$",
        aliases: &[],
    },
    FlagSpec {
        name: "collector.container.max-depth",
        help: "Deepest cgroup level to walk below the hierarchy root (0: no limit).",
        kind: FlagKind::Value,
        default: "0",
        aliases: &[],
    },
    FlagSpec {
        name: "collector.container.timestamps",
        help: "Attach the collection time (ms) to stats samples, as cAdvisor does.",
        kind: FlagKind::Bool,
        default: "false",
        aliases: &[],
    },
    FlagSpec {
        name: "collector.container.labels",
        help: "Label scheme: kubelet (id, name, image, pod, namespace, container) or cadvisor \
               (id, name, image and container_label_<k> for the allow-listed runtime labels).",
        kind: FlagKind::Value,
        default: "kubelet",
        aliases: &[],
    },
    FlagSpec {
        name: "collector.container.label-allowlist",
        help: "Comma-separated runtime labels exported as container_label_<k> in cadvisor mode.",
        kind: FlagKind::Value,
        default: "io.kubernetes.container.name,io.kubernetes.pod.name,io.kubernetes.pod.namespace",
        aliases: &[],
    },
    FlagSpec {
        name: "collector.container.docker-root",
        help: "Docker's data root (read-only, below --path.rootfs).",
        kind: FlagKind::Value,
        default: "/var/lib/docker",
        aliases: &[],
    },
    FlagSpec {
        name: "collector.container.containerd-state",
        help: "containerd's state directory (k3s: /run/k3s/containerd).",
        kind: FlagKind::Value,
        default: "/run/containerd",
        aliases: &[],
    },
    FlagSpec {
        name: "collector.container.crio-root",
        help: "CRI-O's container storage root.",
        kind: FlagKind::Value,
        default: "/var/lib/containers/storage",
        aliases: &[],
    },
    FlagSpec {
        name: "collector.container.crio-runroot",
        help: "CRI-O's container storage run root.",
        kind: FlagKind::Value,
        default: "/run/containers/storage",
        aliases: &[],
    },
    FlagSpec {
        name: "collector.container.pod-log-dir",
        help: "The kubelet's pod log directory, used to name pod cgroups (<ns>_<pod>_<uid>).",
        kind: FlagKind::Value,
        default: "/var/log/pods",
        aliases: &[],
    },
    FlagSpec {
        name: "collector.container.container-log-dir",
        help:
            "The kubelet's container log symlinks (<pod>_<ns>_<container>-<id>.log), used to name \
               containers whose runtime state is not readable.",
        kind: FlagKind::Value,
        default: "/var/log/containers",
        aliases: &[],
    },
    FlagSpec {
        name: "collector.container.pressure-pod-level",
        help: "Also emit PSI series for pod and sandbox cgroups (kubernetes#136642 cost).",
        kind: FlagKind::Bool,
        default: "false",
        aliases: &[],
    },
];

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
