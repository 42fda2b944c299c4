//! udp_queues: `node_udp_queues{ip,queue}`, the summed tx/rx queue bytes of every UDP socket in
//! `/proc/net/udp` and `/proc/net/udp6`.

use std::io::ErrorKind;

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::stateless_collector;
use crate::util::parse_file;

stateless_collector!("udp_queues", true, "/proc/net/udp, /proc/net/udp6", collect);

/// Queue totals of one `/proc/net/udp{,6}` file, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueSums {
    /// Sum of the `tx_queue` column.
    pub tx: u64,
    /// Sum of the `rx_queue` column.
    pub rx: u64,
}

/// Parses `/proc/net/udp` or `/proc/net/udp6`: a header line, then one socket per line whose
/// fifth column is `tx_queue:rx_queue` in hex. Lines with fewer than 10 columns are an error, as
/// in procfs' `parseNetIPSocketLine`.
pub fn parse(bytes: &[u8]) -> Result<QueueSums, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError::new("not UTF-8"))?;
    let mut sums = QueueSums::default();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 10 {
            return Err(ParseError::new(format!("less than 10 columns in {line:?}")));
        }
        let queues = fields.get(4).copied().unwrap_or_default();
        let (tx, rx) = queues
            .split_once(':')
            .ok_or_else(|| ParseError::new(format!("invalid queues field {queues:?}")))?;
        sums.tx += hex(tx)?;
        sums.rx += hex(rx)?;
    }
    Ok(sums)
}

fn hex(s: &str) -> Result<u64, ParseError> {
    u64::from_str_radix(s, 16).map_err(|_| ParseError::new(format!("invalid hex value {s:?}")))
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let mut missing = 0;
    for (file, ip) in [("net/udp", "v4"), ("net/udp6", "v6")] {
        match parse_file(&settings.roots.proc(file), parse) {
            Ok(sums) => {
                sink.gauge(
                    "node_udp_queues",
                    "Number of allocated memory in the kernel for UDP datagrams in bytes.",
                )
                .sample(&[("queue", "tx"), ("ip", ip)], sums.tx as f64)
                .sample(&[("queue", "rx"), ("ip", ip)], sums.rx as f64);
            }
            Err(CollectError::Io { ref source, .. }) if source.kind() == ErrorKind::NotFound => {
                missing += 1;
            }
            Err(e) => return Err(e),
        }
    }
    if missing == 2 {
        return Err(CollectError::NoData("no /proc/net/udp nor udp6".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  112: 00000000:0044 00000000:0000 07 00000010:00000200 00:00000000 00000000     0        0 21234 2 0000000000000000 0
  113: 0100007F:0035 00000000:0000 07 00000001:00000002 00:00000000 00000000   101        0 21235 2 0000000000000000 0
";

    #[test]
    fn sums_queues() {
        assert_eq!(
            parse(SAMPLE.as_bytes()).unwrap(),
            QueueSums { tx: 17, rx: 514 }
        );
    }

    #[test]
    fn empty_and_bad_input() {
        assert_eq!(parse(b"").unwrap(), QueueSums::default());
        assert_eq!(parse(b"  sl local\n").unwrap(), QueueSums::default());
        assert!(parse(b"h\n 1: a b 07 0000\n").is_err());
        assert!(parse(b"h\n 1: a b 07 zz:01 00 0 0 0 0\n").is_err());
        assert!(parse(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn absent_subsystem_is_no_data() {
        let (sink, result) = crate::testing::collect_on_empty_root(INFO).unwrap();
        assert!(result.unwrap_err().is_no_data());
        assert!(sink.is_empty());
    }
}
