//! tapestats: SCSI tape drive statistics from `/sys/class/scsi_tape/st*/stats`
//! (node_exporter's `tapestats_linux.go` over procfs' `class_scsitape.go`).

use std::path::Path;
use std::sync::Arc;

use regex::Regex;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::{MetricSink, MetricType};
use crate::options::Flag;
use crate::util::{list_dir, lossy, parse_u64_prefixed, read};

/// `--collector.tapestats.ignored-devices`.
pub const IGNORED_DEVICES: Flag<Option<Regex>> = Flag::new(
    "collector.tapestats.ignored-devices",
    "Regexp of devices to ignore for tapestats.",
    "^$",
);

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "tapestats",
    default_enabled: true,
    sources: "/sys/class/scsi_tape/st*/stats",
    flags: &[IGNORED_DEVICES.spec],
    build,
};

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Tapestats {
        settings: Arc::clone(settings),
        ignored: settings.options.get(&IGNORED_DEVICES)?,
    }))
}

/// The counters of one tape drive, as in its `stats` directory (absent files are 0).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TapeStats {
    /// `in_flight`: I/Os outstanding.
    pub in_flight: u64,
    /// `io_ns`: time waiting for all I/O, in nanoseconds.
    pub io_ns: u64,
    /// `other_cnt`: commands other than read and write.
    pub other_cnt: u64,
    /// `read_byte_cnt`.
    pub read_byte_cnt: u64,
    /// `read_cnt`.
    pub read_cnt: u64,
    /// `read_ns`.
    pub read_ns: u64,
    /// `resid_cnt`: reads or writes with a non-zero residual.
    pub resid_cnt: u64,
    /// `write_byte_cnt`.
    pub write_byte_cnt: u64,
    /// `write_cnt`.
    pub write_cnt: u64,
    /// `write_ns`.
    pub write_ns: u64,
}

impl TapeStats {
    /// Stores the value of the stats file `name`; unknown files are ignored unparsed.
    pub fn set(&mut self, name: &str, bytes: &[u8]) -> Result<(), ParseError> {
        let field = match name {
            "in_flight" => &mut self.in_flight,
            "io_ns" => &mut self.io_ns,
            "other_cnt" => &mut self.other_cnt,
            "read_byte_cnt" => &mut self.read_byte_cnt,
            "read_cnt" => &mut self.read_cnt,
            "read_ns" => &mut self.read_ns,
            "resid_cnt" => &mut self.resid_cnt,
            "write_byte_cnt" => &mut self.write_byte_cnt,
            "write_cnt" => &mut self.write_cnt,
            "write_ns" => &mut self.write_ns,
            _ => return Ok(()),
        };
        *field = parse_u64_prefixed(lossy(bytes).trim())?;
        Ok(())
    }
}

/// True for the tape device names procfs reads (`st0`, not the `nst0a`-style variants).
pub fn is_tape_device(name: &str) -> bool {
    name.strip_prefix("st")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

struct Tapestats {
    settings: Arc<Settings>,
    ignored: Option<Regex>,
}

impl Collector for Tapestats {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let class = self.settings.roots.sys("class/scsi_tape");
        // procfs reads every tape before node_exporter emits; a missing class or stats
        // directory is ErrNoData (list_dir reports it as such).
        let mut tapes = Vec::new();
        for name in list_dir(&class)? {
            if is_tape_device(&name) {
                let stats = read_stats(&class.join(&name).join("stats"))?;
                tapes.push((name, stats));
            }
        }
        for (name, stats) in &tapes {
            if !self.ignored.as_ref().is_some_and(|r| r.is_match(name)) {
                emit(name, stats, sink);
            }
        }
        Ok(())
    }
}

fn read_stats(dir: &Path) -> Result<TapeStats, CollectError> {
    let mut stats = TapeStats::default();
    for file in list_dir(dir)? {
        let path = dir.join(&file);
        let bytes = read(&path)?;
        stats
            .set(&file, &bytes)
            .map_err(|e| CollectError::parse(&path, e))?;
    }
    Ok(stats)
}

fn emit(device: &str, s: &TapeStats, sink: &mut MetricSink) {
    // node_exporter multiplies by 1e-9 rather than dividing by 1e9; kept for identical floats.
    let seconds = |ns: u64| ns as f64 * 0.000000001;
    let rows: [(&str, &str, MetricType, f64); 10] = [
        ("io_now", "The number of I/Os currently outstanding to this device.", MetricType::Gauge, s.in_flight as f64),
        ("io_time_seconds_total", "The amount of time spent waiting for all I/O to complete (including read and write). This includes tape movement commands such as seeking between file or set marks and implicit tape movement such as when rewind on close tape devices are used.", MetricType::Counter, seconds(s.io_ns)),
        ("io_others_total", "The number of I/Os issued to the tape drive other than read or write commands. The time taken to complete these commands uses the following calculation io_time_seconds_total-read_time_seconds_total-write_time_seconds_total", MetricType::Counter, s.other_cnt as f64),
        ("read_bytes_total", "The number of bytes read from the tape drive.", MetricType::Counter, s.read_byte_cnt as f64),
        ("reads_completed_total", "The number of read requests issued to the tape drive.", MetricType::Counter, s.read_cnt as f64),
        ("read_time_seconds_total", "The amount of time spent waiting for read requests to complete.", MetricType::Counter, seconds(s.read_ns)),
        ("residual_total", "The number of times during a read or write we found the residual amount to be non-zero. This should mean that a program is issuing a read larger thean the block size on tape. For write not all data made it to tape.", MetricType::Counter, s.resid_cnt as f64),
        ("written_bytes_total", "The number of bytes written to the tape drive.", MetricType::Counter, s.write_byte_cnt as f64),
        ("writes_completed_total", "The number of write requests issued to the tape drive.", MetricType::Counter, s.write_cnt as f64),
        ("write_time_seconds_total", "The amount of time spent waiting for write requests to complete.", MetricType::Counter, seconds(s.write_ns)),
    ];
    for (name, help, kind, value) in rows {
        sink.family(&format!("node_tape_{name}"), help, kind)
            .sample(&[("device", device)], value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_known_fields() {
        let mut s = TapeStats::default();
        s.set("read_ns", b"1234\n").unwrap();
        s.set("in_flight", b"0x1\n").unwrap();
        s.set("unknown_file", b"garbage").unwrap();
        assert_eq!(s.read_ns, 1234);
        assert_eq!(s.in_flight, 1);
        assert!(s.set("io_ns", b"").is_err());
        assert!(s.set("io_ns", b"12 3").is_err());
        assert!(s.set("io_ns", &[0xff]).is_err());
    }

    #[test]
    fn selects_tape_devices() {
        assert!(is_tape_device("st0"));
        assert!(is_tape_device("st12"));
        assert!(!is_tape_device("nst0"));
        assert!(!is_tape_device("st0a"));
        assert!(!is_tape_device("st"));
    }

    #[test]
    fn absent_subsystem_is_no_data() {
        assert!(crate::testing::run_on_empty_root(INFO)
            .unwrap_err()
            .is_no_data());
    }
}
