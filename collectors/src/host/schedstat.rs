//! schedstat: `node_schedstat_{running_seconds,waiting_seconds,timeslices}_total{cpu}` from
//! `/proc/schedstat`.

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

/// Parses `/proc/schedstat`: `cpuN` lines with at least nine counters; other lines (version,
/// timestamp, domains) are skipped, as procfs' line pattern does.
pub fn parse(bytes: &[u8]) -> Result<Vec<SchedCpu>, ParseError> {
    let text = lossy(bytes);
    let mut cpus = Vec::new();
    for line in crate::util::lines(&text) {
        let mut fields = line.split(' ');
        let Some(cpu) = fields
            .next()
            .and_then(|f| f.strip_prefix("cpu"))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let numbers: Vec<&str> = fields.take(9).collect();
        if numbers.len() < 9
            || !numbers
                .iter()
                .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        let value = |i: usize| {
            numbers[i]
                .parse::<u64>()
                .map_err(|_| ParseError::new(format!("schedstat value out of range {line:?}")))
        };
        cpus.push(SchedCpu {
            cpu: cpu.to_string(),
            running_ns: value(6)?,
            waiting_ns: value(7)?,
            timeslices: value(8)?,
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
        assert!(parse(b"cpu0 1 2 3 4 5 6 99999999999999999999999 8 9\n").is_err());
    }
}
