//! nodex, the real binary, over the fixture tree: the whole exposition with every collector
//! enabled must equal `tests/golden/full-tree.prom` (live values masked), and a damaged copy of
//! the tree must still be served with 200, the damaged collectors failing and the rest succeeding.

mod common;

use std::path::{Path, PathBuf};

use common::{get, repo, start_nodex};
use nodex_collectors::registry;
use nodex_collectors::testing::mask_live_values;

fn tree_args(base: &Path) -> Vec<String> {
    let mut args = vec![
        format!("--path.procfs={}", base.join("proc").display()),
        format!("--path.sysfs={}", base.join("sys").display()),
        format!("--path.rootfs={}", base.join("root").display()),
        format!("--path.udev.data={}", base.join("udev").display()),
        format!(
            "--collector.textfile.directory={}",
            base.join("textfile").display()
        ),
        // qdisc and wifi read node_exporter-style JSON fixtures instead of netlink.
        format!(
            "--collector.qdisc.fixtures={}",
            base.join("qdisc").display()
        ),
        format!("--collector.wifi.fixtures={}", base.join("wifi").display()),
    ];
    // The network collectors query local fakes (see nodex_collectors::testing).
    let ntp = nodex_collectors::testing::fake_ntp_server();
    args.push(format!("--collector.ntp.server-port={}", ntp.port()));
    let supervisord = nodex_collectors::testing::fake_http_server(
        nodex_collectors::testing::supervisord_reply(base),
    );
    args.push(format!(
        "--collector.supervisord.url=http://{supervisord}/RPC2"
    ));
    args.extend(
        registry::all()
            .iter()
            .filter(|c| !LIVE_ONLY.contains(&c.name))
            .map(|c| format!("--collector.{}", c.name)),
    );
    args
}

/// Collectors that read the live kernel (ioctl, netlink, perf_event) rather than files, so
/// their output cannot come from the fixture tree: tests/netlink_live.rs covers them.
const LIVE_ONLY: &[&str] = &["ethtool", "network_route", "perf"];

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
    let golden = repo().join("tests/golden/full-tree.prom");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &got).expect("write golden");
        return;
    }
    let want = std::fs::read_to_string(&golden).expect("tests/golden/full-tree.prom");
    if want != got {
        let diff: Vec<String> = want
            .lines()
            .filter(|l| !got.lines().any(|g| g == *l))
            .map(|l| format!("- {l}"))
            .chain(
                got.lines()
                    .filter(|l| !want.lines().any(|w| w == *l))
                    .map(|l| format!("+ {l}")),
            )
            .take(60)
            .collect();
        panic!(
            "full-tree output differs from the golden (UPDATE_GOLDEN=1 to rewrite):\n{}",
            diff.join("\n")
        );
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("entry");
        let kind = entry.file_type().expect("file type");
        let dest = to.join(entry.file_name());
        if kind.is_symlink() {
            let target = std::fs::read_link(entry.path()).expect("readlink");
            std::os::unix::fs::symlink(target, &dest).expect("symlink");
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy");
        }
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
