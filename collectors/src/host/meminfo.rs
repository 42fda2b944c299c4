//! meminfo: `node_memory_<Field>_bytes` (kB × 1024) and the unitless `node_memory_HugePages_*`
//! gauges from `/proc/meminfo`, for node_exporter 1.12's fixed field set. Fields the kernel does
//! not report are not emitted.

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::procfs::{self, meminfo::MemValue};
use crate::stateless_collector;
use crate::util::parse_file;

stateless_collector!("meminfo", true, "/proc/meminfo", collect);

/// One exported field: its `/proc/meminfo` name, metric name, help, and whether it is in kB.
macro_rules! field {
    ($field:literal, $metric:literal, kb) => {
        (
            $field,
            concat!("node_memory_", $metric),
            concat!("Memory information field ", $metric, "."),
            true,
        )
    };
    ($field:literal, count) => {
        (
            $field,
            concat!("node_memory_", $field),
            concat!("Memory information field ", $field, "."),
            false,
        )
    };
}

/// The fields node_exporter 1.12 exports, as named in `/proc/meminfo`, with their metric name
/// and help; `true` for kB fields (exported in bytes), `false` for unitless page counts.
const FIELDS: &[(&str, &str, &str, bool)] = &[
    field!("Active", "Active_bytes", kb),
    field!("Active(anon)", "Active_anon_bytes", kb),
    field!("Active(file)", "Active_file_bytes", kb),
    field!("AnonHugePages", "AnonHugePages_bytes", kb),
    field!("AnonPages", "AnonPages_bytes", kb),
    field!("Bounce", "Bounce_bytes", kb),
    field!("Buffers", "Buffers_bytes", kb),
    field!("Cached", "Cached_bytes", kb),
    field!("CmaFree", "CmaFree_bytes", kb),
    field!("CmaTotal", "CmaTotal_bytes", kb),
    field!("CommitLimit", "CommitLimit_bytes", kb),
    field!("Committed_AS", "Committed_AS_bytes", kb),
    field!("DirectMap1G", "DirectMap1G_bytes", kb),
    field!("DirectMap2M", "DirectMap2M_bytes", kb),
    field!("DirectMap4k", "DirectMap4k_bytes", kb),
    field!("Dirty", "Dirty_bytes", kb),
    field!("HardwareCorrupted", "HardwareCorrupted_bytes", kb),
    field!("Hugepagesize", "Hugepagesize_bytes", kb),
    field!("Inactive", "Inactive_bytes", kb),
    field!("Inactive(anon)", "Inactive_anon_bytes", kb),
    field!("Inactive(file)", "Inactive_file_bytes", kb),
    field!("KernelStack", "KernelStack_bytes", kb),
    field!("Mapped", "Mapped_bytes", kb),
    field!("MemAvailable", "MemAvailable_bytes", kb),
    field!("MemFree", "MemFree_bytes", kb),
    field!("MemTotal", "MemTotal_bytes", kb),
    field!("Mlocked", "Mlocked_bytes", kb),
    field!("NFS_Unstable", "NFS_Unstable_bytes", kb),
    field!("PageTables", "PageTables_bytes", kb),
    field!("Percpu", "Percpu_bytes", kb),
    field!("SReclaimable", "SReclaimable_bytes", kb),
    field!("SUnreclaim", "SUnreclaim_bytes", kb),
    field!("Shmem", "Shmem_bytes", kb),
    field!("ShmemHugePages", "ShmemHugePages_bytes", kb),
    field!("ShmemPmdMapped", "ShmemPmdMapped_bytes", kb),
    field!("Slab", "Slab_bytes", kb),
    field!("SwapCached", "SwapCached_bytes", kb),
    field!("SwapFree", "SwapFree_bytes", kb),
    field!("SwapTotal", "SwapTotal_bytes", kb),
    field!("Unevictable", "Unevictable_bytes", kb),
    field!("VmallocChunk", "VmallocChunk_bytes", kb),
    field!("VmallocTotal", "VmallocTotal_bytes", kb),
    field!("VmallocUsed", "VmallocUsed_bytes", kb),
    field!("Writeback", "Writeback_bytes", kb),
    field!("WritebackTmp", "WritebackTmp_bytes", kb),
    field!("Zswap", "Zswap_bytes", kb),
    field!("Zswapped", "Zswapped_bytes", kb),
    field!("HugePages_Free", count),
    field!("HugePages_Rsvd", count),
    field!("HugePages_Surp", count),
    field!("HugePages_Total", count),
];

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

/// Parses `/proc/meminfo` ([`procfs::meminfo::parse`]) and keeps node_exporter's fields.
pub fn parse(bytes: &[u8]) -> Result<Meminfo, ParseError> {
    let mut values = Meminfo::default();
    procfs::meminfo::parse(bytes, |key, value| {
        if let Some(pos) = FIELDS.iter().position(|(f, ..)| *f == key) {
            values.0[pos] = Some(value);
        }
    })?;
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
}
