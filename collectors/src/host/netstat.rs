//! netstat: untyped `node_netstat_<Proto>_<Field>` from `/proc/net/netstat`, `/proc/net/snmp` and
//! `/proc/net/snmp6`, keeping the fields that match `--collector.netstat.fields`.

use std::sync::Arc;

use regex::Regex;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::options::Flag;
use crate::util::{parse_f64, read, sanitize_metric_name, FieldNames};

/// node_exporter 1.12's default for `--collector.netstat.fields`.
const DEFAULT_FIELDS: &str = r"^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$";

/// `--collector.netstat.fields`.
pub const FIELDS: Flag<Option<Regex>> = Flag::new(
    "collector.netstat.fields",
    "Regexp of fields to return for netstat collector.",
    DEFAULT_FIELDS,
);

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "netstat",
    default_enabled: true,
    sources: "/proc/net/netstat, /proc/net/snmp, /proc/net/snmp6",
    flags: &[FIELDS.spec],
    build,
};

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    let fields = settings.options.get(&FIELDS)?;
    Ok(Box::new(NetstatCollector {
        settings: Arc::clone(settings),
        names: FieldNames::new(fields),
    }))
}

struct NetstatCollector {
    settings: Arc<Settings>,
    /// The field filter (`None`, an empty flag, matches every field, as Go's empty regexp does)
    /// and the names kept fields are exported under.
    names: FieldNames,
}

/// One statistic: protocol (`TcpExt`, `Ip6`...), field name and value.
pub type Stat<'a> = (&'a str, &'a str, f64);

/// Parses `/proc/net/netstat` or `/proc/net/snmp`: pairs of lines, a `Proto: Name Name...`
/// header followed by `Proto: value value...`.
pub fn parse_paired(bytes: &[u8]) -> Result<Vec<Stat<'_>>, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError::new("not UTF-8"))?;
    // A field takes some 20 bytes (its name and its value): sized once rather than grown eight
    // times.
    let mut stats = Vec::with_capacity(bytes.len() / 16);
    let mut lines = crate::util::lines(text).filter(|l| !l.trim().is_empty());
    while let Some(names_line) = lines.next() {
        let values_line = lines.next().unwrap_or("");
        // The two lines are walked in step rather than collected: an error found part-way
        // fails the whole parse, so what was pushed before it is never seen.
        let mut names = names_line.split_ascii_whitespace();
        let mut values = values_line.split_ascii_whitespace();
        let (Some(proto), Some(value_proto)) = (names.next(), values.next()) else {
            return Err(ParseError::new(format!(
                "missing values for {names_line:?}"
            )));
        };
        let mismatch = || {
            ParseError::new(format!(
                "field count mismatch for {}",
                proto.trim_end_matches(':')
            ))
        };
        if proto != value_proto {
            return Err(mismatch());
        }
        let proto = proto.trim_end_matches(':');
        loop {
            match (names.next(), values.next()) {
                (Some(name), Some(value)) => match parse_f64(value) {
                    Ok(v) => stats.push((proto, name, v)),
                    // A count mismatch is reported before a bad value, as when collected.
                    Err(e) => {
                        if names.count() != values.count() {
                            return Err(mismatch());
                        }
                        return Err(e);
                    }
                },
                (None, None) => break,
                _ => return Err(mismatch()),
            }
        }
    }
    Ok(stats)
}

/// Parses `/proc/net/snmp6`: `Ip6InReceives  123` lines, split after the first `6` into
/// protocol and field; lines without a `6` or with fewer than two columns are skipped.
pub fn parse_snmp6(bytes: &[u8]) -> Result<Vec<Stat<'_>>, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError::new("not UTF-8"))?;
    let mut stats = Vec::new();
    for line in crate::util::lines(text) {
        let mut cols = line.split_ascii_whitespace();
        let (Some(key), Some(value)) = (cols.next(), cols.next()) else {
            continue;
        };
        if let Some(six) = key.find('6') {
            let (proto, name) = key.split_at(six + 1);
            stats.push((proto, name, parse_f64(value)?));
        }
    }
    Ok(stats)
}

impl NetstatCollector {
    /// Emits the kept fields of the three files, numbered in one run for the name cache.
    fn emit(&self, sink: &mut MetricSink, files: [&[Stat<'_>]; 3]) {
        let mut names = self.names.lock();
        let all = files.into_iter().flatten();
        for (position, (proto, name, value)) in all.enumerate() {
            names.with_parts(
                position,
                &[proto, "_", name],
                |key| {
                    let metric = sanitize_metric_name(&format!("node_netstat_{key}"));
                    (metric, format!("Statistic {proto}{name}."))
                },
                |metric, help| {
                    sink.untyped(metric, help).sample(&[], *value);
                },
            );
        }
    }
}

impl Collector for NetstatCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let roots = &self.settings.roots;
        let (netstat_path, snmp_path, snmp6_path) = (
            roots.proc("net/netstat"),
            roots.proc("net/snmp"),
            roots.proc("net/snmp6"),
        );
        let netstat_bytes = read(&netstat_path)?;
        let snmp_bytes = read(&snmp_path)?;
        // snmp6 is absent when IPv6 is disabled.
        let snmp6_bytes = match read(&snmp6_path) {
            Ok(b) => b,
            Err(e) if e.is_not_found() => Vec::new(),
            Err(e) => return Err(e),
        };
        let netstat =
            parse_paired(&netstat_bytes).map_err(|e| CollectError::parse(&netstat_path, e))?;
        let snmp = parse_paired(&snmp_bytes).map_err(|e| CollectError::parse(&snmp_path, e))?;
        let snmp6 = parse_snmp6(&snmp6_bytes).map_err(|e| CollectError::parse(&snmp6_path, e))?;
        self.emit(sink, [&netstat, &snmp, &snmp6]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// Errors as when both lines were collected first: a field count mismatch wins over a bad
    /// value, a bad value is reported when the counts agree.
    #[test]
    fn paired_errors_keep_their_precedence() {
        let err = |text: &[u8]| parse_paired(text).unwrap_err().to_string();
        assert!(err(b"Tcp: A B\nTcp: 1 x 3\n").contains("field count mismatch for Tcp"));
        assert!(err(b"Tcp: A B C\nTcp: 1 x\n").contains("field count mismatch for Tcp"));
        assert!(err(b"Tcp: A B\nTcp: 1 x\n").contains("invalid number"));
        assert!(err(b"Tcp: A B\nUdp: 1 2\n").contains("field count mismatch for Tcp"));
        let ok = parse_paired(b"Tcp: A B\nTcp: 1 2\n\nUdp: C\nUdp: 3\n").unwrap();
        assert_eq!(
            ok,
            vec![("Tcp", "A", 1.0), ("Tcp", "B", 2.0), ("Udp", "C", 3.0)]
        );
    }
    use super::*;

    const NETSTAT: &str = "TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows\n\
TcpExt: 0 1 2\nIpExt: InNoRoutes InOctets OutOctets\nIpExt: 0 136179753 734389\n";

    #[test]
    fn parses_paired_lines() {
        let s = parse_paired(NETSTAT.as_bytes()).unwrap();
        assert_eq!(s.len(), 6);
        assert_eq!(s[1], ("TcpExt", "SyncookiesRecv", 1.0));
        assert_eq!(s[4], ("IpExt", "InOctets", 136179753.0));
        let snmp = parse_paired(b"Tcp: RtoAlgorithm MaxConn\nTcp: 1 -1\n").unwrap();
        assert_eq!(snmp[1].2, -1.0);
    }

    #[test]
    fn parses_snmp6() {
        let s = parse_snmp6(
            b"Ip6InReceives                   \t1\nIcmp6InMsgs 2\nUdpLite6InErrors 3\n\nfoo 1\n",
        )
        .unwrap();
        assert_eq!(
            s,
            vec![
                ("Ip6", "InReceives", 1.0),
                ("Icmp6", "InMsgs", 2.0),
                ("UdpLite6", "InErrors", 3.0),
            ]
        );
    }

    #[test]
    fn empty_and_bad_input() {
        assert!(parse_paired(b"").unwrap().is_empty());
        assert!(parse_snmp6(b"").unwrap().is_empty());
        assert!(parse_paired(b"TcpExt: A B\n").is_err());
        assert!(parse_paired(b"TcpExt: A B\nTcpExt: 1\n").is_err());
        assert!(parse_paired(b"TcpExt: A\nTcpExt: x\n").is_err());
        assert!(parse_snmp6(b"Ip6InReceives x\n").is_err());
        assert!(parse_paired(&[0xff, 0xfe]).is_err());
        assert!(parse_snmp6(&[0xff, 0xfe]).is_err());
    }
}
