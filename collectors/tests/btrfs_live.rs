//! Live test of the btrfs collector's ioctl statistics (needs root, loop devices and
//! `mkfs.btrfs`; skipped otherwise): makes a btrfs filesystem in a file, loop-mounts it in a
//! unique temporary directory, and checks that the collector reports the device's size,
//! unused bytes and the five error counters with the `btrfs_dev_uuid` label. A drop guard
//! unmounts the filesystem (which frees its loop device) and removes the directory even on
//! failure; nothing else is touched.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use nodex_collectors::registry::scrape_text;
use nodex_collectors::{Options, Roots, Settings};
use nodex_test_support::{have, is_root, run_ok};

/// Unmounts the test's filesystem when dropped (before its temporary directory goes).
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A roots tree whose procfs is this process's own view (so the test's mount is listed as
/// pid 1's), and whose sysfs and rootfs are the real ones.
fn live_roots(base: &Path) -> Roots {
    let proc_dir = base.join("proc");
    std::fs::create_dir_all(&proc_dir).expect("mkdir proc");
    std::os::unix::fs::symlink("/proc/self", proc_dir.join("1")).expect("link proc/1");
    std::os::unix::fs::symlink("/proc/self", proc_dir.join("self")).expect("link proc/self");
    std::os::unix::fs::symlink("/sys", base.join("sys")).expect("link sys");
    std::os::unix::fs::symlink("/", base.join("root")).expect("link root");
    Roots::fixture(base)
}

#[test]
fn reports_device_errors_of_a_loop_mounted_btrfs() {
    if !is_root() || !have("mkfs.btrfs") || !Path::new("/dev/loop-control").exists() {
        eprintln!("skipped: needs root, /dev/loop-control and mkfs.btrfs (btrfs-progs)");
        return;
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let temp = tempfile::Builder::new()
        .prefix("nodex-btrfs-")
        .tempdir()
        .expect("tempdir");
    let dir = temp.path();
    // A fresh UUID from the clock and pid, so that no other filesystem has it.
    let fs_uuid = format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        std::process::id(),
        (nanos >> 48) & 0xffff,
        (nanos >> 36) & 0xfff,
        (nanos >> 24) & 0xfff,
        nanos & 0xffff_ffff_ffff
    );
    let image = dir.join("image");
    let mnt = dir.join("mnt");
    std::fs::create_dir(&mnt).expect("mkdir mnt");
    let file = std::fs::File::create(&image).expect("create image");
    file.set_len(128 << 20).expect("size image");
    drop(file);
    run_ok(
        Command::new("mkfs.btrfs")
            .args(["-q", "-L", "nodex-live", "-U", &fs_uuid])
            .arg(&image),
        "mkfs.btrfs",
    );
    let mount = Command::new("mount")
        .args(["-o", "loop"])
        .arg(&image)
        .arg(&mnt)
        .output()
        .expect("run mount");
    if !mount.status.success() {
        eprintln!(
            "skipped: cannot loop-mount here: {}",
            String::from_utf8_lossy(&mount.stderr)
        );
        return;
    }
    let _unmount = Unmount(mnt.clone());

    let settings = Arc::new(Settings::new(
        live_roots(&dir.join("roots")),
        Options::default(),
    ));
    let text = scrape_text(&settings, &["btrfs"]).expect("btrfs collector succeeds");
    let ours: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(&format!("uuid=\"{fs_uuid}\"")))
        .collect();
    assert!(
        ours.iter()
            .any(|l| l.starts_with("node_btrfs_info{label=\"nodex-live\"")),
        "our filesystem is reported:\n{text}"
    );
    let size = ours
        .iter()
        .find(|l| l.starts_with("node_btrfs_device_size_bytes{btrfs_dev_uuid=\""))
        .unwrap_or_else(|| panic!("device size from the ioctl, with btrfs_dev_uuid:\n{text}"));
    assert!(size.contains(",device=\"loop"), "{size}");
    assert!(size.ends_with(" 1.34217728e+08"), "128 MiB device: {size}");
    let unused = ours
        .iter()
        .find(|l| l.starts_with("node_btrfs_device_unused_bytes{"))
        .expect("unused bytes");
    let unused: f64 = unused
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("unused value");
    assert!(unused > 0.0 && unused < 134_217_728.0, "{unused}");
    for kind in ["write", "read", "flush", "corruption", "generation"] {
        assert!(
            ours.iter()
                .any(|l| l.starts_with("node_btrfs_device_errors_total{")
                    && l.contains(&format!("type=\"{kind}\""))
                    && l.ends_with(" 0")),
            "{kind} errors of a fresh filesystem are 0:\n{text}"
        );
    }
}
