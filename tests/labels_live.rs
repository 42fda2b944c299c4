//! Container labels with the DaemonSet's grant and with none (issue 18). Next to real
//! containers of this machine's engine — a Kubernetes-shaped containerd pod (sandbox plus app
//! container in `/kubepods/burstable/pod<uid>/<id>`, carrying the CRI annotations the CRI
//! plugin writes, containerd `pkg/cri/annotations/annotations.go`) and a plain Docker
//! container — the nodex image runs three times with the host's `/proc`, `/sys` and `/`
//! read-only under `/host`:
//!
//! - as root on the host with every capability (the image's binary): the reference;
//! - exactly as `deploy/kubernetes/daemonset.yaml` says (its user, capabilities dropped and
//!   added, read-only root, no privilege escalation): every label must equal the reference's;
//! - as 65534 with no capability at all, over a kubelet-shaped log layout the test writes
//!   (`--collector.container.{container,pod}-log-dir`): `pod`, `namespace` and `container` must
//!   equal the reference's; what stays empty is listed in `EMPTY_WITHOUT_GRANT`.
//!
//! Needs root, Docker, `ctr` and this engine's containerd (`/run/docker/containerd`); skipped
//! otherwise (failed in CI). Everything it creates is removed, even on failure.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{free_port, get, parse_exposition, repo};
use nodex_test_support::containers::{cgroup_mounts, containerd_ready, CriPod, CONTAINERD_STATE};
use nodex_test_support::{docker, eventually, run_ok};
use nodex_test_support::{unique_tag, BusyboxImage, Cleanup};
const POD: &str = "web-1";
const NAMESPACE: &str = "shop";
const CONTAINER: &str = "app";
const APP_IMAGE: &str = "docker.io/library/app:1";
const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.9";

/// Labels that stay empty with no grant (README, Deployment), per kind of container.
const EMPTY_WITHOUT_GRANT: &[(&str, &[&str])] = &[
    // `name` is the containerd id only when containerd's task directory can be searched:
    // this engine keeps it under /run/docker (0700); a Kubernetes node's /run/containerd is 0711.
    // The pod's sandbox is still told apart (a container without a log in a named pod) but has
    // no series here: it has no interface but `lo`.
    ("containerd app", &["image", "name"]),
    // Not a Kubernetes container: only Docker's root-only state names it.
    ("docker", &["image", "name"]),
];

/// The DaemonSet's identity from the manifest, as `docker run` options.
fn daemonset_identity() -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("deploy/kubernetes/daemonset.yaml"))
        .expect("daemonset.yaml");
    let ds: serde_json::Value = serde_saphyr::from_str(&text).expect("daemonset.yaml parses");
    let pod = &ds["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let ctx = |key: &str| {
        let v = &c["securityContext"][key];
        if v.is_null() {
            pod["securityContext"][key].clone()
        } else {
            v.clone()
        }
    };
    assert_eq!(pod["hostPID"], true, "the test runs with the host's pids");
    let mut opts = vec![format!(
        "--user={}:{}",
        ctx("runAsUser").as_u64().expect("runAsUser"),
        ctx("runAsGroup").as_u64().expect("runAsGroup")
    )];
    let caps = &c["securityContext"]["capabilities"];
    for (key, flag) in [("drop", "--cap-drop"), ("add", "--cap-add")] {
        for cap in caps[key].as_array().into_iter().flatten() {
            opts.push(format!("{flag}={}", cap.as_str().expect("capability")));
        }
    }
    if ctx("readOnlyRootFilesystem") == true {
        opts.push("--read-only".into());
    }
    if ctx("allowPrivilegeEscalation") == false {
        opts.push("--security-opt=no-new-privileges".into());
    }
    assert!(
        ctx("privileged").is_null(),
        "the DaemonSet is not privileged"
    );
    opts
}

struct Run {
    name: String,
    port: u16,
}

/// Starts the image beside the containers with `identity` and `extra` nodex flags.
fn start(
    cleanup: &mut Cleanup,
    image: &str,
    name: String,
    identity: &[String],
    extra: &[String],
) -> Run {
    cleanup.docker_containers.push(name.clone());
    let port = free_port();
    let mut args: Vec<String> = vec!["run".into(), "-d".into(), "--name".into(), name.clone()];
    args.extend(identity.iter().cloned());
    // The DaemonSet's mounts. HostToContainer (rslave) needs a shared host `/`, which this
    // machine's is not; the default private recursive bind sees the same files.
    for v in [
        "--pid=host",
        "--net=host",
        "--volume=/proc:/host/proc:ro",
        "--volume=/sys:/host/sys:ro",
        "--volume=/:/host/root:ro",
    ] {
        args.push(v.into());
    }
    args.push(image.into());
    for a in [
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--path.procfs=/host/proc".into(),
        "--path.sysfs=/host/sys".into(),
        "--path.rootfs=/host/root".into(),
        format!("--collector.container.containerd-state={CONTAINERD_STATE}"),
        "--collector.disable-defaults".into(),
        "--collector.container_cpu".into(),
        "--collector.container_spec".into(),
        "--collector.container_process".into(),
    ] {
        args.push(a);
    }
    args.extend(extra.iter().cloned());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    docker(&refs).unwrap_or_else(|e| panic!("start {name}: {e}"));
    Run { name, port }
}

type Labels = BTreeMap<String, String>;

/// Scrapes until `ids` all have a cpu series, then returns id → labels over the container
/// families, and the metadata gauge per runtime.
fn scrape(url: &str, ids: &[&str]) -> (BTreeMap<String, Labels>, BTreeMap<String, f64>) {
    let text = eventually(Duration::from_secs(60), url, || {
        let r = get(url, &[]).ok().filter(|r| r.status == 200)?;
        let text = r.text();
        ids.iter()
            .all(|id| text.contains(&format!("id=\"{id}\"")))
            .then_some(text)
    });
    let families = parse_exposition(&text);
    let mut by_id: BTreeMap<String, Labels> = BTreeMap::new();
    for fam in [
        "container_cpu_usage_seconds_total",
        "container_start_time_seconds",
        "container_file_descriptors",
    ] {
        for s in families
            .get(fam)
            .map(|f| f.samples.as_slice())
            .unwrap_or(&[])
        {
            let mut labels = s.labels.clone();
            labels.remove("cpu");
            let prev = by_id.insert(labels["id"].clone(), labels.clone());
            assert!(
                prev.is_none_or(|p| p == labels),
                "{url}: one container, two label sets in {fam}"
            );
        }
    }
    let readable = families
        .get("nodex_container_metadata_readable")
        .map(|f| {
            f.samples
                .iter()
                .map(|s| (s.labels["runtime"].clone(), s.value))
                .collect()
        })
        .unwrap_or_default();
    (by_id, readable)
}

#[test]
fn labels_with_the_daemonset_grant_and_with_none() {
    if !containerd_ready() {
        nodex_test_support::skip_unless_ci(
            "needs root, Docker, ctr, /bin/busybox and Docker's containerd",
        );
        return;
    }
    let unique = unique_tag();
    // Logs of the kubelet layout for the user without a grant: readable by all.
    let context_dir = tempfile::Builder::new()
        .prefix("nodex-labels-")
        .tempdir()
        .expect("tempdir");
    let context = context_dir.path();

    // A FROM-scratch busybox image, in Docker and in containerd's k8s.io namespace.
    let busy_image = BusyboxImage::build(
        "nodex-test-labels",
        &["/bin/busybox", "sleep", "100000"],
        &[],
    );
    let busy = busy_image.name.clone();
    let mut cleanup = Cleanup::default();
    let ctr_image = busy_image.import_into_containerd(&mut cleanup);

    // The pod: cgroupfs layout, as the kubelet's cgroupfs driver names it.
    let pod = CriPod::new(
        &unique,
        NAMESPACE,
        POD,
        "/kubepods/burstable",
        &ctr_image,
        &[],
    );
    let uid = pod.uid.clone();
    let pod_cgroup = pod.cgroup.clone();
    let existed: Vec<bool> = ["/kubepods", "/kubepods/burstable"]
        .iter()
        .map(|p| Path::new("/sys/fs/cgroup/memory").join(&p[1..]).exists())
        .collect();
    for root in cgroup_mounts() {
        cleanup.cgroups.push(root.join(&pod_cgroup[1..]));
        for (rel, existed) in ["kubepods/burstable", "kubepods"]
            .iter()
            .zip(existed.iter().rev())
        {
            if !existed {
                cleanup.cgroups.push(root.join(rel));
            }
        }
    }
    let sandbox = pod.sandbox.clone();
    let app = pod.container_id("app");
    let sleep = ["/bin/busybox", "sleep", "100000"];
    pod.run(
        &mut cleanup,
        &sandbox,
        &[
            "io.kubernetes.cri.container-type=sandbox".into(),
            format!("io.kubernetes.cri.podsandbox.image-name={PAUSE_IMAGE}"),
            format!(
                "io.kubernetes.cri.sandbox-log-directory=/var/log/pods/{NAMESPACE}_{POD}_{uid}"
            ),
        ],
        &[],
        &sleep,
    );
    let state = Path::new(CONTAINERD_STATE).join("io.containerd.runtime.v2.task/k8s.io");
    let sandbox_pid =
        std::fs::read_to_string(state.join(&sandbox).join("init.pid")).expect("sandbox init.pid");
    pod.run(
        &mut cleanup,
        &app,
        &[
            "io.kubernetes.cri.container-type=container".into(),
            format!("io.kubernetes.cri.container-name={CONTAINER}"),
            format!("io.kubernetes.cri.image-name={APP_IMAGE}"),
        ],
        &[format!(
            "--with-ns=network:/proc/{}/ns/net",
            sandbox_pid.trim()
        )],
        &sleep,
    );

    let plain_name = format!("nodex-test-labels-plain-{unique}");
    cleanup.docker_containers.push(plain_name.clone());
    let plain = docker(&["run", "-d", "--name", &plain_name, &busy]).expect("docker run");

    // The kubelet's log layout for the pod (kubelet pkg/kubelet/kuberuntime/legacy.go and
    // kuberuntime_container.go): /var/log/pods/<ns>_<pod>_<uid>/<container>/<restarts>.log and
    // the /var/log/containers/<pod>_<ns>_<container>-<id>.log symlink to it.
    let logs = context.join("log");
    let pod_dir = logs.join(format!("pods/{NAMESPACE}_{POD}_{uid}/{CONTAINER}"));
    std::fs::create_dir_all(&pod_dir).expect("pod log dir");
    std::fs::create_dir_all(logs.join("containers")).expect("container log dir");
    std::fs::write(pod_dir.join("0.log"), b"").expect("log file");
    std::os::unix::fs::symlink(
        pod_dir.join("0.log"),
        logs.join(format!(
            "containers/{POD}_{NAMESPACE}_{CONTAINER}-{app}.log"
        )),
    )
    .expect("log symlink");
    for d in [context, logs.as_path()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    let image = format!("nodex-test:labels-{unique}");
    cleanup.docker_images.push(image.clone());
    run_ok(
        Command::new(repo().join("scripts/build-image.sh")).arg(&image),
        "image build (scripts/build-image.sh)",
    );

    let log_flags = [
        format!(
            "--collector.container.container-log-dir={}",
            logs.join("containers").display()
        ),
        format!(
            "--collector.container.pod-log-dir={}",
            logs.join("pods").display()
        ),
    ];
    // The reference: the image's binary as root on the host, with every capability the test
    // has (`docker run --privileged` cannot apply caps this machine's bounding set lacks).
    let reference = common::start_nodex_via(
        Command::new(repo().join(".build/nodex")),
        &[
            &format!("--collector.container.containerd-state={CONTAINERD_STATE}"),
            "--collector.disable-defaults",
            "--collector.container_cpu",
            "--collector.container_spec",
            "--collector.container_process",
        ],
    );
    let shipped = start(
        &mut cleanup,
        &image,
        format!("nodex-test-labels-daemonset-{unique}"),
        &daemonset_identity(),
        &[],
    );
    let none = start(
        &mut cleanup,
        &image,
        format!("nodex-test-labels-nogrant-{unique}"),
        &[
            "--user=65534:65534".into(),
            "--cap-drop=ALL".into(),
            "--read-only".into(),
            "--security-opt=no-new-privileges".into(),
        ],
        &log_flags,
    );

    let app_id = format!("{pod_cgroup}/{app}");
    let sandbox_id = format!("{pod_cgroup}/{sandbox}");
    let plain_id = format!("/docker/{plain}");
    let ids = [pod_cgroup.as_str(), app_id.as_str(), plain_id.as_str()];
    let (root, root_rt) = scrape(&reference.url("/metrics"), &ids);
    let l = |m: &BTreeMap<String, Labels>, id: &str, k: &str| m[id][k].clone();

    // The reference has the runtimes' names: the test has teeth only if it does.
    for (k, v) in [
        ("pod", POD),
        ("namespace", NAMESPACE),
        ("container", CONTAINER),
        ("image", APP_IMAGE),
        ("name", app.as_str()),
    ] {
        assert_eq!(l(&root, &app_id, k), v, "root run, app {k}");
    }
    assert_eq!(l(&root, &pod_cgroup, "pod"), POD);
    assert_eq!(l(&root, &plain_id, "name"), plain_name);
    assert_eq!(l(&root, &plain_id, "image"), busy);
    // A sandbox serves network series only (and this one has no interface but `lo`); a
    // sandbox taken for an app or raw cgroup would show up here.
    assert!(
        !root.contains_key(&sandbox_id),
        "a sandbox has no cpu series"
    );
    assert_eq!(root_rt.get("containerd"), Some(&1.0));
    assert_eq!(root_rt.get("docker"), Some(&1.0));

    // (a) The DaemonSet's grant: every label of every container both runs see is the same.
    let url = |r: &Run| format!("http://127.0.0.1:{}/metrics", r.port);
    let (ds, ds_rt) = scrape(&url(&shipped), &ids);
    let mut compared = 0;
    for (id, labels) in &ds {
        if let Some(want) = root.get(id) {
            assert_eq!(labels, want, "DaemonSet run, labels of {id}");
            compared += 1;
        }
    }
    assert!(compared >= 3, "compared {compared} containers");
    assert!(
        !ds.contains_key(&sandbox_id),
        "the sandbox is still a sandbox"
    );
    assert_eq!(ds_rt, root_rt, "the DaemonSet run reads every runtime");

    // (b) No grant at all: the kubelet logs name the pod's containers.
    let (bare, bare_rt) = scrape(&url(&none), &ids);
    assert_eq!(bare[&pod_cgroup], root[&pod_cgroup], "the pod cgroup");
    assert!(
        !bare.contains_key(&sandbox_id),
        "the sandbox is still a sandbox"
    );
    for (what, id) in [("containerd app", &app_id), ("docker", &plain_id)] {
        let empty = EMPTY_WITHOUT_GRANT
            .iter()
            .find(|(w, _)| *w == what)
            .map(|(_, e)| *e)
            .unwrap_or(&[]);
        for (k, v) in &root[id.as_str()] {
            let want = if empty.contains(&k.as_str()) { "" } else { v };
            assert_eq!(bare[id.as_str()][k], want, "no grant, {what} label {k}");
        }
    }
    assert_eq!(l(&bare, &app_id, "container"), CONTAINER);
    assert_eq!(bare_rt.get("containerd"), Some(&0.0));
    assert_eq!(bare_rt.get("docker"), Some(&0.0));

    // One warning per unreadable runtime, however many scrapes.
    scrape(&url(&none), &ids);
    let out = Command::new("docker")
        .args(["logs", &none.name])
        .output()
        .expect("docker logs");
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    for runtime in ["containerd", "docker"] {
        let n = text
            .lines()
            .filter(|l| l.contains(&format!("{runtime} state under")))
            .count();
        assert_eq!(n, 1, "{runtime} warnings in:\n{text}");
    }
    assert!(text.contains("pod, namespace and container come from"));
}
