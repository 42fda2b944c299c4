//! The per-scrape walk of the cgroup trees: every directory is opened relative to its
//! parent's descriptor and listed with `getdents64` into one buffer, so no path is looked up
//! twice. The descriptors are kept for the scrape's reads and for the next walk, which reuses
//! the descriptor of every directory it finds again (same name, same inode) instead of opening
//! it anew, and on a cgroup file system does not list again a directory that had no
//! subdirectory and still has none (its link count, which kernfs keeps at two plus its
//! subdirectories, says so). Past the descriptor budget, such a leaf's listing is kept without
//! its descriptor, and the next walk checks it with one `stat` relative to its parent (same
//! inode, still two links) instead of opening and listing it again.
//!
//! Held descriptors do not keep a removed cgroup in the kernel as a dying one (checked on the
//! churn VM, tests/vm_cgroup_v2.rs), and the walk drops the descriptor of every directory it
//! no longer finds, so none outlives the next walk after its cgroup is removed.

use std::ffi::CString;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::fs::{fstat, fstatfs, openat, statat, AtFlags, FileType, Mode, RawDir, CWD};

use super::dir::{Listed, DIR_FLAGS};
use super::{Hierarchies, Kept, KeptDir, KeptDirs};
use crate::hash::FastMap;

/// A child found by the walk is a real directory, never a symlink (as `read_dir`'s file type).
const CHILD_FLAGS: rustix::fs::OFlags = DIR_FLAGS.union(rustix::fs::OFlags::NOFOLLOW);

/// The most directory descriptors one walk keeps, whatever the descriptor limit.
const MAX_KEPT: u64 = 1 << 16;

/// How long the listing of a directory without subdirectories is reused. The link count shows
/// a new subdirectory at once, but not a file that appears (on cgroup v2, a controller enabled
/// in the parent's `cgroup.subtree_control` adds its files to the children): such a file is
/// read from the next listing, at most this much later.
pub const RELIST_AFTER: Duration = Duration::from_secs(60);

/// `statfs` magic of cgroup v1 and cgroup2 file systems (linux/magic.h).
const CGROUP_MAGICS: [i64; 2] = [0x0027_e0eb, 0x6367_7270];

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
/// cgroups `wanted` accepts are kept, within the budget, in `hier` (the groups read through
/// them) and for the next walk, which reuses those of `prev` it finds again.
pub(crate) fn walk(
    hier: &mut Hierarchies,
    max_depth: usize,
    wanted: &dyn Fn(&str) -> bool,
    prev: Option<&Kept>,
) -> Vec<String> {
    let mut walker = Walker {
        max_depth,
        wanted,
        budget: kept_budget(),
        ids: IdSet::default(),
        dents: vec![MaybeUninit::uninit(); 16 * 1024],
        now: Instant::now(),
        cgroupfs: false,
        takes_ids: true,
    };
    let mut kept = Kept::default();
    for (root, takes_ids) in hier.walk_roots() {
        walker.takes_ids = takes_ids;
        let mut dirs = FastMap::default();
        if let Ok(fd) = openat(CWD, &root, DIR_FLAGS, Mode::empty()) {
            walker.cgroupfs = fstatfs(&fd).is_ok_and(|s| CGROUP_MAGICS.contains(&{ s.f_type }));
            let old = prev.and_then(|k| k.roots.iter().find(|(r, _)| *r == root));
            let found = Found {
                fd: Arc::new(fd),
                ino: 0,
                reused: None,
            };
            walker.dir(found, String::new(), 0, old.map(|(_, m)| m), &mut dirs);
        }
        kept.roots.push((root, dirs));
    }
    kept.fds = kept
        .roots
        .iter()
        .flat_map(|(_, dirs)| dirs.values().filter_map(|d| d.fd.as_ref()))
        .map(|fd| fd.as_raw_fd())
        .collect();
    kept.fds.sort_unstable();
    hier.kept = Arc::new(kept);
    // Collected in a set: each cgroup is found once per hierarchy, and sorting all of them
    // before dropping repeats was 3% of a 1000-container scrape.
    let mut ids: Vec<String> = walker.ids.into_iter().collect();
    ids.sort_unstable();
    ids
}

/// The cgroup ids a walk found, each once.
type IdSet =
    std::collections::HashSet<String, std::hash::BuildHasherDefault<crate::hash::WordHash>>;

struct Walker<'c> {
    max_depth: usize,
    wanted: &'c dyn Fn(&str) -> bool,
    budget: usize,
    ids: IdSet,
    dents: Vec<MaybeUninit<u8>>,
    now: Instant,
    /// The hierarchy being walked is a cgroup file system (kernfs link counts).
    cgroupfs: bool,
    /// The cgroups of the hierarchy being walked are containers (not so for hybrid's
    /// `unified`, walked for its descriptors only).
    takes_ids: bool,
}

/// A directory the walk is about to visit.
struct Found<'p> {
    fd: Arc<OwnedFd>,
    /// Its inode number (from its parent's listing; 0 for a root).
    ino: u64,
    /// The previous walk's entry when its descriptor is reused.
    reused: Option<&'p KeptDir>,
}

impl Walker<'_> {
    /// Whether `found`'s previous listing still holds: it had no subdirectory, is recent, and
    /// the link count shows none now.
    fn listing_holds(&self, found: &Found<'_>) -> Option<Listed> {
        let prev = found.reused?;
        (self.leaf_listing_fresh(prev) && fstat(found.fd.as_fd()).is_ok_and(|st| st.st_nlink == 2))
            .then_some(prev.listed)
    }

    fn dir(
        &mut self,
        found: Found<'_>,
        id: String,
        depth: usize,
        old: Option<&KeptDirs>,
        kept: &mut KeptDirs,
    ) {
        let mut children: Vec<(CString, u64)> = Vec::new();
        let mut listed = Listed::ALL;
        let mut leaf_listed_at = None;
        if self.max_depth == 0 || depth < self.max_depth {
            if let Some(prev) = self.listing_holds(&found) {
                listed = prev;
                leaf_listed_at = found.reused.and_then(|p| p.leaf_listed_at);
            } else {
                listed = self.list(&found.fd, &mut children);
                leaf_listed_at = children.is_empty().then_some(self.now);
            }
        }
        let key = if id.is_empty() {
            "/".to_string()
        } else {
            id.clone()
        };
        for (name, ino) in children {
            let Ok(name_str) = name.to_str() else {
                continue;
            };
            let child_id = format!("{id}/{name_str}");
            let reused = old
                .and_then(|m| m.get(child_id.as_str()))
                .filter(|d| d.ino == ino && ino != 0);
            if let Some(prev) = reused.filter(|d| d.fd.is_none()) {
                if self.unopened_leaf_holds(&found.fd, &name, prev) {
                    kept.insert(
                        child_id.clone().into_boxed_str(),
                        KeptDir {
                            fd: None,
                            ino,
                            listed: prev.listed,
                            leaf_listed_at: prev.leaf_listed_at,
                        },
                    );
                    if self.takes_ids {
                        self.ids.insert(child_id);
                    }
                    continue;
                }
            }
            let fd = match reused.and_then(|d| d.fd.as_ref()) {
                Some(fd) => Arc::clone(fd),
                None => match openat(
                    found.fd.as_fd(),
                    name.as_c_str(),
                    CHILD_FLAGS,
                    Mode::empty(),
                ) {
                    Ok(fd) => Arc::new(fd),
                    Err(_) => continue,
                },
            };
            self.dir(Found { fd, ino, reused }, child_id, depth + 1, old, kept);
        }
        if (self.wanted)(&key) {
            // Beyond the budget a leaf's listing is still kept, for the next walk to reuse
            // without opening it (`unopened_leaf_holds`).
            let fd = (self.budget > 0).then(|| {
                self.budget -= 1;
                found.fd
            });
            if fd.is_some() || leaf_listed_at.is_some() {
                let entry = KeptDir {
                    fd,
                    ino: found.ino,
                    listed,
                    leaf_listed_at,
                };
                kept.insert(key.clone().into_boxed_str(), entry);
            }
        }
        if self.takes_ids {
            self.ids.insert(key);
        }
    }

    /// Whether `prev` was listed as a leaf on a cgroup file system (where the link count tells
    /// whether it still is one) less than [`RELIST_AFTER`] ago.
    fn leaf_listing_fresh(&self, prev: &KeptDir) -> bool {
        self.cgroupfs
            && prev
                .leaf_listed_at
                .is_some_and(|at| self.now.saturating_duration_since(at) < RELIST_AFTER)
    }

    /// Whether the previous listing of `name` in `parent`, a directory kept without its
    /// descriptor, still holds, checked with one `stat` instead of opening and listing it: a
    /// recent listing of a leaf, the same directory (inode), and still no subdirectory.
    fn unopened_leaf_holds(&self, parent: &OwnedFd, name: &CString, prev: &KeptDir) -> bool {
        self.leaf_listing_fresh(prev)
            && statat(parent.as_fd(), name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW).is_ok_and(|st| {
                st.st_nlink == 2
                    && st.st_ino == prev.ino
                    && FileType::from_raw_mode(st.st_mode) == FileType::Directory
            })
    }

    /// Lists `fd`: its subdirectories (name, inode) into `children`, the optional files it holds.
    fn list(&mut self, fd: &OwnedFd, children: &mut Vec<(CString, u64)>) -> Listed {
        let mut listed = Listed::NONE;
        // A descriptor reused from the previous walk was read to its end then.
        if rustix::fs::seek(fd, rustix::fs::SeekFrom::Start(0)).is_err() {
            return Listed::ALL;
        }
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
                children.push((name.to_owned(), e.ino()));
            } else {
                listed.see(name.to_bytes());
            }
        }
        listed
    }
}
