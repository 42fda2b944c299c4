//! The container image, run as the DaemonSet runs it: host PID and network namespaces, the
//! host's `/proc`, `/sys` and `/` read-only under `/host`. Host families must carry the host's
//! own values, and container families must include a container started beside it and nodex's
//! own container. Needs root and a Docker engine; builds the static binary and the image with
//! `scripts/build-image.sh`. Everything it creates is removed, even on failure.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{free_port, get, parse_exposition, repo};
use nodex_test_support::{docker, is_root, run_ok, skip_unless_ci, unique_tag, Cleanup};

fn host_mem_total_bytes() -> f64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("read /proc/meminfo");
    let kb: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("MemTotal");
    kb * 1024.0
}

fn host_root_size_bytes() -> f64 {
    let st = rustix::fs::statvfs("/").expect("statvfs /");
    (st.f_blocks * st.f_frsize) as f64
}

#[test]
fn image_runs_as_a_daemonset_would() {
    if !is_root() || docker(&["info"]).is_err() {
        skip_unless_ci("needs root and a Docker engine");
        return;
    }
    let unique = unique_tag();
    let image = format!("nodex-test:{unique}");
    let mut cleanup = Cleanup::default();
    cleanup.docker_images.push(image.clone());

    run_ok(
        Command::new(repo().join("scripts/build-image.sh")).arg(&image),
        "image build (scripts/build-image.sh)",
    );

    // A container beside nodex: nodex itself, idle on a port nobody scrapes.
    let beside_name = format!("nodex-test-beside-{unique}");
    cleanup.docker_containers.push(beside_name.clone());
    let beside_port = free_port().to_string();
    let beside = docker(&[
        "run",
        "-d",
        "--name",
        &beside_name,
        &image,
        &format!("--web.listen-address=127.0.0.1:{beside_port}"),
        "--collector.disable-defaults",
    ])
    .expect("start the container beside");

    let name = format!("nodex-test-daemonset-{unique}");
    cleanup.docker_containers.push(name.clone());
    let port = free_port();
    // The DaemonSet mounts the host's / at /host/root (HostToContainer). Docker refuses to bind
    // a parent of its own data root unless the host's / is a shared or slave mount, as it is on
    // systemd hosts; this test machine's is private, and a test must not change the host's
    // mounts. So the test binds /usr, a directory of the root file system, at /host/root:
    // statfs through it sees the host's root file system, which is what is compared below.
    let own = docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--pid=host",
        "--net=host",
        "-v",
        "/proc:/host/proc:ro",
        "-v",
        "/sys:/host/sys:ro",
        "-v",
        "/usr:/host/root:ro",
        &image,
        &format!("--web.listen-address=127.0.0.1:{port}"),
        "--path.procfs=/host/proc",
        "--path.sysfs=/host/sys",
        "--path.rootfs=/host/root",
    ])
    .expect("start nodex as a DaemonSet would");

    let url = format!("http://127.0.0.1:{port}/metrics");
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        match get(&url, &[]) {
            Ok(r) if r.status == 200 && r.text().contains("container_cpu_usage_seconds_total") => {
                break r.text()
            }
            _ => {
                let logs = docker(&["logs", &name]).unwrap_or_default();
                assert!(
                    Instant::now() < deadline,
                    "nodex in the container never served container metrics; logs:\n{logs}"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    let families = parse_exposition(&text);

    let mem = families["node_memory_MemTotal_bytes"].samples[0].value;
    assert_eq!(mem, host_mem_total_bytes(), "MemTotal is the host's");
    let root_fs = families["node_filesystem_size_bytes"]
        .samples
        .iter()
        .find(|s| s.labels["mountpoint"] == "/")
        .expect("a filesystem series for the host's /");
    assert_eq!(
        root_fs.value,
        host_root_size_bytes(),
        "size of / is the host's"
    );

    let ids: Vec<&str> = families["container_cpu_usage_seconds_total"]
        .samples
        .iter()
        .map(|s| s.labels["id"].as_str())
        .collect();
    for (what, id) in [
        ("the container beside", &beside),
        ("nodex's own container", &own),
    ] {
        assert!(
            ids.iter().any(|i| i.contains(id.as_str())),
            "{what} ({id}) missing from container ids: {ids:?}"
        );
    }
}
