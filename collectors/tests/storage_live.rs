//! Container storage on real data: a Docker container (a `FROM scratch` busybox image) that
//! writes known amounts (a few files, many small files, a file written then deleted, a file of
//! the image deleted), measured by `container_disk` and compared with `du` of its upper
//! directory (as `docker inspect` names it, not as nodex finds it) and with Docker's own
//! `SizeRw` (`docker ps --size`); and a kubelet pod layout on disk (logs with rotated and
//! compressed files, two disk `emptyDir` volumes, one memory-backed on a tmpfs) whose
//! `pod_ephemeral_storage_*` series must equal the kubelet's sums computed here with `du`.
//! Needs root, Docker and `/bin/busybox` (skipped otherwise, failed in CI). Guards remove the
//! container, the image, the tmpfs mount and the temporary trees even on failure.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nodex_collectors::registry::scrape_text;
use nodex_collectors::{Options, Roots, Settings};
use nodex_test_support::containers::{
    cgroup_mounts, containerd_ready, docker_ready, CriPod, CONTAINERD_STATE,
};
use nodex_test_support::{
    docker, eventually, is_root, run, skip_unless_ci, unique_tag, value, BusyboxImage, Cleanup,
};

/// `du -s` of `dir` in bytes (`-B1`: allocated blocks) or inodes (`--inodes`).
fn du(dir: &Path, inodes: bool) -> u64 {
    let mode = if inodes { "--inodes" } else { "-B1" };
    let out = run("du", &["-s", "-x", mode, &dir.to_string_lossy()]).expect("du");
    out.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("du output {out:?}"))
}

fn scrape(settings: &Arc<Settings>) -> String {
    scrape_text(settings, &["container_disk"]).expect("container_disk scrapes")
}

/// What the container writes: 3 files of 1, 2 and 3 MB, 500 files of 100 bytes in 5
/// directories, a 4 MB file deleted again, and the image's `/etc/gone` deleted (a whiteout).
const WRITES: &str = "\
/bin/busybox mkdir -p /data/small && \
for i in 1 2 3; do /bin/busybox dd if=/dev/zero of=/data/big$i bs=1M count=$i 2>/dev/null; done && \
for d in 1 2 3 4 5; do /bin/busybox mkdir /data/small/$d; \
  for f in $(/bin/busybox seq 1 100); do /bin/busybox head -c 100 /dev/zero > /data/small/$d/$f; done; done && \
/bin/busybox dd if=/dev/zero of=/data/deleted bs=1M count=4 2>/dev/null && /bin/busybox rm /data/deleted && \
/bin/busybox rm /etc/gone && /bin/busybox sync && /bin/busybox touch /ready && \
exec /bin/busybox sleep 100000";

#[test]
fn docker_writable_layer_matches_du_and_docker() {
    if !docker_ready() {
        skip_unless_ci("needs root, /bin/busybox and a Docker daemon");
        return;
    }
    let image = BusyboxImage::build(
        "nodex-test-disk",
        &["/bin/busybox", "sh", "-c", WRITES],
        &[("/etc/gone", b"from the image")],
    );
    let name = format!("nodex-test-disk-{}", unique_tag());
    let mut cleanup = Cleanup::default();
    cleanup.docker_containers.push(name.clone());
    let id = docker(&["run", "-d", "--name", &name, &image.name]).expect("docker run");
    eventually(Duration::from_secs(30), "the writes are done", || {
        docker(&["exec", &name, "/bin/busybox", "test", "-e", "/ready"]).ok()
    });

    // The upper directory as Docker reports it, and Docker's own size of the writable layer.
    let upper = PathBuf::from(
        docker(&["inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", &name])
            .expect("inspect UpperDir"),
    );
    assert!(upper.is_dir(), "{upper:?}");
    let size_rw: f64 = docker(&["inspect", "-s", "-f", "{{.SizeRw}}", &name])
        .expect("inspect SizeRw")
        .parse()
        .expect("SizeRw");
    let ps_size = docker(&[
        "ps",
        "--size",
        "--filter",
        &format!("id={id}"),
        "--format",
        "{{.Size}}",
    ])
    .expect("docker ps --size");
    let extra = Path::new("/var/lib/docker/containers").join(&id);

    let mut options = Options::default();
    options.set(
        &nodex_collectors::container::flags::CGROUP_INCLUDE,
        format!("^/docker/{id}$|^/$"),
    );
    options.set(&nodex_collectors::container::storage::DISK_BUDGET, "30s");
    let settings = Arc::new(Settings::new(Roots::default(), options));
    let text = scrape(&settings);
    let id_label = format!("id=\"/docker/{id}\"");
    let usage = value(&text, "container_fs_usage_bytes", &[&id_label])
        .unwrap_or_else(|| panic!("no usage for {id}:\n{text}"));
    let inodes = value(&text, "container_fs_inodes_total", &[&id_label]).expect("inodes");
    let (du_upper, du_extra) = (du(&upper, false), du(&extra, false));
    let (in_upper, in_extra) = (du(&upper, true), du(&extra, true));
    eprintln!(
        "nodex usage {usage} inodes {inodes}; du upper {du_upper} + containers dir {du_extra}, \
         inodes {in_upper} + {in_extra}; SizeRw {size_rw}; docker ps --size {ps_size:?}"
    );
    // cAdvisor's usage: the layer plus Docker's containers/<id> directory.
    let du_total = (du_upper + du_extra) as f64;
    assert!(
        (usage - du_total).abs() <= du_total * 0.01,
        "usage {usage} vs du {du_total}"
    );
    assert_eq!(inodes as u64, in_upper + in_extra, "inode counts");
    // Docker's SizeRw is apparent size: within one 4 KiB block per file of the layer's blocks.
    let layer = usage - du_extra as f64;
    assert!(
        (layer - size_rw).abs() <= (size_rw * 0.01).max(in_upper as f64 * 4096.0),
        "layer {layer} vs SizeRw {size_rw}"
    );
    assert!(size_rw > 6e6, "the writes are in SizeRw: {size_rw}");
    assert!(
        usage > 6e6 && usage < 9e6,
        "the deleted 4 MB does not count: {usage}"
    );
    assert_eq!(
        value(&text, "container_fs_inodes_free", &[&id_label]),
        Some(0.0)
    );
    let device = run("df", &["--output=source", "/var/lib/docker"]).expect("df");
    let device = device.lines().last().unwrap_or("").trim().to_string();
    let capacity: f64 = run("df", &["-B1", "--output=size", "/var/lib/docker"])
        .expect("df")
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("df size");
    assert_eq!(
        value(
            &text,
            "container_fs_limit_bytes",
            &[&id_label, &format!("device=\"{device}\"")]
        ),
        Some(capacity)
    );
    // The root container: the file system of `/`, total and free inodes from statfs.
    let root_limit = value(
        &text,
        "container_fs_limit_bytes",
        &["id=\"/\"", &format!("device=\"{device}\"")],
    );
    assert_eq!(root_limit, Some(capacity), "{text}");
    let measured = value(
        &text,
        "container_fs_usage_measured_timestamp_seconds",
        &[&id_label],
    )
    .expect("measured timestamp");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    assert!(
        (now - measured).abs() < 60.0,
        "measured {measured} now {now}"
    );

    // Gone from the runtime: no series any more.
    docker(&["rm", "-f", &name]).expect("docker rm");
    let after = scrape(&settings);
    assert!(
        value(&after, "container_fs_usage_bytes", &[&id_label]).is_none(),
        "{after}"
    );
}

struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = run("umount", &[&self.0.to_string_lossy()]);
    }
}

fn write(path: &Path, len: usize) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("parent dir");
    }
    std::fs::write(path, vec![b'x'; len]).expect("write");
}

#[test]
fn pod_ephemeral_storage_follows_the_kubelet_rules() {
    if !is_root() {
        skip_unless_ci("needs root (a tmpfs mount for the memory-backed emptyDir)");
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("nodex-pod-")
        .tempdir()
        .expect("tempdir");
    let base = dir.path();
    let uid = "5f0f1c2e-6b7a-4d2b-9c1e-0123456789ab";
    let (ns, pod) = ("shop", "cart-7d9f");
    // kubelet pkg/kubelet/kuberuntime/kuberuntime_container.go: <ns>_<pod>_<uid>/<container>/<n>.log,
    // rotated by the container log manager to <n>.log.<timestamp> and compressed (.gz).
    let logs = base.join(format!("log/pods/{ns}_{pod}_{uid}"));
    write(&logs.join("app/0.log"), 30_000);
    write(&logs.join("app/0.log.20261201-101010"), 70_000);
    write(&logs.join("app/0.log.20261201-090000.gz"), 9_000);
    write(&logs.join("sidecar/1.log"), 1_234);
    // Pod-level logs (kubelet host_stats_provider.go getPodLogStats: the files, not the
    // directories, directly in the pod's log directory, each measured on its own; runtimes
    // such as Kata keep pod logs there): a file, a hard link to it (counted twice, as each
    // path is measured alone), a symlink (the link itself).
    write(&logs.join("kata-agent.log"), 45_000);
    std::fs::hard_link(logs.join("kata-agent.log"), logs.join("kata-agent.log.1")).expect("link");
    std::os::unix::fs::symlink("kata-agent.log", logs.join("current")).expect("symlink");
    let kubelet = base.join("kubelet");
    // getPodEtcHostsStats: <kubelet-root>/pods/<uid>/etc-hosts.
    write(&kubelet.join(format!("pods/{uid}/etc-hosts")), 321);
    let vols = kubelet.join(format!("pods/{uid}/volumes/kubernetes.io~empty-dir"));
    write(&vols.join("cache/a/b/blob"), 200_000);
    for i in 0..40 {
        write(&vols.join(format!("scratch/f{i}")), 10 + i);
    }
    let memory = vols.join("shm");
    std::fs::create_dir_all(&memory).expect("shm dir");
    run(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            "size=8m",
            "tmpfs",
            &memory.to_string_lossy(),
        ],
    )
    .expect("mount tmpfs");
    let _unmount = Unmount(memory.clone());
    write(&memory.join("in-ram"), 1_000_000);

    let mut options = Options::default();
    options.set(
        &nodex_collectors::container::flags::CGROUP_INCLUDE,
        "^/nodex-matches-nothing$",
    );
    options.set(
        &nodex_collectors::container::flags::POD_LOG_DIR,
        base.join("log/pods").to_string_lossy().into_owned(),
    );
    options.set(
        &nodex_collectors::container::storage::KUBELET_ROOT,
        kubelet.to_string_lossy().into_owned(),
    );
    options.set(&nodex_collectors::container::storage::DISK_BUDGET, "30s");
    let settings = Arc::new(Settings::new(Roots::default(), options));
    let text = scrape(&settings);
    let pod_labels = [format!("namespace=\"{ns}\""), format!("pod=\"{pod}\"")];
    let series = |source: &str, container: &str, family: &str| {
        let src = format!("source=\"{source}\"");
        let ctr = format!("container=\"{container}\"");
        value(&text, family, &[&pod_labels[0], &pod_labels[1], &src, &ctr])
    };
    let bytes = "pod_ephemeral_storage_used_bytes";
    let inodes = "pod_ephemeral_storage_inodes_used";
    // The kubelet's fileMetricsByDir: GNU du of each non-directory path directly in `dir`
    // alone, listed here with std (not nodex's walker): (bytes, inodes).
    let files_in = |dir: &Path| -> (u64, u64) {
        let files: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("log dir")
            .map(|e| e.expect("entry"))
            .filter(|e| !e.file_type().expect("type").is_dir())
            .map(|e| e.path())
            .collect();
        (
            files.iter().map(|f| du(f, false)).sum(),
            files.iter().map(|f| du(f, true)).sum(),
        )
    };
    let mut container_logs = 0;
    for container in ["app", "sidecar"] {
        let (b, i) = files_in(&logs.join(container));
        container_logs += b;
        assert_eq!(series("logs", container, bytes), Some(b as f64), "{text}");
        assert_eq!(series("logs", container, inodes), Some(i as f64));
    }
    let (pod_log_bytes, pod_log_inodes) = files_in(&logs);
    assert_eq!(pod_log_inodes, 3, "a file, its hard link and a symlink");
    assert_eq!(
        series("logs", "", bytes),
        Some(pod_log_bytes as f64),
        "{text}"
    );
    assert_eq!(series("logs", "", inodes), Some(pod_log_inodes as f64));
    let etc_hosts = kubelet.join(format!("pods/{uid}/etc-hosts"));
    assert_eq!(
        series("etc_hosts", "", bytes),
        Some(du(&etc_hosts, false) as f64)
    );
    assert_eq!(series("etc_hosts", "", inodes), Some(1.0));
    let disk_vols = [vols.join("cache"), vols.join("scratch")];
    let want_bytes: u64 = disk_vols.iter().map(|d| du(d, false)).sum();
    let want_inodes: u64 = disk_vols.iter().map(|d| du(d, true)).sum();
    assert_eq!(
        series("emptydir", "", bytes),
        Some(want_bytes as f64),
        "{text}"
    );
    assert_eq!(series("emptydir", "", inodes), Some(want_inodes as f64));
    // The pod total as the summary API sums it: every source, the memory-backed volume out.
    let total: f64 = text
        .lines()
        .filter(|l| {
            l.starts_with(&format!("{bytes}{{"))
                && pod_labels.iter().all(|p| l.contains(p.as_str()))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    let want_total = want_bytes + container_logs + pod_log_bytes + du(&etc_hosts, false);
    assert_eq!(total, want_total as f64);
    assert!(
        total < 1_000_000.0,
        "the tmpfs volume must not count: {total}"
    );
}

/// The `upperdir` of the overlay mounted on `mount_point`, read from the mount table here.
fn upperdir_of(mount_point: &str) -> Option<PathBuf> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let line = table
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(mount_point))?;
    let opts = line.rsplit(' ').next()?;
    let upper = opts.split(',').find_map(|o| o.strip_prefix("upperdir="))?;
    Some(PathBuf::from(upper))
}

#[test]
fn containerd_overlayfs_layer_matches_du_with_pod_labels() {
    if !containerd_ready() {
        skip_unless_ci("needs root, Docker, ctr, /bin/busybox and Docker's containerd");
        return;
    }
    let tag = unique_tag();
    let image = BusyboxImage::build("nodex-test-disk-ctr", &[], &[]);
    let mut cleanup = Cleanup::default();
    let ctr_image = image.import_into_containerd(&mut cleanup);
    let top = format!("nodex-disk-{tag}");
    let (ns, pod_name, container) = ("disk-ns", "disk-pod", "writer");
    let pod = CriPod::new(
        &tag,
        ns,
        pod_name,
        &format!("/{top}"),
        &ctr_image,
        &["--snapshotter", "overlayfs"],
    );
    let pod_cgroup = pod.cgroup.clone();
    for root in cgroup_mounts() {
        cleanup.cgroups.push(root.join(&pod_cgroup[1..]));
        cleanup.cgroups.push(root.join(&top));
    }
    let app = pod.container_id("app");
    pod.run(
        &mut cleanup,
        &pod.sandbox,
        &["io.kubernetes.cri.container-type=sandbox".into()],
        &[],
        &["/bin/busybox", "sleep", "100000"],
    );
    pod.run(
        &mut cleanup,
        &app,
        &[
            "io.kubernetes.cri.container-type=container".into(),
            format!("io.kubernetes.cri.container-name={container}"),
        ],
        &[],
        &["/bin/busybox", "sh", "-c", WRITES_CTR],
    );
    let rootfs = format!("{CONTAINERD_STATE}/io.containerd.runtime.v2.task/k8s.io/{app}/rootfs");
    let upper = eventually(Duration::from_secs(30), "the ctr writes are done", || {
        upperdir_of(&rootfs).filter(|u| u.join("ready").exists())
    });

    let mut options = Options::default();
    options.set(
        &nodex_collectors::container::flags::CGROUP_INCLUDE,
        format!("^/{top}/"),
    );
    options.set(
        &nodex_collectors::container::flags::CONTAINERD_STATE,
        CONTAINERD_STATE,
    );
    options.set(&nodex_collectors::container::storage::DISK_BUDGET, "30s");
    let settings = Arc::new(Settings::new(Roots::default(), options));
    let text = scrape(&settings);
    let id_label = format!("id=\"{pod_cgroup}/{app}\"");
    let usage = value(&text, "container_fs_usage_bytes", &[&id_label])
        .unwrap_or_else(|| panic!("no usage for {app}:\n{text}"));
    let inodes = value(&text, "container_fs_inodes_total", &[&id_label]).expect("inodes");
    let (du_b, du_i) = (du(&upper, false), du(&upper, true));
    eprintln!("ctr: nodex usage {usage} inodes {inodes}; du {du_b} inodes {du_i}");
    assert!(
        (usage - du_b as f64).abs() <= du_b as f64 * 0.01,
        "{usage} vs {du_b}"
    );
    assert_eq!(inodes as u64, du_i);
    assert!(usage > 3e6, "the writes count: {usage}");
    let labels = [
        id_label.as_str(),
        &format!("namespace=\"{ns}\""),
        &format!("pod=\"{pod_name}\""),
        &format!("container=\"{container}\""),
    ];
    assert_eq!(
        value(&text, "container_fs_usage_bytes", &labels),
        Some(usage),
        "{text}"
    );
    // The pod's rootfs source is the app's layer; the sandbox has none.
    let rootfs_series = [
        format!("namespace=\"{ns}\""),
        format!("pod=\"{pod_name}\""),
        "source=\"rootfs\"".to_string(),
    ];
    let refs: Vec<&str> = rootfs_series.iter().map(String::as_str).collect();
    let container_label = format!("container=\"{container}\"");
    let mut with_container = refs.clone();
    with_container.push(&container_label);
    assert_eq!(
        value(&text, "pod_ephemeral_storage_used_bytes", &with_container),
        Some(usage)
    );
    let rootfs_lines = text
        .lines()
        .filter(|l| {
            l.starts_with("pod_ephemeral_storage_used_bytes{") && refs.iter().all(|r| l.contains(r))
        })
        .count();
    assert_eq!(
        rootfs_lines, 1,
        "only the app container has a rootfs series:\n{text}"
    );
}

/// The ctr container's writes: 3 MB in one file, 200 small files, a file deleted again.
const WRITES_CTR: &str = "\
/bin/busybox dd if=/dev/zero of=/big bs=1M count=3 2>/dev/null && /bin/busybox mkdir /small && \
for f in $(/bin/busybox seq 1 200); do /bin/busybox head -c 50 /dev/zero > /small/$f; done && \
/bin/busybox dd if=/dev/zero of=/gone bs=1M count=2 2>/dev/null && /bin/busybox rm /gone && \
/bin/busybox sync && /bin/busybox touch /ready && exec /bin/busybox sleep 100000";

#[test]
fn the_walk_does_not_enter_other_mounts() {
    use nodex_collectors::container::storage::du::{Progress, Walk};
    if !is_root() {
        skip_unless_ci("needs root (a tmpfs mount inside the tree)");
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("nodex-xdev-")
        .tempdir()
        .expect("tempdir");
    let base = dir.path();
    write(&base.join("layer/kept"), 5_000);
    let inner = base.join("layer/mnt");
    std::fs::create_dir_all(&inner).expect("mount point");
    run(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            "size=4m",
            "tmpfs",
            &inner.to_string_lossy(),
        ],
    )
    .expect("mount tmpfs");
    let _unmount = Unmount(inner.clone());
    for i in 0..20 {
        write(&inner.join(format!("f{i}")), 100_000);
    }
    let mut walk = Walk::new(base.join("layer"));
    assert_eq!(
        walk.step(
            std::time::Instant::now() + Duration::from_secs(10),
            u64::MAX
        ),
        Progress::Done
    );
    // `du -x` agrees: the layer root and `kept`; the tmpfs and its files are not counted.
    assert_eq!(walk.usage().inodes, 2);
    assert_eq!(walk.usage().bytes, du(&base.join("layer"), false));
}
