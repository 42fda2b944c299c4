//! ipvs: IP Virtual Server totals from `/proc/net/ip_vs_stats` and per-backend state from
//! `/proc/net/ip_vs` (`node_ipvs_*`), parsed as procfs does.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::options::Flag;
use crate::util::{lossy, parse_file};

/// `--collector.ipvs.backend-labels`.
pub const LABELS_FLAG: Flag<String> = Flag::new(
    "collector.ipvs.backend-labels",
    "Comma separated list for IPVS backend stats labels.",
    "local_address,local_port,remote_address,remote_port,proto,local_mark",
);

/// Every backend label, in node_exporter's order.
const ALL_LABELS: [&str; 6] = [
    "local_address",
    "local_port",
    "remote_address",
    "remote_port",
    "proto",
    "local_mark",
];

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "ipvs",
    default_enabled: true,
    sources: "/proc/net/ip_vs_stats, /proc/net/ip_vs",
    flags: &[LABELS_FLAG.spec],
    build: |settings| {
        Ok(Box::new(IpvsCollector {
            settings: Arc::clone(settings),
            labels: parse_labels(&settings.options.get(&LABELS_FLAG))?,
        }))
    },
};

/// The ipvs collector with the backend labels it reports.
struct IpvsCollector {
    settings: Arc<Settings>,
    labels: Vec<&'static str>,
}

/// Parses `--collector.ipvs.backend-labels`: known labels in node_exporter's order; any
/// unknown label is an error naming the flag.
pub fn parse_labels(text: &str) -> Result<Vec<&'static str>, String> {
    let wanted: Vec<&str> = text.split(',').filter(|l| !l.is_empty()).collect();
    let mut unknown: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|l| !ALL_LABELS.contains(l))
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        unknown.dedup();
        return Err(format!(
            "--{}: unknown IPVS backend labels: {:?}",
            LABELS_FLAG.name(),
            unknown.join(", ")
        ));
    }
    Ok(ALL_LABELS
        .iter()
        .copied()
        .filter(|l| wanted.contains(l))
        .collect())
}

/// Totals of `/proc/net/ip_vs_stats`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IpvsStats {
    /// Connections.
    pub connections: u64,
    /// Incoming packets.
    pub incoming_packets: u64,
    /// Outgoing packets.
    pub outgoing_packets: u64,
    /// Incoming bytes.
    pub incoming_bytes: u64,
    /// Outgoing bytes.
    pub outgoing_bytes: u64,
}

/// One real server of a virtual service in `/proc/net/ip_vs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// Virtual address (`None` for firewall-mark services).
    pub local_address: Option<IpAddr>,
    /// Virtual port.
    pub local_port: u16,
    /// Firewall mark (empty for TCP/UDP services).
    pub local_mark: String,
    /// `TCP`, `UDP` or `FWM`.
    pub proto: String,
    /// Real server address.
    pub remote_address: IpAddr,
    /// Real server port.
    pub remote_port: u16,
    /// Active connections.
    pub active: u64,
    /// Inactive connections.
    pub inactive: u64,
    /// Weight.
    pub weight: u64,
}

/// Parses `/proc/net/ip_vs_stats`: the third line holds the five hexadecimal totals.
pub fn parse_stats(bytes: &[u8]) -> Result<IpvsStats, ParseError> {
    let text = lossy(bytes);
    if text.splitn(4, '\n').count() != 4 {
        return Err(ParseError::new("ip_vs_stats corrupt: too short"));
    }
    let line = text.lines().nth(2).unwrap_or("");
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [c, ip, op, ib, ob] = fields[..] else {
        return Err(ParseError::new(
            "ip_vs_stats corrupt: unexpected number of fields",
        ));
    };
    let hex = |s: &str| {
        u64::from_str_radix(s, 16).map_err(|_| ParseError::new(format!("invalid hex {s:?}")))
    };
    Ok(IpvsStats {
        connections: hex(c)?,
        incoming_packets: hex(ip)?,
        outgoing_packets: hex(op)?,
        incoming_bytes: hex(ib)?,
        outgoing_bytes: hex(ob)?,
    })
}

/// Parses the kernel's `ADDR:PORT` form: 8 hex digits for IPv4, or `[v6]` with 4 hex port digits.
fn parse_ip_port(s: &str) -> Result<(IpAddr, u16), ParseError> {
    let bad = || ParseError::new(format!("invalid IP:Port {s:?}"));
    let (addr, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let ip = if addr.len() == 8 {
        let v = u32::from_str_radix(addr, 16).map_err(|_| bad())?;
        IpAddr::V4(Ipv4Addr::from(v))
    } else {
        let inner = addr
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .ok_or_else(bad)?;
        IpAddr::V6(inner.parse::<Ipv6Addr>().map_err(|_| bad())?)
    };
    if port.len() != 4 {
        return Err(bad());
    }
    let port = u16::from_str_radix(port, 16).map_err(|_| bad())?;
    Ok((ip, port))
}

/// Parses `/proc/net/ip_vs` into its backends, each with its virtual service.
pub fn parse_backends(bytes: &[u8]) -> Result<Vec<Backend>, ParseError> {
    let text = lossy(bytes);
    let mut backends = Vec::new();
    let mut proto = String::new();
    let mut mark = String::new();
    let mut local: Option<(IpAddr, u16)> = None;
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields[..] {
            [] | ["IP", ..] | ["Prot", ..] | [_, "RemoteAddress:Port", ..] => {}
            [p @ ("TCP" | "UDP"), addr, ..] => {
                proto = p.to_string();
                mark.clear();
                local = Some(parse_ip_port(addr)?);
            }
            ["FWM", m, ..] => {
                proto = "FWM".to_string();
                mark = m.to_string();
                local = None;
            }
            ["->", remote, _, weight, active, inactive, ..] => {
                let (remote_address, remote_port) = parse_ip_port(remote)?;
                let num = |s: &str| {
                    s.parse::<u64>()
                        .map_err(|_| ParseError::new(format!("invalid number {s:?}")))
                };
                backends.push(Backend {
                    local_address: local.map(|(ip, _)| ip),
                    local_port: local.map_or(0, |(_, port)| port),
                    local_mark: mark.clone(),
                    proto: proto.clone(),
                    remote_address,
                    remote_port,
                    weight: num(weight)?,
                    active: num(active)?,
                    inactive: num(inactive)?,
                });
            }
            _ => {}
        }
    }
    Ok(backends)
}

/// Formats an address as Go's `net.IP.String` does (IPv4-mapped IPv6 as dotted quad).
fn format_ip(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

fn label_value(backend: &Backend, label: &str) -> String {
    match label {
        "local_address" => backend
            .local_address
            .as_ref()
            .map(format_ip)
            .unwrap_or_default(),
        "local_port" => backend.local_port.to_string(),
        "remote_address" => format_ip(&backend.remote_address),
        "remote_port" => backend.remote_port.to_string(),
        "proto" => backend.proto.clone(),
        _ => backend.local_mark.clone(),
    }
}

impl Collector for IpvsCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let roots = &self.settings.roots;
        let stats_path = roots.proc("net/ip_vs_stats");
        if !stats_path.exists() {
            return Err(CollectError::NoData(
                "ipvs collector metrics are not available for this system".into(),
            ));
        }
        let stats = parse_file(&stats_path, parse_stats)?;
        let totals = [
            (
                "node_ipvs_connections_total",
                "The total number of connections made.",
                stats.connections,
            ),
            (
                "node_ipvs_incoming_packets_total",
                "The total number of incoming packets.",
                stats.incoming_packets,
            ),
            (
                "node_ipvs_outgoing_packets_total",
                "The total number of outgoing packets.",
                stats.outgoing_packets,
            ),
            (
                "node_ipvs_incoming_bytes_total",
                "The total amount of incoming data.",
                stats.incoming_bytes,
            ),
            (
                "node_ipvs_outgoing_bytes_total",
                "The total amount of outgoing data.",
                stats.outgoing_bytes,
            ),
        ];
        for (name, help, value) in totals {
            sink.counter(name, help).sample(&[], value as f64);
        }
        let backends = parse_file(&roots.proc("net/ip_vs"), parse_backends)?;
        self.write_backends(sink, &backends);
        Ok(())
    }
}

impl IpvsCollector {
    /// Sums backends with equal label values (fewer labels merge more backends).
    fn write_backends(&self, sink: &mut MetricSink, backends: &[Backend]) {
        let mut sums: BTreeMap<Vec<String>, [u64; 3]> = BTreeMap::new();
        for backend in backends {
            let key: Vec<String> = self
                .labels
                .iter()
                .map(|l| label_value(backend, l))
                .collect();
            let sum = sums.entry(key).or_default();
            sum[0] += backend.active;
            sum[1] += backend.inactive;
            sum[2] += backend.weight;
        }
        let families = [
            (
                "node_ipvs_backend_connections_active",
                "The current active connections by local and remote address.",
            ),
            (
                "node_ipvs_backend_connections_inactive",
                "The current inactive connections by local and remote address.",
            ),
            (
                "node_ipvs_backend_weight",
                "The current backend weight by local and remote address.",
            ),
        ];
        for (i, (name, help)) in families.iter().enumerate() {
            sink.gauge(name, help);
            for (values, sum) in &sums {
                let labels: Vec<(&str, &str)> = self
                    .labels
                    .iter()
                    .copied()
                    .zip(values.iter().map(String::as_str))
                    .collect();
                sink.sample(&labels, sum.get(i).copied().unwrap_or(0) as f64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATS: &str = "   Total Incoming Outgoing         Incoming         Outgoing
   Conns  Packets  Packets            Bytes            Bytes
 16AA370 E33656E5        0     51D8C8883AB3                0

 Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s
       4    1FB3C        0          1282A8F                0
";

    const BACKENDS: &str = "IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  C0A80016:0CEA wlc
  -> C0A85216:0CEA      Tunnel  100    248        2
  -> C0A85318:0CEA      Tunnel  100    248        1
UDP  [2620:0000:0000:0000:0000:0000:0000:0001]:0035 rr
  -> [2620:0000:0000:0000:0000:0000:0000:0002]:0035      Masq    1      0          7
FWM  10001000 wlc
  -> C0A8321A:0CEA      Route   0      0          1
";

    #[test]
    fn parses_stats() {
        let stats = parse_stats(STATS.as_bytes()).unwrap();
        assert_eq!(stats.connections, 23765872);
        assert_eq!(stats.incoming_packets, 3811989221);
        assert_eq!(stats.incoming_bytes, 89991519156915);
        assert!(parse_stats(b"").is_err());
        assert!(parse_stats(b"a\nb\n1 2 3\n").is_err());
        assert!(parse_stats(b"a\nb\n1 2 3 4 G\n").is_err());
        assert!(parse_stats(&[0xff, b'\n', 0xfe, b'\n', b'1', b'\n']).is_err());
    }

    #[test]
    fn parses_backends() {
        let backends = parse_backends(BACKENDS.as_bytes()).unwrap();
        assert_eq!(backends.len(), 4);
        assert_eq!(format_ip(&backends[0].remote_address), "192.168.82.22");
        assert_eq!(backends[0].local_port, 3306);
        assert_eq!(backends[1].inactive, 1);
        assert_eq!(format_ip(&backends[2].remote_address), "2620::2");
        assert_eq!(backends[2].proto, "UDP");
        assert_eq!(backends[3].local_address, None);
        assert_eq!(backends[3].local_mark, "10001000");
        assert!(parse_backends(b"").unwrap().is_empty());
        assert!(parse_backends(b"TCP  C0A8:0CEA wlc\n").is_err());
        assert!(parse_backends(b"TCP C0A80016:0CEA x\n -> C0A80016:0CEA T x 1 1\n").is_err());
    }

    #[test]
    fn label_flag() {
        assert_eq!(parse_labels("").unwrap(), Vec::<&str>::new());
        assert_eq!(
            parse_labels("proto,local_port").unwrap(),
            vec!["local_port", "proto"]
        );
        assert!(parse_labels("proto,bogus").is_err());
    }
}
