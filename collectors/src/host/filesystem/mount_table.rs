//! The root mount table (`/proc/1/mountinfo`, or `/proc/self/mountinfo` when pid 1 is hidden),
//! shared by the collectors that need it and parsed again only when the kernel says it changed.
//!
//! procfs makes a mount table file pollable (proc(5)): once a mount or unmount happens in its
//! namespace after the file was opened (or last polled), `poll` reports `POLLPRI`. The table
//! keeps the descriptor it read and polls it without waiting on each use; the kernel's
//! formatting of the table and our parsing happen only after a change. A file that is not on
//! procfs (a fixture tree) is read on every use.

use std::fs::File;
use std::io::Read;
use std::sync::{Arc, Mutex};

use rustix::event::{poll, PollFd, PollFlags};

use super::mountinfo::{parse_mountinfo, Mount};
use crate::collector::Settings;
use crate::error::CollectError;
use crate::fdcache::{self, Kind};
use crate::roots::Roots;

/// A parsed mount table and the number of times it has been (re)read, so that users can keep
/// what they derive from it until the number changes.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Counts reads of the table: equal numbers mean the same mounts.
    pub generation: u64,
    /// The mounts, in file order.
    pub mounts: Arc<Vec<Mount>>,
}

/// The mount table of one set of roots; see the module documentation.
#[derive(Default)]
pub struct MountTable {
    state: Mutex<Option<Cached>>,
}

struct Cached {
    /// The descriptor read last, kept open only when it can be polled for changes.
    watch: Option<File>,
    snapshot: Snapshot,
}

impl MountTable {
    /// The table shared by every collector built from `settings`.
    pub fn shared(settings: &Settings) -> Arc<MountTable> {
        settings
            .shared
            .get_or_init("mount_table", MountTable::default)
    }

    /// The current mounts, read again only if they may have changed since the last call.
    pub fn snapshot(&self, roots: &Roots) -> Result<Snapshot, CollectError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cached) = state.as_ref() {
            if cached.watch.as_ref().is_some_and(|file| !changed(file)) {
                return Ok(cached.snapshot.clone());
            }
        }
        let generation = state.as_ref().map_or(0, |c| c.snapshot.generation) + 1;
        let (file, mounts) = read_table(roots)?;
        let on_procfs = fdcache::kind(&file) == Some(Kind::Proc);
        let snapshot = Snapshot {
            generation,
            mounts: Arc::new(mounts),
        };
        *state = Some(Cached {
            watch: on_procfs.then_some(file),
            snapshot: snapshot.clone(),
        });
        Ok(snapshot)
    }
}

/// True unless a zero-timeout poll says the table is unchanged since it was opened or last
/// polled; an error counts as a change, so the table is read again.
fn changed(file: &File) -> bool {
    let mut fds = [PollFd::new(file, PollFlags::PRI)];
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    match poll(&mut fds, Some(&zero)) {
        Ok(_) => fds[0]
            .revents()
            .intersects(PollFlags::PRI | PollFlags::ERR | PollFlags::NVAL),
        Err(_) => true,
    }
}

/// Opens and parses pid 1's mount table, or our own when pid 1's is absent. The descriptor is
/// opened before it is read, so a change during the read shows in its next poll.
fn read_table(roots: &Roots) -> Result<(File, Vec<Mount>), CollectError> {
    let path = roots.proc("1/mountinfo");
    let (path, file) = match File::open(&path) {
        Ok(file) => (path, file),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::debug!("reading root mounts failed, falling back to self mounts");
            let path = roots.proc("self/mountinfo");
            let file = File::open(&path).map_err(|e| CollectError::io(&path, e))?;
            (path, file)
        }
        Err(e) => return Err(CollectError::io(&path, e)),
    };
    let mut bytes = Vec::with_capacity(4096);
    (&file)
        .read_to_end(&mut bytes)
        .map_err(|e| CollectError::io(&path, e))?;
    let mounts = parse_mountinfo(&bytes).map_err(|e| CollectError::parse(&path, e))?;
    Ok((file, mounts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixture_table_is_read_on_every_use() {
        let dir_tmp = tempfile::tempdir().unwrap();
        let dir = dir_tmp.path().to_path_buf();
        std::fs::create_dir_all(dir.join("proc/1")).unwrap();
        let file = dir.join("proc/1/mountinfo");
        std::fs::write(&file, "27 1 254:0 / / rw shared:1 - ext4 /dev/vda rw\n").unwrap();
        let roots = Roots::fixture(&dir);
        let table = MountTable::default();
        let first = table.snapshot(&roots).unwrap();
        assert_eq!(first.mounts.len(), 1);
        std::fs::write(
            &file,
            "27 1 254:0 / / rw shared:1 - ext4 /dev/vda rw\n28 27 0:5 / /boot rw - vfat /dev/vdb rw\n",
        )
        .unwrap();
        let second = table.snapshot(&roots).unwrap();
        assert_eq!(second.mounts.len(), 2);
        assert_ne!(first.generation, second.generation);
        std::fs::write(&file, "garbage\n").unwrap();
        assert!(table.snapshot(&roots).is_err());
    }

    #[test]
    fn the_live_table_is_kept_until_it_changes() {
        let roots = Roots::default();
        let table = MountTable::default();
        let first = table.snapshot(&roots).unwrap();
        let second = table.snapshot(&roots).unwrap();
        assert!(!first.mounts.is_empty());
        // Nothing was mounted in between (unless another process did, which this test cannot
        // rule out: then the table was rightly read again).
        if second.generation == first.generation {
            assert!(Arc::ptr_eq(&first.mounts, &second.mounts));
        }
    }
}
