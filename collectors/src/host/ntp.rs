//! ntp (deprecated in node_exporter): one SNTP query per scrape to `--collector.ntp.server`
//! (`node_ntp_*`), computed and sanity-checked as `github.com/beevik/ntp` and node_exporter's
//! `ntp.go` do. By default only a loopback server is accepted.

use std::net::{IpAddr, ToSocketAddrs, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::{MetricSink, MetricType};
use crate::options::Flag;

/// `--collector.ntp.server`.
pub const SERVER: Flag<String> = Flag::new(
    "collector.ntp.server",
    "NTP server to use for ntp collector",
    "127.0.0.1",
);

/// `--collector.ntp.server-port`.
pub const SERVER_PORT: Flag<u16> = Flag::new(
    "collector.ntp.server-port",
    "UDP port number to connect to on NTP server",
    "123",
);

/// `--collector.ntp.protocol-version`.
pub const PROTOCOL_VERSION: Flag<i64> = Flag::new(
    "collector.ntp.protocol-version",
    "NTP protocol version",
    "4",
);

/// `--collector.ntp.server-is-local`.
pub const SERVER_IS_LOCAL: Flag<bool> = Flag::new(
    "collector.ntp.server-is-local",
    "Certify that collector.ntp.server address is not a public ntp server",
    "false",
);

/// `--collector.ntp.ip-ttl`.
pub const IP_TTL: Flag<u32> = Flag::new(
    "collector.ntp.ip-ttl",
    "IP TTL to use while sending NTP query",
    "1",
);

/// `--collector.ntp.max-distance`.
pub const MAX_DISTANCE: Flag<Duration> = Flag::new(
    "collector.ntp.max-distance",
    "Max accumulated distance to the root",
    "3.46608s",
);

/// `--collector.ntp.local-offset-tolerance`.
pub const LOCAL_OFFSET_TOLERANCE: Flag<Duration> = Flag::new(
    "collector.ntp.local-offset-tolerance",
    "Offset between local clock and local ntpd time to tolerate",
    "1ms",
);

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "ntp",
    default_enabled: false,
    sources: "SNTP query to --collector.ntp.server (deprecated)",
    flags: &[
        SERVER.spec,
        SERVER_PORT.spec,
        PROTOCOL_VERSION.spec,
        SERVER_IS_LOCAL.spec,
        IP_TTL.spec,
        MAX_DISTANCE.spec,
        LOCAL_OFFSET_TOLERANCE.spec,
    ],
    build,
};

/// Seconds between the NTP epoch (1900) and the Unix epoch.
const NTP_EPOCH_OFFSET: i128 = 2_208_988_800;
const NANOS: i128 = 1_000_000_000;
/// beevik/ntp's `maxPollInterval`: 2^17 s.
const MAX_POLL_INTERVAL: i128 = (1 << 17) * NANOS;
/// beevik/ntp's `maxDispersion`: 16 s.
const MAX_DISPERSION: i128 = 16 * NANOS;
const DAY: i128 = 86_400 * NANOS;

/// A 48-byte NTP packet header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Packet {
    /// Leap indicator (2 bits).
    pub leap: u8,
    /// Version (3 bits).
    pub version: u8,
    /// Mode (3 bits): 3 client, 4 server.
    pub mode: u8,
    /// Stratum.
    pub stratum: u8,
    /// Root delay, 16.16 fixed point seconds.
    pub root_delay: u32,
    /// Root dispersion, 16.16 fixed point seconds.
    pub root_dispersion: u32,
    /// Reference timestamp, 32.32 fixed point seconds since 1900.
    pub reference: u64,
    /// Origin timestamp.
    pub origin: u64,
    /// Receive timestamp.
    pub receive: u64,
    /// Transmit timestamp.
    pub transmit: u64,
}

impl Packet {
    /// Serialises the header (poll, precision and reference id are 0).
    pub fn encode(&self) -> [u8; 48] {
        let mut b = [0u8; 48];
        b[0] = (self.leap << 6) | ((self.version & 7) << 3) | (self.mode & 7);
        b[1] = self.stratum;
        b[4..8].copy_from_slice(&self.root_delay.to_be_bytes());
        b[8..12].copy_from_slice(&self.root_dispersion.to_be_bytes());
        b[16..24].copy_from_slice(&self.reference.to_be_bytes());
        b[24..32].copy_from_slice(&self.origin.to_be_bytes());
        b[32..40].copy_from_slice(&self.receive.to_be_bytes());
        b[40..48].copy_from_slice(&self.transmit.to_be_bytes());
        b
    }

    /// Parses a header; fewer than 48 bytes is an error.
    pub fn decode(bytes: &[u8]) -> Result<Packet, ParseError> {
        if bytes.len() < 48 {
            return Err(ParseError::new(format!(
                "NTP reply is {} bytes, expected 48",
                bytes.len()
            )));
        }
        let u32_at =
            |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let u64_at = |i: usize| (u64::from(u32_at(i)) << 32) | u64::from(u32_at(i + 4));
        Ok(Packet {
            leap: bytes[0] >> 6,
            version: (bytes[0] >> 3) & 7,
            mode: bytes[0] & 7,
            stratum: bytes[1],
            root_delay: u32_at(4),
            root_dispersion: u32_at(8),
            reference: u64_at(16),
            origin: u64_at(24),
            receive: u64_at(32),
            transmit: u64_at(40),
        })
    }
}

/// An NTP timestamp as nanoseconds since the Unix epoch (rounded as beevik/ntp).
pub fn ntp_to_unix_nanos(t: u64) -> i128 {
    let frac = u128::from(t & 0xffff_ffff) * NANOS as u128;
    let mut nsec = (frac >> 32) as i128;
    if (frac as u32) >= 0x8000_0000 {
        nsec += 1;
    }
    (i128::from(t >> 32) - NTP_EPOCH_OFFSET) * NANOS + nsec
}

/// Nanoseconds since the Unix epoch as an NTP timestamp.
pub fn unix_nanos_to_ntp(ns: i128) -> u64 {
    let since_1900 = ns + NTP_EPOCH_OFFSET * NANOS;
    let secs = since_1900.div_euclid(NANOS);
    let frac = ((since_1900.rem_euclid(NANOS) << 32) / NANOS) as u64;
    ((secs as u64) << 32) | frac
}

/// A 16.16 short-format interval in nanoseconds (rounded as beevik/ntp).
fn short_to_nanos(t: u32) -> i128 {
    let frac = u64::from(t & 0xffff) * NANOS as u64;
    let mut nsec = (frac >> 16) as i128;
    if (frac as u16) >= 0x8000 {
        nsec += 1;
    }
    i128::from(t >> 16) * NANOS + nsec
}

/// What a query yields, all times in nanoseconds (Unix epoch for instants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    /// Server transmit time.
    pub time: i128,
    /// Offset of the local clock from the server's.
    pub clock_offset: i128,
    /// Round-trip time (never negative).
    pub rtt: i128,
    /// Server's reference time.
    pub reference_time: i128,
    /// Root delay.
    pub root_delay: i128,
    /// Root dispersion.
    pub root_dispersion: i128,
    /// RTT/2 + root delay/2 + root dispersion.
    pub root_distance: i128,
    /// Smallest error implied by causality violations of the timestamps.
    pub min_error: i128,
    /// Stratum.
    pub stratum: u8,
    /// Leap indicator.
    pub leap: u8,
}

/// Checks a reply against the request whose transmit field was `sent`, and computes the
/// response from the local send (`org`) and receive (`dst`) instants, as beevik/ntp's
/// `parseTime` and `generateResponse`.
pub fn interpret(reply: &Packet, sent: u64, org: i128, dst: i128) -> Result<Response, ParseError> {
    if reply.mode != 4 {
        return Err(ParseError::new("invalid mode in response"));
    }
    if reply.transmit == 0 {
        return Err(ParseError::new("invalid transmit time in response"));
    }
    if reply.origin != sent {
        return Err(ParseError::new("server response mismatch"));
    }
    if reply.receive > reply.transmit {
        return Err(ParseError::new("server clock ticked backwards"));
    }
    let rec = ntp_to_unix_nanos(reply.receive);
    let xmt = ntp_to_unix_nanos(reply.transmit);
    // Compared on the wire format, as beevik/ntp's minError does.
    let (org_ntp, dst_ntp) = (unix_nanos_to_ntp(org), unix_nanos_to_ntp(dst));
    let error0 = org_ntp.saturating_sub(reply.receive);
    let error1 = reply.transmit.saturating_sub(dst_ntp);
    let min_error = ntp_to_unix_nanos(error0.max(error1)) + NTP_EPOCH_OFFSET * NANOS;
    let rtt = ((dst - org) - (xmt - rec)).max(0);
    let root_delay = short_to_nanos(reply.root_delay);
    let root_dispersion = short_to_nanos(reply.root_dispersion);
    Ok(Response {
        time: xmt,
        clock_offset: ((rec - org) + (xmt - dst)) / 2,
        rtt,
        reference_time: ntp_to_unix_nanos(reply.reference),
        root_delay,
        root_dispersion,
        root_distance: (rtt + root_delay) / 2 + root_dispersion,
        min_error,
        stratum: reply.stratum,
        leap: reply.leap,
    })
}

/// beevik/ntp's `Response.Validate`.
pub fn validate(r: &Response) -> Result<(), &'static str> {
    if r.stratum == 0 {
        return Err("kiss of death received");
    }
    if r.stratum >= 16 {
        return Err("invalid stratum in response");
    }
    if r.leap == 3 {
        return Err("invalid leap second");
    }
    if r.time - r.reference_time > MAX_POLL_INTERVAL {
        return Err("server clock not fresh");
    }
    if r.root_delay / 2 + r.root_dispersion > MAX_DISPERSION {
        return Err("invalid dispersion");
    }
    if r.time < r.reference_time {
        return Err("invalid time reported");
    }
    Ok(())
}

struct NtpCollector {
    server: String,
    port: u16,
    version: u8,
    ttl: u32,
    max_distance: i128,
    offset_tolerance: i128,
    /// Midnight after the last announced leap second (node_exporter's `leapMidnight`).
    leap_midnight: Mutex<Option<i128>>,
}

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    let o = &settings.options;
    let server = o.get(&SERVER);
    let is_loopback = server.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !o.get(&SERVER_IS_LOCAL) && !is_loopback {
        return Err(format!(
            "only IP address of local NTP server is valid for --{}",
            SERVER.name()
        ));
    }
    let version = o.get(&PROTOCOL_VERSION)?;
    if !(2..=4).contains(&version) {
        return Err(format!(
            "invalid NTP protocol version {version}; must be 2, 3, or 4"
        ));
    }
    let port = o.get(&SERVER_PORT)?;
    let ttl = o.get(&IP_TTL)?;
    let max_distance = o.get(&MAX_DISTANCE)?.as_nanos() as i128;
    let offset_tolerance = o.get(&LOCAL_OFFSET_TOLERANCE)?.as_nanos() as i128;
    tracing::warn!(
        collector = "ntp",
        "This collector is deprecated and will be removed in the next major version release."
    );
    Ok(Box::new(NtpCollector {
        server,
        port,
        version: version as u8,
        ttl,
        max_distance,
        offset_tolerance,
        leap_midnight: Mutex::new(None),
    }))
}

/// A random 64-bit value for the request's transmit field (beevik/ntp sends random bits there
/// so that replies can be matched without revealing the local clock).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish()
}

fn unix_nanos(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

impl NtpCollector {
    fn query(&self) -> Result<Response, String> {
        let addr = (self.server.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| e.to_string())?
            .next()
            .ok_or_else(|| format!("cannot resolve {}", self.server))?;
        let bind: std::net::SocketAddr = if addr.is_ipv4() {
            "0.0.0.0:0"
                .parse()
                .map_err(|e: std::net::AddrParseError| e.to_string())?
        } else {
            "[::]:0"
                .parse()
                .map_err(|e: std::net::AddrParseError| e.to_string())?
        };
        let socket = UdpSocket::bind(bind).map_err(|e| e.to_string())?;
        socket.connect(addr).map_err(|e| e.to_string())?;
        if addr.is_ipv4() {
            socket.set_ttl(self.ttl).map_err(|e| e.to_string())?;
        }
        socket
            .set_read_timeout(Some(Duration::from_secs(1)))
            .map_err(|e| e.to_string())?;
        let sent = random_u64();
        let request = Packet {
            leap: 3,
            version: self.version,
            mode: 3,
            transmit: sent,
            ..Default::default()
        };
        let org = unix_nanos(SystemTime::now());
        let started = Instant::now();
        socket.send(&request.encode()).map_err(|e| e.to_string())?;
        let mut buf = [0u8; 128];
        let n = socket.recv(&mut buf).map_err(|e| e.to_string())?;
        let dst = org + started.elapsed().as_nanos() as i128;
        let reply = Packet::decode(&buf[..n]).map_err(|e| e.to_string())?;
        interpret(&reply, sent, org, dst).map_err(|e| e.to_string())
    }

    /// node_exporter's sanity rule, with the leap-second smearing allowance.
    fn sane(&self, r: &Response) -> bool {
        let mut max_err = self.offset_tolerance;
        let mut leap = self
            .leap_midnight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if r.leap == 1 || r.leap == 2 {
            *leap = Some(r.time.div_euclid(DAY) * DAY + DAY);
        }
        if let Some(midnight) = *leap {
            if midnight - DAY < r.time && r.time < midnight + DAY {
                max_err += NANOS;
            }
        }
        validate(r).is_ok() && r.root_distance <= self.max_distance && r.min_error <= max_err
    }
}

fn seconds(ns: i128) -> f64 {
    ns as f64 / 1e9
}

impl Collector for NtpCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let r = self
            .query()
            .map_err(|e| CollectError::Other(format!("couldn't get SNTP reply: {e}")))?;
        let g = MetricType::Gauge;
        sink.single("node_ntp_stratum", "NTPD stratum.", g, f64::from(r.stratum));
        sink.single(
            "node_ntp_leap",
            "NTPD leap second indicator, 2 bits.",
            g,
            f64::from(r.leap),
        );
        sink.single("node_ntp_rtt_seconds", "RTT to NTPD.", g, seconds(r.rtt));
        sink.single(
            "node_ntp_offset_seconds",
            "ClockOffset between NTP and local clock.",
            g,
            seconds(r.clock_offset),
        );
        // Reference times at or before the Unix epoch are reported as 0.
        let reference = if r.reference_time >= NANOS {
            seconds(r.reference_time)
        } else {
            0.0
        };
        sink.single(
            "node_ntp_reference_timestamp_seconds",
            "NTPD ReferenceTime, UNIX timestamp.",
            g,
            reference,
        );
        sink.single(
            "node_ntp_root_delay_seconds",
            "NTPD RootDelay.",
            g,
            seconds(r.root_delay),
        );
        sink.single(
            "node_ntp_root_dispersion_seconds",
            "NTPD RootDispersion.",
            g,
            seconds(r.root_dispersion),
        );
        sink.single(
            "node_ntp_sanity",
            "NTPD sanity according to RFC5905 heuristics and configured limits.",
            g,
            f64::from(u8::from(self.sane(&r))),
        );
        Ok(())
    }
}

/// For tests (here and the golden tests): starts a fake SNTP server on a fresh loopback UDP port that answers every request for the
/// life of the test process: stratum 2, no leap, root delay 1/32 s, root dispersion 1/64 s,
/// reference time 64 s ago, receive and transmit times from the local clock. Returns its address.
pub fn fake_server() -> std::net::SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind fake NTP server");
    let addr = socket.local_addr().expect("fake NTP server address");
    std::thread::spawn(move || {
        let mut buf = [0u8; 128];
        while let Ok((n, peer)) = socket.recv_from(&mut buf) {
            let Ok(request) = Packet::decode(&buf[..n]) else {
                continue;
            };
            let now = match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
                Ok(d) => d.as_nanos() as i128,
                Err(_) => continue,
            };
            let reply = Packet {
                leap: 0,
                version: request.version,
                mode: 4,
                stratum: 2,
                root_delay: 0x0000_0800,
                root_dispersion: 0x0000_0400,
                reference: unix_nanos_to_ntp(now - 64_000_000_000),
                origin: request.transmit,
                receive: unix_nanos_to_ntp(now),
                transmit: unix_nanos_to_ntp(now),
            };
            let _ = socket.send_to(&reply.encode(), peer);
        }
    });
    addr
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i128 = 1_700_000_000 * NANOS;

    fn reply(sent: u64) -> Packet {
        Packet {
            leap: 0,
            version: 4,
            mode: 4,
            stratum: 2,
            root_delay: 0x0000_0800,
            root_dispersion: 0x0000_0400,
            reference: unix_nanos_to_ntp(NOW - 64 * NANOS),
            origin: sent,
            receive: unix_nanos_to_ntp(NOW + 10_000_000),
            transmit: unix_nanos_to_ntp(NOW + 10_000_000),
        }
    }

    #[test]
    fn round_trips_the_wire_format() {
        let p = reply(42);
        assert_eq!(Packet::decode(&p.encode()).unwrap(), p);
        assert_eq!(
            Packet::encode(&Packet {
                leap: 3,
                version: 4,
                mode: 3,
                ..Default::default()
            })[0],
            0xe3
        );
    }

    #[test]
    fn converts_timestamps() {
        assert_eq!(ntp_to_unix_nanos(unix_nanos_to_ntp(NOW)), NOW);
        assert_eq!(
            ntp_to_unix_nanos(unix_nanos_to_ntp(NOW + 500_000_000)),
            NOW + 500_000_000
        );
        assert_eq!(short_to_nanos(0x0001_8000), 1_500_000_000);
    }

    #[test]
    fn computes_offset_rtt_and_distance() {
        // Sent at NOW, answered 10 ms later by the server's clock, received 4 ms after sending.
        let r = interpret(&reply(7), 7, NOW, NOW + 4_000_000).unwrap();
        assert_eq!(r.rtt, 4_000_000);
        assert_eq!(r.clock_offset, 8_000_000);
        assert_eq!(r.root_delay, 31_250_000);
        assert_eq!(r.root_dispersion, 15_625_000);
        assert_eq!(r.root_distance, (4_000_000 + 31_250_000) / 2 + 15_625_000);
        assert_eq!(
            r.min_error, 6_000_000,
            "server transmit is 6 ms after local receive"
        );
        assert_eq!(validate(&r), Ok(()));
    }

    #[test]
    fn rejects_bad_replies() {
        let good = reply(7);
        assert!(interpret(&Packet { mode: 3, ..good }, 7, NOW, NOW).is_err());
        assert!(
            interpret(&good, 8, NOW, NOW).is_err(),
            "origin must echo our transmit"
        );
        assert!(interpret(
            &Packet {
                transmit: 0,
                ..good
            },
            7,
            NOW,
            NOW
        )
        .is_err());
        assert!(interpret(
            &Packet {
                receive: good.transmit + 1,
                ..good
            },
            7,
            NOW,
            NOW
        )
        .is_err());
        assert!(Packet::decode(b"").is_err());
        assert!(Packet::decode(&[0u8; 47]).is_err());
    }

    #[test]
    fn validates_like_beevik() {
        let r = interpret(&reply(7), 7, NOW, NOW + 4_000_000).unwrap();
        assert_eq!(
            validate(&Response { stratum: 0, ..r }),
            Err("kiss of death received")
        );
        assert_eq!(
            validate(&Response { stratum: 16, ..r }),
            Err("invalid stratum in response")
        );
        assert_eq!(
            validate(&Response { leap: 3, ..r }),
            Err("invalid leap second")
        );
        assert_eq!(
            validate(&Response {
                reference_time: r.time - MAX_POLL_INTERVAL - 1,
                ..r
            }),
            Err("server clock not fresh")
        );
        assert_eq!(
            validate(&Response {
                root_dispersion: 17 * NANOS,
                ..r
            }),
            Err("invalid dispersion")
        );
        assert_eq!(
            validate(&Response {
                reference_time: r.time + 1,
                ..r
            }),
            Err("invalid time reported")
        );
    }

    fn collector(port: u16) -> NtpCollector {
        NtpCollector {
            server: "127.0.0.1".into(),
            port,
            version: 4,
            ttl: 1,
            max_distance: 3_466_080_000,
            offset_tolerance: 1_000_000,
            leap_midnight: Mutex::new(None),
        }
    }

    #[test]
    fn leap_announcement_widens_the_tolerance() {
        let c = collector(123);
        let r = interpret(&reply(7), 7, NOW, NOW + 4_000_000).unwrap();
        assert!(!c.sane(&r), "6 ms min error is over the 1 ms tolerance");
        assert!(
            c.sane(&Response { leap: 1, ..r }),
            "a leap second allows 1 s more"
        );
        assert!(
            c.sane(&r),
            "the allowance lasts until a day after the leap midnight"
        );
    }

    #[test]
    fn queries_a_fake_server() {
        let server = super::fake_server();
        let c = collector(server.port());
        let mut sink = MetricSink::new();
        c.collect(&mut sink).unwrap();
        let mut out = Vec::new();
        crate::expfmt::render(&[&sink], crate::expfmt::Format::Text, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        for line in [
            "node_ntp_stratum 2\n",
            "node_ntp_leap 0\n",
            "node_ntp_root_delay_seconds 0.03125\n",
            "node_ntp_root_dispersion_seconds 0.015625\n",
            "node_ntp_sanity 1\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn refused_query_fails_the_collector() {
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut sink = MetricSink::new();
        assert!(collector(port).collect(&mut sink).is_err());
        assert!(sink.is_empty());
    }

    #[test]
    fn refuses_a_remote_server_unless_certified_local() {
        let mut options = crate::Options::default();
        options.set(&SERVER, "192.0.2.1");
        let settings = Arc::new(Settings::new(crate::Roots::default(), options.clone()));
        assert!((INFO.build)(&settings).is_err());
        options.set(&SERVER_IS_LOCAL, "true");
        let settings = Arc::new(Settings::new(crate::Roots::default(), options.clone()));
        assert!((INFO.build)(&settings).is_ok());
        options.set(&PROTOCOL_VERSION, "5");
        let settings = Arc::new(Settings::new(crate::Roots::default(), options));
        assert!((INFO.build)(&settings).is_err());
    }
}
