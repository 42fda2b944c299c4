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
//!
//! Listings are reused between walks of a tree ([`Listings`]): a directory whose inode, mtime
//! and ctime are those of its last listing is not read again (`getdents`); its known entries
//! are stat'ed again, since a file grows without its directory changing. Adding, removing or
//! renaming an entry sets the directory's mtime and ctime (POSIX; Linux `inode_set_ctime_current`
//! in every such path), and no system call sets a ctime back; since timestamps come from a
//! coarse clock (a tick, 1 s on file systems without sub-second times), two changes inside one
//! tick can leave the same times, so a listing is kept only when the directory's ctime was at
//! least [`SETTLED`] old by the clock read just before the directory was stat'ed.
//!
//! A tree whose root heads a project quota of its own is not walked at all: the file system's
//! count is read ([`super::quota`]).
//!
//! Over 500 lines only with its unit tests (411 lines of code before them).

use std::collections::{HashMap, HashSet};
use std::ffi::{CStr, OsStr, OsString};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use super::quota;
pub use super::quota::Usage;

/// How old a directory's ctime must be for its listing to be reused.
pub const SETTLED: Duration = Duration::from_secs(2);

/// What is measured at a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// The directory tree (`du -s`), or its project quota.
    Tree,
    /// The non-directories directly in the directory, each on its own (hard links not merged),
    /// as the kubelet's `fileMetricsByDir` (pkg/kubelet/stats/host_stats_provider.go).
    Files,
    /// The one entry at the path, not followed if a symlink (the kubelet's `etc-hosts`).
    File,
}

/// A path and what to measure there.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    /// The path (absolute, below the roots).
    pub path: PathBuf,
    /// What is measured.
    pub kind: Kind,
}

impl Target {
    /// A directory tree.
    pub fn tree(path: PathBuf) -> Self {
        Target {
            path,
            kind: Kind::Tree,
        }
    }
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

/// The identity and times of a directory when it was listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DirKey {
    ino: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl DirKey {
    fn of(st: &rustix::fs::Stat) -> Self {
        DirKey {
            ino: st.st_ino,
            mtime: (st.st_mtime, st.st_mtime_nsec as i64),
            ctime: (st.st_ctime, st.st_ctime_nsec as i64),
        }
    }

    /// True when the ctime is at least `settle` before `now` (unix time).
    fn settled(&self, now: Duration, settle: Duration) -> bool {
        let ctime = Duration::new(
            u64::try_from(self.ctime.0).unwrap_or(u64::MAX / 4),
            u32::try_from(self.ctime.1).unwrap_or(0).min(999_999_999),
        );
        ctime.saturating_add(settle) <= now
    }
}

/// One directory's names (each NUL-terminated) at a [`DirKey`].
struct Listing {
    key: DirKey,
    names: Box<[u8]>,
}

/// The listings of one tree's directories from its last walk, by path below the root.
#[derive(Default)]
pub struct Listings {
    dirs: HashMap<PathBuf, Listing>,
}

impl Listings {
    /// Directories whose listing is kept.
    pub fn len(&self) -> usize {
        self.dirs.len()
    }

    /// True when no listing is kept.
    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty()
    }

    /// Bytes of names kept.
    pub fn name_bytes(&self) -> usize {
        self.dirs.values().map(|l| l.names.len()).sum()
    }
}

/// One measurement in progress.
pub struct Walk {
    target: Target,
    dev: Option<u64>,
    pending: Vec<PathBuf>,
    seen_links: HashSet<u64>,
    usage: Usage,
    visited: u64,
    started: bool,
    quota: bool,
    reuse: bool,
    settle: Duration,
    prev: Listings,
    next: Listings,
    reused: u64,
}

fn open_dir_nofollow(dir: &OwnedFd, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

impl Walk {
    /// A walk of the tree at `root` (an absolute path named by a runtime).
    pub fn new(root: PathBuf) -> Self {
        Self::of(Target::tree(root), Listings::default())
    }

    /// A measurement of `target`, reusing the listings `prev` of its last walk where the
    /// directories did not change (pass an empty [`Listings`] to list everything).
    pub fn of(target: Target, prev: Listings) -> Self {
        Walk {
            target,
            dev: None,
            pending: Vec::new(),
            seen_links: HashSet::new(),
            usage: Usage::default(),
            visited: 0,
            started: false,
            quota: false,
            reuse: true,
            settle: SETTLED,
            prev,
            next: Listings::default(),
            reused: 0,
        }
    }

    /// Lists every directory and keeps no listing (the behaviour before listings were reused;
    /// for comparisons).
    pub fn without_reuse(mut self) -> Self {
        self.reuse = false;
        self.prev = Listings::default();
        self
    }

    /// Keeps listings of directories whose ctime is `settle` old (default [`SETTLED`]; tests
    /// that wait for the clock to tick themselves use zero).
    pub fn settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// The tree measured.
    pub fn root(&self) -> &Path {
        &self.target.path
    }

    /// The usage counted so far.
    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// Entries visited so far.
    pub fn visited(&self) -> u64 {
        self.visited
    }

    /// True when the usage is the project quota's, not a walk's.
    pub fn from_quota(&self) -> bool {
        self.quota
    }

    /// Directories whose earlier listing was reused (no `getdents`).
    pub fn reused(&self) -> u64 {
        self.reused
    }

    /// The listings to hand to the next walk of the same target.
    pub fn into_listings(self) -> Listings {
        self.next
    }

    fn open_root(&self) -> rustix::io::Result<OwnedFd> {
        rustix::fs::open(
            &self.target.path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
    }

    /// Reopens the pending directory `rel` below the root, one component at a time, with its
    /// stat; `None` when a component vanished, became a link or lies on another device.
    fn reopen(&self, root: &OwnedFd, rel: &Path) -> Option<(OwnedFd, rustix::fs::Stat)> {
        let mut fd: Option<(OwnedFd, rustix::fs::Stat)> = None;
        for part in rel.components() {
            let std::path::Component::Normal(name) = part else {
                return None;
            };
            let next = open_dir_nofollow(fd.as_ref().map_or(root, |(f, _)| f), name).ok()?;
            let st = rustix::fs::fstat(&next).ok()?;
            if Some(st.st_dev) != self.dev {
                return None;
            }
            fd = Some((next, st));
        }
        fd
    }

    fn count(&mut self, st: &rustix::fs::Stat) {
        let merge_links = self.target.kind == Kind::Tree;
        if merge_links && st.st_nlink > 1 && !self.seen_links.insert(st.st_ino) {
            return;
        }
        self.usage.bytes = self
            .usage
            .bytes
            .saturating_add((st.st_blocks.max(0) as u64).saturating_mul(512));
        self.usage.inodes += 1;
    }

    /// Stats the entry `name` of the directory `dir` (at `rel`), counts it and queues it if it
    /// is a directory to descend into.
    fn visit(&mut self, dir: &OwnedFd, rel: &Path, name: &CStr) {
        self.visited += 1;
        // Removed since the listing: cAdvisor's walk ignores ENOENT too.
        let Ok(st) = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) else {
            return;
        };
        if Some(st.st_dev) != self.dev {
            return;
        }
        let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
        match self.target.kind {
            Kind::Tree => {
                self.count(&st);
                if is_dir {
                    let name = OsStr::from_bytes(name.to_bytes());
                    self.pending.push(rel.join(OsString::from(name)));
                }
            }
            Kind::Files if !is_dir => self.count(&st),
            Kind::Files | Kind::File => {}
        }
    }

    fn measure_file(&mut self) -> Progress {
        let Ok(st) = rustix::fs::lstat(&self.target.path) else {
            return Progress::Failed;
        };
        self.started = true;
        self.visited = 1;
        self.count(&st);
        Progress::Done
    }

    /// Continues the walk until it is done, `deadline` passes or `cap` entries were visited.
    /// The clock is read between directories: one directory's listing is bounded by `cap`.
    pub fn step(&mut self, deadline: Instant, cap: u64) -> Progress {
        if self.target.kind == Kind::File {
            return self.measure_file();
        }
        let Ok(root) = self.open_root() else {
            return Progress::Failed;
        };
        if !self.started {
            let Ok(st) = rustix::fs::fstat(&root) else {
                return Progress::Failed;
            };
            self.dev = Some(st.st_dev);
            self.started = true;
            if self.target.kind == Kind::Tree {
                if let Some(usage) = quota::dir_usage(&root) {
                    self.usage = usage;
                    self.visited = 1;
                    self.quota = true;
                    return Progress::Done;
                }
                self.count(&st);
            }
            self.visited = 1;
            self.pending.push(PathBuf::new());
        }
        while let Some(rel) = self.pending.pop() {
            if self.visited >= cap {
                self.pending.clear();
                return Progress::Capped;
            }
            // Read before the directory's stat: a change after that stat gets a ctime of at
            // least this clock (less a tick), so a ctime SETTLED older than it cannot recur.
            let before_stat = unix_now();
            let dir = if rel.as_os_str().is_empty() {
                rustix::io::dup(&root)
                    .ok()
                    .and_then(|fd| Some((rustix::fs::fstat(&fd).ok()?, fd)))
                    .map(|(st, fd)| (fd, st))
            } else {
                self.reopen(&root, &rel)
            };
            let Some((dir, st)) = dir else {
                continue;
            };
            let key = DirKey::of(&st);
            if let Some(known) = self.prev.dirs.remove(&rel).filter(|l| l.key == key) {
                self.reused += 1;
                for name in known.names.split_inclusive(|b| *b == 0) {
                    let Ok(name) = CStr::from_bytes_with_nul(name) else {
                        continue;
                    };
                    self.visit(&dir, &rel, name);
                    if self.visited >= cap {
                        self.pending.clear();
                        return Progress::Capped;
                    }
                }
                self.next.dirs.insert(rel, known);
            } else {
                let keep = self.reuse && key.settled(before_stat, self.settle);
                let Ok(entries) = rustix::fs::Dir::read_from(&dir) else {
                    continue;
                };
                let mut names: Vec<u8> = Vec::new();
                for entry in entries {
                    let Ok(entry) = entry else {
                        break;
                    };
                    let name: &CStr = entry.file_name();
                    let bytes = name.to_bytes();
                    if bytes == b"." || bytes == b".." {
                        continue;
                    }
                    if keep {
                        names.extend_from_slice(name.to_bytes_with_nul());
                    }
                    self.visit(&dir, &rel, name);
                    if self.visited >= cap {
                        self.pending.clear();
                        return Progress::Capped;
                    }
                }
                if keep {
                    let names = names.into_boxed_slice();
                    self.next.dirs.insert(rel, Listing { key, names });
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

    fn ctime(p: &Path) -> (i64, i64) {
        let st = rustix::fs::lstat(p).expect("lstat");
        (st.st_ctime, st.st_ctime_nsec as i64)
    }

    /// Returns once a change made now gets a ctime later than `dir`'s (the coarse clock
    /// ticked), so the next change in `dir` is visible in its times. Polls a probe file next
    /// to the tree: a condition, not a sleep.
    fn wait_tick(dir: &Path) {
        let before = ctime(dir);
        let probe = dir.with_extension("tick");
        loop {
            std::fs::write(&probe, b"x").expect("probe");
            if ctime(&probe) > before {
                break;
            }
        }
        let _ = std::fs::remove_file(&probe);
    }

    fn fresh(d: &Path) -> Usage {
        let mut w = Walk::new(d.to_path_buf()).without_reuse();
        assert_eq!(w.step(far(), u64::MAX), Progress::Done);
        w.usage()
    }

    #[test]
    fn reused_listings_follow_every_change() {
        let d_tmp = tempfile::tempdir().expect("tmp dir");
        let d = d_tmp.path().to_path_buf();
        std::fs::create_dir_all(d.join("a/b")).expect("dirs");
        std::fs::write(d.join("a/f1"), b"x").expect("f1");
        std::fs::write(d.join("a/b/g"), b"x").expect("g");
        std::fs::write(d.join("h"), b"x").expect("h");
        let walk = |prev: Listings| {
            let mut w = Walk::of(Target::tree(d.clone()), prev).settle(Duration::ZERO);
            assert_eq!(w.step(far(), u64::MAX), Progress::Done);
            w
        };
        let w1 = walk(Listings::default());
        assert_eq!(w1.reused(), 0);
        let l1 = w1.into_listings();
        assert_eq!(l1.len(), 3, "root, a, a/b listed and kept");
        // A file grows: no directory changes, every listing is reused, the growth is counted.
        std::fs::write(d.join("a/f1"), vec![1u8; 100_000]).expect("grow");
        let w2 = walk(l1);
        assert_eq!(w2.reused(), 3);
        assert_eq!(w2.usage(), fresh(&d));
        assert!(w2.usage().bytes > 100_000);
        // An entry added below a/b, and one renamed in a whose mtime is then set back to its
        // old value (tar, rsync -t): both directories are listed again (ctime moved).
        wait_tick(&d);
        let old = rustix::fs::stat(d.join("a")).expect("stat a");
        std::fs::write(d.join("a/b/new"), vec![1u8; 50_000]).expect("new");
        std::fs::rename(d.join("a/f1"), d.join("a/f2")).expect("rename");
        let t = rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec {
                tv_sec: old.st_atime,
                tv_nsec: old.st_atime_nsec as _,
            },
            last_modification: rustix::fs::Timespec {
                tv_sec: old.st_mtime,
                tv_nsec: old.st_mtime_nsec as _,
            },
        };
        rustix::fs::utimensat(rustix::fs::CWD, d.join("a"), &t, AtFlags::empty()).expect("utimes");
        let w3 = walk(w2.into_listings());
        assert_eq!(w3.reused(), 1, "only the root is unchanged");
        assert_eq!(w3.usage(), fresh(&d));
    }

    #[test]
    fn fresh_directories_are_not_kept() {
        // Created just now: their ctime is not SETTLED old, so a change within the same clock
        // tick could leave their times unchanged; their listings are not kept.
        let d_tmp = tempfile::tempdir().expect("tmp dir");
        let d = d_tmp.path().to_path_buf();
        std::fs::create_dir_all(d.join("a")).expect("dirs");
        let mut w = Walk::new(d.clone());
        assert_eq!(w.step(far(), u64::MAX), Progress::Done);
        assert!(w.into_listings().is_empty());
    }

    #[test]
    fn files_directly_in_a_directory_each_on_its_own() {
        let d_tmp = tempfile::tempdir().expect("tmp dir");
        let d = d_tmp.path().to_path_buf();
        std::fs::write(d.join("f"), vec![1u8; 20_000]).expect("f");
        std::fs::hard_link(d.join("f"), d.join("h")).expect("h");
        symlink(d.join("s"), d.join("l")).expect("l");
        std::fs::create_dir_all(d.join("s")).expect("s");
        std::fs::write(d.join("s/inner"), vec![1u8; 50_000]).expect("inner");
        let blocks = |p: &str| rustix::fs::lstat(d.join(p)).expect("lstat").st_blocks as u64 * 512;
        let mut w = Walk::of(
            Target {
                path: d.clone(),
                kind: Kind::Files,
            },
            Listings::default(),
        );
        assert_eq!(w.step(far(), u64::MAX), Progress::Done);
        // f and h (one inode, counted twice as the kubelet measures each path), the symlink;
        // not the directory s nor what is in it, not the directory itself.
        assert_eq!(
            w.usage(),
            Usage {
                bytes: 2 * blocks("f") + blocks("l"),
                inodes: 3
            }
        );
        let file = |p: PathBuf| {
            let mut w = Walk::of(
                Target {
                    path: p,
                    kind: Kind::File,
                },
                Listings::default(),
            );
            (w.step(far(), u64::MAX), w.usage())
        };
        assert_eq!(
            file(d.join("f")),
            (
                Progress::Done,
                Usage {
                    bytes: blocks("f"),
                    inodes: 1
                }
            )
        );
        assert_eq!(file(d.join("missing")).0, Progress::Failed);
    }
}
