//! The systemd and logind collectors against a real `dbus-daemon`: the test starts its own bus
//! (a config file and socket in a temporary directory) and fake systemd and logind services
//! (`tests/fixtures/dbus/fake_services.py`, python3-dbus), points nodex at the bus with
//! `DBUS_SYSTEM_BUS_ADDRESS`, and checks the exact series. A second test serves a socket that
//! accepts and never answers: the scrape still answers in time, with both collectors failed.
//! A third runs Debian's node_exporter on the same fake bus and compares the two outputs.
//! Every process is killed and the directory removed by Drop guards.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{get, repo, start_node_exporter_env, start_nodex_env};

const DBUS_DAEMON: &str = "/usr/bin/dbus-daemon";
/// Debian's interpreter, which has python3-dbus and python3-gi (not a pyenv one).
const PYTHON: &str = "/usr/bin/python3";

/// A child process killed and reaped on drop.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns `cmd` with stdout piped and waits (up to 20 s) for its first stdout line.
fn spawn_until_line(mut cmd: Command, what: &str) -> (Guard, String) {
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let stdout = child.stdout.take().expect("stdout piped");
    let guard = Guard(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{what} printed nothing within 20 s"));
    assert!(!line.is_empty(), "{what} exited before it was ready");
    (guard, line.trim().to_string())
}

/// A private bus: `dbus-daemon` listening on a socket in `dir`, allowing everything.
fn start_bus(dir: &Path) -> (Guard, String) {
    assert!(
        Path::new(DBUS_DAEMON).exists(),
        "{DBUS_DAEMON} is missing: apt-get install dbus-daemon (scripts/test-all.sh does)"
    );
    let config = dir.join("bus.conf");
    std::fs::write(
        &config,
        format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"#,
            dir.join("bus").display()
        ),
    )
    .expect("write bus config");
    let mut cmd = Command::new(DBUS_DAEMON);
    cmd.arg(format!("--config-file={}", config.display()))
        .arg("--nofork")
        .arg("--nopidfile")
        .arg("--print-address=1");
    spawn_until_line(cmd, "dbus-daemon")
}

fn start_fake_services(address: &str) -> Guard {
    let script = repo().join("tests/fixtures/dbus/fake_services.py");
    let mut cmd = Command::new(PYTHON);
    cmd.arg(&script).arg(address);
    let (guard, line) = spawn_until_line(
        cmd,
        "fake services (needs python3-dbus and python3-gi; scripts/test-all.sh installs them)",
    );
    assert_eq!(line, "ready");
    guard
}

/// The sample and metadata lines of the response that belong to the systemd and logind
/// families or to their success lines.
fn dbus_lines(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| {
            let name = l
                .trim_start_matches("# HELP ")
                .trim_start_matches("# TYPE ");
            name.starts_with("node_systemd_")
                || name.starts_with("node_logind_")
                || l.starts_with("node_scrape_collector_success{collector=\"systemd\"}")
                || l.starts_with("node_scrape_collector_success{collector=\"logind\"}")
        })
        .map(str::to_string)
        .collect()
}

fn expected_systemd() -> Vec<String> {
    let mut lines: Vec<String> = [
        "# HELP node_systemd_service_restart_total Service unit count of Restart triggers",
        "# TYPE node_systemd_service_restart_total counter",
        "node_systemd_service_restart_total{name=\"cron.service\"} 0",
        "node_systemd_service_restart_total{name=\"ssh.service\"} 2",
        "# HELP node_systemd_socket_accepted_connections_total Total number of accepted socket connections",
        "# TYPE node_systemd_socket_accepted_connections_total counter",
        "node_systemd_socket_accepted_connections_total{name=\"dbus.socket\"} 10",
        "# HELP node_systemd_socket_current_connections Current number of socket connections",
        "# TYPE node_systemd_socket_current_connections gauge",
        "node_systemd_socket_current_connections{name=\"dbus.socket\"} 1",
        "# HELP node_systemd_socket_refused_connections_total Total number of refused socket connections",
        "# TYPE node_systemd_socket_refused_connections_total gauge",
        "node_systemd_socket_refused_connections_total{name=\"dbus.socket\"} 0",
        "# HELP node_systemd_system_running Whether the system is operational (see 'systemctl is-system-running')",
        "# TYPE node_systemd_system_running gauge",
        "node_systemd_system_running 1",
        "# HELP node_systemd_timer_last_trigger_seconds Seconds since epoch of last trigger.",
        "# TYPE node_systemd_timer_last_trigger_seconds gauge",
        "node_systemd_timer_last_trigger_seconds{name=\"logrotate.timer\"} 1.7000001e+09",
        "# HELP node_systemd_unit_start_time_seconds Start time of the unit since unix epoch in seconds.",
        "# TYPE node_systemd_unit_start_time_seconds gauge",
        "node_systemd_unit_start_time_seconds{name=\"cron.service\"} 0",
        "node_systemd_unit_start_time_seconds{name=\"dbus.socket\"} 1.700000002e+09",
        "node_systemd_unit_start_time_seconds{name=\"logrotate.timer\"} 1.700000001e+09",
        "node_systemd_unit_start_time_seconds{name=\"ssh.service\"} 1.7000000005e+09",
        "node_systemd_unit_start_time_seconds{name=\"weird.service\"} 0",
        "# HELP node_systemd_unit_state Systemd unit",
        "# TYPE node_systemd_unit_state gauge",
        "# HELP node_systemd_unit_tasks_current Current number of tasks per Systemd unit",
        "# TYPE node_systemd_unit_tasks_current gauge",
        "node_systemd_unit_tasks_current{name=\"ssh.service\"} 3",
        "# HELP node_systemd_unit_tasks_max Maximum number of tasks per Systemd unit",
        "# TYPE node_systemd_unit_tasks_max gauge",
        "node_systemd_unit_tasks_max{name=\"ssh.service\"} 4915",
        "# HELP node_systemd_units Summary of systemd unit states",
        "# TYPE node_systemd_units gauge",
        "node_systemd_units{state=\"activating\"} 0",
        "node_systemd_units{state=\"active\"} 4",
        "node_systemd_units{state=\"deactivating\"} 0",
        "node_systemd_units{state=\"failed\"} 1",
        "node_systemd_units{state=\"inactive\"} 1",
        "node_systemd_units{state=\"reloading\"} 1",
        "# HELP node_systemd_version Detected systemd version",
        "# TYPE node_systemd_version gauge",
        "node_systemd_version{version=\"252.22-1~deb12u1\"} 252.22",
        "# HELP node_systemd_virtualization_info Detected virtualization technology",
        "# TYPE node_systemd_virtualization_info gauge",
        "node_systemd_virtualization_info{virtualization_type=\"kvm\"} 1",
        "node_scrape_collector_success{collector=\"systemd\"} 1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (name, active, unit_type) in [
        ("ssh.service", "active", "notify"),
        ("cron.service", "failed", "simple"),
        ("weird.service", "reloading", ""),
        ("logrotate.timer", "active", ""),
        ("dbus.socket", "active", ""),
    ] {
        for state in ["active", "activating", "deactivating", "inactive", "failed"] {
            let value = u8::from(state == active);
            lines.push(format!(
                "node_systemd_unit_state{{name=\"{name}\",state=\"{state}\",type=\"{unit_type}\"}} {value}"
            ));
        }
    }
    lines
}

fn expected_logind() -> Vec<String> {
    let mut lines = vec![
        "# HELP node_logind_sessions Number of sessions registered in logind.".to_string(),
        "# TYPE node_logind_sessions gauge".to_string(),
        "node_scrape_collector_success{collector=\"logind\"} 1".to_string(),
    ];
    for seat in ["seat0", ""] {
        for remote in ["true", "false"] {
            for session_type in [
                "other",
                "unspecified",
                "tty",
                "x11",
                "wayland",
                "mir",
                "web",
            ] {
                for class in ["other", "user", "greeter", "lock-screen", "background"] {
                    let count = match (seat, remote, session_type, class) {
                        ("seat0", "false", "x11", "user") => 1,
                        ("", "true", "tty", "user") => 2,
                        ("", "true", "other", "other") => 1,
                        _ => 0,
                    };
                    lines.push(format!(
                        "node_logind_sessions{{class=\"{class}\",remote=\"{remote}\",seat=\"{seat}\",type=\"{session_type}\"}} {count}"
                    ));
                }
            }
        }
    }
    lines
}

#[test]
fn systemd_and_logind_over_a_real_bus() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_bus, address) = start_bus(dir.path());
    assert!(address.starts_with("unix:path="), "bus address {address:?}");
    let _services = start_fake_services(&address);

    let nodex = start_nodex_env(
        &[
            "--collector.disable-defaults",
            "--collector.systemd",
            "--collector.logind",
            "--collector.systemd.enable-task-metrics",
            "--collector.systemd.enable-restarts-metrics",
            "--collector.systemd.enable-start-time-metrics",
        ],
        &[("DBUS_SYSTEM_BUS_ADDRESS", &address)],
    );
    let resp = get(&nodex.url("/metrics"), &[]).expect("scrape");
    assert_eq!(resp.status, 200);
    let text = resp.text();
    let got = dbus_lines(&text);
    let want: BTreeSet<String> = expected_systemd()
        .into_iter()
        .chain(expected_logind())
        .collect();
    let missing: Vec<&String> = want.difference(&got).collect();
    let extra: Vec<&String> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing:\n{missing:#?}\nunexpected:\n{extra:#?}\nlogs:\n{}",
        nodex.logs().join("\n")
    );
    let complaints = common::promtool_check(&text);
    assert!(
        complaints.is_empty(),
        "promtool check metrics: {complaints}"
    );

    // The unit filter: only services, and cron excluded.
    let filtered = start_nodex_env(
        &[
            "--collector.disable-defaults",
            "--collector.systemd",
            "--collector.systemd.unit-include=.+\\.service",
            "--collector.systemd.unit-exclude=cron\\..*",
        ],
        &[("DBUS_SYSTEM_BUS_ADDRESS", &address)],
    );
    let text = get(&filtered.url("/metrics"), &[]).expect("scrape").text();
    let names: BTreeSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("node_systemd_unit_state{"))
        .filter_map(|l| l.split("name=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(names, BTreeSet::from(["ssh.service", "weird.service"]));
    // Summary still counts every unit; the optional families are off by default.
    assert!(
        text.contains("node_systemd_units{state=\"active\"} 4\n"),
        "{text}"
    );
    assert!(!text.contains("node_systemd_unit_tasks_current"), "{text}");
    assert!(
        !text.contains("node_systemd_service_restart_total"),
        "{text}"
    );
    assert!(
        !text.contains("node_systemd_unit_start_time_seconds"),
        "{text}"
    );
}

#[test]
fn hung_bus_fails_the_collectors_in_time() {
    // A "bus" below --path.rootfs that accepts connections and never says a word.
    let dir = tempfile::tempdir().expect("temp dir");
    let socket_dir = dir.path().join("run/dbus");
    std::fs::create_dir_all(&socket_dir).expect("mkdir");
    let listener = UnixListener::bind(socket_dir.join("system_bus_socket")).expect("bind");
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        let mut held = Vec::new();
        // Accept (and hold) until the test is done; the listener is dropped with the thread.
        listener.set_nonblocking(true).expect("nonblocking");
        loop {
            match listener.accept() {
                Ok((conn, _)) => held.push(conn),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if stop_rx.recv_timeout(Duration::from_millis(20)).is_ok() {
                        // Connections still in the backlog count too.
                        while let Ok((conn, _)) = listener.accept() {
                            held.push(conn);
                        }
                        return held.len();
                    }
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    });

    let nodex = start_nodex_env(
        &[
            "--collector.disable-defaults",
            "--collector.systemd",
            "--collector.logind",
            "--collector.loadavg",
            &format!("--path.rootfs={}", dir.path().display()),
            "--collector.systemd.dbus-timeout=1s",
            "--collector.logind.dbus-timeout=1s",
        ],
        // An empty address means "unset", as for godbus.
        &[("DBUS_SYSTEM_BUS_ADDRESS", "")],
    );
    let started = Instant::now();
    let resp = get(&nodex.url("/metrics"), &[]).expect("scrape");
    let elapsed = started.elapsed();
    let _ = stop_tx.send(());
    let accepted = server.join().expect("server thread");
    assert_eq!(resp.status, 200);
    let text = resp.text();
    assert!(
        text.contains("node_scrape_collector_success{collector=\"systemd\"} 0\n"),
        "{text}"
    );
    assert!(
        text.contains("node_scrape_collector_success{collector=\"logind\"} 0\n"),
        "{text}"
    );
    assert!(
        text.contains("node_scrape_collector_success{collector=\"loadavg\"} 1\n"),
        "{text}"
    );
    assert!(!text.contains("node_systemd_"), "{text}");
    assert!(!text.contains("node_logind_"), "{text}");
    assert_eq!(accepted, 2, "both collectors reached the hung bus");
    // 1 s per collector, run in parallel or one after the other: well under the 9 s scrape
    // timeout, so it was the collectors' own deadline that ended them.
    assert!(elapsed < Duration::from_secs(4), "scrape took {elapsed:?}");
    assert!(
        elapsed >= Duration::from_millis(900),
        "scrape took {elapsed:?}: the collectors did not wait for the bus"
    );
    // The log says why (the line may still be on its way through the stderr pipe).
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("D-Bus timeout")) {
        match nodex.stderr.recv_timeout(Duration::from_secs(5)) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("no D-Bus timeout in the log:\n{}", seen.join("\n")),
        }
    }
}

#[test]
fn same_series_as_node_exporter_on_the_same_bus() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_bus, address) = start_bus(dir.path());
    let _services = start_fake_services(&address);
    let args = [
        "--collector.disable-defaults",
        "--collector.systemd",
        "--collector.logind",
        "--collector.systemd.enable-task-metrics",
        "--collector.systemd.enable-restarts-metrics",
        "--collector.systemd.enable-start-time-metrics",
    ];
    let env = [("DBUS_SYSTEM_BUS_ADDRESS", address.as_str())];
    let ne = start_node_exporter_env(&args, &env);
    let nodex = start_nodex_env(&args, &env);
    let theirs = dbus_lines(&get(&ne.url("/metrics"), &[]).expect("scrape").text());
    let ours: BTreeSet<String> =
        dbus_lines(&get(&nodex.url("/metrics"), &[]).expect("scrape").text())
            .into_iter()
            // node_exporter 1.7 added this family; Debian's 1.5 does not have it.
            .filter(|l| !l.contains("node_systemd_virtualization_info"))
            .collect();
    assert!(theirs.len() > 100, "node_exporter wrote {theirs:#?}");
    assert_eq!(ours, theirs);
}
