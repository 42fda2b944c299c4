//! The HTTP contract: routes, status codes, content negotiation, gzip, `collect[]`/`exclude[]`.

mod common;

use common::{get, request, start_nodex};

#[test]
fn serves_text_format_with_help_and_type_for_every_family() {
    let nodex = start_nodex(&[]);
    let resp = get(&nodex.url("/metrics"), &[]).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = resp.text();
    let families = common::parse_exposition(&text);
    for (name, family) in &families {
        assert!(family.help.is_some(), "{name} has no HELP");
        assert!(family.kind.is_some(), "{name} has no TYPE");
        let mut seen = std::collections::BTreeSet::new();
        for s in &family.samples {
            assert!(
                seen.insert((s.name.clone(), s.labels.clone())),
                "duplicate series {s:?}"
            );
        }
    }
    assert!(families.contains_key("node_scrape_collector_success"));
    assert!(families.contains_key("node_exporter_build_info"));
    assert!(families.contains_key("process_resident_memory_bytes"));
    let complaints = common::promtool_check(&text);
    assert!(
        complaints.is_empty(),
        "promtool check metrics: {complaints}"
    );
}

#[test]
fn openmetrics_and_gzip_on_request() {
    let nodex = start_nodex(&[]);
    let om = get(
        &nodex.url("/metrics"),
        &[(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )],
    )
    .unwrap();
    assert_eq!(om.status, 200);
    assert_eq!(
        om.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(
        om.text().ends_with("# EOF\n"),
        "OpenMetrics must end with # EOF"
    );
    assert!(om
        .text()
        .contains("# TYPE promhttp_metric_handler_requests counter\n"));

    let gz = get(&nodex.url("/metrics"), &[("Accept-Encoding", "gzip")]).unwrap();
    assert_eq!(gz.status, 200);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert!(gz
        .text()
        .contains("# TYPE node_scrape_collector_success gauge"));
}

#[test]
fn routes_and_methods() {
    let nodex = start_nodex(&[]);
    let landing = get(&nodex.url("/"), &[]).unwrap();
    assert_eq!(landing.status, 200);
    assert!(landing.text().contains("href=\"/metrics\""));
    assert_eq!(get(&nodex.url("/nope"), &[]).unwrap().status, 404);
    let post = request("POST", &nodex.url("/metrics"), &[("Content-Length", "0")]).unwrap();
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
}

#[test]
fn custom_telemetry_path() {
    let nodex = start_nodex(&["--web.telemetry-path=/x/metrics"]);
    assert_eq!(get(&nodex.url("/x/metrics"), &[]).unwrap().status, 200);
    assert_eq!(get(&nodex.url("/metrics"), &[]).unwrap().status, 404);
}

#[test]
fn collect_and_exclude_follow_node_exporter() {
    let nodex = start_nodex(&[]);
    let only = get(&nodex.url("/metrics?collect[]=loadavg"), &[]).unwrap();
    assert_eq!(only.status, 200);
    let fams = common::parse_exposition(&only.text());
    let collectors: Vec<String> = fams["node_scrape_collector_success"]
        .samples
        .iter()
        .map(|s| s.labels["collector"].clone())
        .collect();
    assert_eq!(collectors, vec!["loadavg"]);
    assert!(
        fams.contains_key("node_exporter_build_info"),
        "filtered responses keep exporter metrics"
    );

    let excluded = get(&nodex.url("/metrics?exclude[]=loadavg"), &[]).unwrap();
    assert_eq!(excluded.status, 200);
    assert!(!excluded.text().contains("collector=\"loadavg\""));

    let both = get(
        &nodex.url("/metrics?collect[]=loadavg&exclude[]=loadavg"),
        &[],
    )
    .unwrap();
    assert_eq!(both.status, 400);
    assert!(both
        .text()
        .contains("Combined collect and exclude queries are not allowed."));

    let missing = get(&nodex.url("/metrics?collect[]=nosuch"), &[]).unwrap();
    assert_eq!(missing.status, 400);
    assert!(
        missing.text().contains("missing collector: nosuch"),
        "{}",
        missing.text()
    );

    let off = start_nodex(&["--no-collector.loadavg"]);
    let disabled = get(&off.url("/metrics?collect[]=loadavg"), &[]).unwrap();
    assert_eq!(disabled.status, 400);
    assert!(
        disabled.text().contains("disabled collector: loadavg"),
        "{}",
        disabled.text()
    );
}

#[test]
fn bad_flags_stop_startup_with_status_2() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_nodex"))
            .args(args)
            .output()
            .expect("run nodex")
    };
    let unknown = run(&["--collector.nosuch"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("--collector.nosuch"));
    let bad_timeout = run(&["--scrape.timeout=soon"]);
    assert_eq!(bad_timeout.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_timeout.stderr).contains("--scrape.timeout"));
    let version = run(&["--version"]);
    assert_eq!(version.status.code(), Some(0));
}

/// A procfs root whose `loadavg` is a FIFO: a scrape of the loadavg collector holds there until
/// the test feeds it. Returns the directory guard, the FIFO and the `--path.procfs` flag.
fn fifo_loadavg_procfs() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let proc_dir = dir.path().join("proc");
    std::fs::create_dir(&proc_dir).expect("mkdir proc");
    let fifo = proc_dir.join("loadavg");
    common::mkfifo(&fifo);
    let procfs = format!("--path.procfs={}", proc_dir.display());
    (dir, fifo, procfs)
}

/// Waits until a scrape has the FIFO open for reading, then returns its writer.
fn writer_once_read(fifo: &std::path::Path) -> std::fs::File {
    nodex_test_support::eventually(
        std::time::Duration::from_secs(20),
        "a scrape opens the FIFO",
        || common::open_fifo_writer_if_read(fifo),
    )
}

#[test]
fn past_max_requests_answers_503() {
    let (_dir, fifo, procfs) = fifo_loadavg_procfs();
    let nodex = start_nodex(&[
        &procfs,
        "--collector.disable-defaults",
        "--collector.loadavg",
        "--web.max-requests=1",
        "--scrape.timeout=60s",
    ]);
    let url = nodex.url("/metrics");
    let held_url = url.clone();
    let held = std::thread::spawn(move || get(&held_url, &[]).expect("first scrape"));

    // The first scrape holds the only permit once its loadavg read has the FIFO open.
    let writer = writer_once_read(&fifo);
    let refused = get(&url, &[]).expect("second scrape");
    assert_eq!(refused.status, 503);
    assert_eq!(
        refused.text().trim(),
        "Limit of concurrent requests reached (1), try again later."
    );

    use std::io::Write;
    let mut writer = writer;
    writer
        .write_all(b"0.25 0.5 1 1/100 42\n")
        .expect("feed the FIFO");
    drop(writer);
    let first = held.join().expect("first scrape thread");
    assert_eq!(first.status, 200);
    assert!(
        first.text().contains("node_load1 0.25\n"),
        "{}",
        first.text()
    );
}

#[test]
fn concurrent_identical_scrapes_share_one_collection() {
    let (_dir, fifo, procfs) = fifo_loadavg_procfs();
    // A second scrape that collected on its own would open the FIFO again after the only
    // writer has gone, wait there until its 5 s deadline, and answer without node_load1.
    let nodex = start_nodex(&[
        &procfs,
        "--collector.disable-defaults",
        "--collector.loadavg",
        "--collector.time",
        "--scrape.timeout=5s",
    ]);
    let url = nodex.url("/metrics?collect[]=loadavg");
    let scrape = |url: String| std::thread::spawn(move || get(&url, &[]).expect("scrape"));
    let first = scrape(url.clone());
    let writer = writer_once_read(&fifo);
    let second = scrape(url);
    // Both scrapes are in flight (plus the observer's own request).
    let observer = nodex.url("/metrics?collect[]=time");
    nodex_test_support::eventually(
        std::time::Duration::from_secs(20),
        "the second scrape is in flight",
        || {
            let text = get(&observer, &[]).ok()?.text();
            text.contains("promhttp_metric_handler_requests_in_flight 3\n")
                .then_some(())
        },
    );
    use std::io::Write;
    let mut writer = writer;
    writer
        .write_all(b"0.25 0.5 1 1/100 42\n")
        .expect("feed the FIFO");
    drop(writer);
    for (which, handle) in [("first", first), ("second", second)] {
        let response = handle.join().expect("scrape thread");
        assert_eq!(response.status, 200, "{which}");
        assert!(
            response.text().contains("node_load1 0.25\n")
                && response
                    .text()
                    .contains("node_scrape_collector_success{collector=\"loadavg\"} 1\n"),
            "{which} scrape did not get the shared collection:\n{}",
            response.text()
        );
    }
}
