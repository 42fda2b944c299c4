//! The flags every container group shares (`--collector.container.*`): which cgroups to walk,
//! how to label them and where the runtimes keep their state. They configure the one walk all
//! groups share ([`super::walk::Config`]), so they are declared once, on `container_cpu`.

use regex::Regex;

use crate::options::{Flag, FlagSpec};

/// `--collector.container.cgroup-include`.
pub const CGROUP_INCLUDE: Flag<Option<Regex>> = Flag::new(
    "collector.container.cgroup-include",
    "Regexp of cgroup ids (paths relative to the hierarchy root) to report.",
    "",
);

/// `--collector.container.cgroup-exclude`.
pub const CGROUP_EXCLUDE: Flag<Option<Regex>> = Flag::new(
    "collector.container.cgroup-exclude",
    "Regexp of cgroup ids to skip (their children are still walked). The default drops \
     systemd mount units and CRI-O's conmon scopes, which cAdvisor ignores too.",
    r"\.mount$|/crio-conmon-[0-9a-f]{64}\.scope$",
);

/// `--collector.container.max-depth`.
pub const MAX_DEPTH: Flag<usize> = Flag::new(
    "collector.container.max-depth",
    "Deepest cgroup level to walk below the hierarchy root (0: no limit).",
    "0",
);

/// `--collector.container.timestamps`.
pub const TIMESTAMPS: Flag<bool> = Flag::new(
    "collector.container.timestamps",
    "Attach the collection time (ms) to stats samples, as cAdvisor does.",
    "false",
);

/// `--collector.container.labels`.
pub const LABELS: Flag<String> = Flag::new(
    "collector.container.labels",
    "Label scheme: kubelet (id, name, image, pod, namespace, container) or cadvisor \
     (id, name, image and container_label_<k> for the allow-listed runtime labels).",
    "kubelet",
);

/// `--collector.container.label-allowlist`.
pub const LABEL_ALLOWLIST: Flag<String> = Flag::new(
    "collector.container.label-allowlist",
    "Comma-separated runtime labels exported as container_label_<k> in cadvisor mode.",
    "io.kubernetes.container.name,io.kubernetes.pod.name,io.kubernetes.pod.namespace",
);

/// `--collector.container.docker-root`.
pub const DOCKER_ROOT: Flag<String> = Flag::new(
    "collector.container.docker-root",
    "Docker's data root (read-only, below --path.rootfs).",
    "/var/lib/docker",
);

/// `--collector.container.containerd-state`.
pub const CONTAINERD_STATE: Flag<String> = Flag::new(
    "collector.container.containerd-state",
    "containerd's state directory (k3s: /run/k3s/containerd).",
    "/run/containerd",
);

/// `--collector.container.crio-root`.
pub const CRIO_ROOT: Flag<String> = Flag::new(
    "collector.container.crio-root",
    "CRI-O's container storage root.",
    "/var/lib/containers/storage",
);

/// `--collector.container.crio-runroot`.
pub const CRIO_RUNROOT: Flag<String> = Flag::new(
    "collector.container.crio-runroot",
    "CRI-O's container storage run root.",
    "/run/containers/storage",
);

/// `--collector.container.pod-log-dir`.
pub const POD_LOG_DIR: Flag<String> = Flag::new(
    "collector.container.pod-log-dir",
    "The kubelet's pod log directory, used to name pod cgroups (<ns>_<pod>_<uid>).",
    "/var/log/pods",
);

/// `--collector.container.container-log-dir`.
pub const CONTAINER_LOG_DIR: Flag<String> = Flag::new(
    "collector.container.container-log-dir",
    "The kubelet's container log symlinks (<pod>_<ns>_<container>-<id>.log), used to name \
     containers whose runtime state is not readable.",
    "/var/log/containers",
);

/// `--collector.container.pressure-pod-level`.
pub const PRESSURE_POD_LEVEL: Flag<bool> = Flag::new(
    "collector.container.pressure-pod-level",
    "Also emit PSI series for pod and sandbox cgroups (kubernetes#136642 cost).",
    "false",
);

/// Flags shared by all container groups (declared once, on `container_cpu`).
pub const COMMON_FLAGS: &[FlagSpec] = &[
    CGROUP_INCLUDE.spec,
    CGROUP_EXCLUDE.spec,
    MAX_DEPTH.spec,
    TIMESTAMPS.spec,
    LABELS.spec,
    LABEL_ALLOWLIST.spec,
    DOCKER_ROOT.spec,
    CONTAINERD_STATE.spec,
    CRIO_ROOT.spec,
    CRIO_RUNROOT.spec,
    POD_LOG_DIR.spec,
    CONTAINER_LOG_DIR.spec,
    PRESSURE_POD_LEVEL.spec,
];
