//! Pod ephemeral storage as the kubelet's summary API sums it (pkg/kubelet/stats/helper.go
//! `calcEphemeralStorage`, `addContainerUsage`): per pod, its containers' writable layers
//! (`rootfs`), their logs (`logs`: the files directly in
//! `<pod-log-dir>/<ns>_<pod>_<uid>/<container>/`, rotated and compressed ones included, each
//! measured on its own, as the CRI stats provider's `getPodContainerLogStats` through
//! `fileMetricsByDir`, pkg/kubelet/stats/host_stats_provider.go) and its ephemeral volumes (`emptydir`:
//! `<kubelet-root>/pods/<uid>/volumes/kubernetes.io~empty-dir/<name>`, or the project quota's
//! usage where the volume heads a project, see [`super::quota`]), the pod-level log files
//! (`logs` with no container: the files, not directories, directly in
//! `<pod-log-dir>/<ns>_<pod>_<uid>/`, each measured on its own, as the host stats provider's
//! `getPodLogStats`/`fileMetricsByDir`, pkg/kubelet/stats/host_stats_provider.go, that
//! `makePodStorageStats` adds; runtimes such as Kata keep pod logs there) and the pod's
//! `etc-hosts` file (`etc_hosts`: `<kubelet-root>/pods/<uid>/etc-hosts`, `getPodEtcHostsStats`,
//! counted when it exists), memory-backed
//! `emptyDir`s (a tmpfs) excluded as the eviction manager's `localEphemeralVolumeNames` does
//! (pkg/kubelet/eviction/helpers.go). Pod sandboxes have no rootfs series (the summary lists only
//! the pod's containers).
//!
//! Families: `pod_ephemeral_storage_used_bytes` and `pod_ephemeral_storage_inodes_used`
//! (the summary API's `ephemeral-storage` `usedBytes`/`inodesUsed`, with the kubelet's
//! `/metrics/resource` `pod_` prefix), labels `namespace`, `pod`, `container` (empty for
//! `emptydir`) and `source`; their sum over `source` and `container` is the summary's value.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::du::{Kind, Target};
use super::measure::Measured;
use super::sum;
use crate::collector::Settings;
use crate::container::flags;
use crate::container::runtime::parse_pod_log_dir;
use crate::container::walk::Snapshot;
use crate::expfmt::{MetricSink, MetricType};
use crate::host::filesystem::Mount;

/// `TMPFS_MAGIC` of statfs(2).
const TMPFS_MAGIC: u64 = 0x0102_1994;

/// One series' trees.
#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    /// `rootfs`, `logs`, `emptydir` or `etc_hosts`.
    pub source: &'static str,
    /// The Kubernetes container name (`""` for volumes, pod-level logs and `etc-hosts`).
    pub container: String,
    /// What is summed.
    pub targets: Vec<Target>,
}

/// A pod and its ephemeral storage sources.
#[derive(Clone, Debug, PartialEq)]
pub struct Pod {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// Pod uid.
    pub uid: String,
    /// Its sources.
    pub sources: Vec<Source>,
}

fn real_dirs(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .collect();
    out.sort();
    out
}

/// True when `dir` (read at `local`, `host` in the host's mount table) is a memory-backed
/// `emptyDir`: a tmpfs by statfs, or a tmpfs mount point in the host's mount table (nodex may run
/// without mount propagation from the host, and then sees the empty directory below).
pub fn memory_backed(local: &Path, host: &Path, mounts: &[Mount]) -> bool {
    rustix::fs::statfs(local).is_ok_and(|s| s.f_type as u64 == TMPFS_MAGIC)
        || mounts
            .iter()
            .any(|m| m.fs_type == "tmpfs" && Path::new(&m.mount_point) == host)
}

/// The pods with a known name (from the pod log directories or the runtimes) and their
/// sources; `layers` maps a container's cgroup id to its writable layer.
pub fn discover(
    settings: &Settings,
    snap: &Snapshot,
    layers: &HashMap<&str, &Path>,
    mounts: &[Mount],
) -> Vec<Pod> {
    let o = &settings.options;
    let roots = &settings.roots;
    let log_dir = roots.root(o.get(&flags::POD_LOG_DIR));
    let kubelet_host = PathBuf::from(o.get(&crate::container::storage::KUBELET_ROOT));
    let kubelet = roots.root(&kubelet_host);
    let mut pods: BTreeMap<String, Pod> = BTreeMap::new();
    let mut log_dirs: HashMap<String, PathBuf> = HashMap::new();
    for (name, path) in real_dirs(&log_dir) {
        if let Some((uid, namespace, pod)) = parse_pod_log_dir(&name) {
            log_dirs.insert(uid.clone(), path);
            pods.entry(uid.clone()).or_insert(Pod {
                namespace,
                name: pod,
                uid,
                sources: Vec::new(),
            });
        }
    }
    for c in &snap.containers {
        let Some(meta) = c.meta.as_deref() else {
            continue;
        };
        if meta.pod_uid.is_empty() || meta.pod.is_empty() {
            continue;
        }
        let pod = pods.entry(meta.pod_uid.clone()).or_insert(Pod {
            namespace: meta.namespace.clone(),
            name: meta.pod.clone(),
            uid: meta.pod_uid.clone(),
            sources: Vec::new(),
        });
        if meta.sandbox || meta.container.is_empty() {
            continue;
        }
        if let Some(layer) = layers.get(c.id.as_str()) {
            pod.sources.push(Source {
                source: "rootfs",
                container: meta.container.clone(),
                targets: vec![Target::tree(layer.to_path_buf())],
            });
        }
    }
    for pod in pods.values_mut() {
        if let Some(dir) = log_dirs.get(&pod.uid) {
            for (container, path) in real_dirs(dir) {
                pod.sources.push(Source {
                    source: "logs",
                    container,
                    targets: vec![Target {
                        path,
                        kind: Kind::Files,
                    }],
                });
            }
            pod.sources.push(Source {
                source: "logs",
                container: String::new(),
                targets: vec![Target {
                    path: dir.clone(),
                    kind: Kind::Files,
                }],
            });
        }
        let rel = Path::new("pods")
            .join(&pod.uid)
            .join("volumes/kubernetes.io~empty-dir");
        let host_volumes = kubelet_host.join(&rel);
        let targets: Vec<Target> = real_dirs(&kubelet.join(&rel))
            .into_iter()
            .filter(|(name, p)| !memory_backed(p, &host_volumes.join(name), mounts))
            .map(|(_, p)| Target::tree(p))
            .collect();
        if !targets.is_empty() {
            pod.sources.push(Source {
                source: "emptydir",
                container: String::new(),
                targets,
            });
        }
        pod.sources.push(Source {
            source: "etc_hosts",
            container: String::new(),
            targets: vec![Target {
                path: kubelet.join("pods").join(&pod.uid).join("etc-hosts"),
                kind: Kind::File,
            }],
        });
    }
    pods.into_values()
        .filter(|p| !p.sources.is_empty())
        .collect()
}

/// (name, help, value) of one pod family.
type Family = (&'static str, &'static str, fn(&Measured) -> f64);

/// Writes the pod families for the sources measured at least once.
pub fn emit(sink: &mut MetricSink, pods: &[Pod], results: &HashMap<Target, Measured>) {
    let mut rows = Vec::new();
    for p in pods {
        for s in &p.sources {
            let trees: Vec<&Target> = s.targets.iter().collect();
            if let Some(m) = sum(results, &trees) {
                rows.push((p, s, m));
            }
        }
    }
    if rows.is_empty() {
        return;
    }
    let families: [Family; 3] = [
        (
            "pod_ephemeral_storage_used_bytes",
            "Bytes of local ephemeral storage used by the pod, per source (rootfs, logs, emptydir, etc_hosts).",
            |m| m.usage.bytes as f64,
        ),
        (
            "pod_ephemeral_storage_inodes_used",
            "Inodes of local ephemeral storage used by the pod, per source (rootfs, logs, emptydir, etc_hosts).",
            |m| m.usage.inodes as f64,
        ),
        (
            "pod_ephemeral_storage_measured_timestamp_seconds",
            "When the pod's ephemeral storage source was last measured (unix seconds).",
            |m| m.time,
        ),
    ];
    for (name, help, value) in families {
        sink.family(name, help, MetricType::Gauge);
        for (p, s, m) in &rows {
            sink.sample(
                &[
                    ("namespace", &p.namespace),
                    ("pod", &p.name),
                    ("container", &s.container),
                    ("source", s.source),
                ],
                value(m),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::filesystem::parse_mountinfo;

    #[test]
    fn memory_backed_by_the_host_mount_table() {
        let dir = std::env::temp_dir();
        let mounts = parse_mountinfo(
            b"90 27 0:77 / /var/lib/kubelet/pods/u/volumes/kubernetes.io~empty-dir/shm rw - tmpfs tmpfs rw\n\
91 27 254:0 / /var/lib/kubelet/pods/u/volumes/kubernetes.io~empty-dir/disk rw - ext4 /dev/vda rw\n",
        )
        .expect("mountinfo");
        let vols = Path::new("/var/lib/kubelet/pods/u/volumes/kubernetes.io~empty-dir");
        assert!(memory_backed(&dir, &vols.join("shm"), &mounts));
        // A disk mount is memory-backed only if the directory read is itself on a tmpfs.
        let tmp_is_tmpfs = memory_backed(&dir, &dir, &[]);
        assert_eq!(
            memory_backed(&dir, &vols.join("disk"), &mounts),
            tmp_is_tmpfs
        );
    }
}
