//! container_diskio: `container_fs_{reads,writes}_bytes_total`, `container_fs_{reads,writes}_total`
//! and `container_blkio_device_usage_total` per device (v1 BFQ, CFQ or blk-throttle `blkio.*` files,
//! v2 `io.stat`). `device` is `/dev/<name>` from `<sysfs>/dev/block/<major>:<minor>`.

use std::collections::HashMap;

use super::parse::{blkio, io_stat, BlkioEntry, IoStat};
use super::walk::{read, Container, Ctrl, Kind, Snapshot};
use super::{container_group, family};
use crate::collector::Settings;
use crate::error::CollectError;
use crate::expfmt::{MetricSink, MetricType};
use crate::roots::Roots;

container_group!(
    "container_diskio",
    "cgroup blkio.{bfq.,,throttle.}io_service{_bytes,d}_recursive, blkio.throttle.io_service{_bytes,d} (v1), io.stat (v2); /sys/dev/block",
    emit,
    &[]
);

/// Per-device I/O of one container: (bytes, operations) entries.
type DiskIo = (Vec<BlkioEntry>, Vec<BlkioEntry>);

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

fn read_io(snap: &Snapshot, id: &str) -> Option<DiskIo> {
    let dir = snap.hier.dir(Ctrl::Blkio, id)?;
    if snap.hier.v2 {
        return Some(io_stat_tables(&io_stat(&read(&dir, "io.stat")?).ok()?));
    }
    let table = |file: &str| match read(&dir, file) {
        Some(b) => blkio(&b),
        None => Ok(Vec::new()),
    };
    for [first, serviced, bytes] in V1_GROUPS {
        if table(first).map_or(true, |t| t.is_empty()) {
            continue;
        }
        return Some((table(bytes).ok()?, table(serviced).ok()?));
    }
    Some((Vec::new(), Vec::new()))
}

/// `/dev/<name>` of a block device number, from the `<sysfs>/dev/block/M:m` link; `""` if unknown.
fn device_name(roots: &Roots, major: u32, minor: u32) -> String {
    std::fs::read_link(roots.sys(format!("dev/block/{major}:{minor}")))
        .ok()
        .and_then(|t| {
            t.file_name()
                .map(|n| format!("/dev/{}", n.to_string_lossy()))
        })
        .unwrap_or_default()
}

fn emit(settings: &Settings, snap: &Snapshot, sink: &mut MetricSink) -> Result<(), CollectError> {
    let stats: Vec<(&Container, DiskIo)> = snap
        .containers
        .iter()
        .filter(|c| c.kind != Kind::Sandbox)
        .filter_map(|c| read_io(snap, &c.id).map(|s| (c, s)))
        .collect();
    // (device, major, minor) label values per device number.
    let mut names: HashMap<(u32, u32), [String; 3]> = HashMap::new();
    for (_, (bytes, ops)) in &stats {
        for e in bytes.iter().chain(ops) {
            names.entry((e.major, e.minor)).or_insert_with(|| {
                [
                    device_name(&settings.roots, e.major, e.minor),
                    e.major.to_string(),
                    e.minor.to_string(),
                ]
            });
        }
    }
    let labels = |e: &BlkioEntry| names.get(&(e.major, e.minor));
    let dev = |e: &BlkioEntry| labels(e).map_or("", |l| l[0].as_str());
    let counter = MetricType::Counter;
    let per_op = [
        (
            "container_fs_reads_bytes_total",
            "Cumulative count of bytes read",
            "Read",
            0,
        ),
        (
            "container_fs_writes_bytes_total",
            "Cumulative count of bytes written",
            "Write",
            0,
        ),
        (
            "container_fs_reads_total",
            "Cumulative count of reads completed",
            "Read",
            1,
        ),
        (
            "container_fs_writes_total",
            "Cumulative count of writes completed",
            "Write",
            1,
        ),
    ];
    for (name, help, op, table) in per_op {
        family(
            sink,
            snap,
            (name, help, counter),
            stats.iter().flat_map(|(c, io)| {
                let entries = if table == 0 { &io.0 } else { &io.1 };
                entries
                    .iter()
                    .filter(move |e| e.op == op)
                    .map(move |e| (*c, vec![("device", dev(e))], e.value as f64))
            }),
        );
    }
    family(
        sink,
        snap,
        (
            "container_blkio_device_usage_total",
            "Blkio Device bytes usage",
            counter,
        ),
        stats.iter().flat_map(|(c, io)| {
            io.0.iter().filter_map(move |e| {
                let [d, major, minor] = labels(e)?;
                let extra = vec![
                    ("device", d.as_str()),
                    ("major", major.as_str()),
                    ("minor", minor.as_str()),
                    ("operation", e.op.as_str()),
                ];
                Some((*c, extra, e.value as f64))
            })
        }),
    );
    Ok(())
}
