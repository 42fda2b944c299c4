//! container_disk: cAdvisor's disk-usage group (`container_fs_usage_bytes`,
//! `container_fs_limit_bytes`, `container_fs_inodes_free`, `container_fs_inodes_total`, label
//! `device`) for the root container and each container's writable layer, and the kubelet's pod
//! ephemeral storage (`pod_ephemeral_storage_*`, per `source`).
//!
//! Contract (cAdvisor metrics/prometheus.go, container/raw/handler.go, container/docker/handler.go,
//! fs/fs.go):
//! - Root container (`id="/"`): one series per file system of `processMounts` that is on a
//!   block device (ext*, btrfs, xfs, zfs; bind mounts of a source already seen skipped), from
//!   `statfs`: limit = `f_blocks * f_frsize`, usage = limit - `f_bfree * f_frsize`, inodes total =
//!   `f_files`, inodes free = `f_ffree`. `device` is the mount source.
//! - A container (Docker, containerd, CRI-O; see [`layers`]): `device` is the file system holding its writable layer (`GetDirFsDevice`),
//!   limit = that file system's capacity ("Docker does not impose any filesystem limits"), usage
//!   = `GetDirUsage` of the layer plus Docker's `containers/<id>` directory, inodes total = the
//!   inodes used there (cAdvisor's `fsStat.Inodes = usage.InodeUsage`), inodes free = 0
//!   (never set by the container handlers).
//!
//! Usage is measured by [`du::Walk`] within a per-scrape time budget and a per-tree entry cap
//! (see [`measure`]); each value is served with `*_measured_timestamp_seconds`, when it was
//! last measured.

pub mod du;
pub mod layers;
pub mod measure;
pub mod pod;
pub mod quota;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::layout;
use super::walk::{Container, Snapshot};
use super::{container_group, sample};
use crate::collector::Settings;
use crate::container::flags;
use crate::error::CollectError;
use crate::expfmt::{MetricSink, MetricType};
use crate::host::filesystem::{parse_mountinfo, Mount};
use crate::options::{Flag, FlagSpec};
use du::Target;
use measure::{Measured, Measurer};

/// `--collector.container.disk.budget`.
pub const DISK_BUDGET: Flag<Duration> = Flag::new(
    "collector.container.disk.budget",
    "Wall time per scrape spent measuring writable layers, logs and emptyDir volumes \
     (0s: measure nothing, serve what was measured).",
    "100ms",
);

/// `--collector.container.disk.max-files`.
pub const DISK_MAX_FILES: Flag<usize> = Flag::new(
    "collector.container.disk.max-files",
    "Entries visited per measured directory tree before its usage is reported as a \
     lower bound (nodex_container_disk_capped 1).",
    "100000",
);

/// `--collector.container.kubelet-root`.
pub const KUBELET_ROOT: Flag<String> = Flag::new(
    "collector.container.kubelet-root",
    "The kubelet's root directory (pods/<uid>/volumes for emptyDir usage).",
    "/var/lib/kubelet",
);

/// Flags of this group.
/// `--collector.container.disk.reuse-listings`.
pub const DISK_REUSE_LISTINGS: Flag<bool> = Flag::new(
    "collector.container.disk.reuse-listings",
    "Reuse a directory's listing from the last walk while its mtime and ctime are \
     unchanged (and were settled, 2s old, when it was listed); its entries are still \
     stat'ed. --no-collector.container.disk.reuse-listings lists every directory.",
    "true",
);

/// Flags of this group.
pub const FLAGS: &[FlagSpec] = &[
    DISK_BUDGET.spec,
    DISK_MAX_FILES.spec,
    DISK_REUSE_LISTINGS.spec,
    KUBELET_ROOT.spec,
];

container_group!(
    "container_disk",
    "/proc/1/mountinfo, statfs, <docker-root>/image/<driver>/layerdb/mounts/<id>/mount-id, overlay upperdir, <pod-log-dir>, <kubelet-root>/pods/<uid>/volumes/kubernetes.io~empty-dir, <kubelet-root>/pods/<uid>/etc-hosts, FS_IOC_FSGETXATTR, quotactl_fd(Q_GETQUOTA, PRJQUOTA)",
    emit,
    FLAGS
);

/// A file system of the root container.
#[derive(Clone, Debug, PartialEq)]
pub struct Partition {
    /// cAdvisor's device name: the mount source (`/dev/vda1`), the mount point for a tmpfs,
    /// `<source>_<major>-<minor>` for an overlay.
    pub device: String,
    /// Where it is mounted (host path).
    pub mount_point: String,
    /// `major:minor` of its `st_dev`.
    pub dev: (u32, u32),
}

/// True when `mount_point` lies strictly below one of `dirs`.
fn below_any(mount_point: &str, dirs: &[PathBuf]) -> bool {
    let mp = Path::new(mount_point);
    dirs.iter().any(|d| mp != d && mp.starts_with(d))
}

/// The root container's file systems, cAdvisor's `processMounts` and `addSystemRootLabel`
/// (fs/fs.go, `NewFsInfo`), in mount-table order, one per device name:
/// - ext\*, btrfs, xfs, zfs: the first mount of each source (bind mounts skipped);
/// - tmpfs: each mount point, named by it; overlay: each mount, named
///   `<source>_<major>-<minor>`; both skipped below `runtime_dirs` (the runtimes' and the
///   kubelet's per-container mounts: cAdvisor lists those only because its table is read once
///   at its start, so which appear depends on when it started);
/// - the mount on `/`, whatever its type;
/// - nothing below `<docker-root>/devicemapper/mnt` (cAdvisor's exclusion), given in
///   `runtime_dirs` as the docker root.
pub fn partitions(mounts: &[Mount], runtime_dirs: &[PathBuf]) -> Vec<Partition> {
    let mut out: Vec<Partition> = Vec::new();
    let devicemapper: Vec<PathBuf> = runtime_dirs
        .iter()
        .map(|d| d.join("devicemapper/mnt"))
        .collect();
    for m in mounts {
        let t = m.fs_type.as_str();
        let block = t.starts_with("ext") || matches!(t, "btrfs" | "xfs" | "zfs");
        let per_mount = matches!(t, "tmpfs" | "overlay");
        let root = m.mount_point == "/";
        if !(block || per_mount || root)
            || below_any(&m.mount_point, &devicemapper)
            || (per_mount && !root && below_any(&m.mount_point, runtime_dirs))
        {
            continue;
        }
        let (Ok(major), Ok(minor)) = (m.major.parse(), m.minor.parse()) else {
            continue;
        };
        let device = match t {
            "tmpfs" => m.mount_point.clone(),
            "overlay" => format!("{}_{major}-{minor}", m.device),
            _ => m.device.clone(),
        };
        if out.iter().any(|p| p.device == device) {
            continue;
        }
        out.push(Partition {
            device,
            mount_point: m.mount_point.clone(),
            dev: (major, minor),
        });
    }
    out
}

/// `statfs` figures of a file system: (capacity, free, inodes, inodes free).
fn vfs_stats(path: &Path) -> Option<(u64, u64, u64, u64)> {
    let s = rustix::fs::statvfs(path).ok()?;
    Some((
        s.f_blocks.saturating_mul(s.f_frsize),
        s.f_bfree.saturating_mul(s.f_frsize),
        s.f_files,
        s.f_ffree,
    ))
}

fn dev_of(path: &Path) -> Option<(u32, u32)> {
    let st = rustix::fs::stat(path).ok()?;
    Some((rustix::fs::major(st.st_dev), rustix::fs::minor(st.st_dev)))
}

fn mounts(settings: &Settings) -> Vec<Mount> {
    let roots = &settings.roots;
    [roots.proc("1/mountinfo"), roots.proc("self/mountinfo")]
        .iter()
        .find_map(|p| parse_mountinfo(&std::fs::read(p).ok()?).ok())
        .unwrap_or_default()
}

/// Host directories below which tmpfs and overlay mounts belong to containers or pods, not to
/// the root container: the runtimes' roots and state directories and `<kubelet-root>/pods`.
fn runtime_dirs(settings: &Settings) -> Vec<PathBuf> {
    let o = &settings.options;
    let mut dirs: Vec<PathBuf> = [
        &flags::DOCKER_ROOT,
        &flags::CONTAINERD_STATE,
        &flags::CRIO_ROOT,
        &flags::CRIO_RUNROOT,
    ]
    .into_iter()
    .map(|flag| PathBuf::from(o.get(flag)))
    .collect();
    dirs.push(Path::new(&o.get(&KUBELET_ROOT)).join("pods"));
    dirs
}

/// The trees measured for one container's writable layer (host paths below the roots).
struct LayerDirs {
    layer: PathBuf,
    extra: Option<PathBuf>,
}

fn layer_dirs(
    settings: &Settings,
    docker_root: &Path,
    from_mounts: &HashMap<String, PathBuf>,
    crio: &HashMap<String, PathBuf>,
    c: &Container,
) -> Option<LayerDirs> {
    let id = layout::parse(&c.id).container_id?;
    if let Some(layer) = layers::docker_layer(docker_root, id) {
        let extra = docker_root.join("containers").join(id);
        return Some(LayerDirs {
            layer,
            extra: Some(extra),
        });
    }
    if let Some(layer) = crio.get(id) {
        return Some(LayerDirs {
            layer: layer.clone(),
            extra: None,
        });
    }
    let upper = from_mounts.get(id)?;
    Some(LayerDirs {
        layer: settings.roots.root(upper),
        extra: None,
    })
}

/// Shared between scrapes: the measurer.
struct State {
    measurer: Measurer,
}

fn emit(settings: &Settings, snap: &Snapshot, sink: &mut MetricSink) -> Result<(), CollectError> {
    let o = &settings.options;
    let budget = o.get(&DISK_BUDGET).unwrap_or(Duration::from_millis(100));
    let cap = o.get(&DISK_MAX_FILES).unwrap_or(100_000) as u64;
    let reuse = o.get(&DISK_REUSE_LISTINGS);
    let state = settings.shared.get_or_init("container_disk", || State {
        measurer: Measurer::new(),
    });
    let roots = &settings.roots;
    let docker_root = roots.root(o.get(&flags::DOCKER_ROOT));
    let containerd_states = vec![o.get(&flags::CONTAINERD_STATE)];
    let mounts = mounts(settings);
    let parts = partitions(&mounts, &runtime_dirs(settings));
    let from_mounts = layers::mount_layers(&mounts, &containerd_states);
    let crio = layers::crio_layers(&roots.root(o.get(&flags::CRIO_ROOT)));

    // The trees wanted this scrape: layers, then the pods' logs and volumes.
    let mut per_container: Vec<(&Container, LayerDirs)> = Vec::new();
    for c in &snap.containers {
        if let Some(dirs) = layer_dirs(settings, &docker_root, &from_mounts, &crio, c) {
            per_container.push((c, dirs));
        }
    }
    let pods = pod::discover(
        settings,
        snap,
        &per_container_layers(&per_container),
        &mounts,
    );
    let mut wanted: Vec<Target> = Vec::new();
    for (_, d) in &per_container {
        wanted.push(Target::tree(d.layer.clone()));
        wanted.extend(d.extra.clone().map(Target::tree));
    }
    for p in &pods {
        for s in &p.sources {
            wanted.extend(s.targets.iter().cloned());
        }
    }
    let results = state.measurer.run(&wanted, budget, cap, reuse);

    // statfs once per file system: (partition, capacity, free, inodes, inodes free).
    let stats: Vec<(&Partition, [u64; 4])> = parts
        .iter()
        .filter_map(|p| {
            let (size, free, inodes, ifree) = vfs_stats(&roots.root(&p.mount_point))?;
            Some((p, [size, free, inodes, ifree]))
        })
        .collect();
    let root = snap.containers.iter().find(|c| c.id == "/");
    let mut rows: Vec<(&Container, String, [f64; 4], Option<f64>)> = Vec::new();
    if let Some(root) = root {
        for (p, [size, free, inodes, ifree]) in &stats {
            rows.push((
                root,
                p.device.clone(),
                [
                    size.saturating_sub(*free) as f64,
                    *size as f64,
                    *ifree as f64,
                    *inodes as f64,
                ],
                None,
            ));
        }
    }
    for (c, d) in &per_container {
        // cAdvisor's GetDirFsDevice: the partition whose major:minor is the layer's st_dev.
        let Some(dev) = dev_of(&d.layer) else {
            continue;
        };
        let Some((p, [size, ..])) = stats.iter().find(|(p, _)| p.dev == dev) else {
            continue;
        };
        let trees: Vec<Target> = std::iter::once(&d.layer)
            .chain(d.extra.as_ref())
            .map(|p| Target::tree(p.clone()))
            .collect();
        let Some(m) = sum(&results, &trees.iter().collect::<Vec<_>>()) else {
            continue;
        };
        rows.push((
            c,
            p.device.clone(),
            [
                m.usage.bytes as f64,
                *size as f64,
                0.0,
                m.usage.inodes as f64,
            ],
            Some(m.time),
        ));
    }
    let families = [
        (
            "container_fs_usage_bytes",
            "Number of bytes that are consumed by the container on this filesystem.",
        ),
        (
            "container_fs_limit_bytes",
            "Number of bytes that can be consumed by the container on this filesystem.",
        ),
        ("container_fs_inodes_free", "Number of available Inodes"),
        ("container_fs_inodes_total", "Number of Inodes"),
    ];
    if !rows.is_empty() {
        for (i, (name, help)) in families.iter().enumerate() {
            sink.family(name, help, MetricType::Gauge);
            for (c, device, values, _) in &rows {
                sample(sink, snap, c, &[("device", device)], values[i], true);
            }
        }
        sink.family(
            "container_fs_usage_measured_timestamp_seconds",
            "When the usage of the container's writable layer was last measured (unix seconds).",
            MetricType::Gauge,
        );
        for (c, device, _, time) in &rows {
            if let Some(t) = time {
                sample(sink, snap, c, &[("device", device)], *t, false);
            }
        }
    }
    pod::emit(sink, &pods, &results);
    state.measurer.emit_self(sink);
    Ok(())
}

fn per_container_layers<'a>(
    per_container: &'a [(&'a Container, LayerDirs)],
) -> HashMap<&'a str, &'a Path> {
    per_container
        .iter()
        .map(|(c, d)| (c.id.as_str(), d.layer.as_path()))
        .collect()
}

/// The sum of the latest measurements of `trees`, stamped with the oldest; `None` until all
/// were measured once.
pub fn sum(results: &HashMap<Target, Measured>, trees: &[&Target]) -> Option<Measured> {
    let mut total = Measured {
        time: f64::INFINITY,
        ..Measured::default()
    };
    for t in trees {
        let m = results.get(*t)?;
        total.usage.bytes += m.usage.bytes;
        total.usage.inodes += m.usage.inodes;
        total.time = total.time.min(m.time);
        total.capped |= m.capped;
        total.quota |= m.quota;
    }
    total.time.is_finite().then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_follow_process_mounts() {
        // A host's table (kernel format, mountinfo(5)): the root on ext4, a bind mount of it,
        // tmpfs mounts of the host and of a pod and a container, an xfs data disk, the host's
        // own overlay and a container's rootfs overlay, a cgroup and a devicemapper mount.
        let mi = b"27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n\
42 27 254:0 /var/lib/docker /var/lib/docker rw,relatime shared:1 - ext4 /dev/vda rw\n\
25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw\n\
26 27 0:24 / /run rw,relatime - tmpfs tmpfs rw\n\
50 27 259:3 / /data rw - xfs /dev/nvme0n1p3 rw\n\
51 27 0:52 / /srv/merged rw - overlay overlay rw,upperdir=/u\n\
52 27 0:53 / /run/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs rw - overlay overlay rw,upperdir=/v\n\
53 27 0:54 / /var/lib/kubelet/pods/u/volumes/kubernetes.io~projected/token rw - tmpfs tmpfs rw\n\
54 27 0:55 / /var/lib/docker/containers/abc/mounts/shm rw - tmpfs shm rw\n\
55 27 253:4 / /var/lib/docker/devicemapper/mnt/abc rw - xfs /dev/mapper/docker-abc rw\n\
31 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let mounts = parse_mountinfo(mi).expect("mountinfo");
        let dirs: Vec<PathBuf> = [
            "/var/lib/docker",
            "/run/containerd",
            "/var/lib/containers/storage",
            "/run/containers/storage",
            "/var/lib/kubelet/pods",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        let parts = partitions(&mounts, &dirs);
        assert_eq!(
            parts
                .iter()
                .map(|p| (p.device.as_str(), p.mount_point.as_str(), p.dev))
                .collect::<Vec<_>>(),
            vec![
                ("/dev/vda", "/", (254, 0)),
                ("/dev/shm", "/dev/shm", (0, 23)),
                ("/run", "/run", (0, 24)),
                ("/dev/nvme0n1p3", "/data", (259, 3)),
                ("overlay_0-52", "/srv/merged", (0, 52)),
            ]
        );
        // A root on a file system of no listed type (a container's overlay root, virtiofs) is
        // still listed, as cAdvisor's addSystemRootLabel adds it.
        let mounts = parse_mountinfo(b"1 0 0:40 / / rw - virtiofs myfs rw\n").expect("mi");
        assert_eq!(partitions(&mounts, &dirs)[0].device, "myfs");
    }
}
