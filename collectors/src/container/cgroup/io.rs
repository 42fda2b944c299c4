//! Block I/O: v1 BFQ, CFQ or blk-throttle `blkio.*` files, v2 `io.stat`.

use super::parse::{blkio, io_stat, BlkioEntry, IoStat};
use super::{CgResult, CgroupError, Ctrl, Hierarchies};

/// Per-device I/O of one container: (bytes, operations) entries.
pub type DiskIo = (Vec<BlkioEntry>, Vec<BlkioEntry>);

/// BFQ's recursive files (`sectors` only with its debug statistics). These, CFQ's and
/// blk-throttle's recursive files are in [`super::dir::OPTIONAL`]: a kernel may lack them.
pub(super) const BFQ_SECTORS: &str = "blkio.bfq.sectors_recursive";
pub(super) const BFQ_SERVICED: &str = "blkio.bfq.io_serviced_recursive";
pub(super) const BFQ_SERVICE_BYTES: &str = "blkio.bfq.io_service_bytes_recursive";
/// CFQ's recursive files.
pub(super) const CFQ_SECTORS: &str = "blkio.sectors_recursive";
pub(super) const CFQ_SERVICED: &str = "blkio.io_serviced_recursive";
pub(super) const CFQ_SERVICE_BYTES: &str = "blkio.io_service_bytes_recursive";
/// blk-throttle's recursive files: [`V1_GROUPS`]' fourth group.
pub(super) const THROTTLE_RECURSIVE: &str = "blkio.throttle.io_serviced_recursive";
pub(super) const THROTTLE_RECURSIVE_BYTES: &str = "blkio.throttle.io_service_bytes_recursive";

/// The v1 files runc's `BlkioGroup.GetStats` (libcontainer/cgroups/fs/blkio.go) tries, in its
/// order: (the group's first file, its `io_serviced`, its `io_service_bytes`). The first group
/// whose first file has an entry supplies both tables: BFQ (with or without its debug files),
/// CFQ, then blk-throttle's recursive and plain files. A kernel with BFQ built in has the
/// `blkio.bfq.*` files everywhere but fills them only for devices BFQ schedules.
const V1_GROUPS: [[&str; 3]; 5] = [
    [BFQ_SECTORS, BFQ_SERVICED, BFQ_SERVICE_BYTES],
    [BFQ_SERVICED, BFQ_SERVICED, BFQ_SERVICE_BYTES],
    [CFQ_SECTORS, CFQ_SERVICED, CFQ_SERVICE_BYTES],
    [
        THROTTLE_RECURSIVE,
        THROTTLE_RECURSIVE,
        THROTTLE_RECURSIVE_BYTES,
    ],
    [
        "blkio.throttle.io_serviced",
        "blkio.throttle.io_serviced",
        "blkio.throttle.io_service_bytes",
    ],
];

/// The (operation, counter) pairs of one `io.stat` line that go to one v1 table.
type OpCounters = [(&'static str, Option<u64>); 2];

/// v2 `io.stat` lines as runc maps them to v1's tables: `rbytes`/`wbytes` to service bytes
/// `Read`/`Write`, `rios`/`wios` to serviced; a counter the line lacks has no entry.
pub fn io_stat_tables(stats: &[IoStat]) -> DiskIo {
    let entries = |pick: fn(&IoStat) -> OpCounters| {
        stats
            .iter()
            .flat_map(|s| {
                pick(s).into_iter().filter_map(|(op, v)| {
                    v.map(|value| BlkioEntry {
                        major: s.major,
                        minor: s.minor,
                        op: op.to_string(),
                        value,
                    })
                })
            })
            .collect()
    };
    (
        entries(|s| [("Read", s.rbytes), ("Write", s.wbytes)]),
        entries(|s| [("Read", s.rios), ("Write", s.wios)]),
    )
}

impl Hierarchies {
    /// Per-device I/O of container `id`: v2 `io.stat` mapped to v1's tables, or the first v1
    /// file group with an entry (none: empty tables).
    pub fn io(&self, id: &str) -> CgResult<DiskIo> {
        let dir = self.need(Ctrl::Blkio, id, "io.stat")?;
        if self.v2 {
            return dir.parse("io.stat", |b| Ok(io_stat_tables(&io_stat(b)?)));
        }
        // `None`: the file is not there (or unreadable), as runc's error on a group's first file.
        let table = |file: &'static str| match dir.read(file) {
            Ok(b) => blkio(&b).map(Some).map_err(|error| CgroupError::Parse {
                path: dir.path().join(file),
                error,
            }),
            Err(_) => Ok(None),
        };
        for [first, serviced, bytes] in V1_GROUPS {
            match table(first) {
                Ok(Some(t)) if !t.is_empty() => {
                    return Ok((
                        table(bytes)?.unwrap_or_default(),
                        table(serviced)?.unwrap_or_default(),
                    ))
                }
                // blk-throttle's recursive counts include the cgroup's own (blkg_rwstat_recursive_sum
                // walks the cgroup and its descendants): when the recursive file is there and
                // empty the plain one is empty too, so runc's last group is not read.
                Ok(Some(_)) if first == THROTTLE_RECURSIVE => break,
                _ => continue,
            }
        }
        Ok((Vec::new(), Vec::new()))
    }
}
