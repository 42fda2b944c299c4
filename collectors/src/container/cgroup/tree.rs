//! The per-scrape walk of the cgroup trees: every directory is opened relative to its
//! parent's descriptor and listed with `getdents64` into one buffer, so no path is looked up
//! twice, and the descriptors of wanted cgroups are kept for the scrape's reads.

use std::ffi::CString;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;

use rustix::fs::{openat, statat, AtFlags, FileType, Mode, RawDir, CWD};

use super::dir::{Listed, DIR_FLAGS};
use super::{Hierarchies, Kept, KeptDirs};
use crate::hash::FastMap;

/// A child found by the walk is a real directory, never a symlink (as `read_dir`'s file type).
const CHILD_FLAGS: rustix::fs::OFlags = DIR_FLAGS.union(rustix::fs::OFlags::NOFOLLOW);

/// The most directory descriptors one walk keeps, whatever the descriptor limit.
const MAX_KEPT: u64 = 1 << 16;

/// How many directory descriptors a walk may keep: half of what the soft descriptor limit
/// leaves after the descriptors kept for procfs/sysfs files and some headroom for sockets,
/// capped at [`MAX_KEPT`]. Directories beyond it are opened again when a group reads them.
fn kept_budget() -> usize {
    use rustix::process::{getrlimit, Resource};
    let soft = getrlimit(Resource::Nofile).current.unwrap_or(MAX_KEPT * 4);
    let reserved = crate::fdcache::MAX_OPEN as u64 + 256;
    (soft.saturating_sub(reserved) / 2).min(MAX_KEPT) as usize
}

/// Walks every hierarchy root of `hier` down to `max_depth` levels (0: no limit) and returns
/// the cgroup ids found (`/` for a root; sorted, without repeats). The descriptors of the
/// cgroups `wanted` accepts are kept in `hier` until it is dropped, within the budget.
pub fn walk(
    hier: &mut Hierarchies,
    max_depth: usize,
    wanted: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    let mut walker = Walker {
        max_depth,
        wanted,
        budget: kept_budget(),
        ids: Vec::new(),
        dents: vec![MaybeUninit::uninit(); 16 * 1024],
    };
    let mut kept = Kept::default();
    for root in hier.walk_roots() {
        let mut fds = FastMap::default();
        if let Ok(fd) = openat(CWD, &root, DIR_FLAGS, Mode::empty()) {
            walker.dir(fd, String::new(), 0, &mut fds);
        }
        kept.roots.push((root, fds));
    }
    kept.fds = kept
        .roots
        .iter()
        .flat_map(|(_, dirs)| dirs.values().map(|(fd, _)| fd.as_raw_fd()))
        .collect();
    kept.fds.sort_unstable();
    hier.kept = Arc::new(kept);
    let mut ids = walker.ids;
    ids.sort();
    ids.dedup();
    ids
}

struct Walker<'c> {
    max_depth: usize,
    wanted: &'c dyn Fn(&str) -> bool,
    budget: usize,
    ids: Vec<String>,
    dents: Vec<MaybeUninit<u8>>,
}

impl Walker<'_> {
    fn dir(&mut self, fd: OwnedFd, id: String, depth: usize, kept: &mut KeptDirs) {
        let mut children: Vec<CString> = Vec::new();
        let mut listed = Listed::ALL;
        if self.max_depth == 0 || depth < self.max_depth {
            listed = Listed::NONE;
            let mut entries = RawDir::new(fd.as_fd(), &mut self.dents);
            while let Some(Ok(e)) = entries.next() {
                let name = e.file_name();
                if matches!(name.to_bytes(), b"." | b"..") {
                    continue;
                }
                let is_dir = match e.file_type() {
                    FileType::Directory => true,
                    FileType::Unknown => statat(fd.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW)
                        .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory),
                    _ => false,
                };
                if is_dir {
                    children.push(name.to_owned());
                } else {
                    listed.see(name.to_bytes());
                }
            }
        }
        let key = if id.is_empty() {
            "/".to_string()
        } else {
            id.clone()
        };
        for name in children {
            let Ok(name_str) = name.to_str() else {
                continue;
            };
            if let Ok(child) = openat(fd.as_fd(), name.as_c_str(), CHILD_FLAGS, Mode::empty()) {
                self.dir(child, format!("{id}/{name_str}"), depth + 1, kept);
            }
        }
        if self.budget > 0 && (self.wanted)(&key) {
            self.budget -= 1;
            kept.insert(key.clone().into_boxed_str(), (fd, listed));
        }
        self.ids.push(key);
    }
}
