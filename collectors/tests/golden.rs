//! Golden tests: every collector runs over the fixture tree `tests/fixtures/host` and its
//! exposition (plus its `node_scrape_collector_success` line) must equal
//! `tests/golden/<collector>.prom` byte for byte. Values that depend on the machine running the
//! test (clock, uname, statfs of the fixture directory) are masked as `LIVE` by
//! `nodex_collectors::testing`, as node_exporter's end-to-end test deletes them. `UPDATE_GOLDEN=1 cargo test -p nodex-collectors --test golden`
//! rewrites the files; review the diff before committing it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nodex_collectors::expfmt::{render, Format, MetricSink};
use nodex_collectors::testing::mask_live_values;
use nodex_collectors::{registry, Options, Roots, Settings};
use nodex_test_support::golden;

/// Collectors with no golden yet, each with the reason. Kept empty when all are covered.
const NO_GOLDEN: &[(&str, &str)] = &[
    (
        "ethtool",
        "ioctls on the live network namespace, not files; tests/netlink_live.rs checks exact series",
    ),
    (
        "network_route",
        "rtnetlink dump of the live namespace, not files; tests/netlink_live.rs checks exact series",
    ),
    (
        "perf",
        "perf_event_open counters of the live CPUs; tests/netlink_live.rs checks they grow",
    ),
];

fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::canonicalize(&root).unwrap_or(root)
}

/// The settings every golden run uses: the fixture roots and options that turn on the
/// optional families the fixtures cover.
pub fn golden_settings() -> Arc<Settings> {
    let base = repo_root().join("tests/fixtures/host");
    let mut options = Options::default();
    options.set_list(
        &nodex_collectors::host::textfile::DIRECTORY_FLAG,
        vec![base.join("textfile").to_string_lossy().into_owned()],
    );
    // The network collectors query local fakes: supervisord answers with a fixture reply, the
    // SNTP server with the local clock (the clock-dependent ntp values are masked as LIVE).
    let ntp = nodex_collectors::host::ntp::fake_server();
    options.set(
        &nodex_collectors::host::ntp::SERVER_PORT,
        ntp.port().to_string(),
    );
    let supervisord = nodex_collectors::testing::fake_http_server(
        nodex_collectors::testing::supervisord_reply(&base),
    );
    options.set(
        &nodex_collectors::host::supervisord::URL_FLAG,
        format!("http://{supervisord}/RPC2"),
    );
    // qdisc and wifi read node_exporter-style JSON fixtures instead of netlink.
    options.set(
        &nodex_collectors::host::qdisc::FIXTURES,
        base.join("qdisc").to_string_lossy().into_owned(),
    );
    options.set(
        &nodex_collectors::host::wifi::FIXTURES,
        base.join("wifi").to_string_lossy().into_owned(),
    );
    Arc::new(Settings::new(Roots::fixture(&base), options))
}

fn run_collector(name: &str, settings: &Arc<Settings>) -> String {
    let info = registry::find(name).expect("registered");
    let collector = (info.build)(settings).expect("collector builds with golden settings");
    let mut sink = MetricSink::new();
    let result = collector.collect(&mut sink);
    let mut meta = MetricSink::new();
    meta.gauge(
        "node_scrape_collector_success",
        "node_exporter: Whether a collector succeeded.",
    )
    .sample(
        &[("collector", name)],
        if result.is_ok() { 1.0 } else { 0.0 },
    );
    let mut out = Vec::new();
    render(&[&sink, &meta], Format::Text, &mut out).expect("render to memory");
    let text = String::from_utf8(out).expect("exposition is UTF-8");
    // Paths of the fixture tree (textfile's `file` label) differ per checkout.
    let base = repo_root().join("tests/fixtures/host");
    let mut masked = mask_live_values(&text);
    if let Err(e) = result {
        masked.push_str(&format!("# collector error: {e}\n"));
    }
    masked.replace(&base.to_string_lossy().into_owned(), "FIXTURE")
}

#[test]
fn every_collector_matches_its_golden() {
    let settings = golden_settings();
    let mut failures = Vec::new();
    for info in registry::all() {
        if NO_GOLDEN.iter().any(|(n, _)| *n == info.name) {
            continue;
        }
        let got = run_collector(info.name, &settings);
        let path = repo_root()
            .join("tests/golden")
            .join(format!("{}.prom", info.name));
        failures.extend(golden::compare(&path, &got));
    }
    assert!(
        failures.is_empty(),
        "golden mismatches:\n{}",
        failures.join("\n")
    );
}

#[test]
fn goldens_have_no_orphans() {
    let names: Vec<String> = registry::all()
        .iter()
        .map(|c| format!("{}.prom", c.name))
        .collect();
    for entry in std::fs::read_dir(repo_root().join("tests/golden")).expect("golden dir") {
        let file = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        // full-tree.prom is the whole-binary golden of tests/fixture_tree.rs.
        if file.ends_with(".prom") && file != "full-tree.prom" {
            assert!(
                names.contains(&file),
                "golden {file} has no registered collector"
            );
        }
    }
}
