//! meminfo: `node_memory_<Field>_bytes` (kB × 1024) and the unitless `node_memory_HugePages_*`
//! gauges from `/proc/meminfo`, for node_exporter 1.12's fixed field set. Fields the kernel does
//! not report are not emitted.

use std::collections::BTreeMap;

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::stateless_collector;
use crate::util::{lossy, parse_file};

stateless_collector!("meminfo", true, "/proc/meminfo", collect);

/// The kB fields node_exporter 1.12 exports, as named in `/proc/meminfo`.
const BYTE_FIELDS: &[&str] = &[
    "Active",
    "Active(anon)",
    "Active(file)",
    "AnonHugePages",
    "AnonPages",
    "Bounce",
    "Buffers",
    "Cached",
    "CmaFree",
    "CmaTotal",
    "CommitLimit",
    "Committed_AS",
    "DirectMap1G",
    "DirectMap2M",
    "DirectMap4k",
    "Dirty",
    "HardwareCorrupted",
    "Hugepagesize",
    "Inactive",
    "Inactive(anon)",
    "Inactive(file)",
    "KernelStack",
    "Mapped",
    "MemAvailable",
    "MemFree",
    "MemTotal",
    "Mlocked",
    "NFS_Unstable",
    "PageTables",
    "Percpu",
    "SReclaimable",
    "SUnreclaim",
    "Shmem",
    "ShmemHugePages",
    "ShmemPmdMapped",
    "Slab",
    "SwapCached",
    "SwapFree",
    "SwapTotal",
    "Unevictable",
    "VmallocChunk",
    "VmallocTotal",
    "VmallocUsed",
    "Writeback",
    "WritebackTmp",
    "Zswap",
    "Zswapped",
];

/// The unitless page-count fields, exported without a suffix.
const COUNT_FIELDS: &[&str] = &[
    "HugePages_Free",
    "HugePages_Rsvd",
    "HugePages_Surp",
    "HugePages_Total",
];

/// One `/proc/meminfo` value: the raw number and, for `kB` lines, the byte count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemValue {
    /// The number as written.
    pub raw: u64,
    /// `raw × 1024` for `kB` lines, `raw` for unitless lines.
    pub bytes: u64,
}

/// Parses `/proc/meminfo` like procfs: every line must be `Key: N [kB]`.
pub fn parse(bytes: &[u8]) -> Result<BTreeMap<String, MemValue>, ParseError> {
    let text = lossy(bytes);
    let mut values = BTreeMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (key, number, unit) = match fields.as_slice() {
            [] => continue,
            [key, number] => (key, number, None),
            [key, number, unit] => (key, number, Some(*unit)),
            _ => return Err(ParseError::new(format!("malformed meminfo line {line:?}"))),
        };
        let raw = number
            .parse::<u64>()
            .map_err(|_| ParseError::new(format!("invalid meminfo value {number:?}")))?;
        let bytes = match unit {
            None => raw,
            Some("kB") => raw.saturating_mul(1024),
            Some(other) => return Err(ParseError::new(format!("unsupported unit {other:?}"))),
        };
        let key = key.strip_suffix(':').unwrap_or(key);
        values.insert(key.to_string(), MemValue { raw, bytes });
    }
    Ok(values)
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let values = parse_file(&settings.roots.proc("meminfo"), parse)?;
    let bytes = BYTE_FIELDS.iter().filter_map(|field| {
        let v = values.get(*field)?;
        let name = field.replace("(anon)", "_anon").replace("(file)", "_file");
        Some((format!("{name}_bytes"), v.bytes))
    });
    let counts = COUNT_FIELDS
        .iter()
        .filter_map(|field| Some((field.to_string(), values.get(*field)?.raw)));
    for (name, value) in bytes.chain(counts) {
        sink.gauge(
            &format!("node_memory_{name}"),
            &format!("Memory information field {name}."),
        )
        .sample(&[], value as f64);
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
        assert_eq!(values["MemTotal"].bytes, 8131832 * 1024);
        assert_eq!(values["Active(anon)"].raw, 123);
        assert_eq!(values["HugePages_Total"].bytes, 0);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(b"").unwrap().is_empty());
        assert!(parse(b"MemTotal:\n").is_err());
        assert!(parse(b"MemTotal: x kB\n").is_err());
        assert!(parse(b"MemTotal: 1 MB\n").is_err());
        assert!(parse(b"MemTotal: 1 kB extra\n").is_err());
        assert!(parse(&[0xff, b':', b' ', 0xfe]).is_err());
    }
}
