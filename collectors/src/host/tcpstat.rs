//! tcpstat (off by default): `node_tcp_connection_states{state}` from `/proc/net/tcp` and
//! `/proc/net/tcp6`.
//!
//! node_exporter 1.12 asks the kernel over NETLINK_SOCK_DIAG; the proc files list the same
//! sockets with the same states and queue sizes, so the families are the same. One difference:
//! for listening sockets sock_diag reports the accept-queue limit as the write queue, while
//! `/proc/net/tcp` reports 0, so `tx_queued_bytes` leaves listen backlogs out.

use std::collections::BTreeMap;

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::stateless_collector;
use crate::util::{lossy, parse_file};

stateless_collector!("tcpstat", false, "/proc/net/tcp, /proc/net/tcp6", collect);

/// node_exporter's label for a kernel TCP state number (12 and 13 are its queue pseudo-states).
pub fn state_name(state: i64) -> &'static str {
    match state {
        1 => "established",
        2 => "syn_sent",
        3 => "syn_recv",
        4 => "fin_wait1",
        5 => "fin_wait2",
        6 => "time_wait",
        7 => "close",
        8 => "close_wait",
        9 => "last_ack",
        10 => "listen",
        11 => "closing",
        12 => "rx_queued_bytes",
        13 => "tx_queued_bytes",
        _ => "unknown",
    }
}

fn hex(field: &str) -> Result<u64, ParseError> {
    u64::from_str_radix(field, 16).map_err(|_| ParseError::new(format!("invalid hex {field:?}")))
}

/// Parses a `/proc/net/tcp{,6}` table into counts per state label plus the summed
/// `tx_queued_bytes` and `rx_queued_bytes`.
pub fn parse(bytes: &[u8]) -> Result<BTreeMap<&'static str, f64>, ParseError> {
    let mut stats = BTreeMap::new();
    let text = lossy(bytes);
    for line in crate::util::lines(&text).skip(1) {
        let parts: Vec<&str> = line.split_ascii_whitespace().collect();
        if parts.is_empty() {
            continue;
        }
        let (Some(state), Some(queues)) = (parts.get(3), parts.get(4)) else {
            return Err(ParseError::new(format!("invalid TCP stats line: {line:?}")));
        };
        let (tx, rx) = queues.split_once(':').ok_or_else(|| {
            ParseError::new(format!("cannot parse tx_queues and rx_queues: {line:?}"))
        })?;
        *stats.entry("tx_queued_bytes").or_default() += hex(tx)? as f64;
        *stats.entry("rx_queued_bytes").or_default() += hex(rx)? as f64;
        let state = i8::from_str_radix(state, 16)
            .map_err(|_| ParseError::new(format!("invalid state {state:?}")))?;
        *stats.entry(state_name(state.into())).or_default() += 1.0;
    }
    Ok(stats)
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let mut stats = parse_file(&settings.roots.proc("net/tcp"), parse)?;
    let tcp6 = settings.roots.proc("net/tcp6");
    if tcp6.exists() {
        for (state, n) in parse_file(&tcp6, parse)? {
            *stats.entry(state).or_default() += n;
        }
    }
    sink.gauge("node_tcp_connection_states", "Number of connection states.");
    for (state, n) in stats {
        sink.sample(&[("state", state)], n);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1125 1 000000006346cf56 100 0 0 10 0\n   3: 0F02000A:0016 6402000A:D4A2 01 00000024:00000010 01:00000019 00000000     0        0 20145 4 0000000011f2a6ab 20 4 29 10 -1\n\n";

    #[test]
    fn parses_real_sample() {
        let s = parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(s["listen"], 1.0);
        assert_eq!(s["established"], 1.0);
        assert_eq!(s["tx_queued_bytes"], 36.0);
        assert_eq!(s["rx_queued_bytes"], 16.0);
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn empty_truncated_garbage() {
        assert!(parse(b"").unwrap().is_empty());
        assert!(parse(b"header\n   0: 00000000:07E8 00000000:0000 0A").is_err());
        assert!(parse(b"header\n 0: a b 0A zz:00").is_err());
        assert!(parse(b"header\n 0: a b 0A 00000000").is_err());
        assert!(parse(&[b'h', b'\n', 0xff, 0xfe]).is_err());
    }
}
