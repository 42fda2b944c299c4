//! sockstat: `node_sockstat_*` socket counts and memory from `/proc/net/sockstat{,6}`.

use std::sync::Arc;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, IfPresent, ParseError};
use crate::expfmt::MetricSink;
use crate::util::{parse_file, parse_i64, FieldNames};

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "sockstat",
    default_enabled: true,
    sources: "/proc/net/sockstat, /proc/net/sockstat6",
    flags: &[],
    build: |settings| {
        Ok(Box::new(SockstatCollector {
            settings: Arc::clone(settings),
            names: FieldNames::new(None),
        }))
    },
};

struct SockstatCollector {
    settings: Arc<Settings>,
    /// Metric name and help per `<protocol>_<field>`, formatted once.
    names: FieldNames,
}

/// One protocol line of a sockstat file, e.g. `TCP: inuse 2 orphan 0 tw 6 alloc 2 mem 347`.
#[derive(Debug, Clone, PartialEq)]
pub struct Protocol {
    /// Protocol name as the kernel prints it (`TCP`, `UDP6`, `FRAG`...).
    pub name: String,
    /// `key value` pairs in file order.
    pub fields: Vec<(String, i64)>,
}

/// A parsed sockstat file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sockstat {
    /// `sockets: used N` (only in the IPv4 file).
    pub used: Option<i64>,
    /// The protocol lines.
    pub protocols: Vec<Protocol>,
}

/// Parses `/proc/net/sockstat` or `/proc/net/sockstat6` as procfs' `parseSockstat` does.
pub fn parse(bytes: &[u8]) -> Result<Sockstat, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError::new("not UTF-8"))?;
    let mut stat = Sockstat::default();
    for line in crate::util::lines(text) {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let Some((head, rest)) = fields.split_first() else {
            continue;
        };
        if rest.len() < 2 || rest.len() % 2 != 0 {
            return Err(ParseError::new(format!("malformed sockstat line {line:?}")));
        }
        let mut kvs = Vec::with_capacity(rest.len() / 2);
        for pair in rest.chunks_exact(2) {
            if let [key, value] = pair {
                kvs.push((key.to_string(), parse_i64(value)?));
            }
        }
        let proto = head.trim_end_matches(':');
        if proto == "sockets" {
            // procfs reads `kvs["used"]` from a Go map: 0 when the key is missing, not an error
            // (https://github.com/prometheus/procfs/blob/master/net_sockstat.go).
            let used = kvs.iter().find(|(k, _)| k == "used").map(|(_, v)| *v);
            stat.used = Some(used.unwrap_or(0));
        } else {
            stat.protocols.push(Protocol {
                name: proto.to_string(),
                fields: kvs,
            });
        }
    }
    Ok(stat)
}

/// The system page size, for the `_mem_bytes` families.
fn page_size() -> f64 {
    // SAFETY: sysconf only reads a constant of the C library.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as f64
    } else {
        4096.0
    }
}

/// Field names node_exporter exports (`NetSockstatProtocol` has no other members).
const KNOWN_FIELDS: &[&str] = &["inuse", "orphan", "tw", "alloc", "mem", "memory"];

impl SockstatCollector {
    fn emit(&self, sink: &mut MetricSink, files: &[(Sockstat, bool)], page: f64) {
        let mut names = self.names.lock();
        let mut position = 0;
        for (stat, ipv6) in files {
            if let (false, Some(used)) = (ipv6, stat.used) {
                sink.gauge(
                    "node_sockstat_sockets_used",
                    "Number of IPv4 sockets in use.",
                )
                .sample(&[], used as f64);
            }
            for proto in &stat.protocols {
                let inuse = proto.fields.iter().find(|(k, _)| k == "inuse");
                let mut pairs: Vec<(&str, f64)> =
                    vec![("inuse", inuse.map_or(0.0, |(_, v)| *v as f64))];
                for name in &KNOWN_FIELDS[1..] {
                    if let Some((_, v)) = proto.fields.iter().find(|(k, _)| k == name) {
                        pairs.push((name, *v as f64));
                        if *name == "mem" {
                            pairs.push(("mem_bytes", *v as f64 * page));
                        }
                    }
                }
                for (field, value) in pairs {
                    names.with_parts(
                        position,
                        &[&proto.name, "_", field],
                        |_| {
                            let name = crate::util::sanitize_metric_name(&format!(
                                "node_sockstat_{}_{}",
                                proto.name, field
                            ));
                            let help =
                                format!("Number of {} sockets in state {}.", proto.name, field);
                            (name, help)
                        },
                        |name, help| {
                            sink.gauge(name, help).sample(&[], value);
                        },
                    );
                    position += 1;
                }
            }
        }
    }
}

impl Collector for SockstatCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let mut files = Vec::with_capacity(2);
        for (file, ipv6) in [("net/sockstat", false), ("net/sockstat6", true)] {
            // IPv4 or IPv6 disabled on this kernel: that file is absent and skipped.
            if let Some(stat) = parse_file(&self.settings.roots.proc(file), parse).if_present()? {
                files.push((stat, ipv6));
            }
        }
        self.emit(sink, &files, page_size());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "sockets: used 33\nTCP: inuse 2 orphan 0 tw 6 alloc 2 mem 347\n\
UDP: inuse 0 mem 0\nUDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n";

    #[test]
    fn parses_real_file() {
        let s = parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(s.used, Some(33));
        assert_eq!(s.protocols.len(), 5);
        assert_eq!(s.protocols[0].name, "TCP");
        assert_eq!(s.protocols[0].fields[4], ("mem".to_string(), 347));
        let s6 = parse(b"TCP6: inuse 0\nFRAG6: inuse 0 memory 0\n").unwrap();
        assert_eq!(s6.used, None);
        assert_eq!(s6.protocols[1].fields.len(), 2);
    }

    #[test]
    fn empty_and_bad_input() {
        assert_eq!(parse(b"").unwrap(), Sockstat::default());
        assert!(parse(b"TCP: inuse").is_err());
        assert!(parse(b"TCP: inuse x").is_err());
        assert_eq!(parse(b"sockets: foo 1").unwrap().used, Some(0));
        assert!(parse(&[0xff, 0xfe]).is_err());
    }
}
