//! The collectors that read the live kernel rather than files: ethtool (ioctl), qdisc and
//! network_route (rtnetlink) in a network namespace this test creates and always removes, perf
//! (perf_event_open) on this machine's CPUs, and wifi's behaviour without nl80211.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use common::{parse_exposition, start_nodex, start_nodex_in_netns, Family};

/// A network namespace made by this test, deleted on drop (so also when an assertion fails).
struct Netns(String);

impl Netns {
    fn create() -> Netns {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "nodex-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        run(&["ip", "netns", "add", &name]);
        Netns(name)
    }

    /// Runs `ip -n <ns> <args>`.
    fn ip(&self, args: &[&str]) {
        let mut full = vec!["ip", "-n", &self.0];
        full.extend_from_slice(args);
        run(&full);
    }

    /// Runs a command inside the namespace.
    fn exec(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", &self.0];
        full.extend_from_slice(args);
        run(&full)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn run(args: &[&str]) -> String {
    let out =
        nodex_test_support::run_ok(Command::new(args[0]).args(&args[1..]), &format!("{args:?}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `f` on a thread that joined the namespace (setns applies to the calling thread only),
/// so the sockets it opens live there.
fn in_netns<T: Send + 'static>(ns: &Netns, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{}", ns.0);
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        use std::os::fd::AsRawFd;
        // SAFETY: setns on a valid namespace descriptor; it only changes this thread.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("thread in the namespace")
}

/// Scrapes `url` from inside the namespace.
fn scrape_in(ns: &Netns, url: &str) -> BTreeMap<String, Family> {
    let url = url.to_string();
    in_netns(ns, move || {
        let resp = common::get(&url, &[]).unwrap_or_else(|e| panic!("GET {url}: {e}"));
        assert_eq!(resp.status, 200);
        parse_exposition(&resp.text())
    })
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn value(families: &BTreeMap<String, Family>, name: &str, pairs: &[(&str, &str)]) -> Option<f64> {
    families
        .get(name)
        .and_then(|f| f.find(&labels(pairs)))
        .map(|s| s.value)
}

fn success(families: &BTreeMap<String, Family>, collector: &str) -> Option<f64> {
    value(
        families,
        "node_scrape_collector_success",
        &[("collector", collector)],
    )
}

/// A namespace with lo, a veth pair, an address, a static and a multipath route, an htb root
/// with a pfifo child and an ingress qdisc; IPv6 off. Returns it and veth1's ifindex.
fn lab() -> (Netns, String) {
    let ns = Netns::create();
    // No IPv6, so the route set is exactly what this test adds (no link-local routes whose
    // appearance races with the scrape).
    ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
    ns.exec(&["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
    ns.ip(&["link", "set", "lo", "up"]);
    ns.ip(&[
        "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
    ]);
    ns.ip(&["link", "set", "veth0", "up"]);
    ns.ip(&["link", "set", "veth1", "up"]);
    ns.ip(&["addr", "add", "10.231.0.1/24", "dev", "veth0"]);
    ns.ip(&[
        "route",
        "add",
        "10.232.0.0/16",
        "via",
        "10.231.0.2",
        "metric",
        "7",
        "proto",
        "static",
    ]);
    ns.ip(&[
        "route",
        "add",
        "10.233.0.0/16",
        "proto",
        "static",
        "nexthop",
        "via",
        "10.231.0.2",
        "weight",
        "1",
        "nexthop",
        "via",
        "10.231.0.3",
        "weight",
        "3",
    ]);
    // This kernel has no sch_fq_codel; htb and pfifo are built in. The pfifo child and the
    // ingress qdisc are not roots and must not be reported.
    ns.exec(&[
        "tc", "qdisc", "add", "dev", "veth0", "root", "handle", "1:", "htb", "default", "10",
    ]);
    ns.exec(&[
        "tc", "class", "add", "dev", "veth0", "parent", "1:", "classid", "1:10", "htb", "rate",
        "100mbit",
    ]);
    ns.exec(&[
        "tc", "qdisc", "add", "dev", "veth0", "parent", "1:10", "handle", "10:", "pfifo",
    ]);
    ns.exec(&["tc", "qdisc", "add", "dev", "veth0", "ingress"]);
    let veth1_index = ns
        .exec(&["cat", "/sys/class/net/veth1/ifindex"])
        .trim()
        .to_string();

    (ns, veth1_index)
}

#[test]
fn ethtool_qdisc_and_routes_of_an_own_namespace() {
    let (ns, veth1_index) = lab();
    let nodex = start_nodex_in_netns(&ns.0, &NETWORK_COLLECTORS);
    let got = scrape_in(&ns, &nodex.url("/metrics"));
    for c in ["ethtool", "qdisc", "network_route"] {
        assert_eq!(
            success(&got, c),
            Some(1.0),
            "{c} failed: {:?}",
            nodex.logs()
        );
    }

    // ethtool: driver info and veth's own statistics, names as node_exporter builds them.
    assert_eq!(
        value(
            &got,
            "node_ethtool_info",
            &[
                ("bus_info", ""),
                ("device", "veth0"),
                ("driver", "veth"),
                ("expansion_rom_version", ""),
                ("firmware_version", ""),
                ("version", "1.0"),
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&got, "node_ethtool_peer_ifindex", &[("device", "veth0")]),
        veth1_index.parse().ok()
    );
    let stat = &got["node_ethtool_received_queue_0_xdp_packets"];
    assert_eq!(stat.kind.as_deref(), Some("untyped"));
    assert_eq!(
        stat.help.as_deref(),
        Some("Network interface rx_queue_0_xdp_packets")
    );
    assert_eq!(
        value(&got, "node_network_autonegotiate", &[("device", "veth0")]),
        Some(0.0)
    );
    // lo answers no ethtool driver-info command.
    assert!(got["node_ethtool_info"]
        .samples
        .iter()
        .all(|s| s.labels["device"] != "lo"));

    // qdisc: the roots only.
    let kinds: Vec<(String, String)> = got["node_qdisc_packets_total"]
        .samples
        .iter()
        .map(|s| (s.labels["device"].clone(), s.labels["kind"].clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("lo".to_string(), "noqueue".to_string()),
            ("veth0".to_string(), "htb".to_string()),
            ("veth1".to_string(), "noqueue".to_string()),
        ],
        "the pfifo child and the ingress qdisc are not roots"
    );

    // network_route: exact series.
    let route = |dest: &str, gw: &str, priority: &str, proto: &str, src: &str, weight: &str| {
        value(
            &got,
            "node_network_route_info",
            &[
                ("dest", dest),
                ("device", "veth0"),
                ("gw", gw),
                ("priority", priority),
                ("proto", proto),
                ("src", src),
                ("weight", weight),
            ],
        )
    };
    assert_eq!(
        route("10.231.0.0/24", "", "0", "kernel", "10.231.0.1", ""),
        Some(1.0)
    );
    assert_eq!(
        route("10.232.0.0/16", "10.231.0.2", "7", "static", "", ""),
        Some(1.0)
    );
    assert_eq!(
        route("10.233.0.0/16", "10.231.0.2", "0", "static", "", "1"),
        Some(1.0)
    );
    assert_eq!(
        route("10.233.0.0/16", "10.231.0.3", "0", "static", "", "3"),
        Some(1.0)
    );
    assert_eq!(got["node_network_route_info"].samples.len(), 4);
    assert_eq!(
        value(&got, "node_network_routes", &[("device", "veth0")]),
        Some(4.0)
    );
}

const NETWORK_COLLECTORS: [&str; 4] = [
    "--collector.disable-defaults",
    "--collector.ethtool",
    "--collector.qdisc",
    "--collector.network_route",
];

/// A child process killed and reaped on drop.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn network_collectors_match_node_exporter_in_the_same_namespace() {
    let (ns, _) = lab();
    let nodex = start_nodex_in_netns(&ns.0, &NETWORK_COLLECTORS);
    // node_exporter cannot report its port; in a fresh namespace every port is free.
    let _ne = Child(
        Command::new("ip")
            .args(["netns", "exec", &ns.0, common::NODE_EXPORTER])
            .arg("--web.listen-address=127.0.0.1:9100")
            .args(NETWORK_COLLECTORS)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn node_exporter"),
    );
    let ne_url = "http://127.0.0.1:9100/metrics";
    in_netns(&ns, move || {
        common::wait_ready(ne_url, std::time::Duration::from_secs(20))
    });
    let theirs = scrape_in(&ns, ne_url);
    let ours = scrape_in(&ns, &nodex.url("/metrics"));
    let mut compared = 0;
    for (name, family) in theirs.iter().filter(|(n, _)| {
        n.starts_with("node_qdisc_")
            || n.starts_with("node_network_route")
            || n.starts_with("node_ethtool_")
    }) {
        let mine = ours
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from nodex"));
        assert_eq!(mine.help, family.help, "{name} help");
        assert_eq!(mine.kind, family.kind, "{name} type");
        let set = |f: &Family| {
            let mut v: Vec<String> = f
                .samples
                .iter()
                .map(|s| format!("{:?} {}", s.labels, s.value))
                .collect();
            v.sort();
            v
        };
        assert_eq!(set(mine), set(family), "{name} samples");
        compared += 1;
    }
    // qdisc (7), route (2), ethtool info and veth's 10 statistics.
    assert!(compared >= 19, "only {compared} families compared");
}

#[test]
fn perf_software_counters_grow() {
    let nodex = start_nodex(&[
        "--collector.disable-defaults",
        "--collector.perf",
        "--collector.perf.disable-hardware-profilers",
        "--collector.perf.disable-cache-profilers",
    ]);
    let total = |families: &BTreeMap<String, Family>, name: &str| -> f64 {
        families
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing"))
            .samples
            .iter()
            .map(|s| s.value)
            .sum()
    };
    let first = common::scrape(&nodex.url("/metrics"));
    assert_eq!(success(&first, "perf"), Some(1.0), "{:?}", nodex.logs());
    let cpus = first["node_perf_context_switches_total"].samples.len();
    assert!(cpus >= 1);
    for family in [
        "node_perf_page_faults_total",
        "node_perf_context_switches_total",
        "node_perf_cpu_migrations_total",
        "node_perf_minor_faults_total",
        "node_perf_major_faults_total",
    ] {
        assert_eq!(first[family].kind.as_deref(), Some("counter"), "{family}");
        assert_eq!(
            first[family].samples.len(),
            cpus,
            "{family}: one series per CPU"
        );
    }
    // Work that faults pages in and switches context: a few short-lived processes.
    for _ in 0..5 {
        Command::new("true").status().expect("run true");
    }
    let second = common::scrape(&nodex.url("/metrics"));
    for family in [
        "node_perf_context_switches_total",
        "node_perf_page_faults_total",
    ] {
        assert!(
            total(&second, family) > total(&first, family),
            "{family} did not grow"
        );
    }
    assert!(!second.contains_key("node_perf_cpucycles_total"));
}

#[test]
fn perf_tracepoints_count_with_a_private_tracefs() {
    // This VM does not mount tracefs; mount it in a private mount namespace for nodex only
    // (unshare makes mounts private, so the host's /sys/kernel/tracing is untouched).
    let mut cmd = Command::new("unshare");
    cmd.args([
        "-m",
        "sh",
        "-c",
        r#"mount -t tracefs nodev /sys/kernel/tracing && exec "$@""#,
        "sh",
        env!("CARGO_BIN_EXE_nodex"),
    ]);
    let nodex = common::start_nodex_via(
        cmd,
        &[
            "--collector.disable-defaults",
            "--collector.perf",
            "--collector.perf.disable-hardware-profilers",
            "--collector.perf.disable-software-profilers",
            "--collector.perf.disable-cache-profilers",
            "--collector.perf.tracepoint=sched:sched_switch",
        ],
    );
    let total = |families: &BTreeMap<String, Family>| -> f64 {
        families["node_perf_sched_sched_switch"]
            .samples
            .iter()
            .map(|s| s.value)
            .sum()
    };
    let first = common::scrape(&nodex.url("/metrics"));
    assert_eq!(success(&first, "perf"), Some(1.0), "{:?}", nodex.logs());
    let family = &first["node_perf_sched_sched_switch"];
    assert_eq!(family.kind.as_deref(), Some("counter"));
    assert_eq!(
        family.help.as_deref(),
        Some("Perf tracepoint sched:sched_switch")
    );
    for _ in 0..5 {
        Command::new("true").status().expect("run true");
    }
    let second = common::scrape(&nodex.url("/metrics"));
    assert!(total(&second) > total(&first), "sched_switch did not grow");
    assert!(!second.contains_key("node_perf_context_switches_total"));
}

#[test]
fn perf_hardware_events_as_node_exporter() {
    // Every profiler group on; whatever the kernel refuses (all hardware and cache events on a
    // VM without a PMU) is left out without failing, as node_exporter does on the same host.
    let args = [
        "--collector.disable-defaults",
        "--collector.perf",
        "--collector.perf.cpus=0",
    ];
    let nodex = start_nodex(&args);
    let ours = common::scrape(&nodex.url("/metrics"));
    assert_eq!(success(&ours, "perf"), Some(1.0), "{:?}", nodex.logs());
    let ne = common::start_node_exporter(&args);
    let theirs = common::scrape(&ne.url("/metrics"));
    assert_eq!(success(&theirs, "perf"), Some(1.0));
    let perf_families = |f: &BTreeMap<String, Family>| -> Vec<(String, Option<String>, usize)> {
        f.iter()
            .filter(|(n, _)| n.starts_with("node_perf_"))
            .map(|(n, fam)| (n.clone(), fam.help.clone(), fam.samples.len()))
            .collect()
    };
    // 1.5 lacks the stalled-cycles and data-TLB families that 1.12 added.
    let added_in_1_12 = |n: &str| n.contains("stalled_cycles") || n.contains("cache_tlb_data");
    let ours_comparable: Vec<_> = perf_families(&ours)
        .into_iter()
        .filter(|(n, _, _)| !added_in_1_12(n))
        .collect();
    assert_eq!(ours_comparable, perf_families(&theirs));
    let has_pmu = std::path::Path::new("/sys/bus/event_source/devices/cpu").exists()
        || std::path::Path::new("/sys/bus/event_source/devices/cpu_core").exists();
    assert_eq!(ours.contains_key("node_perf_cpucycles_total"), has_pmu);
    assert!(ours.contains_key("node_perf_context_switches_total"));
}

#[test]
fn wifi_without_nl80211_reports_no_data() {
    // cfg80211 registers the nl80211 family and /sys/class/ieee80211 together.
    let has_cfg80211 = std::path::Path::new("/sys/class/ieee80211").exists();
    let nodex = start_nodex(&["--collector.disable-defaults", "--collector.wifi"]);
    let got = common::scrape(&nodex.url("/metrics"));
    if has_cfg80211 {
        assert_eq!(success(&got, "wifi"), Some(1.0));
    } else {
        assert_eq!(success(&got, "wifi"), Some(0.0));
        assert!(!got.keys().any(|k| k.starts_with("node_wifi_")));
    }
}
