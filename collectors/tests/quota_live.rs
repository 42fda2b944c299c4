//! Project quotas on a real file system: an ext4 image (`mkfs.ext4 -O quota,project`) mounted
//! on a loop device with `prjquota` below a temporary directory, with a kubelet pod layout on
//! it whose `cache` emptyDir has a project id of its own with the inherit flag (`chattr -p
//! <id> +P`, as the kubelet's fsquota code assigns one, kubernetes
//! pkg/volume/util/fsquota/project.go) and a `scratch` emptyDir without one. A file outside
//! the volume is given the same project id, so the project's usage is the volume's plus that
//! file: nodex's `emptydir` value must equal the quota's (`repquota -P`, from Debian's `quota`
//! package) for `cache` plus a walk of `scratch`, and differ from a walk of both by exactly the
//! outside file. Needs root, loop devices, e2fsprogs and a kernel with ext4 quota support
//! (`CONFIG_QUOTA`, `CONFIG_QFMT_V2`); skipped with the reason otherwise, failed under CI. The
//! guard unmounts and removes everything even on failure. On a kernel without
//! `CONFIG_QFMT_V2` (the development VM's), `tests/vm_quota.rs` runs the same check in a
//! qemu VM with Debian's kernel.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use nodex_collectors::container::{flags, storage};
use nodex_collectors::registry::scrape_text;
use nodex_collectors::{Options, Roots, Settings};
use nodex_test_support::pods::{emptydir_value, PodLayout};
use nodex_test_support::{is_root, run, skip_unless_ci, value};

/// Whether the running kernel was built with `option` (`=y` or `=m`), from `/proc/config.gz`;
/// `None` when the kernel does not publish its configuration.
fn kernel_option(option: &str) -> Option<bool> {
    let out = Command::new("zcat").arg("/proc/config.gz").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let config = String::from_utf8_lossy(&out.stdout);
    Some(config.lines().any(|l| {
        l.strip_prefix(option)
            .is_some_and(|v| v == "=y" || v == "=m")
    }))
}

fn du(path: &Path, inodes: bool) -> u64 {
    let mode = if inodes { "--inodes" } else { "-B1" };
    let out = run("du", &["-s", "-x", mode, &path.to_string_lossy()]).expect("du");
    out.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("du output {out:?}"))
}

/// Unmounts (lazily, so a busy mount cannot keep the image) and removes the directory.
struct Cleanup {
    base: PathBuf,
    mounted: Option<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(mnt) = &self.mounted {
            let _ = run("umount", &["-l", &mnt.to_string_lossy()]);
        }
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// `repquota -P -n -p` line `#<id> -- <KiB used> <soft> <hard> <grace?> <files used> ...`:
/// (KiB, files). repquota prints space rounded up to KiB (quota-tools `space2str`).
fn repquota(mnt: &Path, id: u32) -> Option<(u64, u64)> {
    let out = run("repquota", &["-P", "-n", "-p", &mnt.to_string_lossy()]).ok()?;
    let line = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some(&format!("#{id}")))?;
    let f: Vec<&str> = line.split_whitespace().collect();
    // #id, flags, used, soft, hard, grace (-p prints it numerically), files, ...
    Some((f.get(2)?.parse().ok()?, f.get(6)?.parse().ok()?))
}

#[test]
fn emptydir_usage_comes_from_its_project_quota() {
    if !is_root() {
        skip_unless_ci("needs root (loop mount)");
        return;
    }
    if !Path::new("/dev/loop-control").exists() {
        skip_unless_ci("no loop devices (/dev/loop-control)");
        return;
    }
    // ext4's hidden quota files are in the v2 format: a kernel built without it cannot mount
    // them, and no package installs a kernel option, so that alone skips, also in CI (checked
    // first: the tools below are of no use without it).
    if kernel_option("CONFIG_QFMT_V2") == Some(false) {
        eprintln!("skipped: this kernel is built without CONFIG_QFMT_V2 (/proc/config.gz)");
        return;
    }
    for tool in ["mkfs.ext4", "chattr", "repquota"] {
        if run("sh", &["-c", &format!("command -v {tool}")]).is_err() {
            skip_unless_ci(&format!("{tool} not found (e2fsprogs, quota)"));
            return;
        }
    }
    let base = std::env::temp_dir().join(format!("nodex-quota-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).expect("base");
    let mut cleanup = Cleanup {
        base: base.clone(),
        mounted: None,
    };
    let img = base.join("fs.img");
    let mnt = base.join("mnt");
    std::fs::create_dir_all(&mnt).expect("mnt");
    run("truncate", &["-s", "64M", &img.to_string_lossy()]).expect("truncate");
    run(
        "mkfs.ext4",
        &[
            "-q",
            "-F",
            "-O",
            "quota,project",
            "-E",
            "quotatype=prjquota",
            &img.to_string_lossy(),
        ],
    )
    .expect("mkfs.ext4");
    if let Err(e) = run(
        "mount",
        &[
            "-o",
            "loop,prjquota",
            &img.to_string_lossy(),
            &mnt.to_string_lossy(),
        ],
    ) {
        skip_unless_ci(&format!(
            "cannot mount ext4 with project quota ({e}); the kernel needs CONFIG_QUOTA and \
             CONFIG_QFMT_V2"
        ));
        return;
    }
    cleanup.mounted = Some(mnt.clone());

    let layout = PodLayout::make(&mnt);
    let (cache, scratch, outside) = (&layout.cache, &layout.scratch, &layout.outside);
    let projid = 4242u32;
    run(
        "chattr",
        &["-p", &projid.to_string(), "+P", &cache.to_string_lossy()],
    )
    .expect("chattr -p +P");
    // Written after the project was set: inherited by every new entry below cache.
    layout.fill();
    // Same project, outside the volume: the quota counts it, a walk of the volume does not.
    run(
        "chattr",
        &["-p", &projid.to_string(), &outside.to_string_lossy()],
    )
    .expect("chattr file");
    run("sync", &[]).expect("sync");

    let (quota_kib, quota_files) = repquota(&mnt, projid).expect("repquota -P lists the project");
    let walk_bytes = du(cache, false);
    let walk_inodes = du(cache, true);
    // The quota is the walk plus the outside file (independent of nodex: du and repquota).
    assert_eq!(quota_files, walk_inodes + 1);
    assert_eq!(quota_kib * 1024, walk_bytes + du(outside, false));

    let mut options = Options::default();
    options.set(&flags::CGROUP_INCLUDE, "^/nodex-matches-nothing$");
    options.set(
        &flags::POD_LOG_DIR,
        layout.logs.to_string_lossy().into_owned(),
    );
    options.set(
        &storage::KUBELET_ROOT,
        layout.kubelet.to_string_lossy().into_owned(),
    );
    options.set(&storage::DISK_BUDGET, "30s");
    let settings = Arc::new(Settings::new(Roots::default(), options));
    let text = scrape_text(&settings, &["container_disk"]).expect("scrape");
    let bytes = emptydir_value(&text, "pod_ephemeral_storage_used_bytes").expect("emptydir bytes");
    let inodes =
        emptydir_value(&text, "pod_ephemeral_storage_inodes_used").expect("emptydir inodes");
    assert_eq!(
        bytes,
        (quota_kib * 1024 + du(scratch, false)) as f64,
        "{text}"
    );
    assert_eq!(inodes, (quota_files + du(scratch, true)) as f64);
    assert_eq!(
        value(&text, "nodex_container_disk_quota_trees", &[]),
        Some(1.0),
        "cache from its quota, scratch walked"
    );
}
