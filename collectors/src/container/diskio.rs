//! container_diskio: `container_fs_{reads,writes}_bytes_total`, `container_fs_{reads,writes}_total`
//! and `container_blkio_device_usage_total` per device (v1 BFQ, CFQ or blk-throttle `blkio.*` files,
//! v2 `io.stat`). `device` is `/dev/<name>` from `<sysfs>/dev/block/<major>:<minor>`.

use std::collections::HashMap;

use super::cgroup::{BlkioEntry, CgroupError, DiskIo};
use super::walk::{Container, Kind, Snapshot};
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
        .filter_map(|c| CgroupError::log(snap.hier.io(&c.id)).map(|s| (c, s)))
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
