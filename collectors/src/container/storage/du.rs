//! A resumable, bounded `du`: cAdvisor's `GetDirUsage` (fs/fs.go: `st_blocks * 512` bytes and one
//! inode per entry, hard links counted once, no descent into other devices) done with
//! `openat(O_NOFOLLOW)` and `fstatat(AT_SYMLINK_NOFOLLOW)` relative to directory fds, so a walk
//! never follows a link, never leaves the file system of its root, and never reads outside it.
//!
//! A walk keeps its pending directories (paths relative to the root) between calls to
//! [`Walk::step`], so the work of measuring a large tree is spread over several scrapes. Each
//! pending directory is reopened component by component with `O_NOFOLLOW | O_DIRECTORY` and its
//! device checked, so a directory swapped for a symlink or a mount point between two steps is
//! skipped rather than followed.

use std::collections::HashSet;
use std::ffi::{CStr, OsStr, OsString};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

/// Bytes and inodes of a tree, as cAdvisor's `UsageInfo`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// `st_blocks * 512` summed over the entries (hard links once).
    pub bytes: u64,
    /// Entries counted (the root directory included, hard links once).
    pub inodes: u64,
}

/// What a call to [`Walk::step`] ended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The tree is fully measured.
    Done,
    /// The deadline passed; call again to continue.
    Paused,
    /// The cap on entries was reached: the usage is a lower bound.
    Capped,
    /// The root could not be opened (missing, a symlink, not a directory).
    Failed,
}

/// One measurement in progress.
pub struct Walk {
    root: PathBuf,
    dev: Option<u64>,
    pending: Vec<PathBuf>,
    seen_links: HashSet<u64>,
    usage: Usage,
    visited: u64,
    started: bool,
}

fn open_dir_nofollow(dir: &OwnedFd, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

impl Walk {
    /// A walk of the tree at `root` (an absolute path named by a runtime).
    pub fn new(root: PathBuf) -> Self {
        Walk {
            root,
            dev: None,
            pending: Vec::new(),
            seen_links: HashSet::new(),
            usage: Usage::default(),
            visited: 0,
            started: false,
        }
    }

    /// The tree measured.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The usage counted so far.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// Entries visited so far.
    pub fn visited(&self) -> u64 {
        self.visited
    }

    fn open_root(&self) -> rustix::io::Result<OwnedFd> {
        rustix::fs::open(
            &self.root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
    }

    /// Reopens the pending directory `rel` below the root, one component at a time; `None`
    /// when a component vanished, became a link or lies on another device.
    fn reopen(&self, root: &OwnedFd, rel: &Path) -> Option<OwnedFd> {
        let mut fd: Option<OwnedFd> = None;
        for part in rel.components() {
            let std::path::Component::Normal(name) = part else {
                return None;
            };
            let next = open_dir_nofollow(fd.as_ref().unwrap_or(root), name).ok()?;
            if Some(rustix::fs::fstat(&next).ok()?.st_dev) != self.dev {
                return None;
            }
            fd = Some(next);
        }
        fd
    }

    fn count(&mut self, st: &rustix::fs::Stat) {
        if st.st_nlink > 1 && !self.seen_links.insert(st.st_ino) {
            return;
        }
        self.usage.bytes = self
            .usage
            .bytes
            .saturating_add((st.st_blocks.max(0) as u64).saturating_mul(512));
        self.usage.inodes += 1;
    }

    /// Continues the walk until it is done, `deadline` passes or `cap` entries were visited.
    /// The clock is read between directories: one directory's listing is bounded by `cap`.
    pub fn step(&mut self, deadline: Instant, cap: u64) -> Progress {
        let Ok(root) = self.open_root() else {
            return Progress::Failed;
        };
        if !self.started {
            let Ok(st) = rustix::fs::fstat(&root) else {
                return Progress::Failed;
            };
            self.dev = Some(st.st_dev);
            self.count(&st);
            self.visited = 1;
            self.pending.push(PathBuf::new());
            self.started = true;
        }
        while let Some(rel) = self.pending.pop() {
            if self.visited >= cap {
                self.pending.clear();
                return Progress::Capped;
            }
            let dir = if rel.as_os_str().is_empty() {
                rustix::io::dup(&root).ok()
            } else {
                self.reopen(&root, &rel)
            };
            let Some(dir) = dir else {
                continue;
            };
            let Ok(entries) = rustix::fs::Dir::read_from(&dir) else {
                continue;
            };
            for entry in entries {
                let Ok(entry) = entry else {
                    break;
                };
                let name: &CStr = entry.file_name();
                let bytes = name.to_bytes();
                if bytes == b"." || bytes == b".." {
                    continue;
                }
                self.visited += 1;
                // Removed since the listing: cAdvisor's walk ignores ENOENT too.
                let Ok(st) = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) else {
                    continue;
                };
                if Some(st.st_dev) != self.dev {
                    continue;
                }
                self.count(&st);
                if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                    self.pending
                        .push(rel.join(OsString::from(OsStr::from_bytes(bytes))));
                }
                if self.visited >= cap {
                    self.pending.clear();
                    return Progress::Capped;
                }
            }
            if Instant::now() >= deadline && !self.pending.is_empty() {
                return Progress::Paused;
            }
        }
        Progress::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::time::Duration;

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    #[test]
    fn counts_files_dirs_and_hard_links_once() {
        let d_tmp = tempfile::tempdir().expect("tmp dir");
        let d = d_tmp.path().to_path_buf();
        std::fs::create_dir_all(d.join("a/b")).expect("dirs");
        std::fs::write(d.join("a/f"), vec![1u8; 10_000]).expect("f");
        std::fs::write(d.join("a/b/g"), b"x").expect("g");
        std::fs::hard_link(d.join("a/f"), d.join("h")).expect("link");
        let mut w = Walk::new(d.clone());
        assert_eq!(w.step(far(), u64::MAX), Progress::Done);
        // root, a, a/b, a/f (= h), a/b/g
        assert_eq!(w.usage().inodes, 5);
        let st = |p: &str| rustix::fs::stat(d.join(p)).expect("stat").st_blocks as u64 * 512;
        let expect = st("") + st("a") + st("a/b") + st("a/f") + st("a/b/g");
        assert_eq!(w.usage().bytes, expect);
    }

    #[test]
    fn never_follows_links_out_or_in_loops() {
        let d_tmp = tempfile::tempdir().expect("tmp dir");
        let d = d_tmp.path().to_path_buf();
        let outside_tmp = tempfile::tempdir().expect("tmp dir");
        let outside = outside_tmp.path().to_path_buf();
        std::fs::write(outside.join("big"), vec![1u8; 100_000]).expect("big");
        std::fs::create_dir_all(d.join("x")).expect("x");
        symlink(&outside, d.join("x/out")).expect("link out");
        symlink("..", d.join("x/loop")).expect("loop");
        symlink(d.join("x"), d.join("self")).expect("self");
        let mut w = Walk::new(d.clone());
        assert_eq!(w.step(far(), u64::MAX), Progress::Done);
        // root, x, three symlinks (counted as entries, never entered)
        assert_eq!(w.usage().inodes, 5);
        assert!(w.usage().bytes < 100_000, "{:?}", w.usage());
        // A root that is itself a symlink is refused.
        let mut via = Walk::new(d.join("self"));
        assert_eq!(via.step(far(), u64::MAX), Progress::Failed);
    }

    #[test]
    fn cap_and_deadline_bound_the_work() {
        let d_tmp = tempfile::tempdir().expect("tmp dir");
        let d = d_tmp.path().to_path_buf();
        for i in 0..50 {
            let sub = d.join(format!("d{i}"));
            std::fs::create_dir_all(&sub).expect("sub");
            for j in 0..20 {
                std::fs::write(sub.join(format!("f{j}")), b"").expect("f");
            }
        }
        let mut capped = Walk::new(d.clone());
        assert_eq!(capped.step(far(), 100), Progress::Capped);
        assert!(capped.visited() <= 100);
        // A past deadline pauses after the first directory; steps resume to the full count.
        let mut w = Walk::new(d.clone());
        let mut steps = 0;
        loop {
            steps += 1;
            match w.step(Instant::now(), u64::MAX) {
                Progress::Paused => continue,
                Progress::Done => break,
                other => panic!("{other:?}"),
            }
        }
        assert!(steps > 1, "one step did everything");
        assert_eq!(w.usage().inodes, 1 + 50 + 50 * 20);
    }

    #[test]
    fn vanished_root_and_removed_dirs_are_not_errors() {
        let d_tmp = tempfile::tempdir().expect("tmp dir");
        let d = d_tmp.path().to_path_buf();
        std::fs::create_dir_all(d.join("a/b")).expect("dirs");
        let mut w = Walk::new(d.clone());
        // Deadline already past: pauses with `a` pending, then `a` vanishes.
        assert_eq!(w.step(Instant::now(), u64::MAX), Progress::Paused);
        std::fs::remove_dir_all(d.join("a")).expect("rm");
        assert_eq!(w.step(far(), u64::MAX), Progress::Done);
        std::fs::remove_dir_all(&d).expect("rm root");
        assert_eq!(Walk::new(d).step(far(), u64::MAX), Progress::Failed);
    }

    #[test]
    fn a_pending_dir_swapped_for_a_link_is_not_followed() {
        let d_tmp = tempfile::tempdir().expect("tmp dir");
        let d = d_tmp.path().to_path_buf();
        let outside_tmp = tempfile::tempdir().expect("tmp dir");
        let outside = outside_tmp.path().to_path_buf();
        for i in 0..30 {
            std::fs::write(outside.join(format!("f{i}")), b"x").expect("outside file");
        }
        std::fs::create_dir_all(d.join("a/b")).expect("dirs");
        let mut w = Walk::new(d.clone());
        // Past deadline: the root is listed, `a` is pending.
        assert_eq!(w.step(Instant::now(), u64::MAX), Progress::Paused);
        std::fs::remove_dir_all(d.join("a")).expect("rm a");
        symlink(&outside, d.join("a")).expect("swap in a link");
        assert_eq!(w.step(far(), u64::MAX), Progress::Done);
        // Only the root and the original `a` (counted when listed); nothing of `outside`.
        assert_eq!(w.usage().inodes, 2);
    }
}
