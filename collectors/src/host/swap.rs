//! swap (off by default): `node_swap_{size_bytes,used_bytes,priority}{device,type}` from
//! `/proc/swaps`.

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::stateless_collector;
use crate::util::{lossy, parse_file, parse_i64};

stateless_collector!("swap", false, "/proc/swaps", collect);

/// One line of `/proc/swaps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swap {
    /// Device or file name.
    pub filename: String,
    /// `partition` or `file`.
    pub kind: String,
    /// Size in KiB.
    pub size_kib: i64,
    /// Used space in KiB.
    pub used_kib: i64,
    /// Priority (negative when assigned by the kernel).
    pub priority: i64,
}

/// Parses `/proc/swaps`; the header line is skipped, every other line needs 5 fields.
pub fn parse(bytes: &[u8]) -> Result<Vec<Swap>, ParseError> {
    let text = lossy(bytes);
    crate::util::lines(&text)
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split_ascii_whitespace().collect();
            let [filename, kind, size, used, priority, ..] = fields.as_slice() else {
                return Err(ParseError::new(format!(
                    "too few fields in swap string: {line}"
                )));
            };
            Ok(Swap {
                filename: (*filename).to_string(),
                kind: (*kind).to_string(),
                size_kib: parse_i64(size)?,
                used_kib: parse_i64(used)?,
                priority: parse_i64(priority)?,
            })
        })
        .collect()
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let swaps = parse_file(&settings.roots.proc("swaps"), parse)?;
    for swap in &swaps {
        let labels = [
            ("device", swap.filename.as_str()),
            ("type", swap.kind.as_str()),
        ];
        sink.gauge("node_swap_size_bytes", "Swap device size in bytes.")
            .sample(&labels, swap.size_kib as f64 * 1024.0);
        sink.gauge("node_swap_used_bytes", "Swap device used in bytes.")
            .sample(&labels, swap.used_kib as f64 * 1024.0);
        sink.gauge("node_swap_priority", "Swap device priority.")
            .sample(&labels, swap.priority as f64);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_sample() {
        let text = b"Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/dm-1                               partition\t8388604\t\t102400\t\t-2\n";
        let swaps = parse(text).unwrap();
        assert_eq!(
            swaps,
            vec![Swap {
                filename: "/dev/dm-1".into(),
                kind: "partition".into(),
                size_kib: 8388604,
                used_kib: 102400,
                priority: -2
            }]
        );
        assert!(parse(b"Filename Type Size Used Priority\n")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(b"").unwrap().is_empty());
        assert!(parse(b"h\n/dev/sda2 partition 100").is_err());
        assert!(parse(b"h\n/dev/sda2 partition 1.5 0 -2").is_err());
        assert!(parse(&[b'h', b'\n', 0xff, 0xfe]).is_err());
    }
}
