//! One cgroup directory and the reads of its files: the only place a cgroup file is opened.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{fstat, openat, statat, AtFlags, Mode, OFlags, Stat, CWD};
use rustix::io::Errno;

use super::{io, parse};
use crate::error::ParseError;
use crate::roots::JoinExt;

/// Why a cgroup file gave no value. Built only on failure: the success path allocates
/// nothing for it, and a missing file carries the static file name, not a path.
#[derive(Debug)]
pub enum CgroupError {
    /// The file or its cgroup is not there (controller not mounted, file absent in this
    /// kernel or controller, cgroup removed mid-scrape): skipped silently, as cAdvisor does.
    Missing(&'static str),
    /// The file is there but reading it failed.
    Read {
        /// The file.
        path: PathBuf,
        /// The error of `open` or `read`.
        errno: Errno,
    },
    /// The file was read but its content is not in the kernel's format.
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        error: ParseError,
    },
}

impl std::fmt::Display for CgroupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CgroupError::Missing(file) => write!(f, "no {file}"),
            CgroupError::Read { path, errno } => write!(f, "{}: {errno}", path.display()),
            CgroupError::Parse { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl CgroupError {
    /// True when the file (or the cgroup) is simply not there.
    pub fn is_missing(&self) -> bool {
        matches!(self, CgroupError::Missing(_))
    }

    /// Logs an unreadable or malformed file at debug level (a missing one is normal) and
    /// turns the result into the `Option` a family skips on.
    pub fn log<T>(result: Result<T, CgroupError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                if !e.is_missing() {
                    tracing::debug!("cgroup {e}");
                }
                None
            }
        }
    }
}

/// The result of reading one cgroup file.
pub type CgResult<T> = Result<T, CgroupError>;

/// One container's directory in one hierarchy. Files are opened relative to a descriptor of
/// the directory (a path lookup of one component, not of the whole cgroup path: on kernfs each
/// component is a `d_lookup` plus a revalidation, and whole-path opens were most of a scrape's
/// CPU). The descriptor is the walk's when it kept one, else the directory is opened on first
/// use and closed when the handle is dropped. Derefs to the directory's path, which is only
/// joined when asked for (the reads through a kept descriptor do not need it).
pub struct Dir<'a> {
    base: Cow<'a, Path>,
    /// The cgroup id below `base`, without its leading `/` (empty: `base` itself).
    rel: &'a str,
    joined: OnceCell<PathBuf>,
    kept: Option<BorrowedFd<'a>>,
    /// Which of [`OPTIONAL`] the walk saw in this directory's listing ([`Listed::ALL`] when it
    /// did not list it).
    listed: Listed,
    opened: OnceCell<Option<OwnedFd>>,
}

/// Files a kernel may not have in a cgroup, by build options (BFQ's debug statistics, CFQ,
/// swap accounting, PSI) and kernel version (`memory.peak`, `memory.events.local`). The walk
/// notes which of them a directory's listing holds, so reading one that is not there costs no
/// failed `openat` (two per cgroup and scrape on a v1 kernel with BFQ, from runc's blkio order).
pub const OPTIONAL: [&str; 16] = [
    io::BFQ_SECTORS,
    io::BFQ_SERVICED,
    io::BFQ_SERVICE_BYTES,
    io::CFQ_SECTORS,
    io::CFQ_SERVICED,
    io::CFQ_SERVICE_BYTES,
    io::THROTTLE_RECURSIVE,
    io::THROTTLE_RECURSIVE_BYTES,
    "memory.events.local",
    "memory.peak",
    "memory.swap.current",
    "memory.swap.max",
    "memory.memsw.limit_in_bytes",
    "cpu.pressure",
    "memory.pressure",
    "io.pressure",
];

/// A set of [`OPTIONAL`] files, one bit each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listed(u32);

impl Listed {
    /// Every optional file assumed present (the directory was not listed).
    pub const ALL: Listed = Listed(u32::MAX);
    /// None seen yet.
    pub const NONE: Listed = Listed(0);

    /// Notes a directory entry.
    pub fn see(&mut self, name: &[u8]) {
        if let Some(i) = OPTIONAL.iter().position(|f| f.as_bytes() == name) {
            self.0 |= 1 << i;
        }
    }

    /// False only for an optional file the listing did not hold.
    pub fn may_hold(self, file: &str) -> bool {
        // An unlisted directory (no kept descriptor) skips the table search on every read.
        self == Listed::ALL
            || OPTIONAL
                .iter()
                .position(|f| *f == file)
                .is_none_or(|i| self.0 & (1 << i) != 0)
    }
}

/// Opening a directory by path follows symlinks (a fixture's or a host's `cpu` -> `cpu,cpuacct`).
pub(super) const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC);

const FILE_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::CLOEXEC);

impl<'a> Dir<'a> {
    /// A handle on `path` with no kept descriptor (opened on first use).
    pub fn new(path: PathBuf) -> Self {
        Dir {
            base: Cow::Owned(path),
            rel: "",
            joined: OnceCell::new(),
            kept: None,
            listed: Listed::ALL,
            opened: OnceCell::new(),
        }
    }

    /// A handle on cgroup `id` below hierarchy root `base` with the walk's descriptor of it, if
    /// it kept one, and what the walk's listing of it held.
    pub(super) fn with_kept(
        base: &'a Path,
        id: &'a str,
        kept: Option<BorrowedFd<'a>>,
        listed: Listed,
    ) -> Self {
        Dir {
            base: Cow::Borrowed(base),
            rel: id.trim_start_matches('/'),
            joined: OnceCell::new(),
            kept,
            listed,
            opened: OnceCell::new(),
        }
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        if self.rel.is_empty() {
            &self.base
        } else {
            self.joined.get_or_init(|| self.base.join_exact(self.rel))
        }
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        if let Some(fd) = self.kept {
            return Some(fd);
        }
        self.opened
            .get_or_init(|| openat(CWD, self.path(), DIR_FLAGS, Mode::empty()).ok())
            .as_ref()
            .map(|fd| fd.as_fd())
    }

    /// True when the directory exists (was found by the walk or can be opened now).
    pub fn is_dir(&self) -> bool {
        self.fd().is_some()
    }

    /// `stat` of the directory itself (`None`) or of an entry in it.
    pub fn stat(&self, entry: Option<&str>) -> Option<Stat> {
        let fd = self.fd()?;
        match entry {
            None => fstat(fd).ok(),
            Some(name) => statat(fd, name, AtFlags::SYMLINK_NOFOLLOW).ok(),
        }
    }

    /// Reads `file` whole: open relative to the directory, read to the end, close.
    pub fn read(&self, file: &'static str) -> CgResult<Vec<u8>> {
        let mut buf = Vec::with_capacity(512);
        self.read_into(file, &mut buf)?;
        Ok(buf)
    }

    fn read_into(&self, file: &'static str, buf: &mut Vec<u8>) -> CgResult<()> {
        if !self.listed.may_hold(file) {
            return Err(CgroupError::Missing(file));
        }
        let dir = self.fd().ok_or(CgroupError::Missing(file))?;
        let fd = openat(dir, file, FILE_FLAGS, Mode::empty())
            .map_err(|errno| self.open_error(file, errno))?;
        read_fd(&fd, buf).map_err(|errno| CgroupError::Read {
            path: self.path().join(file),
            errno,
        })
    }

    /// Reads `file` and parses it with `parse`; errors name the file. The bytes go to a
    /// buffer the thread keeps, not a fresh one per file (tens of thousands per scrape with
    /// a thousand containers).
    pub fn parse<T>(
        &self,
        file: &'static str,
        parse: impl FnOnce(&[u8]) -> Result<T, ParseError>,
    ) -> CgResult<T> {
        crate::util::with_thread_buffer(|buf| {
            self.read_into(file, buf)?;
            parse(buf).map_err(|error| CgroupError::Parse {
                path: self.path().join(file),
                error,
            })
        })
    }

    /// A one-number file ([`parse::single`]).
    pub fn u64(&self, file: &'static str) -> CgResult<u64> {
        self.parse(file, parse::single)
    }

    /// A limit file ([`parse::limit`]): `None` is no limit.
    pub fn limit(&self, file: &'static str) -> CgResult<Option<u64>> {
        self.parse(file, parse::limit)
    }

    /// Some keys of a flat-keyed file ([`parse::flat_keyed_lookup`]).
    pub fn keys<const N: usize>(
        &self,
        file: &'static str,
        keys: [&str; N],
    ) -> CgResult<[Option<u64>; N]> {
        self.parse(file, |b| parse::flat_keyed_lookup(b, keys))
    }

    fn open_error(&self, file: &'static str, errno: Errno) -> CgroupError {
        match errno {
            Errno::NOENT | Errno::NODEV | Errno::NOTDIR => CgroupError::Missing(file),
            errno => CgroupError::Read {
                path: self.path().join(file),
                errno,
            },
        }
    }
}

/// Reads an open file to the end. No `stat` or `lseek` for a size hint (cgroup files report
/// size 0 anyway; `std`'s `read_to_end` on a `File` asks for both, 6% of a container scrape).
fn read_fd(fd: &OwnedFd, buf: &mut Vec<u8>) -> Result<(), Errno> {
    loop {
        if buf.capacity() - buf.len() < 256 {
            buf.reserve(buf.capacity().max(512));
        }
        match rustix::io::read(fd, rustix::buffer::spare_capacity(&mut *buf)) {
            Ok(0) => return Ok(()),
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
}

impl std::ops::Deref for Dir<'_> {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.path()
    }
}

/// Handles made from the same root and id are equal (a root mounted for two controllers is
/// one path): compared as bytes, without joining paths or comparing them component-wise.
impl PartialEq for Dir<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.rel == other.rel && self.base.as_os_str() == other.base.as_os_str()
    }
}

impl std::fmt::Debug for Dir<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dir({})", self.path().display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_ids() {
        let b = Path::new("/x");
        let path = |id| {
            Dir::with_kept(b, id, None, Listed::ALL)
                .path()
                .to_path_buf()
        };
        assert_eq!(path("/"), PathBuf::from("/x"));
        assert_eq!(path("/a/b"), PathBuf::from("/x/a/b"));
    }

    /// An optional file the walk's listing did not hold is `Missing` without an `openat` (here
    /// it exists, so only the listing can make it missing); listed and non-optional files are
    /// read; an unlisted directory reads everything.
    #[test]
    fn optional_files_follow_the_listing() {
        let tmp = tempfile::tempdir().expect("tempdir");
        for f in ["memory.peak", "memory.events.local", "memory.stat"] {
            std::fs::write(tmp.path().join(f), b"1\n").expect("write");
        }
        let fd = openat(CWD, tmp.path(), DIR_FLAGS, Mode::empty()).expect("open");
        let mut listed = Listed::NONE;
        listed.see(b"memory.peak");
        listed.see(b"memory.stat");
        let dir = Dir::with_kept(tmp.path(), "", Some(fd.as_fd()), listed);
        assert_eq!(dir.u64("memory.peak").ok(), Some(1));
        assert!(dir
            .read("memory.events.local")
            .is_err_and(|e| e.is_missing()));
        assert_eq!(dir.u64("memory.stat").ok(), Some(1));
        let unlisted = Dir::with_kept(tmp.path(), "", Some(fd.as_fd()), Listed::ALL);
        assert_eq!(unlisted.u64("memory.events.local").ok(), Some(1));
    }

    /// A missing file is `Missing` (skipped silently); a malformed one names its path.
    #[test]
    fn errors_name_the_file() {
        let base = std::env::temp_dir().join(format!("nodex-cgdir-{}", std::process::id()));
        std::fs::create_dir_all(&base).expect("mkdir");
        std::fs::write(base.join("memory.current"), b"12x\n").expect("write");
        std::fs::write(base.join("pids.current"), b"7\n").expect("write");
        let dir = Dir::new(base.clone());
        let bad = dir.u64("memory.current").unwrap_err();
        let missing = dir.u64("memory.peak").unwrap_err();
        let good = dir.u64("pids.current");
        let gone = Dir::new(base.join("gone")).u64("pids.current").unwrap_err();
        let _ = std::fs::remove_dir_all(&base);
        assert!(
            matches!(&bad, CgroupError::Parse { path, .. } if *path == base.join("memory.current")),
            "{bad:?}"
        );
        assert!(bad.to_string().contains("memory.current"));
        assert!(matches!(missing, CgroupError::Missing("memory.peak")));
        assert!(matches!(gone, CgroupError::Missing("pids.current")));
        assert_eq!(good.ok(), Some(7));
    }
}
