//! `nodex top` against real Docker containers (needs root, a Docker daemon, `/bin/busybox` from
//! busybox-static and tmux; skipped outside CI otherwise). Two containers from a `FROM scratch`
//! busybox image, with CPU and memory limits: one spins and holds ~16 MB, one sleeps. Checks
//! `--once --output json` field by field against the limits set and `docker stats --no-stream`,
//! that `--url` against a running nodex gives the same rows, and drives the live view in a real
//! terminal (tmux `send-keys` / `capture-pane`): CPU order, limits, the sort and filter keys,
//! and that `q` exits 0 with the terminal restored. A container writing to its json-file log
//! checks the log write rate against the file's growth. A drop guard removes the containers, the
//! image, the build context and the tmux session even on failure.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nodex_test_support::containers::{docker_ready, parse_size};
use nodex_test_support::{poll, run, skip_unless_ci, unique_tag, BusyboxImage, Cleanup};
use serde_json::Value;

const MIB: f64 = 1024.0 * 1024.0;

/// A tmux session, killed when dropped.
struct Tmux(String);

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .stderr(Stdio::null())
            .status();
    }
}

/// Two running containers; fields drop in order: the session, the containers, then the image.
struct Setup {
    tmux: Tmux,
    _cleanup: Cleanup,
    _image: BusyboxImage,
    tag: String,
    busy: String,
    idle: String,
    ids: Vec<String>,
}

fn setup() -> Option<Setup> {
    if !docker_ready() || run("tmux", &["-V"]).is_err() {
        skip_unless_ci("needs root, /bin/busybox, tmux and a Docker daemon");
        return None;
    }
    let tag = format!("nodextop{}", unique_tag().replace('-', "x"));
    // Names chosen so that sorting by name puts the idle one first, by CPU the busy one.
    let busy = format!("{tag}-z-busy");
    let idle = format!("{tag}-a-idle");
    let image = BusyboxImage::build("nodex-test-top", &["/bin/busybox", "sleep", "3600"], &[]);
    let mut cleanup = Cleanup::default();
    cleanup.docker_containers = vec![busy.clone(), idle.clone()];
    let busy_id = run(
        "docker",
        &[
            "run", "-d", "--name", &busy, "--cpus", "0.5", "--memory", "64m", &image.name,
            "/bin/busybox", "sh", "-c",
            "x=$(/bin/busybox head -c 16000000 /dev/zero | /bin/busybox tr '\\0' a); while :; do :; done",
        ],
    )
    .expect("docker run busy");
    let idle_id = run(
        "docker",
        &[
            "run",
            "-d",
            "--name",
            &idle,
            "--cpus",
            "1.5",
            "--memory",
            "32m",
            &image.name,
        ],
    )
    .expect("docker run idle");
    Some(Setup {
        tmux: Tmux(tag.clone()),
        _cleanup: cleanup,
        _image: image,
        tag,
        busy,
        idle,
        ids: vec![busy_id, idle_id],
    })
}

fn nodex() -> &'static str {
    env!("CARGO_BIN_EXE_nodex")
}

fn once_json(interval: &str, extra: &[&str]) -> Value {
    let mut args = vec!["top", "--once", "--output", "json", "--interval", interval];
    args.extend_from_slice(extra);
    let out = run(nodex(), &args).expect("nodex top --once");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"))
}

fn rows(doc: &Value) -> &Vec<Value> {
    doc["rows"].as_array().expect("rows array")
}

fn num(row: &Value, key: &str) -> f64 {
    row[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {row}"))
}

#[test]
fn nodex_top_against_docker_containers() {
    let Some(s) = setup() else {
        return;
    };
    // The busy one's 16 MB string is in place before anything is compared.
    poll(Duration::from_secs(30), || {
        let doc = once_json("200ms", &["--filter", &s.busy]);
        let ws = rows(&doc)
            .first()
            .map_or(0.0, |r| num(r, "memory_working_set_bytes"));
        (ws > 16.0 * MIB).then_some(()).ok_or(format!("{doc}"))
    });

    // --once --output json, next to docker stats over the same moment.
    let stats = std::thread::spawn({
        let names = [s.busy.clone(), s.idle.clone()];
        move || {
            run(
                "docker",
                &[
                    "stats",
                    "--no-stream",
                    "--format",
                    "{{.Name}} {{.CPUPerc}} {{.MemUsage}}",
                    &names[0],
                    &names[1],
                ],
            )
        }
    });
    let doc = once_json("2s", &["--filter", &s.tag]);
    let stats = stats.join().expect("stats thread").expect("docker stats");
    let rows = rows(&doc);
    assert_eq!(rows.len(), 2, "{doc:#}");
    assert_eq!(
        rows[0]["container"],
        s.busy.as_str(),
        "busy first by CPU: {doc:#}"
    );
    assert_eq!(rows[1]["container"], s.idle.as_str());
    for (row, cpu_limit, mem_limit) in [
        (&rows[0], 500.0, 64.0 * MIB),
        (&rows[1], 1500.0, 32.0 * MIB),
    ] {
        assert_eq!(num(row, "cpu_limit_millis"), cpu_limit, "{row}");
        assert_eq!(num(row, "memory_limit_bytes"), mem_limit, "{row}");
        assert!(
            row["cpu_request_millis"].is_null(),
            "no request outside Kubernetes: {row}"
        );
        let line = stats
            .lines()
            .find(|l| l.starts_with(row["container"].as_str().unwrap_or("?")))
            .unwrap_or_else(|| panic!("no stats line for {row} in {stats}"));
        let f: Vec<&str> = line.split_whitespace().collect();
        let docker_cpu = f[1].trim_end_matches('%').parse::<f64>().expect("CPU%") / 100.0;
        let docker_mem = parse_size(f[2]).expect("mem usage");
        let cpu = num(row, "cpu_cores");
        let mem = num(row, "memory_working_set_bytes");
        // docker stats reads twice ~1 s apart, top 2 s apart, on a shared machine: the CPU
        // rates of the same cgroup agree to within a fifth of a core; the working sets (same
        // definition: usage minus inactive file) to within 2 MiB.
        assert!((cpu - docker_cpu).abs() < 0.2, "{line}: top {cpu} cores");
        assert!(
            (mem - docker_mem).abs() < 2.0 * MIB,
            "{line}: top {mem} bytes"
        );
        assert!(
            (num(row, "cpu_limit_percent") - cpu * 1e5 / cpu_limit).abs() < 1e-6,
            "{row}"
        );
        assert!(num(row, "pids") >= 1.0, "{row}");
        assert_eq!(num(row, "oom_kills"), 0.0, "{row}");
    }
    // Eight test runs may share two cores: the spinning one gets less than its 0.5 then.
    assert!(
        num(&rows[0], "cpu_cores") > 0.05,
        "the busy one spins: {doc:#}"
    );
    assert!(
        num(&rows[1], "cpu_cores") < 0.02,
        "the idle one sleeps: {doc:#}"
    );
    // The spinning one runs in CFS periods (a quota of 50 ms per 100 ms period).
    let throttled = num(&rows[0], "throttled_percent");
    assert!((0.0..=100.0).contains(&throttled), "{doc:#}");
    for row in rows {
        assert!(
            row["restarts"].is_null(),
            "no kubelet logs for Docker: {row}"
        );
        for key in ["network_rx_bytes_per_second", "network_tx_bytes_per_second"] {
            assert!(num(row, key) >= 0.0, "{key}: {row}");
        }
    }
    let node = &doc["node"];
    assert!(
        num(node, "cpu_count") >= 1.0 && num(node, "memory_bytes") > 0.0,
        "{node}"
    );

    // --url against a running nodex: the same rows (names and limits; rates are re-measured).
    let include = format!(
        "--collector.container.cgroup-include=^/docker/({}|{})$",
        s.ids[0], s.ids[1]
    );
    let server = common::start_nodex(&[
        "--collector.disable-defaults",
        "--collector.container_cpu",
        "--collector.container_memory",
        "--collector.container_spec",
        "--collector.container_process",
        "--collector.container_oom",
        "--collector.container_network",
        "--collector.container_diskio",
        "--collector.container_logs",
        "--collector.machine",
        &include,
    ]);
    let url = server.url("/metrics");
    let remote = once_json("2s", &["--url", &url, "--sort-by", "container"]);
    let local = once_json("2s", &["--filter", &s.tag, "--sort-by", "container"]);
    let key = |d: &Value| -> Vec<(String, f64, f64)> {
        self::rows(d)
            .iter()
            .map(|r| {
                (
                    r["container"].as_str().unwrap_or_default().to_string(),
                    num(r, "cpu_limit_millis"),
                    num(r, "memory_limit_bytes"),
                )
            })
            .collect()
    };
    assert_eq!(
        key(&remote),
        key(&local),
        "remote {remote:#}\nlocal {local:#}"
    );
    assert_eq!(key(&local)[0].0, s.idle, "--sort-by container");
    // Neither writes to its (empty) json-file log: the family is read both ways, at rate 0.
    for r in self::rows(&remote).iter().chain(self::rows(&local)) {
        assert_eq!(num(r, "log_write_bytes_per_second"), 0.0, "{r}");
    }
    drop(server);

    live_view(&s);
}

/// The status in the shell's `EXIT=<n>` line (after a `# ` prompt when the keys were typed
/// before the shell had printed its first prompt), not the typed `EXIT=$?`.
fn exit_line(line: &str) -> Option<&str> {
    line.trim_start_matches('#')
        .trim()
        .strip_prefix("EXIT=")
        .filter(|s| s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty())
}

fn capture(session: &str) -> String {
    run("tmux", &["capture-pane", "-p", "-t", session]).unwrap_or_default()
}

/// The container names of the table's rows, in screen order.
fn screen_rows(screen: &str, tag: &str) -> Vec<String> {
    screen
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .find(|w| w.strip_prefix(tag).is_some_and(|r| r.starts_with('-')))
        })
        .map(str::to_string)
        .collect()
}

fn wait_rows(session: &str, tag: &str, want: &[&str]) -> String {
    poll(Duration::from_secs(20), || {
        let screen = capture(session);
        (screen_rows(&screen, tag) == want)
            .then(|| screen.clone())
            .ok_or_else(|| format!("want {want:?}, screen:\n{screen}"))
    })
}

/// Types `q` and waits for the shell's `EXIT=<n>` line, which must say 0; returns the screen.
fn quit_with_status_0(session: &str) -> String {
    keys(session, &["q"]);
    let screen = poll(Duration::from_secs(10), || {
        let screen = capture(session);
        // The typed command holds "EXIT=$?" too: wait for the line the shell prints.
        screen
            .lines()
            .any(|l| exit_line(l).is_some())
            .then(|| screen.clone())
            .ok_or(screen)
    });
    assert!(
        screen.lines().any(|l| exit_line(l) == Some("0")),
        "exit status:\n{screen}"
    );
    screen
}

fn keys(session: &str, keys: &[&str]) {
    let mut args = vec!["send-keys", "-t", session];
    args.extend_from_slice(keys);
    run("tmux", &args).expect("send-keys");
}

fn live_view(s: &Setup) {
    let session = s.tmux.0.as_str();
    run(
        "tmux",
        &[
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "230",
            "-y",
            "30",
            "sh",
        ],
    )
    .expect("tmux session");
    let command = format!(
        "{} top --interval 1s --filter {}; echo EXIT=$?",
        nodex(),
        s.tag
    );
    keys(session, &[&command, "Enter"]);
    let (busy, idle) = (s.busy.as_str(), s.idle.as_str());
    let screen = wait_rows(session, &s.tag, &[busy, idle]);
    assert!(screen.contains("NODE  CPU"), "node line:\n{screen}");
    let busy_line = screen
        .lines()
        .find(|l| l.contains(busy))
        .unwrap_or_default();
    let idle_line = screen
        .lines()
        .find(|l| l.contains(idle))
        .unwrap_or_default();
    for (line, cpu, mem) in [
        (busy_line, "500m", "64.0Mi"),
        (idle_line, "1500m", "32.0Mi"),
    ] {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert!(
            cells.contains(&cpu) && cells.contains(&mem),
            "limits {cpu} {mem} in {line:?}"
        );
    }
    // n: by name (idle first); r: reversed; m: by memory (busy holds 16 MB).
    keys(session, &["n"]);
    wait_rows(session, &s.tag, &[idle, busy]);
    keys(session, &["r"]);
    wait_rows(session, &s.tag, &[busy, idle]);
    keys(session, &["n", "m"]);
    wait_rows(session, &s.tag, &[busy, idle]);
    // < from memory moves to throttled, > back; the header marks the column.
    keys(session, &["<"]);
    poll(Duration::from_secs(10), || {
        let screen = capture(session);
        screen.contains("THROTv").then_some(()).ok_or(screen)
    });
    keys(session, &[">", "/", "idle", "Enter"]);
    wait_rows(session, &s.tag, &[idle]);
    keys(session, &["Escape"]);
    wait_rows(session, &s.tag, &[busy, idle]);
    let screen = quit_with_status_0(session);
    assert!(
        !screen.contains("NAMESPACE"),
        "the alternate screen is gone:\n{screen}"
    );
    let alt = run("tmux", &["display", "-p", "-t", session, "#{alternate_on}"]).expect("display");
    assert_eq!(alt, "0", "alternate screen left on");
    keys(
        session,
        &[
            "stty -a | tr ' ' '\\n' | grep -x -e -icanon -e icanon -e -echo -e echo",
            "Enter",
        ],
    );
    let screen = poll(Duration::from_secs(10), || {
        let screen = capture(session);
        screen
            .lines()
            .any(|l| l.trim() == "icanon" || l.trim() == "-icanon")
            .then(|| screen.clone())
            .ok_or(screen)
    });
    let modes: Vec<&str> = screen
        .lines()
        .map(str::trim)
        .filter(|l| l.ends_with("icanon") || l.ends_with("echo"))
        .collect();
    assert!(
        modes.contains(&"icanon") && modes.contains(&"echo"),
        "raw mode left on: {modes:?}\n{screen}"
    );
}

/// The live view over the kubelet-style fixture tree (systemd driver, containerd and CRI-O
/// pods): namespaces, pods and containers named, `g` groups by pod, `/ns/` filters by namespace.
#[test]
fn live_view_over_kubelet_fixture() {
    if run("tmux", &["-V"]).is_err() {
        skip_unless_ci("needs tmux");
        return;
    }
    let session = format!("nodextopfx{}", unique_tag().replace('-', "x"));
    let _tmux = Tmux(session.clone());
    let base = common::repo().join("tests/fixtures/cgroup-v2");
    run(
        "tmux",
        &[
            "new-session",
            "-d",
            "-s",
            &session,
            "-x",
            "200",
            "-y",
            "20",
            "sh",
        ],
    )
    .expect("tmux session");
    let command = format!(
        "{} top --interval 1s --sort-by namespace --path.procfs={} --path.sysfs={} --path.rootfs={}; echo EXIT=$?",
        nodex(),
        base.join("proc").display(),
        base.join("sys").display(),
        base.join("root").display()
    );
    keys(&session, &[&command, "Enter"]);
    // (namespace, pod, container) of each table row, in screen order.
    let table = |screen: &str| -> Vec<(String, String, String)> {
        screen
            .lines()
            .skip_while(|l| !l.starts_with("NAMESPACE"))
            .skip(1)
            .map(|l| {
                l.split_whitespace()
                    .take(3)
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .filter(|c| c.len() == 3 && !c[0].starts_with("q"))
            .map(|c| (c[0].clone(), c[1].clone(), c[2].clone()))
            .collect()
    };
    let wait_table = |want: &[(&str, &str, &str)]| {
        poll(Duration::from_secs(20), || {
            let screen = capture(&session);
            let got = table(&screen);
            let want: Vec<(String, String, String)> = want
                .iter()
                .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
                .collect();
            (got == want).then_some(()).ok_or(screen)
        })
    };
    wait_table(&[("data", "db-0", "postgres"), ("shop", "web-0", "app")]);
    keys(&session, &["g"]);
    wait_table(&[("data", "db-0", "-"), ("shop", "web-0", "-")]);
    keys(&session, &["/", "shop/", "Enter"]);
    wait_table(&[("shop", "web-0", "-")]);
    quit_with_status_0(&session);
}

/// The log write rate of a container writing to Docker's json-file log (moby
/// `daemon/logger/jsonfilelog`), against the growth of that file around the `--once` call: the
/// bytes between top's two reads are at most the growth over the whole call, and at a steady
/// write rate not much less.
#[test]
fn log_write_rate_of_a_docker_container() {
    if !docker_ready() {
        skip_unless_ci("needs root, /bin/busybox and a Docker daemon");
        return;
    }
    let name = format!("nodextoplog{}", unique_tag().replace('-', "x"));
    let image = BusyboxImage::build("nodex-test-top", &[], &[]);
    let mut cleanup = Cleanup::default();
    cleanup.docker_containers.push(name.clone());
    run(
        "docker",
        &[
            "run", "-d", "--log-driver", "json-file", "--name", &name, &image.name,
            "/bin/busybox", "sh", "-c",
            "while :; do echo 0123456789012345678901234567890123456789; /bin/busybox usleep 20000; done",
        ],
    )
    .expect("docker run");
    let log = run("docker", &["inspect", "-f", "{{.LogPath}}", &name]).expect("inspect");
    let size = || std::fs::metadata(&log).map_or(0, |m| m.len()) as f64;
    poll(Duration::from_secs(30), || {
        (size() > 0.0).then_some(()).ok_or(format!("{log} empty"))
    });
    let before = size();
    let started = Instant::now();
    let doc = once_json("2s", &["--filter", &name]);
    let elapsed = started.elapsed().as_secs_f64();
    let grown = size() - before;
    let row = rows(&doc)
        .first()
        .unwrap_or_else(|| panic!("no row: {doc:#}"));
    let rate = num(row, "log_write_bytes_per_second");
    eprintln!("log rate {rate:.0} B/s; the file grew {grown} B in {elapsed:.2} s");
    // Top's reads are at least the 2 s interval apart and inside the call.
    assert!(rate * 2.0 <= grown, "{rate} B/s over 2 s > {grown} B grown");
    assert!(
        rate > 0.3 * grown / elapsed,
        "{rate} B/s, the file grew {grown} B in {elapsed} s"
    );
    drop(cleanup);
}
