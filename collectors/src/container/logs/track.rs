//! The bytes-written counter of one container's logs, kept across rotations (pure: the caller
//! passes each scrape's `stat` results).
//!
//! Every plain (not gzipped) log file is followed by inode. Between two scrapes a file known by
//! its inode adds its growth, wherever a rotation renamed it to, so the bytes written between the
//! last scrape and a rename rotation are counted from the rotated file's final size. A plain file
//! with a new inode adds its whole size (the new current file, or one created and rotated between
//! two scrapes). Gzipped files hold bytes already counted and add nothing.
//!
//! A file that shrinks in place was truncated (`copytruncate`, or a writer that reopened it with
//! `O_TRUNC`): its new size is added. If a new plain rotated file at least as large as the file
//! was appeared in the same interval, it is taken for the copy and the copy's size beyond the last
//! seen size is added too (`copytruncate` exactly); otherwise bytes written between the last
//! scrape and the truncation are lost. The counter never decreases.
//!
//! Rotations count the same way: a current file renamed away or gone since the last scrape, a
//! truncation, and a plain rotated file not seen before (created and rotated between two
//! scrapes, when they come further apart than rotations do). Files present at first sight are
//! not rotations seen.

use std::collections::HashMap;

use super::files::Role;

/// One log file as `stat` saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStat {
    /// Inode number.
    pub ino: u64,
    /// Size in bytes (`st_size`).
    pub size: u64,
    /// Its role by name.
    pub role: Role,
}

/// The state kept for one container between scrapes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tracker {
    /// Plain files by inode: last seen size and whether the file was a current one.
    files: HashMap<u64, (u64, bool)>,
    /// Bytes written (counter).
    pub written: u64,
    /// Rotations seen: a current file renamed away or gone, truncated in place, or a rotated
    /// file that appeared since the last scrape (counter).
    pub rotations: u64,
    /// In-place truncations seen (counter).
    pub truncations: u64,
}

impl Tracker {
    /// The state at first sight: the plain files' bytes count as written.
    pub fn new(files: &[FileStat]) -> Self {
        let mut t = Tracker::default();
        t.update(files);
        t.rotations = 0;
        t
    }

    /// Takes one scrape's view of the container's files.
    pub fn update(&mut self, files: &[FileStat]) {
        let mut now: HashMap<u64, (u64, bool)> = HashMap::with_capacity(files.len());
        let mut fresh: Vec<FileStat> = Vec::new();
        let mut truncated: Vec<(u64, u64)> = Vec::new();
        for f in files.iter().filter(|f| f.role != Role::Compressed) {
            let current = f.role == Role::Current;
            if now.contains_key(&f.ino) {
                continue;
            }
            now.insert(f.ino, (f.size, current));
            match self.files.get(&f.ino) {
                // A rotated inode that is now current (or a rotated one that shrank) is a new
                // file that reused a deleted file's inode number (Docker's `max-file` deletes
                // the oldest file just before creating the new one).
                Some(&(before, was_current)) if !was_current && (current || f.size < before) => {
                    fresh.push(*f)
                }
                Some(&(before, was_current)) => {
                    if f.size >= before {
                        self.written = self.written.saturating_add(f.size - before);
                    } else {
                        truncated.push((before, f.size));
                    }
                    if was_current && !current {
                        self.rotations += 1;
                    }
                }
                None => fresh.push(*f),
            }
        }
        self.rotations += self
            .files
            .iter()
            .filter(|(ino, (_, was_current))| *was_current && !now.contains_key(ino))
            .count() as u64;
        for (before, after) in truncated {
            self.truncations += 1;
            self.rotations += 1;
            let copy = fresh
                .iter()
                .position(|f| f.role == Role::Rotated && f.size >= before);
            let copied = copy.map_or(0, |i| fresh.swap_remove(i).size - before);
            self.written = self.written.saturating_add(copied).saturating_add(after);
        }
        for f in fresh {
            self.written = self.written.saturating_add(f.size);
            if f.role == Role::Rotated {
                self.rotations += 1;
            }
        }
        self.files = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(ino: u64, size: u64) -> FileStat {
        FileStat {
            ino,
            size,
            role: Role::Current,
        }
    }
    fn rot(ino: u64, size: u64) -> FileStat {
        FileStat {
            ino,
            size,
            role: Role::Rotated,
        }
    }
    fn gz(ino: u64, size: u64) -> FileStat {
        FileStat {
            ino,
            size,
            role: Role::Compressed,
        }
    }

    #[test]
    fn growth_is_counted() {
        let mut t = Tracker::new(&[cur(1, 100)]);
        assert_eq!(t.written, 100);
        t.update(&[cur(1, 150)]);
        assert_eq!((t.written, t.rotations), (150, 0));
    }

    #[test]
    fn rename_rotation_counts_the_final_size() {
        // 100 seen, then the file grew to 180 and was renamed; the new file has 30.
        let mut t = Tracker::new(&[cur(1, 100)]);
        t.update(&[cur(2, 30), rot(1, 180)]);
        assert_eq!((t.written, t.rotations), (210, 1));
        // Next interval: the rotated file is gzipped (new inode, not counted), a second
        // rotation renames inode 2 at 90 bytes.
        t.update(&[cur(3, 5), rot(2, 90), gz(9, 40)]);
        assert_eq!((t.written, t.rotations), (275, 2));
    }

    #[test]
    fn rotated_and_gzipped_between_scrapes_loses_only_the_tail() {
        let mut t = Tracker::new(&[cur(1, 100)]);
        t.update(&[cur(2, 10), gz(7, 30)]);
        assert_eq!((t.written, t.rotations), (110, 1));
    }

    #[test]
    fn file_created_and_rotated_between_scrapes_counts_whole() {
        let mut t = Tracker::new(&[cur(1, 100)]);
        t.update(&[cur(3, 7), rot(2, 50), rot(1, 120)]);
        // Two rotations: inode 1's, and inode 2's, which was made and rotated in between.
        assert_eq!((t.written, t.rotations), (100 + 20 + 50 + 7, 2));
    }

    #[test]
    fn kubelet_restart_is_not_a_rotation() {
        let mut t = Tracker::new(&[cur(1, 100)]);
        t.update(&[cur(1, 100), cur(2, 40)]);
        assert_eq!((t.written, t.rotations), (140, 0));
    }

    #[test]
    fn copytruncate_counts_the_copy_and_stays_monotonic() {
        let mut t = Tracker::new(&[cur(1, 100)]);
        // Grew to 160, copied to a new rotated file, truncated, then 20 new bytes.
        t.update(&[cur(1, 20), rot(5, 160)]);
        assert_eq!((t.written, t.rotations, t.truncations), (180, 1, 1));
        // Truncated without a copy: only the new bytes count.
        t.update(&[cur(1, 3), rot(5, 160)]);
        assert_eq!((t.written, t.truncations), (183, 2));
        // Truncated to zero: nothing lost, nothing added, never negative.
        t.update(&[cur(1, 0), rot(5, 160)]);
        assert_eq!(t.written, 183);
    }

    #[test]
    fn reused_inode_is_a_new_file_not_a_truncation() {
        // max-file=2: rotated inode 2 deleted, current 1 renamed over it, new current reuses 2.
        let mut t = Tracker::new(&[cur(1, 100), rot(2, 500)]);
        t.update(&[cur(2, 10), rot(1, 120)]);
        assert_eq!((t.written, t.rotations, t.truncations), (630, 1, 0));
        // A rotated file replaced by a smaller rotated file with the same inode number: a new
        // file, made and rotated since the last scrape.
        t.update(&[cur(2, 10), rot(1, 40)]);
        assert_eq!((t.written, t.rotations, t.truncations), (670, 2, 0));
    }

    #[test]
    fn duplicate_inodes_count_once() {
        let mut t = Tracker::new(&[cur(1, 10), rot(1, 10)]);
        assert_eq!(t.written, 10);
        t.update(&[cur(1, 12), rot(1, 12)]);
        assert_eq!(t.written, 12);
    }
}
