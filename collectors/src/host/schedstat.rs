//! schedstat: `node_schedstat_{running_seconds,waiting_seconds,timeslices}_total{cpu}` from
//! `/proc/schedstat`.

use std::sync::LazyLock;

use regex::Regex;

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::stateless_collector;
use crate::util::lossy;

stateless_collector!("schedstat", true, "/proc/schedstat", collect);

/// The per-CPU values node_exporter exports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedCpu {
    /// The CPU number, as written after `cpu`.
    pub cpu: String,
    /// Time spent running tasks (ns).
    pub running_ns: u64,
    /// Time tasks spent waiting to run (ns).
    pub waiting_ns: u64,
    /// Timeslices run.
    pub timeslices: u64,
}

/// procfs' `cpuLineRE`: unanchored, so it matches anywhere in a line, and `[0-9]` as Go's
/// ASCII `\d` (Rust's `\d` would also take other Unicode digits).
static CPU_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        "cpu([0-9]+) ([0-9]+) ([0-9]+) ([0-9]+) ([0-9]+) ([0-9]+) ([0-9]+) ([0-9]+) ([0-9]+) ([0-9]+)",
    )
    .expect("valid pattern")
});

/// Parses `/proc/schedstat` as procfs' `Schedstat` does
/// (<https://github.com/prometheus/procfs/blob/master/schedstat.go>): lines matching its
/// `cpuN` pattern give a CPU; other lines (version, timestamp, domains) are skipped, and so is
/// a `cpuN` line whose running, waiting or timeslice count does not fit in a u64 (procfs
/// `continue`s on that `ParseUint` error rather than failing).
pub fn parse(bytes: &[u8]) -> Result<Vec<SchedCpu>, ParseError> {
    let text = lossy(bytes);
    let mut cpus = Vec::new();
    for line in crate::util::lines(&text) {
        let Some(m) = CPU_LINE.captures(line) else {
            continue;
        };
        let value = |i: usize| m.get(i).and_then(|g| g.as_str().parse::<u64>().ok());
        let (Some(running_ns), Some(waiting_ns), Some(timeslices)) =
            (value(8), value(9), value(10))
        else {
            continue;
        };
        cpus.push(SchedCpu {
            cpu: m.get(1).map_or("", |g| g.as_str()).to_string(),
            running_ns,
            waiting_ns,
            timeslices,
        });
    }
    Ok(cpus)
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let path = settings.roots.proc("schedstat");
    let bytes = match crate::util::read_bytes(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CollectError::NoData("schedstat file does not exist".into()))
        }
        Err(e) => return Err(CollectError::io(&path, e)),
    };
    let cpus = parse(&bytes).map_err(|e| CollectError::parse(&path, e))?;
    sink.counter(
        "node_schedstat_running_seconds_total",
        "Number of seconds CPU spent running a process.",
    );
    for c in &cpus {
        sink.sample(&[("cpu", &c.cpu)], c.running_ns as f64 / 1e9);
    }
    sink.counter(
        "node_schedstat_waiting_seconds_total",
        "Number of seconds spent by processing waiting for this CPU.",
    );
    for c in &cpus {
        sink.sample(&[("cpu", &c.cpu)], c.waiting_ns as f64 / 1e9);
    }
    sink.counter(
        "node_schedstat_timeslices_total",
        "Number of timeslices executed by CPU.",
    );
    for c in &cpus {
        sink.sample(&[("cpu", &c.cpu)], c.timeslices as f64);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"version 15
timestamp 15819019232
cpu0 498494191 0 3533438552 2553969831 3853684107 2465731542 2045936778163039 343796328169361 4767485306
domain0 00000000,00000003 212499247 210112015 1861015 1860405436 536440 369895 32599 210079416 25368550 24241256 384652 927363878 807233 6366 1647 0 3 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 2 0 0 0 0 0 0 0
cpu1 518377256 0 4155211005 2778589869 10466382 2867629021 1904686152592476 364107263788241 5145567945
";

    #[test]
    fn parses_real_sample() {
        let cpus = parse(SAMPLE).unwrap();
        assert_eq!(cpus.len(), 2);
        assert_eq!(cpus[0].cpu, "0");
        assert_eq!(cpus[0].running_ns, 2045936778163039);
        assert_eq!(cpus[0].waiting_ns, 343796328169361);
        assert_eq!(cpus[1].timeslices, 5145567945);
    }

    #[test]
    fn skips_short_and_garbage_lines() {
        assert!(parse(b"").unwrap().is_empty());
        assert!(parse(b"cpu0 1 2 3\n").unwrap().is_empty());
        assert!(parse(b"cpu0 1 2 3 4 5 6 x 8 9\n").unwrap().is_empty());
        assert!(parse(&[0xff, 0xfe, 0x00]).unwrap().is_empty());
    }

    #[test]
    fn skips_out_of_range_lines_as_procfs() {
        // procfs `continue`s when a counter overflows u64: that CPU is left out, the others
        // (and the collector) stay.
        let text = b"cpu0 1 2 3 4 5 6 99999999999999999999999 8 9\ncpu1 1 2 3 4 5 6 7 8 9\n";
        let cpus = parse(text).unwrap();
        assert_eq!(cpus.len(), 1);
        assert_eq!(cpus[0].cpu, "1");
        assert_eq!(cpus[0].running_ns, 7);
    }

    #[test]
    fn matches_like_the_unanchored_go_pattern() {
        // The pattern is not anchored: trailing text after the ninth counter is ignored, as is
        // anything before `cpu`.
        let cpus = parse(b"cpu3 1 2 3 4 5 6 7 8 9x\n").unwrap();
        assert_eq!((cpus[0].cpu.as_str(), cpus[0].timeslices), ("3", 9));
        assert!(parse("cpu0 1 2 3 4 5 6 \u{0663} 8 9\n".as_bytes())
            .unwrap()
            .is_empty());
    }
}
