//! xfs: per-filesystem XFS statistics from `/sys/fs/xfs/<device>/stats/stats`
//! (`node_xfs_*_total{device}`), parsed as procfs' `xfs` package does.

use crate::roots::JoinExt;
use std::collections::HashMap;

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::stateless_collector;
use crate::util::{list_dir, lossy, read};

stateless_collector!("xfs", true, "/sys/fs/xfs/*/stats/stats", collect);

/// Expected value counts of the lines procfs checks (`vnodes` may also have 7).
const LINE_LENGTHS: &[(&str, usize)] = &[
    ("extent_alloc", 4),
    ("abt", 4),
    ("blk_map", 7),
    ("bmbt", 4),
    ("dir", 4),
    ("trans", 3),
    ("ig", 7),
    ("log", 5),
    ("rw", 2),
    ("attr", 4),
    ("icluster", 3),
    ("vnodes", 8),
    ("buf", 9),
    ("xpc", 3),
];

/// Every family: name suffix, help, stats line and position in it.
const METRICS: &[(&str, &str, &str, usize)] = &[
    ("extent_allocation_extents_allocated_total", "Number of extents allocated for a filesystem.", "extent_alloc", 0),
    ("extent_allocation_blocks_allocated_total", "Number of blocks allocated for a filesystem.", "extent_alloc", 1),
    ("extent_allocation_extents_freed_total", "Number of extents freed for a filesystem.", "extent_alloc", 2),
    ("extent_allocation_blocks_freed_total", "Number of blocks freed for a filesystem.", "extent_alloc", 3),
    ("allocation_btree_lookups_total", "Number of allocation B-tree lookups for a filesystem.", "abt", 0),
    ("allocation_btree_compares_total", "Number of allocation B-tree compares for a filesystem.", "abt", 1),
    ("allocation_btree_records_inserted_total", "Number of allocation B-tree records inserted for a filesystem.", "abt", 2),
    ("allocation_btree_records_deleted_total", "Number of allocation B-tree records deleted for a filesystem.", "abt", 3),
    ("block_mapping_reads_total", "Number of block map for read operations for a filesystem.", "blk_map", 0),
    ("block_mapping_writes_total", "Number of block map for write operations for a filesystem.", "blk_map", 1),
    ("block_mapping_unmaps_total", "Number of block unmaps (deletes) for a filesystem.", "blk_map", 2),
    ("block_mapping_extent_list_insertions_total", "Number of extent list insertions for a filesystem.", "blk_map", 3),
    ("block_mapping_extent_list_deletions_total", "Number of extent list deletions for a filesystem.", "blk_map", 4),
    ("block_mapping_extent_list_lookups_total", "Number of extent list lookups for a filesystem.", "blk_map", 5),
    ("block_mapping_extent_list_compares_total", "Number of extent list compares for a filesystem.", "blk_map", 6),
    ("block_map_btree_lookups_total", "Number of block map B-tree lookups for a filesystem.", "bmbt", 0),
    ("block_map_btree_compares_total", "Number of block map B-tree compares for a filesystem.", "bmbt", 1),
    ("block_map_btree_records_inserted_total", "Number of block map B-tree records inserted for a filesystem.", "bmbt", 2),
    ("block_map_btree_records_deleted_total", "Number of block map B-tree records deleted for a filesystem.", "bmbt", 3),
    ("directory_operation_lookup_total", "Number of file name directory lookups which miss the operating systems directory name lookup cache.", "dir", 0),
    ("directory_operation_create_total", "Number of times a new directory entry was created for a filesystem.", "dir", 1),
    ("directory_operation_remove_total", "Number of times an existing directory entry was created for a filesystem.", "dir", 2),
    ("directory_operation_getdents_total", "Number of times the directory getdents operation was performed for a filesystem.", "dir", 3),
    ("inode_operation_attempts_total", "Number of times the OS looked for an XFS inode in the inode cache.", "ig", 0),
    ("inode_operation_found_total", "Number of times the OS looked for and found an XFS inode in the inode cache.", "ig", 1),
    ("inode_operation_recycled_total", "Number of times the OS found an XFS inode in the cache, but could not use it as it was being recycled.", "ig", 2),
    ("inode_operation_missed_total", "Number of times the OS looked for an XFS inode in the cache, but did not find it.", "ig", 3),
    ("inode_operation_duplicates_total", "Number of times the OS tried to add a missing XFS inode to the inode cache, but found it had already been added by another process.", "ig", 4),
    ("inode_operation_reclaims_total", "Number of times the OS reclaimed an XFS inode from the inode cache to free memory for another purpose.", "ig", 5),
    ("inode_operation_attribute_changes_total", "Number of times the OS explicitly changed the attributes of an XFS inode.", "ig", 6),
    // The kernel prints `rw` as `xs_write_calls xs_read_calls` (struct __xfsstats in
    // fs/xfs/xfs_stats.h, printed in struct order by xfs_stats_format in xfs_stats.c);
    // procfs' readWriteStats reads them the other way round, so node_exporter swaps them.
    ("read_calls_total", "Number of read(2) system calls made to files in a filesystem.", "rw", 1),
    ("write_calls_total", "Number of write(2) system calls made to files in a filesystem.", "rw", 0),
    ("vnode_active_total", "Number of vnodes not on free lists for a filesystem.", "vnodes", 0),
    ("vnode_allocate_total", "Number of times vn_alloc called for a filesystem.", "vnodes", 1),
    ("vnode_get_total", "Number of times vn_get called for a filesystem.", "vnodes", 2),
    ("vnode_hold_total", "Number of times vn_hold called for a filesystem.", "vnodes", 3),
    ("vnode_release_total", "Number of times vn_rele called for a filesystem.", "vnodes", 4),
    ("vnode_reclaim_total", "Number of times vn_reclaim called for a filesystem.", "vnodes", 5),
    ("vnode_remove_total", "Number of times vn_remove called for a filesystem.", "vnodes", 6),
];

/// The parsed stats file: values by line label. Lines procfs ignores are kept as parsed.
pub type Stats = HashMap<String, Vec<u64>>;

/// Parses an XFS `stats` file. Lines with fewer than two fields are skipped; every value
/// must be a 32-bit unsigned number and the known lines must have their expected length, as
/// procfs requires, except that the kernel's 64-bit lines (`xpc`, `defer_relog`, `gc xpc`)
/// are read as 64-bit.
pub fn parse(bytes: &[u8]) -> Result<Stats, ParseError> {
    let text = lossy(bytes);
    let mut stats = Stats::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let Some((&first, mut rest)) = fields.split_first() else {
            continue;
        };
        if rest.is_empty() {
            continue;
        }
        // Kernels with zoned GC print `gc xpc <u64>` (xfs_stats_format); procfs would read
        // `xpc` as a number and fail the collector.
        let gc_label;
        let label = match (first, rest) {
            ("gc", ["xpc", values @ ..]) if !values.is_empty() => {
                rest = values;
                gc_label = format!("{first} xpc");
                gc_label.as_str()
            }
            _ => first,
        };
        let values = parse_values(label, rest)?;
        if let Some((_, want)) = LINE_LENGTHS.iter().find(|(l, _)| *l == label) {
            let ok = values.len() == *want || (label == "vnodes" && values.len() == 7);
            if !ok {
                return Err(ParseError::new(format!(
                    "incorrect number of values for XFS {label} stats: {}",
                    values.len()
                )));
            }
        }
        stats.insert(label.to_string(), values);
    }
    Ok(stats)
}

fn parse_values(label: &str, fields: &[&str]) -> Result<Vec<u64>, ParseError> {
    fields
        .iter()
        .map(|f| {
            // The kernel prints these from u64 counters (`xs_xstrat_bytes`..`xs_gc_bytes` in
            // struct __xfsstats); procfs reads all but `xpc` as u32 and fails on a
            // `defer_relog` past 2^32.
            let v = if matches!(label, "xpc" | "defer_relog" | "gc xpc") {
                f.parse::<u64>().ok()
            } else {
                f.parse::<u32>().ok().map(u64::from)
            };
            v.ok_or_else(|| ParseError::new(format!("invalid value {f:?} on line {label}")))
        })
        .collect()
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let base = settings.roots.sys("fs/xfs");
    // procfs globs `fs/xfs/*/stats/stats`: no XFS means no families, not an error.
    let devices = match list_dir(&base) {
        Err(e) if e.is_no_data() => return Ok(()),
        other => other?,
    };
    for device in devices {
        let path = base.join_exact(&device).join_exact("stats/stats");
        let bytes = match read(&path) {
            Err(CollectError::Io { source, .. })
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                continue
            }
            other => other?,
        };
        let stats = parse(&bytes).map_err(|e| CollectError::parse(&path, e))?;
        write_device(sink, &device, &stats);
    }
    Ok(())
}

fn write_device(sink: &mut MetricSink, device: &str, stats: &Stats) {
    for (name, help, line, index) in METRICS {
        let value = stats
            .get(*line)
            .and_then(|v| v.get(*index))
            .copied()
            .unwrap_or(0);
        sink.counter(&format!("node_xfs_{name}"), help)
            .sample(&[("device", device)], value as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "extent_alloc 1 872 0 0
abt 0 0 0 0
blk_map 61 29 1 1 1 91 0
bmbt 0 0 0 0
dir 3 2 1 52
trans 4 40 0
ig 5 1 0 4 0 0 1
log 8 21 0 5821 4
push_ail 44 0 1156 6 0 0 0 0 0 0
xstrat 29 0
rw 28 2
attr 0 0 0 0
icluster 2 2 2
vnodes 4 0 0 0 33 33 33 0
buf 22 25 14 0 0 8 0 8 8
abtb2 184 283 71 73 0 0 0 0 0 0 0 0 0 0 63
xpc 399724544 92823103 86219234
debug 0
";

    #[test]
    fn parses_real_sample() {
        let stats = parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(stats["extent_alloc"], vec![1, 872, 0, 0]);
        assert_eq!(stats["blk_map"][5], 91);
        assert_eq!(stats["ig"], vec![5, 1, 0, 4, 0, 0, 1]);
        assert_eq!(stats["xpc"][0], 399724544);
    }

    /// `rw 28 0` is 28 write(2) calls and no read(2) call (fs/xfs/xfs_stats.h).
    #[test]
    fn rw_line_is_write_then_read() {
        let stats = parse(b"rw 28 0\n").unwrap();
        let mut sink = MetricSink::new();
        write_device(&mut sink, "vdb", &stats);
        let mut out = Vec::new();
        crate::expfmt::render(&[&sink], crate::expfmt::Format::Text, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("node_xfs_write_calls_total{device=\"vdb\"} 28\n"));
        assert!(text.contains("node_xfs_read_calls_total{device=\"vdb\"} 0\n"));
    }

    /// The 64-bit lines of xfs_stats_format: `defer_relog` past 2^32 and the zoned GC
    /// `gc xpc` line must not fail the file.
    #[test]
    fn sixty_four_bit_lines() {
        let stats = parse(b"rw 1 2\ndefer_relog 5000000000\ngc xpc 4096\n").unwrap();
        assert_eq!(stats["defer_relog"], vec![5_000_000_000]);
        assert_eq!(stats["gc xpc"], vec![4096]);
        assert!(parse(b"gc 5000000000\n").is_err(), "other lines stay u32");
    }

    #[test]
    fn old_vnodes_line_and_empty_input() {
        assert!(parse(b"vnodes 1 2 3 4 5 6 7\n").is_ok());
        assert!(parse(b"").unwrap().is_empty());
        assert!(parse(b"debug\n").unwrap().is_empty());
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(b"rw 1\n").is_err());
        assert!(parse(b"abt 1 2 3 x\n").is_err());
        assert!(parse(b"dir 4294967296 0 0 0\n").is_err());
        assert!(parse(&[b'r', b'w', b' ', 0xff, 0xfe]).is_err());
    }
}
