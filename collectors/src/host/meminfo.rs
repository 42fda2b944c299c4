//! meminfo: `node_memory_<Field>_bytes` (kB × 1024) and the unitless `node_memory_HugePages_*`
//! gauges from `/proc/meminfo`, for node_exporter 1.12's fixed field set. Fields the kernel does
//! not report are not emitted.

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::stateless_collector;
use crate::util::{lossy, parse_file};

stateless_collector!("meminfo", true, "/proc/meminfo", collect);

/// The fields node_exporter 1.12 exports, as named in `/proc/meminfo`, with their metric name
/// and help; `true` for kB fields (exported in bytes), `false` for unitless page counts.
const FIELDS: &[(&str, &str, &str, bool)] = &[
    (
        "Active",
        "node_memory_Active_bytes",
        "Memory information field Active_bytes.",
        true,
    ),
    (
        "Active(anon)",
        "node_memory_Active_anon_bytes",
        "Memory information field Active_anon_bytes.",
        true,
    ),
    (
        "Active(file)",
        "node_memory_Active_file_bytes",
        "Memory information field Active_file_bytes.",
        true,
    ),
    (
        "AnonHugePages",
        "node_memory_AnonHugePages_bytes",
        "Memory information field AnonHugePages_bytes.",
        true,
    ),
    (
        "AnonPages",
        "node_memory_AnonPages_bytes",
        "Memory information field AnonPages_bytes.",
        true,
    ),
    (
        "Bounce",
        "node_memory_Bounce_bytes",
        "Memory information field Bounce_bytes.",
        true,
    ),
    (
        "Buffers",
        "node_memory_Buffers_bytes",
        "Memory information field Buffers_bytes.",
        true,
    ),
    (
        "Cached",
        "node_memory_Cached_bytes",
        "Memory information field Cached_bytes.",
        true,
    ),
    (
        "CmaFree",
        "node_memory_CmaFree_bytes",
        "Memory information field CmaFree_bytes.",
        true,
    ),
    (
        "CmaTotal",
        "node_memory_CmaTotal_bytes",
        "Memory information field CmaTotal_bytes.",
        true,
    ),
    (
        "CommitLimit",
        "node_memory_CommitLimit_bytes",
        "Memory information field CommitLimit_bytes.",
        true,
    ),
    (
        "Committed_AS",
        "node_memory_Committed_AS_bytes",
        "Memory information field Committed_AS_bytes.",
        true,
    ),
    (
        "DirectMap1G",
        "node_memory_DirectMap1G_bytes",
        "Memory information field DirectMap1G_bytes.",
        true,
    ),
    (
        "DirectMap2M",
        "node_memory_DirectMap2M_bytes",
        "Memory information field DirectMap2M_bytes.",
        true,
    ),
    (
        "DirectMap4k",
        "node_memory_DirectMap4k_bytes",
        "Memory information field DirectMap4k_bytes.",
        true,
    ),
    (
        "Dirty",
        "node_memory_Dirty_bytes",
        "Memory information field Dirty_bytes.",
        true,
    ),
    (
        "HardwareCorrupted",
        "node_memory_HardwareCorrupted_bytes",
        "Memory information field HardwareCorrupted_bytes.",
        true,
    ),
    (
        "Hugepagesize",
        "node_memory_Hugepagesize_bytes",
        "Memory information field Hugepagesize_bytes.",
        true,
    ),
    (
        "Inactive",
        "node_memory_Inactive_bytes",
        "Memory information field Inactive_bytes.",
        true,
    ),
    (
        "Inactive(anon)",
        "node_memory_Inactive_anon_bytes",
        "Memory information field Inactive_anon_bytes.",
        true,
    ),
    (
        "Inactive(file)",
        "node_memory_Inactive_file_bytes",
        "Memory information field Inactive_file_bytes.",
        true,
    ),
    (
        "KernelStack",
        "node_memory_KernelStack_bytes",
        "Memory information field KernelStack_bytes.",
        true,
    ),
    (
        "Mapped",
        "node_memory_Mapped_bytes",
        "Memory information field Mapped_bytes.",
        true,
    ),
    (
        "MemAvailable",
        "node_memory_MemAvailable_bytes",
        "Memory information field MemAvailable_bytes.",
        true,
    ),
    (
        "MemFree",
        "node_memory_MemFree_bytes",
        "Memory information field MemFree_bytes.",
        true,
    ),
    (
        "MemTotal",
        "node_memory_MemTotal_bytes",
        "Memory information field MemTotal_bytes.",
        true,
    ),
    (
        "Mlocked",
        "node_memory_Mlocked_bytes",
        "Memory information field Mlocked_bytes.",
        true,
    ),
    (
        "NFS_Unstable",
        "node_memory_NFS_Unstable_bytes",
        "Memory information field NFS_Unstable_bytes.",
        true,
    ),
    (
        "PageTables",
        "node_memory_PageTables_bytes",
        "Memory information field PageTables_bytes.",
        true,
    ),
    (
        "Percpu",
        "node_memory_Percpu_bytes",
        "Memory information field Percpu_bytes.",
        true,
    ),
    (
        "SReclaimable",
        "node_memory_SReclaimable_bytes",
        "Memory information field SReclaimable_bytes.",
        true,
    ),
    (
        "SUnreclaim",
        "node_memory_SUnreclaim_bytes",
        "Memory information field SUnreclaim_bytes.",
        true,
    ),
    (
        "Shmem",
        "node_memory_Shmem_bytes",
        "Memory information field Shmem_bytes.",
        true,
    ),
    (
        "ShmemHugePages",
        "node_memory_ShmemHugePages_bytes",
        "Memory information field ShmemHugePages_bytes.",
        true,
    ),
    (
        "ShmemPmdMapped",
        "node_memory_ShmemPmdMapped_bytes",
        "Memory information field ShmemPmdMapped_bytes.",
        true,
    ),
    (
        "Slab",
        "node_memory_Slab_bytes",
        "Memory information field Slab_bytes.",
        true,
    ),
    (
        "SwapCached",
        "node_memory_SwapCached_bytes",
        "Memory information field SwapCached_bytes.",
        true,
    ),
    (
        "SwapFree",
        "node_memory_SwapFree_bytes",
        "Memory information field SwapFree_bytes.",
        true,
    ),
    (
        "SwapTotal",
        "node_memory_SwapTotal_bytes",
        "Memory information field SwapTotal_bytes.",
        true,
    ),
    (
        "Unevictable",
        "node_memory_Unevictable_bytes",
        "Memory information field Unevictable_bytes.",
        true,
    ),
    (
        "VmallocChunk",
        "node_memory_VmallocChunk_bytes",
        "Memory information field VmallocChunk_bytes.",
        true,
    ),
    (
        "VmallocTotal",
        "node_memory_VmallocTotal_bytes",
        "Memory information field VmallocTotal_bytes.",
        true,
    ),
    (
        "VmallocUsed",
        "node_memory_VmallocUsed_bytes",
        "Memory information field VmallocUsed_bytes.",
        true,
    ),
    (
        "Writeback",
        "node_memory_Writeback_bytes",
        "Memory information field Writeback_bytes.",
        true,
    ),
    (
        "WritebackTmp",
        "node_memory_WritebackTmp_bytes",
        "Memory information field WritebackTmp_bytes.",
        true,
    ),
    (
        "Zswap",
        "node_memory_Zswap_bytes",
        "Memory information field Zswap_bytes.",
        true,
    ),
    (
        "Zswapped",
        "node_memory_Zswapped_bytes",
        "Memory information field Zswapped_bytes.",
        true,
    ),
    (
        "HugePages_Free",
        "node_memory_HugePages_Free",
        "Memory information field HugePages_Free.",
        false,
    ),
    (
        "HugePages_Rsvd",
        "node_memory_HugePages_Rsvd",
        "Memory information field HugePages_Rsvd.",
        false,
    ),
    (
        "HugePages_Surp",
        "node_memory_HugePages_Surp",
        "Memory information field HugePages_Surp.",
        false,
    ),
    (
        "HugePages_Total",
        "node_memory_HugePages_Total",
        "Memory information field HugePages_Total.",
        false,
    ),
];

/// One `/proc/meminfo` value: the raw number and, for `kB` lines, the byte count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemValue {
    /// The number as written.
    pub raw: u64,
    /// `raw × 1024` for `kB` lines, `raw` for unitless lines.
    pub bytes: u64,
}

/// The exported fields of one `/proc/meminfo`, by their position in [`FIELDS`].
#[derive(Debug)]
pub struct Meminfo([Option<MemValue>; FIELDS.len()]);

impl Default for Meminfo {
    fn default() -> Self {
        Meminfo([None; FIELDS.len()])
    }
}

impl Meminfo {
    /// The value of `field` (as named in the file), if the file had it and it is exported.
    pub fn get(&self, field: &str) -> Option<MemValue> {
        let pos = FIELDS.iter().position(|(f, ..)| *f == field)?;
        self.0[pos]
    }
}

/// Parses `/proc/meminfo` like procfs: every line must be `Key: N [kB]`. Fields node_exporter
/// does not export are checked and dropped.
pub fn parse(bytes: &[u8]) -> Result<Meminfo, ParseError> {
    let text = lossy(bytes);
    let mut values = Meminfo::default();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(key) = fields.next() else {
            continue;
        };
        let malformed = || ParseError::new(format!("malformed meminfo line {line:?}"));
        let number = fields.next().ok_or_else(malformed)?;
        let unit = fields.next();
        if fields.next().is_some() {
            return Err(malformed());
        }
        let raw = number
            .parse::<u64>()
            .map_err(|_| ParseError::new(format!("invalid meminfo value {number:?}")))?;
        let bytes = match unit {
            None => raw,
            Some("kB") => raw.saturating_mul(1024),
            Some(other) => return Err(ParseError::new(format!("unsupported unit {other:?}"))),
        };
        let key = key.strip_suffix(':').unwrap_or(key);
        if let Some(pos) = FIELDS.iter().position(|(f, ..)| *f == key) {
            values.0[pos] = Some(MemValue { raw, bytes });
        }
    }
    Ok(values)
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let values = parse_file(&settings.roots.proc("meminfo"), parse)?;
    for ((_, name, help, in_kb), value) in FIELDS.iter().zip(values.0) {
        if let Some(v) = value {
            let value = if *in_kb { v.bytes } else { v.raw };
            sink.gauge(name, help).sample(&[], value as f64);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_sample() {
        let values = parse(
            b"MemTotal:        8131832 kB\nActive(anon):     123 kB\nHugePages_Total:       0\n",
        )
        .unwrap();
        assert_eq!(values.get("MemTotal").unwrap().bytes, 8131832 * 1024);
        assert_eq!(values.get("Active(anon)").unwrap().raw, 123);
        assert_eq!(values.get("HugePages_Total").unwrap().bytes, 0);
        assert_eq!(values.get("MemFree"), None);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(parse(b"").unwrap().get("MemTotal"), None);
        assert!(parse(b"MemTotal:\n").is_err());
        assert!(parse(b"MemTotal: x kB\n").is_err());
        assert!(parse(b"MemTotal: 1 MB\n").is_err());
        assert!(parse(b"MemTotal: 1 kB extra\n").is_err());
        assert!(parse(&[0xff, b':', b' ', 0xfe]).is_err());
    }
}
