//! `--collector.container_logs.count-lines`: reads the bytes appended to a container's plain log
//! files since the last scrape, once each, and counts lines and bytes per stream.
//!
//! At first sight of a container reading starts at each file's end (history is not read). A new
//! current file is read from its start; a known file renamed by a rotation has its tail read from
//! where the last scrape stopped; a rotated file never seen as current (created and rotated
//! between two scrapes, or a `copytruncate` copy) is not read. A file that shrank was truncated:
//! reading restarts at 0. Files are opened with `O_NOFOLLOW | O_NONBLOCK` and must still be the
//! regular file `lstat` saw (same inode). A per-scrape byte budget bounds the cost; what it
//! leaves unread is read by the next scrapes.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::files::Role;
use super::lines::{Counter, Format};
use super::track::FileStat;

/// Read state of one file.
#[derive(Clone, Debug, Default)]
struct FileRead {
    offset: u64,
    counter: Counter,
}

/// Read state of one container's files and the totals of files gone.
#[derive(Clone, Debug, Default)]
pub struct Reads {
    files: HashMap<u64, FileRead>,
    gone: Counter,
}

const CHUNK: usize = 64 * 1024;

impl Reads {
    /// The state at first sight: every file counts from its current end.
    pub fn new(files: &[FileStat]) -> Self {
        let files = files
            .iter()
            .filter(|f| f.role != Role::Compressed)
            .map(|f| {
                (
                    f.ino,
                    FileRead {
                        offset: f.size,
                        counter: Counter::default(),
                    },
                )
            })
            .collect();
        Reads {
            files,
            gone: Counter::default(),
        }
    }

    /// Reads what was appended to the files of `dir` (as `scan` saw them, `names` aligned with
    /// `files`), spending at most `budget` bytes.
    pub fn update(
        &mut self,
        dir: &Path,
        files: &[FileStat],
        names: &[OsString],
        format: Format,
        budget: &mut u64,
    ) {
        let mut next: HashMap<u64, FileRead> = HashMap::with_capacity(files.len());
        for (f, name) in files.iter().zip(names) {
            if f.role == Role::Compressed || next.contains_key(&f.ino) {
                continue;
            }
            let mut state = match self.files.remove(&f.ino) {
                Some(s) => s,
                None if f.role == Role::Current => FileRead::default(),
                None => FileRead {
                    offset: f.size,
                    counter: Counter::default(),
                },
            };
            if f.size < state.offset {
                // Truncated in place: keep the totals, drop the partial entry.
                state.counter.drop_partial();
                state.offset = 0;
            }
            if f.size > state.offset && *budget > 0 {
                let n = read_range(
                    &dir.join(name),
                    f.ino,
                    state.offset,
                    f.size.min(state.offset.saturating_add(*budget)),
                    format,
                    &mut state.counter,
                );
                state.offset += n;
                *budget = budget.saturating_sub(n);
            }
            next.insert(f.ino, state);
        }
        for (_, s) in self.files.drain() {
            add(&mut self.gone, &s.counter);
        }
        self.files = next;
    }

    /// Lines and bytes per stream so far.
    pub fn totals(&self) -> ([u64; 2], [u64; 2]) {
        let mut t = Counter::default();
        add(&mut t, &self.gone);
        for s in self.files.values() {
            add(&mut t, &s.counter);
        }
        (t.lines, t.bytes)
    }
}

fn add(to: &mut Counter, from: &Counter) {
    for i in 0..2 {
        to.lines[i] += from.lines[i];
        to.bytes[i] += from.bytes[i];
    }
    to.unknown += from.unknown;
}

/// Reads `[from, to)` of the regular file `path` with inode `ino` into `counter`; the number of
/// bytes read (short on error, 0 if the file is not that regular file any more).
fn read_range(
    path: &Path,
    ino: u64,
    from: u64,
    to: u64,
    format: Format,
    counter: &mut Counter,
) -> u64 {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) => {
            tracing::debug!("{}: {e}", path.display());
            return 0;
        }
    };
    match file.metadata() {
        Ok(m) if m.file_type().is_file() && m.ino() == ino => {}
        _ => return 0,
    }
    let mut buf = vec![0u8; CHUNK.min((to - from) as usize)];
    let mut at = from;
    while at < to {
        let want = ((to - at) as usize).min(buf.len());
        match file.read_at(&mut buf[..want], at) {
            Ok(0) => break,
            Ok(n) => {
                counter.feed(format, &buf[..n]);
                at += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::debug!("{}: {e}", path.display());
                break;
            }
        }
    }
    at - from
}
