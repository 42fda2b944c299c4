//! stat: boot time, context switches, forks, interrupts and process counts from `/proc/stat`;
//! per-vector softirq counts with `--collector.stat.softirq`. The `/proc/stat` parser here is
//! shared with the cpu collector.

use std::collections::BTreeMap;

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::{MetricSink, MetricType};
use crate::options::{Flag, FlagSpec};
use crate::stateless_collector;
use crate::util::{lossy, parse_file};

/// `--collector.stat.softirq`.
pub const SOFTIRQ: Flag<bool> = Flag::new(
    "collector.stat.softirq",
    "Export softirq calls per vector",
    "false",
);

stateless_collector!("stat", true, "/proc/stat", collect, FLAGS);

const FLAGS: &[FlagSpec] = &[SOFTIRQ.spec];

/// Kernel clock ticks per second of `/proc/stat` CPU times (USER_HZ).
pub const USER_HZ: f64 = 100.0;

/// One `cpuN` line of `/proc/stat`, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuTimes {
    /// Normal processes in user mode.
    pub user: f64,
    /// Niced processes in user mode.
    pub nice: f64,
    /// Kernel mode.
    pub system: f64,
    /// Idle.
    pub idle: f64,
    /// Waiting for I/O.
    pub iowait: f64,
    /// Servicing interrupts.
    pub irq: f64,
    /// Servicing softirqs.
    pub softirq: f64,
    /// Stolen by the hypervisor.
    pub steal: f64,
    /// Running a guest (included in user).
    pub guest: f64,
    /// Running a niced guest (included in nice).
    pub guest_nice: f64,
}

/// The softirq vector names of the `softirq` line, in kernel order (node_exporter's labels).
pub const SOFTIRQ_VECTORS: [&str; 10] = [
    "hi",
    "timer",
    "net_tx",
    "net_rx",
    "block",
    "block_iopoll",
    "tasklet",
    "sched",
    "hrtimer",
    "rcu",
];

/// The parsed `/proc/stat`. Absent lines leave their value at zero, as procfs does.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcStat {
    /// Per-CPU times keyed by CPU number (the aggregate `cpu` line is not kept).
    pub cpus: BTreeMap<u32, CpuTimes>,
    /// `btime`: boot time in seconds since the epoch.
    pub boot_time: u64,
    /// First `intr` value: all interrupts serviced.
    pub intr_total: u64,
    /// `ctxt`.
    pub context_switches: u64,
    /// `processes`: forks since boot.
    pub processes: u64,
    /// `procs_running`.
    pub procs_running: u64,
    /// `procs_blocked`.
    pub procs_blocked: u64,
    /// Per-vector softirq counts in [`SOFTIRQ_VECTORS`] order, if the line was present.
    pub softirq: Option<[u64; 10]>,
}

/// Parses `/proc/stat` like procfs' `Stat()`: unknown lines are skipped, a malformed known
/// line is an error.
pub fn parse(bytes: &[u8]) -> Result<ProcStat, ParseError> {
    let text = lossy(bytes);
    let mut stat = ProcStat::default();
    let mut parts: Vec<&str> = Vec::with_capacity(16);
    for line in crate::util::lines(&text) {
        // The `intr` line holds one count per interrupt (hundreds): only the total is kept,
        // the rest are checked as procfs parses them, without collecting them.
        if let Some(counts) = line.strip_prefix("intr ") {
            let counts = counts.trim_ascii_start();
            let first_end = counts
                .find(|c: char| c.is_ascii_whitespace())
                .unwrap_or(counts.len());
            let (first, rest) = counts.split_at(first_end);
            if first.is_empty() {
                continue;
            }
            stat.intr_total = uint("intr", first)?;
            if !all_short_decimals(rest) {
                for count in rest.split_ascii_whitespace() {
                    if !is_short_decimal(count) {
                        uint("intr", count)?;
                    }
                }
            }
            continue;
        }
        parts.clear();
        parts.extend(line.split_ascii_whitespace());
        let [key, first, rest @ ..] = parts.as_slice() else {
            continue;
        };
        match *key {
            "btime" => stat.boot_time = uint(key, first)?,
            "intr" => {
                stat.intr_total = uint(key, first)?;
                for count in rest {
                    uint(key, count)?;
                }
            }
            "ctxt" => stat.context_switches = uint(key, first)?,
            "processes" => stat.processes = uint(key, first)?,
            "procs_running" => stat.procs_running = uint(key, first)?,
            "procs_blocked" => stat.procs_blocked = uint(key, first)?,
            "softirq" => stat.softirq = Some(parse_softirq(rest)?),
            _ if key.starts_with("cpu") => {
                let times = parse_cpu_times(&parts[1..])?;
                if *key != "cpu" {
                    let id = key[3..]
                        .parse::<u32>()
                        .map_err(|_| ParseError::new(format!("invalid cpu line {key:?}")))?;
                    stat.cpus.insert(id, times);
                }
            }
            _ => {}
        }
    }
    Ok(stat)
}

/// Whether `counts` is space-separated decimals of at most 19 digits each, which all fit a
/// u64: checked a byte at a time rather than a number at a time (the `intr` line's hundreds of
/// counts were 1.3% of a host scrape). Anything else is left to the per-number check.
fn all_short_decimals(counts: &str) -> bool {
    let mut digits = 0;
    for &b in counts.as_bytes() {
        if b.is_ascii_digit() {
            digits += 1;
            if digits > 19 {
                return false;
            }
        } else if b == b' ' {
            digits = 0;
        } else {
            return false;
        }
    }
    true
}

/// Whether `value` is a decimal that surely fits a u64 (at most 19 digits); longer or other
/// text is left to `uint`.
fn is_short_decimal(value: &str) -> bool {
    value.len() < 20 && value.bytes().all(|b| b.is_ascii_digit())
}

fn uint(key: &str, value: &str) -> Result<u64, ParseError> {
    value
        .parse::<u64>()
        .map_err(|_| ParseError::new(format!("invalid {key} value {value:?}")))
}

/// The ten vectors after the total; procfs requires all of them.
fn parse_softirq(rest: &[&str]) -> Result<[u64; 10], ParseError> {
    let mut counts = [0u64; 10];
    if rest.len() < counts.len() {
        return Err(ParseError::new("softirq line has fewer than 11 values"));
    }
    for (count, field) in counts.iter_mut().zip(rest) {
        *count = uint("softirq", field)?;
    }
    Ok(counts)
}

/// Up to ten tick counts; missing trailing fields (old kernels, OpenVZ) stay zero.
fn parse_cpu_times(fields: &[&str]) -> Result<CpuTimes, ParseError> {
    let mut values = [0f64; 10];
    for (value, field) in values.iter_mut().zip(fields) {
        // Ticks are integers, which parse several times faster as one; the nearest f64 to an
        // integer is the same either way.
        let ticks = match field.parse::<u64>() {
            Ok(n) => n as f64,
            Err(_) => field
                .parse::<f64>()
                .map_err(|_| ParseError::new(format!("invalid cpu time {field:?}")))?,
        };
        *value = ticks / USER_HZ;
    }
    let [user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice] = values;
    Ok(CpuTimes {
        user,
        nice,
        system,
        idle,
        iowait,
        irq,
        softirq,
        steal,
        guest,
        guest_nice,
    })
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let stat = parse_file(&settings.roots.proc("stat"), parse)?;
    let singles: [(&str, &str, MetricType, u64); 6] = [
        (
            "node_intr_total",
            "Total number of interrupts serviced.",
            MetricType::Counter,
            stat.intr_total,
        ),
        (
            "node_context_switches_total",
            "Total number of context switches.",
            MetricType::Counter,
            stat.context_switches,
        ),
        (
            "node_forks_total",
            "Total number of forks.",
            MetricType::Counter,
            stat.processes,
        ),
        (
            "node_boot_time_seconds",
            "Node boot time, in unixtime.",
            MetricType::Gauge,
            stat.boot_time,
        ),
        (
            "node_procs_running",
            "Number of processes in runnable state.",
            MetricType::Gauge,
            stat.procs_running,
        ),
        (
            "node_procs_blocked",
            "Number of processes blocked waiting for I/O to complete.",
            MetricType::Gauge,
            stat.procs_blocked,
        ),
    ];
    for (name, help, kind, value) in singles {
        sink.single(name, help, kind, value as f64);
    }
    if settings.options.get(&SOFTIRQ) {
        let counts = stat.softirq.unwrap_or_default();
        sink.counter("node_softirqs_total", "Number of softirq calls.");
        for (vector, count) in SOFTIRQ_VECTORS.iter().zip(counts) {
            sink.sample(&[("vector", vector)], count as f64);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"cpu  2525 3 1384 96553 156 0 47 0 0 0
cpu0 1268 1 694 48237 76 0 38 0 0 0
cpu1 1257 2 690 48316 80 0 9 0 0 0
intr 110563 0 9 0 0 0 0 0 0 0 0 0 0 156 0
ctxt 225930
btime 1763805000
processes 2431
procs_running 2
procs_blocked 0
softirq 66019 1 28551 3 2266 3466 0 9 15779 0 15944
";

    #[test]
    fn parses_real_sample() {
        let stat = parse(SAMPLE).unwrap();
        assert_eq!(stat.cpus.len(), 2);
        assert_eq!(stat.cpus[&0].user, 12.68);
        assert_eq!(stat.cpus[&1].softirq, 0.09);
        assert_eq!(stat.intr_total, 110563);
        assert_eq!(stat.context_switches, 225930);
        assert_eq!(stat.boot_time, 1763805000);
        assert_eq!(stat.processes, 2431);
        assert_eq!(stat.procs_running, 2);
        assert_eq!(stat.softirq.unwrap()[9], 15944);
    }

    #[test]
    fn short_cpu_lines_leave_zeros() {
        let stat = parse(b"cpu3 100 200 300 400\n").unwrap();
        assert_eq!(stat.cpus[&3].idle, 4.0);
        assert_eq!(stat.cpus[&3].guest, 0.0);
    }

    #[test]
    fn empty_and_truncated_inputs() {
        assert_eq!(parse(b"").unwrap(), ProcStat::default());
        assert_eq!(parse(b"ctxt").unwrap(), ProcStat::default());
        assert!(parse(b"softirq 1 2 3\n").is_err());
    }

    #[test]
    fn checks_every_intr_count() {
        let stat = parse(b"intr 7 0 18446744073709551615 3\n").unwrap();
        assert_eq!(stat.intr_total, 7);
        assert!(parse(b"intr 7 0 18446744073709551616 3\n").is_err());
        assert!(parse(b"intr 7 0 1x 3\n").is_err());
        assert!(parse(b"intr x 0\n").is_err());
        assert_eq!(parse(b"intr\t9 1\n").unwrap().intr_total, 9);
        // The byte-at-a-time check passes only what the per-number check would.
        assert!(parse(b"intr 7 0 12345678901234567890 3\n").is_ok());
        assert!(parse(b"intr 7 0 99999999999999999999 3\n").is_err());
        assert!(parse(b"intr 7 0 -1 3\n").is_err());
        assert!(parse(b"intr 7  0\t1234567890123456789  3 \n").is_ok());
        assert_eq!(parse(b"intr   5 1\n").unwrap().intr_total, 5);
        assert_eq!(parse(b"intr 5\n").unwrap().intr_total, 5);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse(b"ctxt abc\n").is_err());
        assert!(parse(b"cpuX 1 2 3\n").is_err());
        assert!(parse(b"cpu0 1 x 3\n").is_err());
        // Integer ticks take the integer path, anything else the float one, to the same values.
        let cpus = parse(b"cpu0 150 2.5 1e2 18446744073709551615\n")
            .unwrap()
            .cpus;
        let times = &cpus[&0];
        assert_eq!((times.user, times.nice, times.system), (1.5, 0.025, 1.0));
        assert_eq!(
            times.idle,
            "18446744073709551615".parse::<f64>().unwrap() / USER_HZ
        );
        assert!(parse(&[0xff, 0xfe, 0x00]).is_ok());
        assert!(parse(b"btime \xff\n").is_err());
    }

    #[test]
    fn softirq_flag_emits_vectors_on_the_fixture_tree() {
        use crate::options::Options;
        use crate::roots::Roots;
        use std::path::Path;
        use std::sync::Arc;

        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/host");
        let mut options = Options::default();
        options.set(&SOFTIRQ, "true");
        let settings = Arc::new(Settings::new(Roots::fixture(&base), options));
        let collector = (INFO.build)(&settings).unwrap();
        let mut sink = MetricSink::new();
        collector.collect(&mut sink).unwrap();
        let mut out = Vec::new();
        crate::expfmt::render(&[&sink], crate::expfmt::Format::Text, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("# TYPE node_softirqs_total counter\n"));
        assert!(text.contains("node_softirqs_total{vector=\"timer\"} 57376\n"));
        assert!(text.contains("node_softirqs_total{vector=\"block_iopoll\"} 0\n"));
        assert!(text.contains("node_softirqs_total{vector=\"rcu\"} 88597\n"));
        assert_eq!(text.matches("node_softirqs_total{").count(), 10);
    }
}
