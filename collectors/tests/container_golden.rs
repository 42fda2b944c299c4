//! Golden tests of the container groups: every `container_*` collector and `machine` runs over
//! the fixture trees `tests/fixtures/cgroup-v1` (hybrid host, Docker and cri-dockerd on the
//! cgroupfs driver), `tests/fixtures/cgroup-v1-systemd` (v1 without a unified mount, Docker and
//! cri-dockerd on the systemd driver: `kubepods-<qos>-pod<uid>.slice/docker-<id>.scope`,
//! `system.slice/docker-<id>.scope`, a `.mount` unit the default exclude drops) and
//! `tests/fixtures/cgroup-v2` (pure v2, containerd on the systemd driver), and its exposition
//! must equal `tests/golden/<tree>/<collector>.prom`. Values that depend on the clock or on file
//! mtimes of the checkout (start time, last seen) are masked as `LIVE`.
//! `UPDATE_GOLDEN=1 cargo test -p nodex-collectors --test container_golden` rewrites them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nodex_collectors::expfmt::{render, Format, MetricSink};
use nodex_collectors::{registry, Options, Roots, Settings};
use nodex_test_support::{copy_tree, golden};

const TREES: &[&str] = &["cgroup-v1", "cgroup-v1-systemd", "cgroup-v2"];
const LIVE_FAMILIES: &[&str] = &[
    "container_creation_time_seconds",
    "container_start_time_seconds",
    "container_last_seen",
    // container_disk: statfs of the checkout's file system, block counts of fixture files,
    // measurement times, walk durations and listings kept (the fixture directories' ctimes
    // are settled or not depending on when the checkout was made).
    "container_fs_inodes_free",
    "container_fs_inodes_total",
    "container_fs_limit_bytes",
    "container_fs_usage_bytes",
    "container_fs_usage_measured_timestamp_seconds",
    "pod_ephemeral_storage_used_bytes",
    "pod_ephemeral_storage_measured_timestamp_seconds",
    "nodex_container_disk_walk_seconds_total",
    "nodex_container_disk_listings_kept",
    "container_log_last_write_time_seconds",
    "machine_log_filesystem_size_bytes",
    "machine_log_filesystem_avail_bytes",
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn container_collectors() -> Vec<&'static str> {
    registry::all()
        .iter()
        .map(|c| c.name)
        .filter(|n| n.starts_with("container_") || *n == "machine")
        .collect()
}

fn settings(tree: &str, options: Options) -> Arc<Settings> {
    let base = repo_root().join("tests/fixtures").join(tree);
    Arc::new(Settings::new(Roots::fixture(&base), options))
}

fn mask(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        if !line.starts_with('#') && LIVE_FAMILIES.contains(&&line[..name_end]) {
            let value_at = line.rfind(' ').unwrap_or(line.len());
            out.push_str(&line[..value_at]);
            out.push_str(" LIVE");
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

fn run(name: &str, settings: &Arc<Settings>) -> String {
    let info = registry::find(name).expect("registered");
    let collector = (info.build)(settings).expect("builds");
    let mut sink = MetricSink::new();
    let result = collector.collect(&mut sink);
    let mut out = Vec::new();
    render(&[&sink], Format::Text, &mut out).expect("render");
    let mut text = mask(&String::from_utf8(out).expect("UTF-8"));
    if let Err(e) = result {
        text.push_str(&format!("# collector error: {e}\n"));
    }
    text
}

#[test]
fn container_groups_match_goldens() {
    let mut failures = Vec::new();
    for tree in TREES {
        let settings = settings(tree, Options::default());
        for name in container_collectors() {
            let got = run(name, &settings);
            let path = repo_root()
                .join("tests/golden")
                .join(tree)
                .join(format!("{name}.prom"));
            failures.extend(golden::compare(&path, &got));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn cadvisor_label_mode_and_timestamps() {
    let mut options = Options::default();
    options.set(&nodex_collectors::container::flags::LABELS, "cadvisor");
    options.set(&nodex_collectors::container::flags::TIMESTAMPS, "true");
    let got = run("container_cpu", &settings("cgroup-v1", options));
    let app = got
        .lines()
        .find(|l| l.starts_with("container_cpu_usage_seconds_total{") && l.contains("k8s_app"))
        .expect("app container cpu line");
    assert!(app.contains(r#"container_label_io_kubernetes_container_name="app""#));
    assert!(app.contains(r#"container_label_io_kubernetes_pod_namespace="shop""#));
    assert!(
        !app.contains("namespace=\"shop\",pod="),
        "no kubelet labels: {app}"
    );
    let ts = app.rsplit(' ').next().expect("timestamp");
    assert!(ts.parse::<i64>().expect("integer ms") > 1_600_000_000_000);
}

#[test]
fn systemd_v1_layout_is_named() {
    // The goldens hold these too; this says what the systemd-driver v1 tree must show.
    let got = run(
        "container_cpu",
        &settings("cgroup-v1-systemd", Options::default()),
    );
    let usage: Vec<&str> = got
        .lines()
        .filter(|l| l.starts_with("container_cpu_usage_seconds_total{"))
        .collect();
    let pod_slice = "kubepods-burstable-pod7f4e2a10_3b5c_4d6e_8f90_a1b2c3d4e5f6.slice\",";
    let pod = usage
        .iter()
        .find(|l| l.contains(pod_slice))
        .expect("pod cgroup");
    assert!(pod.contains(r#"container="","#) && pod.contains(r#"namespace="shop",pod="cart-"#));
    let app = usage
        .iter()
        .find(|l| l.contains(r#"container="cart""#))
        .expect("app container");
    assert!(app.contains(pod_slice.trim_end_matches("\",")) && app.contains("/docker-"));
    let plain = usage
        .iter()
        .find(|l| l.contains("id=\"/system.slice/docker-"))
        .expect("plain Docker container");
    assert!(plain.contains(r#"image="redis:7.2-alpine",name="redis""#));
    assert!(!got.contains(".mount"), "mount units are excluded");
    assert!(
        !got.contains(r#"container="POD""#),
        "sandboxes carry network only"
    );
    assert_eq!(usage.len(), 11, "{usage:#?}");
}

#[test]
fn one_walk_is_shared_by_the_groups() {
    // Two groups built from the same settings share their walk within one scrape: both see the
    // same snapshot even when the tree changes between the two collects. The next scrape walks
    // again and sees the change.
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path();
    copy_tree(&repo_root().join("tests/fixtures/cgroup-v2"), dir);
    let settings = Arc::new(Settings::new(Roots::fixture(dir), Options::default()));
    let spec = (registry::find("container_spec").expect("spec").build)(&settings).expect("spec");
    let oom = (registry::find("container_oom").expect("oom").build)(&settings).expect("oom");
    settings.begin_scrape();
    let mut sink = MetricSink::new();
    spec.collect(&mut sink).expect("spec collects");
    let extra = dir.join("sys/fs/cgroup/system.slice/late.service");
    std::fs::create_dir_all(&extra).expect("mkdir");
    std::fs::write(extra.join("memory.events"), "oom_kill 0\n").expect("write");
    let mut sink = MetricSink::new();
    oom.collect(&mut sink).expect("oom collects");
    let mut out = Vec::new();
    render(&[&sink], Format::Text, &mut out).expect("render");
    let text = String::from_utf8(out).expect("UTF-8");
    assert!(text.contains("containerd.service"));
    assert!(!text.contains("late.service"), "second group walked again");

    settings.begin_scrape();
    let mut sink = MetricSink::new();
    oom.collect(&mut sink).expect("oom collects");
    let mut out = Vec::new();
    render(&[&sink], Format::Text, &mut out).expect("render");
    let text = String::from_utf8(out).expect("UTF-8");
    assert!(
        text.contains("late.service"),
        "the next scrape must walk again"
    );
}

/// Without any runtime state (as a user that may not read it), the kubelet's log layout names
/// the containers of the cgroup-v1 tree's pod: the app container from its
/// `/var/log/containers/<pod>_<ns>_<container>-<id>.log` symlink name (kubelet
/// `pkg/kubelet/kuberuntime/legacy.go`), the pod cgroup and the sandbox from
/// `/var/log/pods/<ns>_<pod>_<uid>`; `image` and `name` stay empty.
#[test]
fn kubelet_logs_name_containers_without_runtime_state() {
    let uid = "1b2c3d4e-0000-4000-8000-123456789abc";
    let app = "c".repeat(64);
    let sandbox = "b".repeat(64);
    let temp = tempfile::tempdir().expect("tempdir");
    let rootfs = temp.path().to_path_buf();
    let pod_dir = rootfs.join(format!("var/log/pods/shop_web-0_{uid}/app"));
    std::fs::create_dir_all(&pod_dir).expect("pod log dir");
    std::fs::create_dir_all(rootfs.join("var/log/containers")).expect("container log dir");
    std::fs::write(pod_dir.join("0.log"), b"").expect("log");
    std::os::unix::fs::symlink(
        pod_dir.join("0.log"),
        rootfs.join(format!("var/log/containers/web-0_shop_app-{app}.log")),
    )
    .expect("symlink");
    let mut roots = Roots::fixture(&repo_root().join("tests/fixtures/cgroup-v1"));
    roots.rootfs = rootfs.clone();
    let settings = Arc::new(Settings::new(roots, Options::default()));
    let cpu = run("container_cpu", &settings);
    let net = run("container_network", &settings);
    let spec = run("container_spec", &settings);
    let pod = format!("/kubepods/burstable/pod{uid}");
    let find = |text: &str, family: &str, id: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{family}{{")) && l.contains(&format!("id=\"{id}\"")))
            .unwrap_or_else(|| panic!("no {family} for {id}:\n{text}"))
            .to_string()
    };
    let app_line = find(
        &cpu,
        "container_cpu_usage_seconds_total",
        &format!("{pod}/{app}"),
    );
    for want in [
        r#"container="app""#,
        r#"image="""#,
        r#"name="""#,
        r#"namespace="shop""#,
        r#"pod="web-0""#,
    ] {
        assert!(app_line.contains(want), "{want} in {app_line}");
    }
    let pod_line = find(&cpu, "container_cpu_usage_seconds_total", &pod);
    assert!(
        pod_line.contains(r#"namespace="shop",pod="web-0""#),
        "{pod_line}"
    );
    // The sandbox keeps its kind: network series only, named for the pod.
    let sandbox_id = format!("{pod}/{sandbox}");
    assert!(!cpu.contains(&sandbox_id), "a sandbox has no cpu series");
    let net_line = find(&net, "container_network_receive_bytes_total", &sandbox_id);
    assert!(
        net_line.contains(r#"namespace="shop",pod="web-0""#),
        "{net_line}"
    );
    assert!(
        !spec.contains("nodex_container_metadata_readable"),
        "no runtime state dir, no gauge:\n{spec}"
    );
}
