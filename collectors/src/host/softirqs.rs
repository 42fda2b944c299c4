//! softirqs (off by default): `node_softirqs_functions_total{cpu,type}` from `/proc/softirqs`.

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::stateless_collector;
use crate::util::{lossy, parse_file, parse_u64};

stateless_collector!("softirqs", false, "/proc/softirqs", collect);

/// The softirq vectors procfs knows, in its order; other rows are ignored.
pub const TYPES: [&str; 10] = [
    "HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED", "HRTIMER", "RCU",
];

/// Parses `/proc/softirqs` into `(type, per-CPU counts)` rows of the known vectors.
pub fn parse(bytes: &[u8]) -> Result<Vec<(&'static str, Vec<u64>)>, ParseError> {
    let text = lossy(bytes);
    let mut lines = crate::util::lines(&text);
    lines
        .next()
        .ok_or_else(|| ParseError::new("softirqs empty"))?;
    let mut rows = Vec::new();
    for line in lines {
        let mut fields = line.split_ascii_whitespace();
        let Some(label) = fields.next() else {
            continue;
        };
        let Some(kind) = TYPES.iter().find(|t| label.strip_suffix(':') == Some(**t)) else {
            continue;
        };
        let counts = fields.map(parse_u64).collect::<Result<Vec<_>, _>>()?;
        if counts.is_empty() {
            continue;
        }
        rows.push((*kind, counts));
    }
    Ok(rows)
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let rows = parse_file(&settings.roots.proc("softirqs"), parse)?;
    sink.counter("node_softirqs_functions_total", "Softirq counts per CPU.");
    for (kind, counts) in rows {
        for (cpu, n) in counts.iter().enumerate() {
            sink.sample(&[("cpu", &cpu.to_string()), ("type", kind)], *n as f64);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_sample() {
        let text = "                    CPU0       CPU1       \n          HI:          0          0\n       TIMER:      14654      23635\n    NEW_ONE:          1          2\n         RCU:      18585      20220\n";
        let rows = parse(text.as_bytes()).unwrap();
        assert_eq!(
            rows,
            vec![
                ("HI", vec![0, 0]),
                ("TIMER", vec![14654, 23635]),
                ("RCU", vec![18585, 20220])
            ]
        );
    }

    #[test]
    fn empty_truncated_garbage() {
        assert!(parse(b"").is_err());
        assert!(parse(b"  CPU0\n HI:").unwrap().is_empty());
        assert!(parse(b"  CPU0\n HI: x").is_err());
        assert!(parse(&[0xff, 0xfe]).unwrap().is_empty());
    }
}
