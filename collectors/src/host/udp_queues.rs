//! udp_queues: `node_udp_queues{ip,queue}`, the summed tx/rx queue bytes of every UDP socket in
//! `/proc/net/udp` and `/proc/net/udp6`.
//!
//! On a live procfs the same sums come from a `sock_diag` dump (`NETLINK_SOCK_DIAG`) of the same
//! network namespace: reading `/proc/net/udp` walks the whole UDP hash table (16k buckets on
//! this 24 GiB machine) once per read call and once more for end of file, where a dump walks it
//! once. Both report `udp_rqueue_get` and `sk_wmem_alloc_get` of each socket. A kernel without
//! `udp_diag` (an error from the dump) falls back to the files for good; fixture trees are
//! always read from files.

use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::fdcache::{path_kind, Kind};
use crate::netlink::{self, KeptSocket};
use crate::util::{parse_file, u32_at};

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "udp_queues",
    default_enabled: true,
    sources: "/proc/net/udp, /proc/net/udp6 (a sock_diag dump on a live procfs)",
    flags: &[],
    build,
};

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
    for line in crate::util::lines(text).skip(1) {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
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

/// `NETLINK_SOCK_DIAG` and its one request type.
const NETLINK_SOCK_DIAG: i32 = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// Offsets in `struct inet_diag_msg` (4 bytes of family/state/timer/retrans, a 48-byte
/// `inet_diag_sockid`, `idiag_expires`, then the queues).
const RQUEUE_OFFSET: usize = 56;
const WQUEUE_OFFSET: usize = 60;

/// `struct inet_diag_req_v2` asking for every UDP socket of `family` in any state.
fn diag_request(family: u8) -> [u8; 56] {
    let mut req = [0u8; 56];
    req[0] = family;
    req[1] = libc::IPPROTO_UDP as u8;
    req[4..8].copy_from_slice(&u32::MAX.to_ne_bytes());
    req
}

/// Sums the queues of the sockets in a `SOCK_DIAG_BY_FAMILY` dump.
pub fn parse_diag(replies: &[Vec<u8>]) -> Result<QueueSums, ParseError> {
    let mut sums = QueueSums::default();
    for msg in netlink::payloads_of(replies, SOCK_DIAG_BY_FAMILY)? {
        sums.rx += u64::from(u32_at(msg, RQUEUE_OFFSET)?);
        sums.tx += u64::from(u32_at(msg, WQUEUE_OFFSET)?);
    }
    Ok(sums)
}

struct UdpQueues {
    settings: Arc<Settings>,
    /// Whether to ask the kernel by netlink (a live procfs whose dump has not failed).
    use_diag: AtomicBool,
    socket: KeptSocket,
}

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    let live = path_kind(&settings.roots.proc("net/udp")) == Some(Kind::Proc);
    Ok(Box::new(UdpQueues {
        settings: Arc::clone(settings),
        use_diag: AtomicBool::new(live),
        socket: KeptSocket::new(NETLINK_SOCK_DIAG),
    }))
}

impl UdpQueues {
    fn dump_both(&self) -> std::io::Result<[QueueSums; 2]> {
        self.socket.with(|sock| {
            let mut out = [QueueSums::default(); 2];
            for (sums, family) in out.iter_mut().zip([libc::AF_INET, libc::AF_INET6]) {
                let replies = sock.dump(SOCK_DIAG_BY_FAMILY, &diag_request(family as u8), &[])?;
                *sums = parse_diag(&replies)
                    .map_err(|e| std::io::Error::new(ErrorKind::InvalidData, e))?;
            }
            Ok(out)
        })
    }
}

fn write(sink: &mut MetricSink, ip: &str, sums: QueueSums) {
    sink.gauge(
        "node_udp_queues",
        "Number of allocated memory in the kernel for UDP datagrams in bytes.",
    )
    .sample(&[("queue", "tx"), ("ip", ip)], sums.tx as f64)
    .sample(&[("queue", "rx"), ("ip", ip)], sums.rx as f64);
}

impl Collector for UdpQueues {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        if self.use_diag.load(Ordering::Relaxed) {
            match self.dump_both() {
                Ok([v4, v6]) => {
                    write(sink, "v4", v4);
                    write(sink, "v6", v6);
                    return Ok(());
                }
                Err(e) => {
                    tracing::debug!(err = %e, "sock_diag dump of UDP sockets failed, reading /proc/net/udp from now on");
                    self.use_diag.store(false, Ordering::Relaxed);
                }
            }
        }
        collect_files(&self.settings, sink)
    }
}

fn collect_files(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let mut missing = 0;
    for (file, ip) in [("net/udp", "v4"), ("net/udp6", "v6")] {
        match parse_file(&settings.roots.proc(file), parse) {
            Ok(sums) => write(sink, ip, sums),
            Err(e) if e.is_not_found() => {
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

    fn diag_message(rqueue: u32, wqueue: u32) -> Vec<u8> {
        let mut payload = [0u8; 72];
        payload[0] = libc::AF_INET as u8;
        payload[RQUEUE_OFFSET..RQUEUE_OFFSET + 4].copy_from_slice(&rqueue.to_ne_bytes());
        payload[WQUEUE_OFFSET..WQUEUE_OFFSET + 4].copy_from_slice(&wqueue.to_ne_bytes());
        netlink::build_request(SOCK_DIAG_BY_FAMILY, 2, 7, &payload, &[])
    }

    #[test]
    fn sums_a_dump() {
        let mut first = diag_message(0x200, 0x10);
        first.extend(diag_message(2, 1));
        let second = diag_message(1000, 0);
        assert_eq!(
            parse_diag(&[first, second]).unwrap(),
            QueueSums { tx: 17, rx: 1514 }
        );
        assert_eq!(parse_diag(&[]).unwrap(), QueueSums::default());
        let mut truncated = diag_message(1, 1);
        truncated.truncate(16 + RQUEUE_OFFSET + 2);
        let len = truncated.len() as u32;
        truncated[0..4].copy_from_slice(&len.to_ne_bytes());
        assert!(parse_diag(&[truncated]).is_err());
    }

    /// The dump and the files agree on a socket with datagrams waiting in its queue.
    #[test]
    fn dump_agrees_with_proc_net_udp() {
        let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..3 {
            sender
                .send_to(&[7u8; 100], receiver.local_addr().unwrap())
                .unwrap();
        }
        let settings = Arc::new(Settings::default());
        let collector = UdpQueues {
            settings: Arc::clone(&settings),
            use_diag: AtomicBool::new(true),
            socket: KeptSocket::new(NETLINK_SOCK_DIAG),
        };
        // Other processes' UDP traffic can change the sums between the two reads: retry.
        let mut last = None;
        for _ in 0..5 {
            let [v4, _] = collector.dump_both().unwrap();
            let files = parse_file(&settings.roots.proc("net/udp"), parse).unwrap();
            assert!(v4.rx >= 300, "queued datagrams not seen: {v4:?}");
            if v4 == files {
                return;
            }
            last = Some((v4, files));
        }
        panic!("dump and /proc/net/udp disagree: {last:?}");
    }

    #[test]
    fn absent_subsystem_is_no_data() {
        let (sink, result) = crate::testing::collect_on_empty_root(INFO).unwrap();
        assert!(result.unwrap_err().is_no_data());
        assert!(sink.is_empty());
    }
}
