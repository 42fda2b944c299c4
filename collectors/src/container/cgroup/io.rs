//! Block I/O: v1 BFQ, CFQ or blk-throttle `blkio.*` files, v2 `io.stat`.

use super::parse::{blkio, io_stat, BlkioEntry, IoStat};
use super::{CgResult, CgroupError, Ctrl, Hierarchies};

/// Per-device I/O of one container: (bytes, operations) entries.
pub type DiskIo = (Vec<BlkioEntry>, Vec<BlkioEntry>);

/// The v1 files runc's `BlkioGroup.GetStats` (libcontainer/cgroups/fs/blkio.go) tries, in its
/// order: (the group's first file, its `io_serviced`, its `io_service_bytes`). The first group
/// whose first file has an entry supplies both tables: BFQ (with or without its debug files),
/// CFQ, then blk-throttle's recursive and plain files. A kernel with BFQ built in has the
/// `blkio.bfq.*` files everywhere but fills them only for devices BFQ schedules.
const V1_GROUPS: [[&str; 3]; 5] = [
    [
        "blkio.bfq.sectors_recursive",
        "blkio.bfq.io_serviced_recursive",
        "blkio.bfq.io_service_bytes_recursive",
    ],
    [
        "blkio.bfq.io_serviced_recursive",
        "blkio.bfq.io_serviced_recursive",
        "blkio.bfq.io_service_bytes_recursive",
    ],
    [
        "blkio.sectors_recursive",
        "blkio.io_serviced_recursive",
        "blkio.io_service_bytes_recursive",
    ],
    [
        "blkio.throttle.io_serviced_recursive",
        "blkio.throttle.io_serviced_recursive",
        "blkio.throttle.io_service_bytes_recursive",
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
        let table = |file: &'static str| match dir.read(file) {
            Ok(b) => blkio(&b).map_err(|error| CgroupError::Parse {
                path: dir.path().join(file),
                error,
            }),
            Err(_) => Ok(Vec::new()),
        };
        for [first, serviced, bytes] in V1_GROUPS {
            if table(first).map_or(true, |t| t.is_empty()) {
                continue;
            }
            return Ok((table(bytes)?, table(serviced)?));
        }
        Ok((Vec::new(), Vec::new()))
    }
}
