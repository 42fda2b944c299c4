//! tcpstat (off by default): `node_tcp_connection_states{state}`, the number of TCP sockets in
//! each state and the summed `rx_queued_bytes`/`tx_queued_bytes`.
//!
//! node_exporter 1.12 asks the kernel over `NETLINK_SOCK_DIAG` (`SOCK_DIAG_BY_FAMILY`, states
//! `0xFFF`, AF_INET and, when `/proc/net/tcp6` exists, AF_INET6), and so does nodex on a live
//! procfs. The dump and `/proc/net/tcp` list the same sockets in the same states, but not the
//! same queues for listening sockets: `tcp_diag_get_info` reports the accept backlog and its
//! limit (`sk_ack_backlog`, `sk_max_ack_backlog`) as the read and write queues, where
//! `/proc/net/tcp` prints 0 as the transmit queue of a listener
//! (<https://github.com/torvalds/linux/blob/master/net/ipv4/tcp_diag.c>,
//! <https://github.com/prometheus/node_exporter/blob/master/collector/tcpstat_linux.go>).
//! So `tx_queued_bytes` includes every listener's backlog limit, as node_exporter's does.
//! Fixture trees, and a kernel that refuses the dump, are read from the files.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::fdcache::{path_kind, Kind};
use crate::netlink::{self, KeptSocket};
use crate::util::{array, lossy, parse_file, u32_at};

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "tcpstat",
    default_enabled: false,
    sources: "/proc/net/tcp, /proc/net/tcp6 (a sock_diag dump on a live procfs)",
    flags: &[],
    build,
};

/// `NETLINK_SOCK_DIAG` and its one request type.
const NETLINK_SOCK_DIAG: i32 = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// node_exporter's `TCPFAll`: states 0-11 (the kernel adds `TCPF_NEW_SYN_RECV` itself when
/// `TCPF_SYN_RECV` is asked for, so request sockets are listed as `syn_recv`).
const TCPF_ALL: u32 = 0xFFF;
/// Offsets in `struct inet_diag_msg`: family, state, timer, retrans, then the 48-byte
/// `inet_diag_sockid` (source port first, big-endian), `idiag_expires`, the two queues.
const STATE_OFFSET: usize = 1;
const SPORT_OFFSET: usize = 4;
const RQUEUE_OFFSET: usize = 56;
const WQUEUE_OFFSET: usize = 60;

/// One socket of a `SOCK_DIAG_BY_FAMILY` reply: what the counts are built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiagSocket {
    /// `idiag_state` (`TCP_ESTABLISHED` = 1 ... `TCP_CLOSING` = 11).
    pub state: u8,
    /// Local port.
    pub sport: u16,
    /// `idiag_rqueue`: unread bytes, or the accept backlog of a listener.
    pub rqueue: u32,
    /// `idiag_wqueue`: unacknowledged bytes, or the backlog limit of a listener.
    pub wqueue: u32,
}

/// `struct inet_diag_req_v2` asking for every TCP socket of `family` in states `TCPF_ALL`.
fn diag_request(family: u8) -> [u8; 56] {
    let mut req = [0u8; 56];
    req[0] = family;
    req[1] = libc::IPPROTO_TCP as u8;
    req[4..8].copy_from_slice(&TCPF_ALL.to_ne_bytes());
    req
}

/// The sockets of a `SOCK_DIAG_BY_FAMILY` dump.
pub fn parse_diag(replies: &[Vec<u8>]) -> Result<Vec<DiagSocket>, ParseError> {
    netlink::payloads_of(replies, SOCK_DIAG_BY_FAMILY)?
        .into_iter()
        .map(|msg| {
            Ok(DiagSocket {
                state: *msg
                    .get(STATE_OFFSET)
                    .ok_or_else(|| ParseError::new("truncated inet_diag_msg"))?,
                sport: u16::from_be_bytes(array(msg, SPORT_OFFSET)?),
                rqueue: u32_at(msg, RQUEUE_OFFSET)?,
                wqueue: u32_at(msg, WQUEUE_OFFSET)?,
            })
        })
        .collect()
}

/// node_exporter's `parseTCPStats` over dumped sockets: one count per state, and both queues
/// summed over every socket.
pub fn count_diag(sockets: &[DiagSocket], stats: &mut BTreeMap<&'static str, f64>) {
    for s in sockets {
        *stats.entry("tx_queued_bytes").or_default() += f64::from(s.wqueue);
        *stats.entry("rx_queued_bytes").or_default() += f64::from(s.rqueue);
        *stats.entry(state_name(s.state.into())).or_default() += 1.0;
    }
}

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    let live = path_kind(&settings.roots.proc("net/tcp")) == Some(Kind::Proc);
    Ok(Box::new(Tcpstat {
        settings: Arc::clone(settings),
        use_diag: AtomicBool::new(live),
        socket: KeptSocket::new(NETLINK_SOCK_DIAG),
    }))
}

struct Tcpstat {
    settings: Arc<Settings>,
    /// Whether to ask the kernel by netlink (a live procfs whose dump has not failed).
    use_diag: AtomicBool,
    socket: KeptSocket,
}

impl Tcpstat {
    /// The sockets of AF_INET and, as node_exporter, of AF_INET6 when `/proc/net/tcp6` exists.
    fn dump(&self) -> std::io::Result<Vec<DiagSocket>> {
        let mut families = vec![libc::AF_INET as u8];
        if self.settings.roots.proc("net/tcp6").exists() {
            families.push(libc::AF_INET6 as u8);
        }
        self.socket.with(|sock| {
            let mut sockets = Vec::new();
            for family in families {
                let replies = sock.dump(SOCK_DIAG_BY_FAMILY, &diag_request(family), &[])?;
                sockets.extend(
                    parse_diag(&replies)
                        .map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))?,
                );
            }
            Ok(sockets)
        })
    }
}

impl Collector for Tcpstat {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let mut stats = BTreeMap::new();
        let mut dumped = false;
        if self.use_diag.load(Ordering::Relaxed) {
            match self.dump() {
                Ok(sockets) => {
                    count_diag(&sockets, &mut stats);
                    dumped = true;
                }
                Err(e) => {
                    tracing::debug!(err = %e, "sock_diag dump of TCP sockets failed, reading /proc/net/tcp from now on");
                    self.use_diag.store(false, Ordering::Relaxed);
                }
            }
        }
        if !dumped {
            stats = collect_files(&self.settings)?;
        }
        write(sink, stats);
        Ok(())
    }
}

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

/// The counts from `/proc/net/tcp` and, when present, `/proc/net/tcp6`.
fn collect_files(settings: &Settings) -> Result<BTreeMap<&'static str, f64>, CollectError> {
    let mut stats = parse_file(&settings.roots.proc("net/tcp"), parse)?;
    let tcp6 = settings.roots.proc("net/tcp6");
    if tcp6.exists() {
        for (state, n) in parse_file(&tcp6, parse)? {
            *stats.entry(state).or_default() += n;
        }
    }
    Ok(stats)
}

fn write(sink: &mut MetricSink, stats: BTreeMap<&'static str, f64>) {
    sink.gauge("node_tcp_connection_states", "Number of connection states.");
    for (state, n) in stats {
        sink.sample(&[("state", state)], n);
    }
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

    fn diag_message(state: u8, sport: u16, rqueue: u32, wqueue: u32) -> Vec<u8> {
        let mut payload = [0u8; 72];
        payload[0] = libc::AF_INET as u8;
        payload[STATE_OFFSET] = state;
        payload[SPORT_OFFSET..SPORT_OFFSET + 2].copy_from_slice(&sport.to_be_bytes());
        payload[RQUEUE_OFFSET..RQUEUE_OFFSET + 4].copy_from_slice(&rqueue.to_ne_bytes());
        payload[WQUEUE_OFFSET..WQUEUE_OFFSET + 4].copy_from_slice(&wqueue.to_ne_bytes());
        netlink::build_request(SOCK_DIAG_BY_FAMILY, 2, 7, &payload, &[])
    }

    #[test]
    fn counts_a_dump_as_node_exporter() {
        // A listener (state 10) with 2 connections waiting and a backlog limit of 4096, and an
        // established socket with 0x24 bytes unacknowledged and 0x10 unread.
        let mut replies = diag_message(10, 2024, 2, 4096);
        replies.extend(diag_message(1, 22, 0x10, 0x24));
        let sockets = parse_diag(&[replies]).unwrap();
        assert_eq!(
            sockets[0],
            DiagSocket {
                state: 10,
                sport: 2024,
                rqueue: 2,
                wqueue: 4096
            }
        );
        let mut stats = BTreeMap::new();
        count_diag(&sockets, &mut stats);
        assert_eq!(stats["listen"], 1.0);
        assert_eq!(stats["established"], 1.0);
        // node_exporter sums the listener's backlog limit into tx_queued_bytes.
        assert_eq!(stats["tx_queued_bytes"], 4096.0 + 36.0);
        assert_eq!(stats["rx_queued_bytes"], 18.0);
        assert!(parse_diag(&[]).unwrap().is_empty());
        let mut truncated = diag_message(1, 1, 1, 1);
        truncated.truncate(16 + WQUEUE_OFFSET + 2);
        let len = truncated.len() as u32;
        truncated[0..4].copy_from_slice(&len.to_ne_bytes());
        assert!(parse_diag(&[truncated]).is_err());
    }

    /// On this kernel, a listener's backlog limit is in the dump's write queue and not in
    /// `/proc/net/tcp`, and the collector reports the dump's figures.
    #[test]
    fn live_listener_backlog_comes_from_sock_diag() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let settings = Arc::new(Settings::default());
        let collector = Tcpstat {
            settings: Arc::clone(&settings),
            use_diag: AtomicBool::new(true),
            socket: KeptSocket::new(NETLINK_SOCK_DIAG),
        };
        let sockets = collector.dump().unwrap();
        let ours = sockets
            .iter()
            .find(|s| s.sport == port && s.state == 10)
            .expect("the listener is in the dump");
        assert!(ours.wqueue > 0, "no backlog limit in the dump: {ours:?}");
        let text = std::fs::read_to_string(settings.roots.proc("net/tcp")).unwrap();
        let local = format!("0100007F:{port:04X}");
        let line = text
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(local.as_str()))
            .expect("the listener is in /proc/net/tcp");
        assert_eq!(line.split_whitespace().nth(4), Some("00000000:00000000"));
        // The collector's sum includes at least this listener's limit.
        let mut sink = MetricSink::new();
        collector.collect(&mut sink).unwrap();
        let mut out = Vec::new();
        crate::expfmt::render(&[&sink], crate::expfmt::Format::Text, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        let tx: f64 = out
            .lines()
            .find_map(|l| l.strip_prefix("node_tcp_connection_states{state=\"tx_queued_bytes\"} "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            tx >= f64::from(ours.wqueue),
            "tx_queued_bytes {tx} < {}",
            ours.wqueue
        );
        drop(listener);
    }
}
