//! netstat: untyped `node_netstat_<Proto>_<Field>` from `/proc/net/netstat`, `/proc/net/snmp` and
//! `/proc/net/snmp6`, keeping the fields that match `--collector.netstat.fields`.

use std::sync::{Arc, Mutex};

use regex::Regex;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::options::Flag;
use crate::util::{
    check_f64, parse_f64, read, sanitize_metric_name, FieldNames, FieldNamesLock, KnownLines,
};

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
        headers: Mutex::default(),
        snmp6: Mutex::default(),
    }))
}

struct NetstatCollector {
    settings: Arc<Settings>,
    /// The field filter (`None`, an empty flag, matches every field, as Go's empty regexp does)
    /// and the names kept fields are exported under.
    names: FieldNames,
    /// The header lines of the last read.
    headers: Mutex<Headers>,
    /// The `/proc/net/snmp6` fields of the last read.
    snmp6: Mutex<KnownLines>,
}

/// The line pairs of `/proc/net/netstat` or `/proc/net/snmp`: a `Proto: Name Name...` header
/// followed by `Proto: value value...` (blank lines skipped; a header without values line gets
/// an empty one).
pub fn pairs(bytes: &[u8]) -> Result<impl Iterator<Item = (&str, &str)>, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError::new("not UTF-8"))?;
    let mut lines = crate::util::lines(text).filter(|l| !l.trim().is_empty());
    Ok(std::iter::from_fn(move || {
        let names_line = lines.next()?;
        Some((names_line, lines.next().unwrap_or("")))
    }))
}

/// Walks one pair, calling `field(index, name, value)` for each field after the protocol; an
/// error from `field` (a bad value) fails the walk. `names` are the header's field names after
/// its protocol `proto`; for a header known from an earlier read they need not be read again:
/// any `n` items stand for `n` fields.
pub fn walk_pair<'a>(
    names_line: &str,
    proto: &str,
    mut names: impl Iterator<Item = &'a str>,
    values_line: &'a str,
    mut field: impl FnMut(usize, &'a str, &'a str) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    // The two lines are walked in step rather than collected: an error found part-way fails
    // the whole walk, so what was passed on before it is never emitted.
    let mut values = values_line.split_ascii_whitespace();
    let Some(value_proto) = values.next() else {
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
    let mut index = 0;
    loop {
        match (names.next(), values.next()) {
            (Some(name), Some(value)) => {
                if let Err(e) = field(index, name, value) {
                    // A count mismatch is reported before a bad value, as when collected.
                    if names.count() != values.count() {
                        return Err(mismatch());
                    }
                    return Err(e);
                }
            }
            (None, None) => return Ok(()),
            _ => return Err(mismatch()),
        }
        index += 1;
    }
}

/// The header lines of the last read, in order through both files: a line and, per field
/// after its protocol, the name-cache index of the field when kept. The kernel prints the
/// same headers every read, so a header equal to last read's is not split into names again.
#[derive(Default)]
struct Headers(Vec<(String, Vec<Option<usize>>)>);

impl NetstatCollector {
    /// Walks a paired file, kept fields' values into `kept`, dropped ones checked; `header` and
    /// `position` count the headers and fields walked so far.
    fn walk_paired(
        &self,
        bytes: &[u8],
        names: &mut FieldNamesLock<'_>,
        headers: &mut Headers,
        (header, position): (&mut usize, &mut usize),
        kept: &mut Vec<(usize, f64)>,
    ) -> Result<(), ParseError> {
        for (names_line, values_line) in pairs(bytes)? {
            let mut fields = names_line.split_ascii_whitespace();
            let proto_colon = fields.next().unwrap_or_default();
            let proto = proto_colon.trim_end_matches(':');
            match headers.0.get(*header) {
                Some((line, known)) if line == names_line => {
                    let count = std::iter::repeat_n("", known.len());
                    walk_pair(
                        names_line,
                        proto_colon,
                        count,
                        values_line,
                        |i, _, value| keep(kept, known[i], value),
                    )?;
                    *position += known.len();
                }
                _ => {
                    let mut known = Vec::new();
                    walk_pair(
                        names_line,
                        proto_colon,
                        fields,
                        values_line,
                        |i, name, value| {
                            let index =
                                names.kept_parts(*position + i, &[proto, "_", name], |key| {
                                    let metric =
                                        sanitize_metric_name(&format!("node_netstat_{key}"));
                                    (metric, format!("Statistic {proto}{name}."))
                                });
                            known.push(index);
                            keep(kept, index, value)
                        },
                    )?;
                    *position += known.len();
                    headers.0.truncate(*header);
                    headers.0.push((names_line.to_string(), known));
                }
            }
            *header += 1;
        }
        Ok(())
    }
}

/// Splits a `/proc/net/snmp6` line (`Ip6InReceives  123`) into key and value; `None` for
/// lines with fewer than two columns or without a `6` in the key, which node_exporter skips.
pub fn split_snmp6(line: &str) -> Option<(&str, &str)> {
    let mut cols = line.split_ascii_whitespace();
    let (key, value) = (cols.next()?, cols.next()?);
    key.contains('6').then_some((key, value))
}

/// A key split after its first `6` into protocol and field (`Ip6`, `InReceives`).
fn split_key(key: &str) -> (&str, &str) {
    key.split_at(key.find('6').map_or(0, |six| six + 1))
}

/// Converts a kept field's value into `kept`, checks a dropped one's.
fn keep(kept: &mut Vec<(usize, f64)>, index: Option<usize>, value: &str) -> Result<(), ParseError> {
    match index {
        Some(index) => kept.push((index, parse_f64(value)?)),
        None => check_f64(value)?,
    }
    Ok(())
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
        // The three files' fields are numbered in one run for the name cache. Only kept fields
        // are converted, the rest checked; kept ones are emitted once all three files parsed.
        let mut names = self.names.lock();
        let mut headers = self.headers.lock().unwrap_or_else(|p| p.into_inner());
        let mut kept: Vec<(usize, f64)> = Vec::with_capacity(64);
        let (mut header, mut position) = (0, 0);
        for (bytes, path) in [(&netstat_bytes, &netstat_path), (&snmp_bytes, &snmp_path)] {
            let counters = (&mut header, &mut position);
            self.walk_paired(bytes, &mut names, &mut headers, counters, &mut kept)
                .map_err(|e| CollectError::parse(path, e))?;
        }
        let snmp6 = std::str::from_utf8(&snmp6_bytes)
            .map_err(|_| CollectError::parse(&snmp6_path, ParseError::new("not UTF-8")))?;
        let mut known = self.snmp6.lock().unwrap_or_else(|p| p.into_inner());
        let mut field = 0;
        for line in crate::util::lines(snmp6) {
            let hit = known
                .get(field, line)
                .and_then(|(_, index, rest)| Some((index, rest.split_ascii_whitespace().next()?)));
            let (index, value) = match hit {
                Some(hit) => hit,
                None => {
                    let Some((key, value)) = split_snmp6(line) else {
                        continue;
                    };
                    let (proto, name) = split_key(key);
                    let index = names.kept_parts(position, &[proto, "_", name], |key| {
                        let metric = sanitize_metric_name(&format!("node_netstat_{key}"));
                        (metric, format!("Statistic {proto}{name}."))
                    });
                    known.set(field, key, index);
                    (index, value)
                }
            };
            position += 1;
            field += 1;
            keep(&mut kept, index, value).map_err(|e| CollectError::parse(&snmp6_path, e))?;
        }
        for (index, value) in kept {
            if let Some((metric, help)) = names.named(index) {
                sink.untyped(metric, help).sample(&[], value);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// Every field of a walk, its value parsed.
    type Stat<'a> = (&'a str, &'a str, f64);

    fn parse_paired(bytes: &[u8]) -> Result<Vec<Stat<'_>>, ParseError> {
        let mut stats = Vec::new();
        for (names_line, values_line) in pairs(bytes)? {
            let mut names = names_line.split_ascii_whitespace();
            let proto_colon = names.next().unwrap_or_default();
            let proto = proto_colon.trim_end_matches(':');
            walk_pair(
                names_line,
                proto_colon,
                names,
                values_line,
                |_, name, value| {
                    stats.push((proto, name, parse_f64(value)?));
                    Ok(())
                },
            )?;
        }
        Ok(stats)
    }

    fn parse_snmp6(bytes: &[u8]) -> Result<Vec<Stat<'_>>, ParseError> {
        let text = std::str::from_utf8(bytes).map_err(|_| ParseError::new("not UTF-8"))?;
        let mut stats = Vec::new();
        for (key, value) in crate::util::lines(text).filter_map(split_snmp6) {
            let (proto, name) = split_key(key);
            stats.push((proto, name, parse_f64(value)?));
        }
        Ok(stats)
    }

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

    /// Kept fields are emitted; a dropped field is not, but a bad value in it still fails the
    /// scrape (node_exporter parses every value before filtering), and nothing is emitted then.
    #[test]
    fn dropped_fields_are_checked_not_emitted() {
        let run = |netstat: &str| {
            let base = tempfile::tempdir().unwrap();
            let net = base.path().join("proc/net");
            std::fs::create_dir_all(&net).unwrap();
            std::fs::write(net.join("netstat"), netstat).unwrap();
            std::fs::write(net.join("snmp"), "Udp: InDatagrams\nUdp: 7\n").unwrap();
            crate::testing::collect_on_root(INFO, base.path()).unwrap()
        };
        let (sink, result) = run("TcpExt: SyncookiesSent Unkept\nTcpExt: 3 12345\n");
        result.unwrap();
        let text = crate::testing::render_text(&sink);
        assert!(
            text.contains("node_netstat_TcpExt_SyncookiesSent 3\n"),
            "{text}"
        );
        assert!(text.contains("node_netstat_Udp_InDatagrams 7\n"), "{text}");
        assert!(!text.contains("Unkept"), "{text}");
        let (sink, result) = run("TcpExt: SyncookiesSent Unkept\nTcpExt: 3 x\n");
        assert!(result.unwrap_err().to_string().contains("invalid number"));
        assert!(sink.is_empty());
    }

    /// A header known from the last read is not split into names again: the values under it
    /// give what a fresh collector gives, errors included, and a changed header is read afresh.
    #[test]
    fn known_headers_give_what_fresh_reads_give() {
        let base = tempfile::tempdir().unwrap();
        let net = base.path().join("proc/net");
        std::fs::create_dir_all(&net).unwrap();
        std::fs::write(net.join("snmp"), "Udp: InDatagrams\nUdp: 7\n").unwrap();
        let header = "TcpExt: SyncookiesSent Unkept\n";
        let netstats = [
            format!("{header}TcpExt: 3 4\n"),
            format!("{header}TcpExt: 5 x\n"),
            format!("{header}TcpExt: 5\n"),
            format!("{header}TcpExt: x 1 2\n"),
            format!("{header}TcpExt: 5 4\n"),
            header.to_string(),
            format!("{header}IpExt: 1 2\n"),
            "TcpExt: SyncookiesSent SyncookiesRecv\nTcpExt: 1 2\n".to_string(),
        ];
        let good = "TcpExt: SyncookiesSent\nTcpExt: 1\n".to_string();
        let snmp6s = [
            "Ip6InReceives 1\nIcmp6InErrors 2\nUdp6NoPorts 3\n",
            "Ip6InReceives 1\nIcmp6InErrors 2 9\nUdp6NoPorts 3\n",
            "Ip6InReceives x\nIcmp6InErrors 2\nUdp6NoPorts 3\n",
            "Ip6InReceives 1\nIcmp6InErrors\nUdp6NoPorts y\n",
            "Ip6InReceives 1\nnosix 5\nIcmp6InErrors 4 9\n Udp6NoPorts\t5\n",
            "Ip6InReceives 1\nIcmp6InErrorsX 2\nUdp6NoPorts 3\n",
        ];
        let reads = netstats
            .iter()
            .map(|n| (n, snmp6s[0]))
            .chain(snmp6s.iter().map(|s| (&good, *s)));
        let errors =
            crate::testing::kept_matches_fresh(INFO, base.path(), reads, |(netstat, snmp6)| {
                std::fs::write(net.join("netstat"), netstat).unwrap();
                std::fs::write(net.join("snmp6"), snmp6).unwrap();
            });
        assert_eq!(errors, 7);
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
