//! The filesystem collector keeps the parsed mount table until procfs says it changed: a mount
//! and an unmount made after nodex started show in the next scrape.
//!
//! nodex runs in a private mount namespace of its own (`unshare -m`), with a procfs root whose
//! `1` is a link to `/proc/self`, so the table it watches is that namespace's; the test mounts
//! a small tmpfs there with `nsenter`. Nothing is mounted on the host.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{scrape, start_nodex_via};
use nodex_test_support::{eventually, is_root, run_ok, skip_unless_ci};

fn in_namespace_of(pid: u32, args: &[&str]) {
    let pid = pid.to_string();
    run_ok(
        Command::new("nsenter")
            .args(["-t", &pid, "-m", "--"])
            .args(args),
        &format!("{args:?} in nodex's mount namespace"),
    );
}

fn size_of(url: &str, mountpoint: &Path) -> Option<f64> {
    let families = scrape(url);
    let sizes = families.get("node_filesystem_size_bytes")?;
    let mountpoint = mountpoint.to_str()?;
    sizes
        .samples
        .iter()
        .find(|s| s.labels.get("mountpoint").map(String::as_str) == Some(mountpoint))
        .map(|s| s.value)
}

#[test]
fn mounts_and_unmounts_show_in_the_next_scrape() {
    if !is_root() {
        return skip_unless_ci("mount namespaces need root");
    }
    let temp = tempfile::Builder::new()
        .prefix("nodex-mount-changes-")
        .tempdir()
        .unwrap();
    let dir = temp.path();
    std::fs::create_dir_all(dir.join("proc")).unwrap();
    std::os::unix::fs::symlink("/proc/self", dir.join("proc/1")).unwrap();
    let mountpoint = dir.join("mnt");
    std::fs::create_dir_all(&mountpoint).unwrap();

    let mut unshare = Command::new("unshare");
    unshare.args([
        "-m",
        "--propagation",
        "private",
        env!("CARGO_BIN_EXE_nodex"),
    ]);
    let procfs = format!("--path.procfs={}", dir.join("proc").display());
    let nodex = start_nodex_via(
        unshare,
        &[
            "--collector.disable-defaults",
            "--collector.filesystem",
            &procfs,
        ],
    );
    let pid = nodex.child.id();
    let url = nodex.url("/metrics");
    assert_eq!(
        size_of(&url, &mountpoint),
        None,
        "mounted before the test mounted it"
    );
    // Read twice: the second scrape is served from the kept table.
    assert_eq!(size_of(&url, &mountpoint), None);

    let mp = mountpoint.to_str().unwrap();
    in_namespace_of(
        pid,
        &["mount", "-t", "tmpfs", "-o", "size=1m", "nodex-test", mp],
    );
    // The scrape right after the mount must see it: no polling interval to wait out.
    assert_eq!(size_of(&url, &mountpoint), Some(1048576.0));
    assert_eq!(size_of(&url, &mountpoint), Some(1048576.0));

    in_namespace_of(pid, &["umount", mp]);
    assert_eq!(
        size_of(&url, &mountpoint),
        None,
        "still reported after umount"
    );

    drop(nodex);
    // The namespace died with nodex, and the tmpfs with it; the host never saw it.
    eventually(Duration::from_secs(5), "test directory removed", || {
        std::fs::remove_dir_all(dir).ok()
    });
}
