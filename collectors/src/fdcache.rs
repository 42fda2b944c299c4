//! Open procfs and sysfs files kept between scrapes and re-read with `pread` at offset 0.
//!
//! On a small host most of a scrape's CPU is the kernel opening ~250 pseudo-files (12-16 µs each
//! on a VM; a `pread` of an open one costs ~2 µs). procfs and sysfs regenerate a file's content on
//! every read from offset 0, so an open descriptor is as fresh as a new one. What can go stale is
//! identity: a sysfs device directory whose device was removed (reads then fail with `ENODEV`,
//! and the entry is reopened) or renamed while another device took its name. So the directory
//! of a cached sysfs file is `stat`ed once per scrape and its files are dropped when it is no
//! longer the directory they were opened in.
//!
//! Only files on procfs or sysfs are kept (checked with `fstatfs`, so fixture trees and
//! textfiles are always read afresh), never a per-process procfs directory (`/proc/<pid>/...`,
//! pids are reused), and at most [`MAX_OPEN`] at a time. Nothing is kept before the first
//! scrape ([`next_scrape`]), so tools and tests that run collectors directly read afresh. A
//! descriptor not read in 16 scrapes (its interface or disk went away, or no scrape asks for
//! its collector) is closed.

use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::hash::FastMap;

/// The most descriptors kept open (well under the usual soft limit of 1024).
pub const MAX_OPEN: usize = 384;

const PROC_SUPER_MAGIC: i64 = 0x9fa0;
const SYSFS_MAGIC: i64 = 0x6265_6572;

static EPOCH: AtomicU64 = AtomicU64::new(0);

/// Marks the start of a scrape: sysfs directories are checked again before their files are
/// reused.
pub fn next_scrape() {
    let epoch = EPOCH.fetch_add(1, Ordering::AcqRel) + 1;
    if epoch.is_multiple_of(IDLE_SCRAPES) {
        forget_idle(epoch);
    }
}

/// Descriptors not read in this many scrapes are closed: the files of an interface or disk
/// that went away are never read again (so never fail), and would otherwise stay open until
/// the cache is full.
const IDLE_SCRAPES: u64 = 16;

/// Closes the descriptors not read since `IDLE_SCRAPES` scrapes before `epoch`.
fn forget_idle(epoch: u64) {
    let mut c = lock();
    c.files.retain(|_, e| e.used + IDLE_SCRAPES > epoch);
    c.checked
        .retain(|_, checked| *checked + IDLE_SCRAPES > epoch);
}

struct Entry {
    /// The scrape in which the descriptor was last read.
    used: u64,
    file: Arc<File>,
    /// For sysfs files: the parent directory and its (device, inode) when the file was opened.
    dir: Option<(PathBuf, (u64, u64))>,
}

/// Paths are keyed by their bytes: hashing a `Path` goes component by component, which showed
/// in profiles at ~200 lookups per scrape.
type Key = Box<[u8]>;

fn key(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

#[derive(Default)]
struct Cache {
    files: FastMap<Key, Entry>,
    /// sysfs directories found unchanged, with the scrape in which they were checked.
    checked: FastMap<Key, u64>,
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

fn lock() -> std::sync::MutexGuard<'static, Cache> {
    cache().lock().unwrap_or_else(|p| p.into_inner())
}

fn dir_id(dir: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
}

/// The cached descriptor of `path`, if it is kept and its directory is still the same.
fn lookup(path: &Path, epoch: u64) -> Option<Arc<File>> {
    let (file, dir) = {
        let mut guard = lock();
        let c = &mut *guard;
        let entry = c.files.get_mut(key(path))?;
        entry.used = epoch;
        let dir = match &entry.dir {
            Some((d, id)) if c.checked.get(key(d)) != Some(&epoch) => Some((d.clone(), *id)),
            _ => None,
        };
        (Arc::clone(&entry.file), dir)
    };
    let Some((dir, id)) = dir else {
        return Some(file);
    };
    let now = dir_id(&dir);
    let mut c = lock();
    if now == Some(id) {
        c.checked.insert(key(&dir).into(), epoch);
        Some(file)
    } else {
        c.files
            .retain(|_, e| e.dir.as_ref().is_none_or(|(d, _)| *d != dir));
        c.checked.remove(key(&dir));
        None
    }
}

fn forget(path: &Path) {
    lock().files.remove(key(path));
}

/// Which pseudo file system a file is on, if it is procfs or sysfs: the ones whose files may be
/// kept, and the live ones, where collectors may ask the kernel by netlink or `poll` instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// procfs.
    Proc,
    /// sysfs.
    Sys,
}

// `f_type`'s width differs between architectures.
#[allow(clippy::unnecessary_cast)]
fn kind_of(f_type: rustix::fs::FsWord) -> Option<Kind> {
    match f_type as i64 {
        SYSFS_MAGIC => Some(Kind::Sys),
        PROC_SUPER_MAGIC => Some(Kind::Proc),
        _ => None,
    }
}

/// The pseudo file system an open file is on.
pub(crate) fn kind(file: &File) -> Option<Kind> {
    kind_of(rustix::fs::fstatfs(file).ok()?.f_type)
}

/// The pseudo file system `path` is on (`None` on a fixture tree or when it cannot be statted).
pub(crate) fn path_kind(path: &Path) -> Option<Kind> {
    kind_of(rustix::fs::statfs(path).ok()?.f_type)
}

/// Whether a procfs path names a per-process directory (`/proc/<pid>/...`).
fn in_pid_dir(path: &Path) -> bool {
    path.components().any(|c| {
        let s = c.as_os_str().as_encoded_bytes();
        !s.is_empty() && s.iter().all(u8::is_ascii_digit)
    })
}

fn open_and_keep(path: &Path, epoch: u64) -> io::Result<Arc<File>> {
    let file = Arc::new(File::open(path)?);
    // A full cache keeps nothing more: spare the fstatfs and the directory stat.
    if epoch == 0 || lock().files.len() >= MAX_OPEN {
        return Ok(file);
    }
    let dir = match (kind(&file), path.parent()) {
        (Some(Kind::Proc), _) if !in_pid_dir(path) => None,
        (Some(Kind::Sys), Some(parent)) => match dir_id(parent) {
            Some(id) => Some((parent.to_path_buf(), id)),
            None => return Ok(file),
        },
        _ => return Ok(file),
    };
    let mut c = lock();
    if c.files.len() < MAX_OPEN {
        if let Some((d, _)) = &dir {
            c.checked.insert(key(d).into(), epoch);
        }
        c.files.insert(
            key(path).into(),
            Entry {
                used: epoch,
                file: Arc::clone(&file),
                dir,
            },
        );
    }
    Ok(file)
}

/// Reads `path` from offset 0 into `buf` (cleared first): through a kept descriptor when there
/// is one, else by opening it (and keeping it when allowed). With `single`, one read that does
/// not fill `buf`'s capacity is taken as the whole file (sysfs attributes hand over their whole
/// value at once); otherwise reads go on until end of file.
pub fn read_into(path: &Path, buf: &mut Vec<u8>, single: bool) -> io::Result<()> {
    let epoch = EPOCH.load(Ordering::Acquire);
    if epoch != 0 {
        if let Some(file) = lookup(path, epoch) {
            match read_all(&file, buf, single, true) {
                // Removed device, driver unbound, ...: open again (or fail as a fresh open would).
                Err(e) if gone(&e) => forget(path),
                // Anything else (EINVAL from `speed` of a link that is down, ...) is the
                // attribute's answer, as it would be through a fresh descriptor.
                other => return other,
            }
        }
    }
    let file = open_and_keep(path, epoch)?;
    // Sequential reads on a fresh descriptor: it may be a pipe (a FIFO where a file was
    // expected), where `pread` fails with ESPIPE instead of waiting like a read.
    read_all(&file, buf, single, false)
}

/// Whether a read error means the file behind a kept descriptor is no longer there.
fn gone(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENODEV | libc::ENOENT | libc::ESTALE | libc::EBADF | libc::ENXIO)
    )
}

/// Reads to the end (or once, with `single`), at explicit offsets from 0 when `positional`.
fn read_all(file: &File, buf: &mut Vec<u8>, single: bool, positional: bool) -> io::Result<()> {
    use std::io::Read;
    buf.clear();
    if buf.capacity() < 4096 {
        buf.reserve(4096);
    }
    loop {
        let len = buf.len();
        if buf.capacity() == len {
            buf.reserve(len.max(4096));
        }
        let spare = buf.spare_capacity_mut();
        // SAFETY: u8 has no invalid bit patterns and a read only writes into the slice; the
        // length is set to what the kernel reported as written.
        let spare =
            unsafe { std::slice::from_raw_parts_mut(spare.as_mut_ptr().cast::<u8>(), spare.len()) };
        let room = spare.len();
        let n = loop {
            let result = if positional {
                file.read_at(spare, len as u64)
            } else {
                (&*file).read(spare)
            };
            match result {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        // SAFETY: the read initialised the first `n` bytes of the spare capacity.
        unsafe { buf.set_len(len + n) };
        if n == 0 || (single && n < room) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_regular_files_without_keeping_them() {
        let dir_tmp = tempfile::tempdir().unwrap();
        let dir = dir_tmp.path().to_path_buf();
        let path = dir.join("f");
        std::fs::write(&path, b"one").expect("write");
        next_scrape();
        let mut buf = Vec::new();
        read_into(&path, &mut buf, false).expect("read");
        assert_eq!(buf, b"one");
        std::fs::write(&path, b"two, longer").expect("write");
        read_into(&path, &mut buf, true).expect("read");
        assert_eq!(buf, b"two, longer");
        assert!(
            !lock().files.contains_key(key(&path)),
            "tmp files are not kept"
        );
        let missing = dir.join("missing");
        assert!(read_into(&missing, &mut buf, false).is_err());
    }

    #[test]
    fn keeps_procfs_files_but_not_pid_directories() {
        next_scrape();
        let mut buf = Vec::new();
        let loadavg = Path::new("/proc/loadavg");
        if read_into(loadavg, &mut buf, false).is_err() {
            return; // no procfs here
        }
        assert!(!buf.is_empty());
        assert!(lock().files.contains_key(key(loadavg)));
        read_into(loadavg, &mut buf, false).expect("kept descriptor reads");
        assert!(buf.ends_with(b"\n"), "whole file read again from offset 0");
        let pid = PathBuf::from(format!("/proc/{}/stat", std::process::id()));
        read_into(&pid, &mut buf, false).expect("own stat");
        assert!(!lock().files.contains_key(key(&pid)));
        // Larger than a page: read to the end through the kept descriptor.
        let big = Path::new("/proc/self/mountinfo");
        read_into(big, &mut buf, false).expect("read");
        assert!(buf.ends_with(b"\n") && !buf.is_empty());
    }

    #[test]
    fn descriptors_not_read_for_a_while_are_closed() {
        next_scrape();
        let mut buf = Vec::new();
        let path = Path::new("/proc/sys/kernel/ostype");
        if read_into(path, &mut buf, false).is_err() {
            return; // no procfs here
        }
        assert!(lock().files.contains_key(key(path)));
        // Other tests may read it in between: then it rightly stays. Count only our scrapes.
        for _ in 0..2 * IDLE_SCRAPES {
            next_scrape();
        }
        let epoch = EPOCH.load(Ordering::Acquire);
        let kept = lock().files.get(key(path)).map(|e| e.used);
        assert!(
            kept.is_none_or(|used| used + IDLE_SCRAPES > epoch - IDLE_SCRAPES),
            "an idle descriptor outlived {IDLE_SCRAPES} scrapes"
        );
    }

    #[test]
    fn sysfs_directory_checked_once_per_scrape() {
        next_scrape();
        let path = Path::new("/sys/kernel/mm/transparent_hugepage/enabled");
        let mut buf = Vec::new();
        if read_into(path, &mut buf, true).is_err() {
            return; // no sysfs or no THP here
        }
        let epoch = EPOCH.load(Ordering::Acquire);
        let dir = path.parent().expect("parent");
        // Other tests may start scrapes concurrently: the check is at least this scrape's.
        assert!(lock().checked.get(key(dir)).is_some_and(|&e| e >= epoch));
        next_scrape();
        read_into(path, &mut buf, true).expect("read again");
        assert!(lock().checked.get(key(dir)).is_some_and(|&e| e > epoch));
        // A directory that is no longer the one the file was opened in drops its files.
        lock().files.get_mut(key(path)).expect("kept").dir = Some((dir.to_path_buf(), (0, 0)));
        next_scrape();
        read_into(path, &mut buf, true).expect("reopened");
        assert!(!buf.is_empty());
    }
}
