//! Live Docker test (needs root, a running Docker daemon and `/bin/busybox` from Debian's
//! busybox-static; skipped otherwise): builds a `FROM scratch` image holding busybox, runs a
//! busy loop in it with `--memory`, and checks the container collectors name it from Docker's
//! state on disk, see its CPU and network counters grow, report the memory limit, and forget
//! it after `docker rm -f`. A drop guard removes the container, the image and the build context
//! even on failure. Traffic goes only to the Docker bridge gateway (an address of this machine).

use std::sync::Arc;
use std::time::Duration;

use nodex_collectors::registry::scrape_text;
use nodex_collectors::{Options, Roots, Settings};
use nodex_test_support::containers::{docker_ready, parse_size};
use nodex_test_support::{docker, eventually, line, skip_unless_ci, value, BusyboxImage, Cleanup};

const MEMORY: u64 = 96 * 1024 * 1024;

fn scrape(settings: &Arc<Settings>, names: &[&str]) -> String {
    scrape_text(settings, names).expect("container collectors scrape")
}

#[test]
fn docker_container_is_named_measured_and_forgotten() {
    if !docker_ready() {
        skip_unless_ci("needs root, /bin/busybox and a Docker daemon");
        return;
    }
    let image = BusyboxImage::build(
        "nodex-test-busy",
        &[
            "/bin/busybox",
            "sh",
            "-c",
            "x=$(/bin/busybox head -c 16000000 /dev/zero | /bin/busybox tr '\\0' a); while :; do :; done",
        ],
        &[],
    );
    let name = format!("nodex-test-{}", nodex_test_support::unique_tag());
    let mut cleanup = Cleanup::default();
    cleanup.docker_containers.push(name.clone());
    let memory = MEMORY.to_string();
    let id = docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--memory",
        &memory,
        "--ulimit",
        "nofile=1234:4096",
        &image.name,
    ])
    .expect("docker run");
    let gateway = docker(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}",
        &name,
    ])
    .expect("gateway");

    let cgroup = format!("/docker/{id}");
    let mut options = Options::default();
    options.set(
        &nodex_collectors::container::flags::CGROUP_INCLUDE,
        format!("^/docker/{id}$"),
    );
    let settings = Arc::new(Settings::new(Roots::default(), options));
    let groups = [
        "container_cpu",
        "container_spec",
        "container_network",
        "container_memory",
        "container_process",
    ];
    let id_label = format!("id=\"{cgroup}\"");
    let eth0 = [id_label.as_str(), "interface=\"eth0\""];

    // The container holds ~16 MB in a shell variable once started; wait for that.
    let first = eventually(Duration::from_secs(20), "a 16 MB working set", || {
        let text = scrape(&settings, &groups);
        let ws = value(&text, "container_memory_working_set_bytes", &[&id_label])?;
        (ws > 16e6).then_some(text)
    });
    let cpu_line = line(&first, "container_cpu_usage_seconds_total", &[&id_label])
        .unwrap_or_else(|| panic!("no cpu series for {cgroup}:\n{first}"));
    assert!(
        cpu_line.contains(&format!("name=\"{}\"", name)),
        "{cpu_line}"
    );
    assert!(
        cpu_line.contains(&format!("image=\"{}\"", image.name)),
        "{cpu_line}"
    );
    assert_eq!(
        value(&first, "container_spec_memory_limit_bytes", &[&id_label]),
        Some(MEMORY as f64)
    );
    // The soft `nofile` of `--ulimit`, read from the init process as cAdvisor does.
    assert_eq!(
        value(
            &first,
            "container_ulimits_soft",
            &[&id_label, "ulimit=\"max_open_files\""]
        ),
        Some(1234.0)
    );
    let cpu0 = value(&first, "container_cpu_usage_seconds_total", &[&id_label]).expect("cpu");
    let stats = docker(&["stats", "--no-stream", "--format", "{{.MemUsage}}", &name])
        .expect("docker stats");
    let docker_usage =
        parse_size(stats.split('/').next().unwrap_or("")).expect("docker stats memory usage");
    let working_set = value(
        &scrape(&settings, &groups),
        "container_memory_working_set_bytes",
        &[&id_label],
    )
    .expect("working set");
    let ratio = working_set / docker_usage;
    eprintln!(
        "working set {working_set} B, docker stats {docker_usage} B ({stats}), ratio {ratio:.3}"
    );
    assert!(
        (0.95..=1.05).contains(&ratio),
        "working set {working_set} vs docker stats {docker_usage} ({stats}): ratio {ratio:.3}"
    );
    let rx0 = value(&first, "container_network_receive_bytes_total", &eth0)
        .unwrap_or_else(|| panic!("no eth0 series:\n{first}"));
    assert!(
        !first.contains("interface=\"lo\""),
        "loopback must be skipped"
    );

    docker(&[
        "exec",
        &name,
        "/bin/busybox",
        "ping",
        "-c",
        "3",
        "-i",
        "0.2",
        &gateway,
    ])
    .expect("ping the bridge gateway");
    // Counters only grow; poll until both have moved (or fail at the deadline).
    eventually(
        Duration::from_secs(20),
        "CPU and eth0 counters grow",
        || {
            let text = scrape(&settings, &groups);
            let cpu1 = value(&text, "container_cpu_usage_seconds_total", &[&id_label])?;
            let rx1 = value(&text, "container_network_receive_bytes_total", &eth0)?;
            (cpu1 > cpu0 && rx1 > rx0).then_some(())
        },
    );

    docker(&["rm", "-f", &name]).expect("docker rm");
    // `docker rm -f` returns once the container and its cgroup are gone: the very next scrape
    // must not show it.
    let after = scrape(&settings, &groups);
    assert!(!after.contains(&id), "series remain after rm:\n{after}");
}
