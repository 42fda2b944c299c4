//! zfs: OpenZFS kstats from `/proc/spl/kstat/zfs` (`node_zfs_*`, untyped, named after the raw
//! kstat), per-pool I/O (`node_zfs_zpool_*{zpool}`), per-dataset object-set statistics
//! (`node_zfs_zpool_dataset_*{dataset,zpool}`) and pool state (`node_zfs_zpool_state`).

use std::path::Path;

use crate::collector::Settings;
use crate::error::{CollectError, IfPresent, ParseError};
use crate::expfmt::{MetricSink, MetricType};
use crate::stateless_collector;
use crate::util::{list_dir, lossy, read, sanitize_metric_name};

stateless_collector!("zfs", true, "/proc/spl/kstat/zfs", collect);

/// Metric subsystem and kstat file of every global kstat node_exporter reads.
const KSTATS: &[(&str, &str)] = &[
    ("zfs_abd", "abdstats"),
    ("zfs_arc", "arcstats"),
    ("zfs_dbuf", "dbufstats"),
    ("zfs_dmu_tx", "dmu_tx"),
    ("zfs_dnode", "dnodestats"),
    ("zfs_fm", "fm"),
    ("zfs_vdev_cache", "vdev_cache_stats"),
    ("zfs_vdev_mirror", "vdev_mirror_stats"),
    ("zfs_xuio", "xuio_stats"),
    ("zfs_zfetch", "zfetchstats"),
    ("zfs_zil", "zil"),
];

/// The pool states node_exporter reports, one sample each.
const POOL_STATES: [&str; 7] = [
    "online",
    "degraded",
    "faulted",
    "offline",
    "removed",
    "unavail",
    "suspended",
];

/// kstat data types node_exporter reads (OpenZFS `lib/libspl/include/sys/kstat.h`):
/// KSTAT_DATA_INT64 (signed) and KSTAT_DATA_UINT64. Every other type is skipped, as in
/// node_exporter's `collector/zfs_linux.go` (`parseProcfsFile`, since v1.9.0).
const KSTAT_INT64: &str = "3";
const KSTAT_UINT64: &str = "4";

/// One value of a named kstat: its kstat data type decides how its text was parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KstatValue {
    /// Type 3, KSTAT_DATA_INT64 (e.g. `arcstats` `memory_available_bytes`, negative under
    /// memory pressure).
    Int64(i64),
    /// Type 4, KSTAT_DATA_UINT64.
    Uint64(u64),
}

impl KstatValue {
    /// The value as the exposition's float, as node_exporter's `float64(value)`.
    pub fn as_f64(self) -> f64 {
        match self {
            KstatValue::Int64(v) => v as f64,
            KstatValue::Uint64(v) => v as f64,
        }
    }
}

/// One value of an object-set kstat: the dataset (`None` before the `dataset_name` line),
/// the kstat name and its value.
pub type ObjsetValue = (Option<String>, String, u64);

fn is_header(parts: &[&str]) -> bool {
    parts == ["name", "type", "data"]
}

fn parse_value(name: &str, text: &str) -> Result<u64, ParseError> {
    text.parse::<u64>().map_err(|_| {
        ParseError::new(format!(
            "could not parse expected integer value for {name:?}"
        ))
    })
}

/// Parses a named kstat file (`name type data` table): the rows of type 3 (signed) and 4
/// (unsigned), as `(name, value)`. A file without the table header is an error, and so is a
/// type 3 or 4 row whose data does not parse as its type (node_exporter fails the collector
/// there too); rows of other types are skipped.
pub fn parse_kstat(bytes: &[u8]) -> Result<Vec<(String, KstatValue)>, ParseError> {
    let text = lossy(bytes);
    let mut in_table = false;
    let mut values = Vec::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if !in_table {
            in_table = is_header(&parts);
            continue;
        }
        let [name, kind, data, ..] = parts[..] else {
            continue;
        };
        let value = match kind {
            KSTAT_UINT64 => KstatValue::Uint64(data.parse::<u64>().map_err(|_| {
                ParseError::new(format!(
                    "could not parse expected unsigned integer value for {name:?}"
                ))
            })?),
            KSTAT_INT64 => KstatValue::Int64(data.parse::<i64>().map_err(|_| {
                ParseError::new(format!(
                    "could not parse expected signed integer value for {name:?}"
                ))
            })?),
            _ => continue,
        };
        values.push((name.to_string(), value));
    }
    if !in_table {
        return Err(ParseError::new("no kstat table header"));
    }
    Ok(values)
}

/// Parses a pool `io` kstat (a header row starting with `nread`, then value rows) into
/// `(field, value)` pairs.
pub fn parse_pool_io(bytes: &[u8]) -> Result<Vec<(String, u64)>, ParseError> {
    let text = lossy(bytes);
    let mut fields: Option<Vec<&str>> = None;
    let mut values = Vec::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let Some(names) = &fields else {
            if parts.len() >= 12 && parts.first() == Some(&"nread") {
                fields = Some(parts);
            }
            continue;
        };
        if parts.is_empty() {
            continue;
        }
        if parts.len() < names.len() {
            return Err(ParseError::new("short pool io value row"));
        }
        for (name, data) in names.iter().zip(&parts) {
            values.push((name.to_string(), parse_value(name, data)?));
        }
    }
    Ok(values)
}

/// Parses an `objset-*` kstat: the unsigned 64-bit rows, each with the dataset named by the
/// `dataset_name` row read before it.
pub fn parse_objset(bytes: &[u8]) -> Result<Vec<ObjsetValue>, ParseError> {
    let text = lossy(bytes);
    let mut in_table = false;
    let mut dataset: Option<String> = None;
    let mut values = Vec::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if !in_table {
            in_table = is_header(&parts);
            continue;
        }
        let [name, kind, data, ..] = parts[..] else {
            continue;
        };
        if name == "dataset_name" {
            // node_exporter takes the rest of the line from the data column, so a dataset
            // name with spaces is kept whole.
            dataset = Some(rest_from_third_field(line).unwrap_or(data).to_string());
        } else if kind == KSTAT_UINT64 {
            values.push((dataset.clone(), name.to_string(), parse_value(name, data)?));
        }
    }
    if !in_table {
        return Err(ParseError::new("no kstat table header"));
    }
    Ok(values)
}

/// The text of `line` from its third whitespace-separated field to the end.
fn rest_from_third_field(line: &str) -> Option<&str> {
    let mut rest = line;
    for _ in 0..2 {
        rest = rest.trim_start();
        let end = rest.find(char::is_whitespace)?;
        rest = &rest[end..];
    }
    Some(rest.trim_start())
}

/// Parses a pool `state` file: its first line, lower-cased.
pub fn parse_state(bytes: &[u8]) -> Result<String, ParseError> {
    Ok(lossy(bytes)
        .lines()
        .next()
        .unwrap_or_default()
        .to_lowercase())
}

fn metric_suffix(kstat: &str) -> String {
    sanitize_metric_name(&kstat.replace('-', "_"))
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let base = settings.roots.proc("spl/kstat/zfs");
    if !base.exists() {
        return Err(CollectError::NoData(format!(
            "{} does not exist",
            base.display()
        )));
    }
    for (subsystem, file) in KSTATS {
        let path = base.join(file);
        // kstat files appear with ZFS features; a missing one is skipped.
        let Some(bytes) = read(&path).if_present()? else {
            continue;
        };
        let values = parse_kstat(&bytes).map_err(|e| CollectError::parse(&path, e))?;
        for (name, value) in values {
            sink.untyped(
                &format!("node_{subsystem}_{}", metric_suffix(&name)),
                &format!("kstat.zfs.misc.{file}.{name}"),
            )
            .sample(&[], value.as_f64());
        }
    }
    let pools = match list_dir(&base) {
        Err(e) if e.is_no_data() => return Ok(()),
        other => other?,
    };
    for pool in &pools {
        collect_pool_io(&base.join(pool), pool, sink)?;
    }
    for pool in &pools {
        collect_objsets(&base.join(pool), pool, sink)?;
    }
    for pool in &pools {
        collect_state(&base.join(pool), pool, sink)?;
    }
    Ok(())
}

fn collect_pool_io(dir: &Path, pool: &str, sink: &mut MetricSink) -> Result<(), CollectError> {
    let path = dir.join("io");
    if !dir.is_dir() || !path.exists() {
        return Ok(());
    }
    let bytes = read(&path)?;
    let values = parse_pool_io(&bytes).map_err(|e| CollectError::parse(&path, e))?;
    for (name, value) in values {
        sink.untyped(
            &format!("node_zfs_zpool_{}", metric_suffix(&name)),
            &format!("kstat.zfs.misc.io.{name}"),
        )
        .sample(&[("zpool", pool)], value as f64);
    }
    Ok(())
}

fn collect_objsets(dir: &Path, pool: &str, sink: &mut MetricSink) -> Result<(), CollectError> {
    if !dir.is_dir() {
        return Ok(());
    }
    for file in list_dir(dir)? {
        if !file.starts_with("objset-") {
            continue;
        }
        let path = dir.join(&file);
        let bytes = read(&path)?;
        let values = parse_objset(&bytes).map_err(|e| CollectError::parse(&path, e))?;
        for (dataset, name, value) in values {
            // Rows before `dataset_name` carry empty labels, as in node_exporter.
            let (zpool, dataset) = match &dataset {
                Some(d) => (pool, d.as_str()),
                None => ("", ""),
            };
            sink.untyped(
                &format!("node_zfs_zpool_dataset_{}", metric_suffix(&name)),
                &format!("kstat.zfs.misc.objset.{name}"),
            )
            .sample(&[("dataset", dataset), ("zpool", zpool)], value as f64);
        }
    }
    Ok(())
}

fn collect_state(dir: &Path, pool: &str, sink: &mut MetricSink) -> Result<(), CollectError> {
    let path = dir.join("state");
    if !dir.is_dir() || !path.exists() {
        return Ok(());
    }
    let bytes = read(&path)?;
    let state = parse_state(&bytes).map_err(|e| CollectError::parse(&path, e))?;
    sink.family(
        "node_zfs_zpool_state",
        "kstat.zfs.misc.state",
        MetricType::Gauge,
    );
    for name in POOL_STATES {
        let active = if state == name { 1.0 } else { 0.0 };
        sink.sample(&[("state", name), ("zpool", pool)], active);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARCSTATS: &str = "13 1 0x01 86 4128 8429416566 2213224542839
name                            type data
hits                            4    8772612
misses                          4    604635
demand_data_hits                4    7221032
c_min                           4    33554432
arc_no_grow                     2    0
memory_available_bytes          3    4294967296
evict_l2_eligible-mfu           4    12
";

    #[test]
    fn parses_kstat_table() {
        let values = parse_kstat(ARCSTATS.as_bytes()).unwrap();
        assert_eq!(values.len(), 6, "the uint32 row is skipped");
        assert_eq!(values[0], ("hits".to_string(), KstatValue::Uint64(8772612)));
        assert_eq!(
            values[4],
            (
                "memory_available_bytes".to_string(),
                KstatValue::Int64(4294967296)
            )
        );
        assert_eq!(metric_suffix(&values[5].0), "evict_l2_eligible_mfu");
    }

    #[test]
    fn kstat_errors() {
        assert!(parse_kstat(b"").is_err());
        assert!(parse_kstat(b"hits 4 1\n").is_err(), "no header");
        assert!(parse_kstat(b"name type data\nhits 4 x\n").is_err());
        assert!(
            parse_kstat(b"name type data\nneg 4 -1\n").is_err(),
            "a negative type 4 (uint64) value fails, as ParseUint does"
        );
        assert!(
            parse_kstat(b"name type data\nbig 3 9223372036854775808\n").is_err(),
            "beyond int64 fails, as ParseInt does"
        );
        assert!(parse_kstat(&[0xff, 0xfe]).is_err());
        assert!(parse_kstat(b"name type data\nhits 4\n").unwrap().is_empty());
    }

    /// OpenZFS prints KSTAT_DATA_INT64 with `%lld` (module/os/linux/spl/spl-kstat.c), so a
    /// negative `memory_available_bytes` (issue node_exporter#2766) reaches us signed.
    #[test]
    fn kstat_type_3_is_signed() {
        let text = "name type data\nmemory_available_bytes 3 -922337203685477580\n\
                    min 3 -9223372036854775808\nstring 7 abc\nchar 0 x\nu32 2 -5\nhits 4 18446744073709551615\n";
        let values = parse_kstat(text.as_bytes()).unwrap();
        assert_eq!(
            values,
            vec![
                (
                    "memory_available_bytes".to_string(),
                    KstatValue::Int64(-922337203685477580)
                ),
                ("min".to_string(), KstatValue::Int64(i64::MIN)),
                ("hits".to_string(), KstatValue::Uint64(u64::MAX)),
            ]
        );
        assert_eq!(values[0].1.as_f64(), -922_337_203_685_477_580_i64 as f64);
    }

    #[test]
    fn objset_dataset_name_keeps_spaces() {
        let objset = "name type data\ndataset_name 7    pool1/my data set\nwrites 4 4\n";
        let values = parse_objset(objset.as_bytes()).unwrap();
        assert_eq!(values[0].0.as_deref(), Some("pool1/my data set"));
    }

    #[test]
    fn parses_pool_io() {
        let io = "12 3 0x00 1 80 2280461574617 2282306520107
nread    nwritten reads    writes   wtime    wlentime wupdate  rtime    rlentime rupdate  wcnt     rcnt
1884160  3206144  22       132      7155162  104112268 2280461577166 1134712 111011580 2280461575803 0 0
";
        let values = parse_pool_io(io.as_bytes()).unwrap();
        assert_eq!(values.len(), 12);
        assert_eq!(values[1], ("nwritten".to_string(), 3206144));
        assert!(parse_pool_io(b"").unwrap().is_empty());
        let short = "nread a b c d e f g h i j k\n1 2\n";
        assert!(parse_pool_io(short.as_bytes()).is_err());
    }

    #[test]
    fn parses_objset() {
        let objset = "23 1 0x01 7 2160 221578688875 6665999035587
name                            type data
dataset_name                    7    pool1/home
writes                          4    4
nwritten                        4    28
";
        let values = parse_objset(objset.as_bytes()).unwrap();
        assert_eq!(
            values[1],
            (Some("pool1/home".to_string()), "nwritten".to_string(), 28)
        );
        assert!(parse_objset(b"writes 4 1\n").is_err());
    }

    #[test]
    fn parses_state() {
        assert_eq!(parse_state(b"ONLINE\n").unwrap(), "online");
        assert_eq!(parse_state(b"").unwrap(), "");
    }
}
