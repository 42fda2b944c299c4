//! nodex, the real binary, over the fixture tree: the whole exposition with every collector
//! enabled must equal `tests/golden/full-tree.prom` (live values masked), and a damaged copy of
//! the tree must still be served with 200, the damaged collectors failing and the rest succeeding.

mod common;

use std::path::PathBuf;

use common::{get, repo, start_nodex, tree_args};
use nodex_collectors::testing::mask_live_values;
use nodex_test_support::copy_tree;
use nodex_test_support::golden;

fn fixture_base() -> PathBuf {
    repo().join("tests/fixtures/host")
}

#[test]
fn full_tree_matches_golden() {
    let args = tree_args(&fixture_base());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let nodex = start_nodex(&refs);
    let resp = get(&nodex.url("/metrics"), &[]).unwrap();
    assert_eq!(resp.status, 200);
    let complaints = common::promtool_check(&resp.text());
    assert!(
        complaints.is_empty(),
        "promtool check metrics: {complaints}"
    );
    // Paths of the fixture tree differ per checkout; the golden holds them relative.
    let base = fixture_base().display().to_string();
    let got = mask_live_values(&resp.text()).replace(&base, "FIXTURE");
    if let Some(diff) = golden::compare(&repo().join("tests/golden/full-tree.prom"), &got) {
        panic!("full-tree output differs from the golden: {diff}");
    }
}

#[test]
fn damaged_files_fail_only_their_collector() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().join("host");
    copy_tree(&fixture_base(), &base);
    std::fs::write(base.join("proc/loadavg"), b"\xff\xfegarbage").expect("garble loadavg");
    let _ = std::fs::remove_file(base.join("proc/meminfo"));
    std::fs::remove_file(base.join("proc/stat")).expect("remove stat");
    std::fs::create_dir(base.join("proc/stat")).expect("stat becomes unreadable (a directory)");

    let args = tree_args(&base);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let nodex = start_nodex(&refs);
    let resp = get(&nodex.url("/metrics"), &[]).unwrap();
    assert_eq!(resp.status, 200, "a damaged tree is still served");
    let text = resp.text();
    assert!(
        common::promtool_check(&text).is_empty(),
        "output stays valid"
    );
    let families = common::parse_exposition(&text);
    let success = |name: &str| {
        families["node_scrape_collector_success"]
            .samples
            .iter()
            .find(|s| s.labels["collector"] == name)
            .map(|s| s.value)
    };
    assert_eq!(
        success("loadavg"),
        Some(0.0),
        "garbage loadavg fails its collector"
    );
    assert_eq!(
        success("meminfo"),
        Some(0.0),
        "missing meminfo fails its collector"
    );
    assert_eq!(
        success("stat"),
        Some(0.0),
        "truncated stat fails its collector"
    );
    assert_eq!(
        success("filefd"),
        Some(1.0),
        "undamaged collectors still succeed"
    );
    assert!(families.contains_key("node_filefd_allocated"));
    assert!(!families.contains_key("node_load1"));
}
