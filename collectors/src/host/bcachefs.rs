//! bcachefs: bcachefs filesystem statistics from `/sys/fs/bcachefs/<uuid>/` (`node_bcachefs_*`),
//! read as procfs' `bcachefs` package does: btree cache size, compression, error and btree
//! write statistics, persistent counters and per-device (`dev-N`) information and IO.

use std::collections::BTreeMap;
use std::path::Path;

use crate::collector::Settings;
use crate::error::{CollectError, IfPresent, ParseError};
use crate::expfmt::MetricSink;
use crate::stateless_collector;
use crate::util::{list_dir, lossy, read, sanitize_metric_name};

stateless_collector!("bcachefs", true, "/sys/fs/bcachefs/<uuid>/", collect);

/// Compressed and uncompressed bytes of one compression algorithm.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Compression {
    /// Compressed size in bytes.
    pub compressed: u64,
    /// Uncompressed size in bytes.
    pub uncompressed: u64,
}

/// Number and average size of btree writes of one type.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BtreeWrites {
    /// Number of writes.
    pub count: u64,
    /// Average write size in bytes.
    pub size: u64,
}

/// IO done by a device: operation (`read`/`write`) → data type → bytes.
pub type IoDone = BTreeMap<String, BTreeMap<String, u64>>;

/// Parses bcachefs' human-readable sizes (`542k`, `1.5G`, `405`) as procfs does.
pub fn parse_human_bytes(text: &str) -> Result<u64, ParseError> {
    let s = text.trim();
    let Some(last) = s.chars().last() else {
        return Err(ParseError::new("empty size"));
    };
    let exponent = match last.to_ascii_lowercase() {
        'k' => 1,
        'm' => 2,
        'g' => 3,
        't' => 4,
        'p' => 5,
        'e' => 6,
        _ => 0,
    };
    let number = if exponent == 0 {
        s
    } else {
        &s[..s.len() - last.len_utf8()]
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| ParseError::new(format!("invalid size {text:?}")))?;
    Ok((value * 1024f64.powi(exponent)) as u64)
}

/// Go's `strconv.ParseUint(s, 10, 64)` after `TrimSpace`: digits only (Rust's `parse` also
/// takes a leading `+`).
fn parse_u64(text: &str) -> Result<u64, ParseError> {
    let t = text.trim();
    Some(t)
        .filter(|t| !t.starts_with('+'))
        .and_then(|t| t.parse::<u64>().ok())
        .ok_or_else(|| ParseError::new(format!("invalid number {text:?}")))
}

/// Parses `compression_stats`: a header line, then `algorithm: compressed uncompressed [avg]`.
pub fn parse_compression(bytes: &[u8]) -> Result<BTreeMap<String, Compression>, ParseError> {
    let mut stats = BTreeMap::new();
    for line in lossy(bytes).lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [name, compressed, uncompressed, ref rest @ ..] = fields[..] else {
            continue;
        };
        if let Some(avg) = rest.first() {
            parse_human_bytes(avg)?;
        }
        stats.insert(
            name.trim_end_matches(':').to_string(),
            Compression {
                compressed: parse_human_bytes(compressed)?,
                uncompressed: parse_human_bytes(uncompressed)?,
            },
        );
    }
    Ok(stats)
}

/// Parses `errors`: `name count [timestamp]` lines into counts.
pub fn parse_errors(bytes: &[u8]) -> Result<BTreeMap<String, u64>, ParseError> {
    let mut stats = BTreeMap::new();
    for line in lossy(bytes).lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [name, count, ref rest @ ..] = fields[..] else {
            continue;
        };
        if let Some(ts) = rest.first() {
            parse_u64(ts)?;
        }
        stats.insert(name.to_string(), parse_u64(count)?);
    }
    Ok(stats)
}

/// Parses one `counters/<name>` file into its "since filesystem creation" value.
pub fn parse_counter(bytes: &[u8]) -> Result<u64, ParseError> {
    let mut creation = None;
    let mut seen = false;
    for line in lossy(bytes).lines() {
        if let Some(value) = line.strip_prefix("since mount:") {
            parse_human_bytes(value)?;
            seen = true;
        } else if let Some(value) = line.strip_prefix("since filesystem creation:") {
            creation = Some(parse_human_bytes(value)?);
            seen = true;
        }
    }
    if !seen {
        return Err(ParseError::new("counter file format not recognized"));
    }
    Ok(creation.unwrap_or(0))
}

/// Parses `btree_write_stats`: a header line, then `type: count average_size`.
pub fn parse_btree_writes(bytes: &[u8]) -> Result<BTreeMap<String, BtreeWrites>, ParseError> {
    let mut stats = BTreeMap::new();
    for line in lossy(bytes).lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [name, count, size, ..] = fields[..] else {
            continue;
        };
        stats.insert(
            name.trim_end_matches(':').to_string(),
            BtreeWrites {
                count: parse_u64(count)?,
                size: parse_human_bytes(size)?,
            },
        );
    }
    Ok(stats)
}

/// Parses a device's `io_done`: `read:`/`write:` sections of `data_type : bytes` lines.
pub fn parse_io_done(bytes: &[u8]) -> Result<IoDone, ParseError> {
    let mut stats = IoDone::new();
    let mut op: Option<String> = None;
    for line in lossy(bytes).lines() {
        let line = line.trim();
        if line == "read:" || line == "write:" {
            let name = line.trim_end_matches(':').to_string();
            stats.entry(name.clone()).or_default();
            op = Some(name);
            continue;
        }
        let (Some(op), Some((kind, value))) = (&op, line.split_once(':')) else {
            continue;
        };
        stats
            .entry(op.clone())
            .or_default()
            .insert(kind.trim().to_string(), parse_u64(value)?);
    }
    Ok(stats)
}

/// Parses a device's `io_errors`: the `type: count` lines of the "since filesystem
/// creation" section.
pub fn parse_io_errors(bytes: &[u8]) -> Result<BTreeMap<String, u64>, ParseError> {
    let mut stats = BTreeMap::new();
    let mut in_section = false;
    for line in lossy(bytes).lines() {
        if line.starts_with("IO errors since filesystem creation") {
            in_section = true;
            continue;
        }
        if line.starts_with("IO errors since ") {
            break;
        }
        if !in_section {
            continue;
        }
        if let Some((kind, value)) = line.trim().split_once(':') {
            stats.insert(kind.trim().to_string(), parse_u64(value)?);
        }
    }
    Ok(stats)
}

/// Parses an optional file with `parse`; an absent file gives `T::default()`.
fn parse_optional<T: Default>(
    path: &Path,
    parse: impl FnOnce(&[u8]) -> Result<T, ParseError>,
) -> Result<T, CollectError> {
    match read(path).if_present()? {
        Some(bytes) => parse(&bytes).map_err(|e| CollectError::parse(path, e)),
        None => Ok(T::default()),
    }
}

fn trimmed_or_empty(path: &Path) -> String {
    read(path)
        .map(|b| lossy(&b).trim().to_string())
        .unwrap_or_default()
}

/// One filesystem's statistics, read whole before anything is emitted: procfs' `Stats` fails
/// every filesystem on one error, so node_exporter serves none of them.
struct Filesystem {
    uuid: String,
    cache: u64,
    compression: BTreeMap<String, Compression>,
    errors: BTreeMap<String, u64>,
    counters: BTreeMap<String, u64>,
    writes: BTreeMap<String, BtreeWrites>,
    devices: Vec<Device>,
}

/// One `dev-N` directory's statistics.
struct Device {
    name: String,
    label: String,
    state: String,
    bucket_size: u64,
    buckets: u64,
    durability: u64,
    io_done: IoDone,
    io_errors: BTreeMap<String, u64>,
}

/// A directory entry that is a directory itself, not a symlink to one (Go's `DirEntry.IsDir`).
fn is_real_dir(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let base = settings.roots.sys("fs/bcachefs");
    let mut filesystems = Vec::new();
    for uuid in list_dir(&base)? {
        let dir = base.join(&uuid);
        if is_real_dir(&dir) {
            filesystems.push(read_filesystem(&dir, uuid)?);
        }
    }
    if filesystems.is_empty() {
        return Err(CollectError::NoData("no bcachefs filesystems".into()));
    }
    for fs in &filesystems {
        emit_filesystem(fs, sink);
    }
    Ok(())
}

fn read_filesystem(dir: &Path, uuid: String) -> Result<Filesystem, CollectError> {
    let cache_path = dir.join("btree_cache_size");
    let cache = match read(&cache_path).if_present()? {
        Some(bytes) if !lossy(&bytes).trim().is_empty() => {
            parse_human_bytes(&lossy(&bytes)).map_err(|e| CollectError::parse(&cache_path, e))?
        }
        _ => 0,
    };
    let compression = parse_optional(&dir.join("compression_stats"), parse_compression)?;
    let errors = parse_optional(&dir.join("errors"), parse_errors)?;
    let counters = read_counters(&dir.join("counters"))?;
    let writes = parse_optional(&dir.join("btree_write_stats"), parse_btree_writes)?;
    let mut devices = Vec::new();
    for entry in list_dir(dir)? {
        let Some(device) = entry.strip_prefix("dev-") else {
            continue;
        };
        let path = dir.join(&entry);
        if is_real_dir(&path) {
            devices.push(read_device(&path, device)?);
        }
    }
    Ok(Filesystem {
        uuid,
        cache,
        compression,
        errors,
        counters,
        writes,
        devices,
    })
}

fn emit_filesystem(fs: &Filesystem, sink: &mut MetricSink) {
    let uuid = fs.uuid.as_str();
    let u = [("uuid", uuid)];
    sink.gauge("node_bcachefs_info", "Filesystem information.")
        .sample(&u, 1.0);
    sink.gauge(
        "node_bcachefs_btree_cache_size_bytes",
        "Btree cache memory usage in bytes.",
    )
    .sample(&u, fs.cache as f64);
    for (algorithm, c) in &fs.compression {
        let labels = [("algorithm", algorithm.as_str()), ("uuid", uuid)];
        sink.gauge(
            "node_bcachefs_compression_compressed_bytes",
            "Compressed size by algorithm.",
        )
        .sample(&labels, c.compressed as f64);
        sink.gauge(
            "node_bcachefs_compression_uncompressed_bytes",
            "Uncompressed size by algorithm.",
        )
        .sample(&labels, c.uncompressed as f64);
    }
    for (kind, count) in &fs.errors {
        sink.counter("node_bcachefs_errors_total", "Error count by error type.")
            .sample(
                &[("error_type", kind.as_str()), ("uuid", uuid)],
                *count as f64,
            );
    }
    for (name, value) in &fs.counters {
        sink.counter(
            &format!("node_bcachefs_{}_total", sanitize_metric_name(name)),
            &format!("Bcachefs counter {name} since filesystem creation."),
        )
        .sample(&u, *value as f64);
    }
    for (kind, w) in &fs.writes {
        let labels = [("type", kind.as_str()), ("uuid", uuid)];
        sink.counter(
            "node_bcachefs_btree_writes_total",
            "Number of btree writes by type.",
        )
        .sample(&labels, w.count as f64);
        sink.gauge(
            "node_bcachefs_btree_write_average_size_bytes",
            "Average btree write size by type.",
        )
        .sample(&labels, w.size as f64);
    }
    for device in &fs.devices {
        emit_device(device, uuid, sink);
    }
}

/// Reads `counters/`: every file's "since filesystem creation" value (absent dir → none).
fn read_counters(dir: &Path) -> Result<BTreeMap<String, u64>, CollectError> {
    let names = match list_dir(dir) {
        Err(e) if e.is_no_data() => return Ok(BTreeMap::new()),
        other => other?,
    };
    let mut counters = BTreeMap::new();
    for name in names {
        let path = dir.join(&name);
        if path.is_dir() {
            continue;
        }
        if let Some(bytes) = read(&path).if_present()? {
            let value = parse_counter(&bytes).map_err(|e| CollectError::parse(&path, e))?;
            counters.insert(name, value);
        } else {
            counters.insert(name, 0);
        }
    }
    Ok(counters)
}

fn read_uint(path: &Path) -> Result<u64, CollectError> {
    match read(path).if_present()? {
        Some(bytes) => parse_u64(&lossy(&bytes)).map_err(|e| CollectError::parse(path, e)),
        None => Ok(0),
    }
}

fn read_device(dir: &Path, name: &str) -> Result<Device, CollectError> {
    let bucket_raw = trimmed_or_empty(&dir.join("bucket_size"));
    let bucket_size = if bucket_raw.is_empty() {
        0
    } else {
        parse_human_bytes(&bucket_raw)
            .map_err(|e| CollectError::parse(&dir.join("bucket_size"), e))?
    };
    Ok(Device {
        name: name.to_string(),
        label: trimmed_or_empty(&dir.join("label")),
        state: trimmed_or_empty(&dir.join("state")),
        bucket_size,
        buckets: read_uint(&dir.join("nbuckets"))?,
        durability: read_uint(&dir.join("durability"))?,
        io_done: parse_optional(&dir.join("io_done"), parse_io_done)?,
        io_errors: parse_optional(&dir.join("io_errors"), parse_io_errors)?,
    })
}

fn emit_device(d: &Device, uuid: &str, sink: &mut MetricSink) {
    let device = d.name.as_str();
    let labels = [("device", device), ("uuid", uuid)];
    sink.gauge("node_bcachefs_device_info", "Device information.")
        .sample(
            &[
                ("device", device),
                ("label", &d.label),
                ("state", &d.state),
                ("uuid", uuid),
            ],
            1.0,
        );
    sink.gauge(
        "node_bcachefs_device_bucket_size_bytes",
        "Bucket size in bytes.",
    )
    .sample(&labels, d.bucket_size as f64);
    sink.gauge("node_bcachefs_device_buckets", "Total number of buckets.")
        .sample(&labels, d.buckets as f64);
    sink.gauge(
        "node_bcachefs_device_durability",
        "Device durability setting.",
    )
    .sample(&labels, d.durability as f64);
    sink.counter(
        "node_bcachefs_device_io_done_bytes_total",
        "IO bytes by operation type and data type.",
    );
    for (op, kinds) in &d.io_done {
        for (kind, value) in kinds {
            sink.sample(
                &[
                    ("data_type", kind),
                    ("device", device),
                    ("operation", op),
                    ("uuid", uuid),
                ],
                *value as f64,
            );
        }
    }
    sink.counter(
        "node_bcachefs_device_io_errors_total",
        "IO errors by error type.",
    );
    for (kind, value) in &d.io_errors {
        sink.sample(
            &[("device", device), ("type", kind), ("uuid", uuid)],
            *value as f64,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes() {
        assert_eq!(parse_human_bytes("542k").unwrap(), 555008);
        assert_eq!(parse_human_bytes("322M").unwrap(), 337641472);
        assert_eq!(parse_human_bytes("1.5G").unwrap(), 1610612736);
        assert_eq!(parse_human_bytes("\t405").unwrap(), 405);
        assert!(parse_human_bytes("").is_err());
        assert!(parse_human_bytes("1.5 GiB").is_err());
        assert!(parse_human_bytes("k").is_err());
    }

    #[test]
    fn compression_and_writes() {
        let comp = "typeName:       compressed      uncompressed    average extent size\nlz4:            1.37G           2.56G           112k\nincompressible: 7.44G           7.44G           112k\nnone: 0\n";
        let stats = parse_compression(comp.as_bytes()).unwrap();
        assert_eq!(stats.len(), 2);
        assert_eq!(stats["lz4"].uncompressed, (2.56 * 1073741824.0) as u64);
        assert!(parse_compression(b"header\nlz4: x 1\n").is_err());
        let writes = "                 nr     size\ninitial:         19088  108k\ninterior:        16804  2.31k\n";
        let w = parse_btree_writes(writes.as_bytes()).unwrap();
        assert_eq!(
            w["initial"],
            BtreeWrites {
                count: 19088,
                size: 110592
            }
        );
        assert!(parse_btree_writes(b"h\ninitial: 1.5 1k\n").is_err());
        assert!(parse_btree_writes(b"").unwrap().is_empty());
    }

    #[test]
    fn errors_and_counters() {
        let errors = parse_errors(b"btree_node_read_err 5 1736541812\nbad_magic 0\n").unwrap();
        assert_eq!(errors["btree_node_read_err"], 5);
        assert!(parse_errors(b"x y\n").is_err());
        let counter =
            "since mount:                   12345\nsince filesystem creation:     67890\n";
        assert_eq!(parse_counter(counter.as_bytes()).unwrap(), 67890);
        assert_eq!(parse_counter(b"since mount:\t1.5k\n").unwrap(), 0);
        assert!(parse_counter(b"").is_err());
        assert!(parse_counter(b"since filesystem creation: x\n").is_err());
        assert!(parse_counter(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn device_io() {
        let done = "read:\nsb          :       3989504\nbtree       :      4411097088\nwrite:\nsb          :         10\nuser        :  99\n";
        let io = parse_io_done(done.as_bytes()).unwrap();
        assert_eq!(io["read"]["btree"], 4411097088);
        assert_eq!(io["write"]["user"], 99);
        assert!(parse_io_done(b"read:\nsb : x\n").is_err());
        let errors = "IO errors since filesystem creation\n  read:    197346\n  write:   0\n  checksum:0\nIO errors since 8 y ago\n  read:    5\n";
        let e = parse_io_errors(errors.as_bytes()).unwrap();
        assert_eq!(e["read"], 197346);
        assert_eq!(e["checksum"], 0);
        assert_eq!(e.len(), 3);
        assert!(parse_io_errors(b"").unwrap().is_empty());
    }

    /// procfs' `Stats` returns an error for every filesystem when one device fails, so
    /// node_exporter serves no bcachefs series; a symlinked `dev-*` or uuid entry is skipped
    /// (`DirEntry.IsDir`). Old code: the first filesystem's series were emitted before the error.
    #[test]
    fn one_bad_device_fails_every_filesystem() {
        let base = tempfile::tempdir().unwrap();
        let fs = base.path().join("sys/fs/bcachefs");
        for (uuid, nbuckets) in [("a", "10\n"), ("b", "x\n")] {
            let dev = fs.join(uuid).join("dev-0");
            std::fs::create_dir_all(&dev).unwrap();
            std::fs::write(dev.join("nbuckets"), nbuckets).unwrap();
        }
        let settings = Settings::new(
            crate::roots::Roots::fixture(base.path()),
            crate::options::Options::default(),
        );
        let mut sink = MetricSink::new();
        let err = collect(&settings, &mut sink).unwrap_err();
        assert!(!err.is_no_data(), "{err}");
        assert_eq!(sink.sample_count(), 0, "nothing served after an error");

        std::fs::remove_dir_all(fs.join("b")).unwrap();
        std::os::unix::fs::symlink(fs.join("a"), fs.join("b")).unwrap();
        std::os::unix::fs::symlink(fs.join("a/dev-0"), fs.join("a/dev-1")).unwrap();
        let mut sink = MetricSink::new();
        collect(&settings, &mut sink).unwrap();
        let info = sink.sample_count();
        // info, cache size, and one device (info, bucket size, buckets, durability).
        assert_eq!(info, 6, "symlinks are not filesystems or devices");
    }

    #[test]
    fn integers_are_go_parse_uint() {
        assert!(parse_u64("+5").is_err());
        assert!(parse_errors(b"bad_magic +1\n").is_err());
        assert_eq!(parse_u64(" 7\n").unwrap(), 7);
    }
}
