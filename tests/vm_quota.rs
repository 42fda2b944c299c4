//! nodex's emptyDir usage from a real ext4 project quota. This host's kernel has no quota
//! format (`CONFIG_QFMT_V2` unset, so `collectors/tests/quota_live.rs` skips), so the test
//! boots Debian's kernel (`CONFIG_QUOTA=y`, `quota_v2` as a module) under qemu
//! (`tests/common/vm.rs`) with `tests/vm/quota.sh` as `/init`.
//!
//! The ext4 image is built here without mounting anything: `mkfs.ext4 -O quota,project -E
//! quotatype=prjquota -d <tree>` from a kubelet pod layout, then `debugfs -w` gives the `cache`
//! emptyDir a project id with the inherit flag (`EXT4_PROJINHERIT_FL`, as the kubelet's fsquota
//! code does with `chattr -p <id> +P`, kubernetes pkg/volume/util/fsquota/project.go) and every
//! entry below it the same id, and `e2fsck -f -y` recomputes the quota files, whose project
//! usage `debugfs`' `list_quota project` prints. A file outside the volume, `outside`, is in the
//! same project: the quota is the volume's usage plus that file, so a walk of the volume gives
//! another value. In the VM a further file written into `cache` takes the project from the
//! inherit flag and is charged by the kernel. nodex's `emptydir` value must be the quota
//! (e2fsck's, plus the kernel-written file) plus a walk of `scratch`, which heads no project.
//!
//! Needs what `tests/vm_cgroup_v2.rs` needs and e2fsprogs (`mkfs.ext4`, `debugfs`, `e2fsck`);
//! without them it fails in CI (`CI` set) and skips elsewhere. `NODEX_VM_TIMEOUT` (seconds)
//! overrides the 600 s boot limit; `NODEX_VM_CONSOLE=<file>` keeps the console output.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::vm::{self, Initramfs, Prerequisites};
use nodex_test_support::pods::{emptydir_value, volumes, PodLayout};
use nodex_test_support::{run, skip_unless_ci, value};

const PROJID: u32 = 4242;
/// The size of the file the VM writes into `cache`.
const LATE_BYTES: u64 = 20_000;
/// `EXT4_PROJINHERIT_FL` of `i_flags` (fs/ext4/ext4.h).
const EXT4_PROJINHERIT_FL: u32 = 0x2000_0000;

/// Bytes and inodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Usage {
    bytes: u64,
    inodes: u64,
}

impl std::ops::Add for Usage {
    type Output = Usage;
    fn add(self, o: Usage) -> Usage {
        Usage {
            bytes: self.bytes + o.bytes,
            inodes: self.inodes + o.inodes,
        }
    }
}

/// A walk section of the VM: one line `<st_blocks> <block unit>` per entry.
fn walked(sections: &BTreeMap<String, String>, name: &str) -> Usage {
    let text = sections
        .get(name)
        .unwrap_or_else(|| panic!("no section {name:?}"));
    let mut u = Usage {
        bytes: 0,
        inodes: 0,
    };
    for line in text.lines() {
        let f: Vec<u64> = line
            .split_whitespace()
            .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}: {line:?}")))
            .collect();
        let [blocks, unit] = f[..] else {
            panic!("{name}: {line:?}");
        };
        u.bytes += blocks * unit;
        u.inodes += 1;
    }
    u
}

/// The usage of project `id` from `debugfs -R "list_quota project"`: a header, then
/// `<id> <space bytes> <quota> <limit> [grace] <inodes> <quota> <limit> [grace]` per id
/// (e2fsprogs debugfs/quota.c `list_quota_callback`; no grace column without limits).
fn parse_list_quota(text: &str, id: u32) -> Option<Usage> {
    let f: Vec<&str> = text
        .lines()
        .map(str::split_whitespace)
        .map(Iterator::collect::<Vec<_>>)
        .find(|f| f.first() == Some(&id.to_string().as_str()))?;
    Some(Usage {
        bytes: f.get(1)?.parse().ok()?,
        inodes: f.get(4)?.parse().ok()?,
    })
}

/// The `Flags:` of `debugfs -R "stat <path>"`.
fn inode_flags(img: &str, path: &str) -> u32 {
    let out = run("debugfs", &["-R", &format!("stat {path}"), img]).expect("debugfs stat");
    out.split_whitespace()
        .skip_while(|w| *w != "Flags:")
        .nth(1)
        .and_then(|v| u32::from_str_radix(v.trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(|| panic!("debugfs stat {path}: {out}"))
}

/// Builds the image at `img` from a tree under `dir` and returns e2fsck's usage of
/// [`PROJID`].
fn build_image(dir: &Path, img: &Path) -> Usage {
    let root = dir.join("root");
    let layout = PodLayout::make(&root);
    layout.fill();

    let img_s = img.to_string_lossy().into_owned();
    run("truncate", &["-s", "8M", &img_s]).expect("truncate");
    run(
        "mkfs.ext4",
        &[
            "-q",
            "-F",
            "-O",
            "quota,project",
            "-E",
            "quotatype=prjquota",
            "-d",
            &root.to_string_lossy(),
            &img_s,
        ],
    )
    .expect("mkfs.ext4");
    let cache_in = format!("/{}/cache", volumes());
    let mut cmds = format!(
        "set_inode_field {cache_in} flags {:#x}\n",
        inode_flags(&img_s, &cache_in) | EXT4_PROJINHERIT_FL
    );
    let mut project = vec!["/outside".to_string()];
    let mut stack = vec![layout.cache.clone()];
    while let Some(d) = stack.pop() {
        let rel = d.strip_prefix(&root).expect("below root");
        project.push(format!("/{}", rel.display()));
        if d.is_dir() {
            for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
                stack.push(e.expect("entry").path());
            }
        }
    }
    for p in &project {
        cmds.push_str(&format!("set_inode_field {p} projid {PROJID}\n"));
    }
    let cmd_file = dir.join("debugfs.cmds");
    std::fs::write(&cmd_file, cmds).expect("write debugfs commands");
    // debugfs exits 0 when a command fails; it reports on stderr after its version banner.
    let out = Command::new("debugfs")
        .args(["-w", "-f", &cmd_file.to_string_lossy(), &img_s])
        .output()
        .expect("debugfs -w");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("debugfs "))
        .collect();
    assert!(
        out.status.success() && errors.is_empty(),
        "debugfs -w: {stderr}"
    );
    // e2fsck exits 1 when it corrected something (the quota usage, here).
    let fsck = Command::new("e2fsck")
        .args(["-f", "-y", &img_s])
        .output()
        .expect("e2fsck");
    assert!(
        matches!(fsck.status.code(), Some(0 | 1)),
        "e2fsck: {}",
        String::from_utf8_lossy(&fsck.stdout)
    );
    let flags = inode_flags(&img_s, &cache_in);
    assert_ne!(flags & EXT4_PROJINHERIT_FL, 0, "cache flags {flags:#x}");
    let listed = run("debugfs", &["-R", "list_quota project", &img_s]).expect("list_quota");
    parse_list_quota(&listed, PROJID)
        .unwrap_or_else(|| panic!("project {PROJID} not in list_quota:\n{listed}"))
}

#[test]
fn emptydir_usage_comes_from_its_project_quota_in_a_vm() {
    let p = match Prerequisites::find() {
        Ok(p) => p,
        Err(why) => {
            skip_unless_ci(&format!("quota VM: {why}"));
            return;
        }
    };
    for tool in ["mkfs.ext4", "debugfs", "e2fsck"] {
        if run("sh", &["-c", &format!("command -v {tool}")]).is_err() {
            skip_unless_ci(&format!("{tool} not found (Debian package e2fsprogs)"));
            return;
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let img = dir.path().join("fs.img");
    let quota = build_image(dir.path(), &img);

    let script = include_str!("vm/quota.sh");
    let mut cpio = Initramfs::base(&p, script).unwrap_or_else(|e| panic!("initramfs: {e}"));
    let env = format!("VOLUMES={}\nLATE_BYTES={LATE_BYTES}\n", volumes());
    cpio.file("etc/vm.env", 0o644, env.as_bytes());
    cpio.file("fs.img", 0o644, &std::fs::read(&img).expect("read image"));
    let initrd = dir.path().join("initrd.cpio");
    std::fs::write(&initrd, cpio.finish()).expect("write initrd");
    let console = vm::boot(&p, &initrd, 512, vm::timeout(Duration::from_secs(600)))
        .unwrap_or_else(|e| panic!("{e}"));
    if let Some(path) = std::env::var_os("NODEX_VM_CONSOLE") {
        std::fs::write(&path, &console).expect("write NODEX_VM_CONSOLE");
    }
    let sections = vm::sections(&console);
    if let Some(err) = sections.get("error") {
        panic!("the VM script failed: {err}\nconsole:\n{console}");
    }

    let cache = walked(&sections, "walk cache");
    let scratch = walked(&sections, "walk scratch");
    let outside = walked(&sections, "walk outside");
    let late = walked(&sections, "walk late");
    // Independent of nodex: e2fsck's quota is what busybox finds below cache plus outside.
    assert_eq!(quota, cache + outside, "e2fsck's quota against the walks");
    assert_eq!(late.inodes, 1);
    assert!(late.bytes >= LATE_BYTES, "{late:?}");

    let text = sections.get("scrape").expect("scrape section");
    let served = Usage {
        bytes: emptydir_value(text, "pod_ephemeral_storage_used_bytes").expect("emptydir bytes")
            as u64,
        inodes: emptydir_value(text, "pod_ephemeral_storage_inodes_used").expect("emptydir inodes")
            as u64,
    };
    // The quota (e2fsck's plus the file the kernel charged to the project) for cache, a walk
    // for scratch; a walk of cache would lack outside.
    assert_eq!(served, quota + late + scratch, "scrape:\n{text}");
    assert_ne!(served, cache + late + scratch, "served a walk");
    assert_eq!(
        value(text, "nodex_container_disk_quota_trees", &[]),
        Some(1.0),
        "cache from its quota, scratch walked:\n{text}"
    );
}

#[test]
fn list_quota_lines_parse() {
    let text = "project id      space    quota    limit      inodes    quota    limit\n\
                \x20        0      93184        0        0          20        0        0\n\
                \x20     4242     377856        0        0          29        0        0\n";
    assert_eq!(
        parse_list_quota(text, 4242),
        Some(Usage {
            bytes: 377_856,
            inodes: 29
        })
    );
    assert_eq!(parse_list_quota(text, 7), None);
}
