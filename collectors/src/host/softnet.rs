//! softnet: `node_softnet_*_total{cpu}` counters and `node_softnet_backlog_len{cpu}` from
//! `/proc/net/softnet_stat` (hexadecimal columns; the `cpu` label is the CPU index the kernel
//! writes in column 13 since Linux 5.10, else the line number).

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::stateless_collector;
use crate::util::{lossy, parse_file};

stateless_collector!("softnet", true, "/proc/net/softnet_stat", collect);

/// One line of `softnet_stat`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SoftnetCpu {
    /// The CPU index (`cpu` label).
    pub index: u32,
    /// Packets processed.
    pub processed: u32,
    /// Packets dropped.
    pub dropped: u32,
    /// Times the NAPI budget ran out.
    pub time_squeezed: u32,
    /// Transmit lock collisions.
    pub cpu_collision: u32,
    /// RPS wake-ups (Linux 2.6.39+).
    pub received_rps: u32,
    /// Flow limit hits (Linux 4.18+).
    pub flow_limit_count: u32,
    /// Backlog queue length (Linux 5.10+).
    pub backlog_len: u32,
}

/// Parses `softnet_stat` like procfs: at least 9 hexadecimal columns per line.
pub fn parse(bytes: &[u8]) -> Result<Vec<SoftnetCpu>, ParseError> {
    let text = lossy(bytes);
    let mut cpus = Vec::new();
    for (line_no, line) in crate::util::lines(&text).enumerate() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if fields.len() < 9 {
            return Err(ParseError::new(format!(
                "detected {} columns, but expected at least 9",
                fields.len()
            )));
        }
        // procfs reads columns 0-10 as far as they exist, and 11-12 (backlog, CPU index) only
        // when both are there; later ones are not validated
        // (https://github.com/prometheus/procfs/blob/master/net_softnet.go).
        let read = if fields.len() >= 13 {
            13
        } else {
            fields.len().min(11)
        };
        let columns = fields
            .iter()
            .take(read)
            .map(|c| {
                u32::from_str_radix(c, 16)
                    .map_err(|_| ParseError::new(format!("invalid softnet value {c:?}")))
            })
            .collect::<Result<Vec<u32>, _>>()?;
        let col = |i: usize| columns.get(i).copied().unwrap_or(0);
        cpus.push(SoftnetCpu {
            index: if columns.len() >= 13 {
                col(12)
            } else {
                line_no as u32
            },
            processed: col(0),
            dropped: col(1),
            time_squeezed: col(2),
            cpu_collision: col(8),
            received_rps: col(9),
            flow_limit_count: col(10),
            backlog_len: col(11),
        });
    }
    Ok(cpus)
}

type Field = fn(&SoftnetCpu) -> u32;

const COUNTERS: [(&str, &str, Field); 6] = [
    (
        "node_softnet_processed_total",
        "Number of processed packets",
        |c| c.processed,
    ),
    (
        "node_softnet_dropped_total",
        "Number of dropped packets",
        |c| c.dropped,
    ),
    (
        "node_softnet_times_squeezed_total",
        "Number of times processing packets ran out of quota",
        |c| c.time_squeezed,
    ),
    (
        "node_softnet_cpu_collision_total",
        "Number of collision occur while obtaining device lock while transmitting",
        |c| c.cpu_collision,
    ),
    (
        "node_softnet_received_rps_total",
        "Number of times cpu woken up received_rps",
        |c| c.received_rps,
    ),
    (
        "node_softnet_flow_limit_count_total",
        "Number of times flow limit has been reached",
        |c| c.flow_limit_count,
    ),
];

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let cpus = parse_file(&settings.roots.proc("net/softnet_stat"), parse)?;
    let labels: Vec<String> = cpus.iter().map(|c| c.index.to_string()).collect();
    for (name, help, field) in COUNTERS {
        sink.counter(name, help);
        for (cpu, label) in cpus.iter().zip(&labels) {
            sink.sample(&[("cpu", label)], field(cpu) as f64);
        }
    }
    sink.gauge("node_softnet_backlog_len", "Softnet backlog status");
    for (cpu, label) in cpus.iter().zip(&labels) {
        sink.sample(&[("cpu", label)], cpu.backlog_len as f64);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modern_lines() {
        let cpus = parse(
            b"0000f0e1 00000002 00000003 00000000 00000000 00000000 00000000 00000000 00000004 00000005 00000006 00000007 00000000\n\
              00000010 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000002\n",
        )
        .unwrap();
        assert_eq!(cpus.len(), 2);
        assert_eq!(cpus[0].processed, 0xf0e1);
        assert_eq!(cpus[0].cpu_collision, 4);
        assert_eq!(cpus[0].received_rps, 5);
        assert_eq!(cpus[0].flow_limit_count, 6);
        assert_eq!(cpus[0].backlog_len, 7);
        assert_eq!(cpus[1].index, 2);
    }

    #[test]
    fn old_kernels_use_line_numbers() {
        let cpus = parse(b"1 2 3 0 0 0 0 0 4\n5 6 7 0 0 0 0 0 8 9\n").unwrap();
        assert_eq!(cpus[1].index, 1);
        assert_eq!(cpus[1].received_rps, 9);
        assert_eq!(cpus[1].flow_limit_count, 0);
    }

    #[test]
    fn twelve_columns_have_no_backlog() {
        // procfs takes the backlog only together with the CPU index (width >= 13): with 12
        // columns the 12th is neither read nor validated, and the index is the line number.
        let cpus = parse(b"1 2 3 0 0 0 0 0 4 5 6 7\n1 2 3 0 0 0 0 0 4 5 6 zz\n").unwrap();
        assert_eq!(cpus[0].backlog_len, 0);
        assert_eq!(cpus[0].flow_limit_count, 6);
        assert_eq!(cpus[1].index, 1);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(b"").unwrap().is_empty());
        assert!(parse(b"1 2 3\n").is_err());
        assert!(parse(b"1 2 3 0 0 0 0 0 zz\n").is_err());
        assert!(parse(&[0xff, 0xfe, 0x00]).is_err());
    }
}
