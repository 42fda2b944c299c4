//! qdisc: `node_qdisc_*{device,kind}` for every root queueing discipline, from an rtnetlink
//! `RTM_GETQDISC` dump (as node_exporter's `github.com/ema/qdisc`), or from the JSON file
//! `<dir>/results.json` when `--collector.qdisc.fixtures=<dir>` is set.
//!
//! Interface names come from an `RTM_GETLINK` dump of the same namespace, as `ema/qdisc`'s
//! `net.InterfaceByIndex`; a qdisc whose interface vanished between the two dumps fails the
//! scrape, as there. Only root qdiscs (parent `TC_H_ROOT`) are reported.
//!
//! node_exporter 1.5 names the filters `--collector.qdisk.device-{include,exclude}` (kept here
//! as aliases) and, by a bug, uses the exclude pattern for both.

use std::sync::Arc;

use regex::Regex;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::netlink::{self, c_string, parse_attrs, Socket};
use crate::options::{device_allowed, Flag};
use crate::util::{u32_at, u64_at};

/// `--collector.qdisc.fixtures`.
pub const FIXTURES: Flag<String> = Flag::new(
    "collector.qdisc.fixtures",
    "test fixtures to use for qdisc collector end-to-end testing",
    "",
);

/// `--collector.qdisc.device-include`.
pub const DEVICE_INCLUDE: Flag<Option<Regex>> = Flag::new(
    "collector.qdisc.device-include",
    "Regexp of qdisc devices to include (mutually exclusive to device-exclude).",
    "",
)
.with_aliases(&["collector.qdisk.device-include"]);

/// `--collector.qdisc.device-exclude`.
pub const DEVICE_EXCLUDE: Flag<Option<Regex>> = Flag::new(
    "collector.qdisc.device-exclude",
    "Regexp of qdisc devices to exclude (mutually exclusive to device-include).",
    "",
)
.with_aliases(&["collector.qdisk.device-exclude"]);

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "qdisc",
    default_enabled: false,
    sources: "rtnetlink RTM_GETQDISC + RTM_GETLINK (or --collector.qdisc.fixtures JSON)",
    flags: &[FIXTURES.spec, DEVICE_INCLUDE.spec, DEVICE_EXCLUDE.spec],
    build,
};

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    let options = &settings.options;
    let include = options.get(&DEVICE_INCLUDE)?;
    let exclude = options.get(&DEVICE_EXCLUDE)?;
    if include.is_some() && exclude.is_some() {
        return Err(
            "collector.qdisc.device-include and collector.qdisc.device-exclude are mutaly exclusive"
                .into(),
        );
    }
    let fixtures = options.get(&FIXTURES);
    Ok(Box::new(QdiscCollector {
        fixtures: (!fixtures.is_empty()).then(|| fixtures.into()),
        include,
        exclude,
    }))
}

struct QdiscCollector {
    fixtures: Option<std::path::PathBuf>,
    include: Option<Regex>,
    exclude: Option<Regex>,
}

/// One queueing discipline, with `ema/qdisc`'s `QdiscInfo` fields that node_exporter uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Qdisc {
    /// Interface index (0 for fixture entries).
    pub ifindex: u32,
    /// Interface name.
    pub iface_name: String,
    /// Parent handle; `TC_H_ROOT` is reported as 0, as `ema/qdisc` does.
    pub parent: u32,
    /// Kind, e.g. `fq_codel`.
    pub kind: String,
    /// Bytes sent.
    pub bytes: u64,
    /// Packets sent.
    pub packets: u32,
    /// Packets dropped.
    pub drops: u32,
    /// Packets requeued.
    pub requeues: u32,
    /// Overlimit events.
    pub overlimits: u32,
    /// Queue length in packets.
    pub qlen: u32,
    /// Backlog in bytes.
    pub backlog: u32,
}

const TCMSG_LEN: usize = 20;
const TCA_KIND: u16 = 1;
const TCA_STATS: u16 = 3;
const TCA_STATS2: u16 = 7;
const TCA_STATS_BASIC: u16 = 1;
const TCA_STATS_QUEUE: u16 = 3;
const RTM_NEWQDISC: u16 = 36;

/// Parses one `RTM_NEWQDISC` payload (`struct tcmsg` + attributes) as `ema/qdisc`'s
/// `parseMessage`: `TCA_STATS2` (basic + queue) or the legacy `TCA_STATS`, whichever comes
/// last, and `TCA_KIND`.
pub fn parse_qdisc(payload: &[u8]) -> Result<Qdisc, ParseError> {
    if payload.len() < TCMSG_LEN {
        return Err(ParseError::new(format!(
            "short message, len={}",
            payload.len()
        )));
    }
    let mut q = Qdisc {
        ifindex: u32_at(payload, 4)?,
        parent: u32_at(payload, 12)?,
        ..Qdisc::default()
    };
    if q.parent == u32::MAX {
        q.parent = 0;
    }
    for attr in parse_attrs(&payload[TCMSG_LEN..])? {
        match attr.kind {
            TCA_KIND => q.kind = c_string(attr.value),
            TCA_STATS2 => {
                for nested in parse_attrs(attr.value)? {
                    match nested.kind {
                        TCA_STATS_BASIC => {
                            q.bytes = u64_at(nested.value, 0)?;
                            q.packets = u32_at(nested.value, 8)?;
                        }
                        TCA_STATS_QUEUE => {
                            q.qlen = u32_at(nested.value, 0)?;
                            q.backlog = u32_at(nested.value, 4)?;
                            q.drops = u32_at(nested.value, 8)?;
                            q.requeues = u32_at(nested.value, 12)?;
                            q.overlimits = u32_at(nested.value, 16)?;
                        }
                        _ => {}
                    }
                }
            }
            TCA_STATS => {
                let v = attr.value;
                q.bytes = u64_at(v, 0)?;
                q.packets = u32_at(v, 8)?;
                q.drops = u32_at(v, 12)?;
                q.overlimits = u32_at(v, 16)?;
                q.qlen = u32_at(v, 28)?;
                q.backlog = u32_at(v, 32)?;
            }
            _ => {}
        }
    }
    Ok(q)
}

/// Parses every qdisc of an `RTM_GETQDISC` dump.
pub fn parse_dump(dump: &[u8]) -> Result<Vec<Qdisc>, ParseError> {
    netlink::payloads_of(&[dump.to_vec()], RTM_NEWQDISC)?
        .into_iter()
        .map(parse_qdisc)
        .collect()
}

/// Parses node_exporter's qdisc fixture (`results.json`: a JSON array of `QdiscInfo`, keys
/// matched case-insensitively like Go's `encoding/json`; absent fields are 0).
pub fn parse_fixture(bytes: &[u8]) -> Result<Vec<Qdisc>, ParseError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ParseError::new(e.to_string()))?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Null => Vec::new(),
        _ => return Err(ParseError::new("results.json is not an array")),
    };
    items.iter().map(fixture_entry).collect()
}

fn fixture_entry(item: &serde_json::Value) -> Result<Qdisc, ParseError> {
    let obj = item
        .as_object()
        .ok_or_else(|| ParseError::new("qdisc entry is not an object"))?;
    let field = |name: &str| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let num = |name: &str, max: u64| -> Result<u64, ParseError> {
        match field(name) {
            None | Some(serde_json::Value::Null) => Ok(0),
            Some(v) => v
                .as_u64()
                .filter(|n| *n <= max)
                .ok_or_else(|| ParseError::new(format!("invalid {name}: {v}"))),
        }
    };
    let text = |name: &str| -> Result<String, ParseError> {
        match field(name) {
            None | Some(serde_json::Value::Null) => Ok(String::new()),
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(v) => Err(ParseError::new(format!("invalid {name}: {v}"))),
        }
    };
    let u32max = u64::from(u32::MAX);
    Ok(Qdisc {
        ifindex: 0,
        iface_name: text("IfaceName")?,
        parent: num("Parent", u32max)? as u32,
        kind: text("Kind")?,
        bytes: num("Bytes", u64::MAX)?,
        packets: num("Packets", u32max)? as u32,
        drops: num("Drops", u32max)? as u32,
        requeues: num("Requeues", u32max)? as u32,
        overlimits: num("Overlimits", u32max)? as u32,
        qlen: num("Qlen", u32max)? as u32,
        backlog: num("Backlog", u32max)? as u32,
    })
}

fn live() -> Result<Vec<Qdisc>, CollectError> {
    let err = |what: &str, e: std::io::Error| CollectError::Other(format!("{what}: {e}"));
    let mut sock =
        Socket::open(netlink::NETLINK_ROUTE).map_err(|e| err("failed to dial netlink", e))?;
    let replies = sock
        .dump(netlink::RTM_GETQDISC, &[0u8; TCMSG_LEN], &[])
        .map_err(|e| err("failed to execute request", e))?;
    let mut qdiscs = parse_dump(&replies.concat())
        .map_err(|e| CollectError::Other(format!("parsing RTM_GETQDISC: {e}")))?;
    let links = netlink::link_names(&mut sock).map_err(|e| err("listing links", e))?;
    for q in &mut qdiscs {
        match links.iter().find(|(index, _)| *index == q.ifindex) {
            Some((_, name)) => q.iface_name = name.clone(),
            None => {
                return Err(CollectError::Other(format!(
                    "route ip+net: no such network interface (index {})",
                    q.ifindex
                )))
            }
        }
    }
    Ok(qdiscs)
}

impl Collector for QdiscCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let qdiscs = match &self.fixtures {
            Some(dir) => crate::util::parse_file(&dir.join("results.json"), parse_fixture)?,
            None => live()?,
        };
        emit(&qdiscs, self.include.as_ref(), self.exclude.as_ref(), sink);
        Ok(())
    }
}

/// Writes the root qdiscs that pass the device filter.
pub fn emit(
    qdiscs: &[Qdisc],
    include: Option<&Regex>,
    exclude: Option<&Regex>,
    sink: &mut MetricSink,
) {
    let roots: Vec<&Qdisc> = qdiscs
        .iter()
        .filter(|q| q.parent == 0 && device_allowed(&q.iface_name, include, exclude))
        .collect();
    type Field = fn(&Qdisc) -> f64;
    let families: [(&str, &str, bool, Field); 7] = [
        (
            "node_qdisc_bytes_total",
            "Number of bytes sent.",
            true,
            |q| q.bytes as f64,
        ),
        (
            "node_qdisc_packets_total",
            "Number of packets sent.",
            true,
            |q| q.packets as f64,
        ),
        (
            "node_qdisc_drops_total",
            "Number of packets dropped.",
            true,
            |q| q.drops as f64,
        ),
        (
            "node_qdisc_requeues_total",
            "Number of packets dequeued, not transmitted, and requeued.",
            true,
            |q| q.requeues as f64,
        ),
        (
            "node_qdisc_overlimits_total",
            "Number of overlimit packets.",
            true,
            |q| q.overlimits as f64,
        ),
        (
            "node_qdisc_current_queue_length",
            "Number of packets currently in queue to be sent.",
            false,
            |q| q.qlen as f64,
        ),
        (
            "node_qdisc_backlog",
            "Number of bytes currently in queue to be sent.",
            false,
            |q| q.backlog as f64,
        ),
    ];
    for (name, help, counter, value) in families {
        if counter {
            sink.counter(name, help);
        } else {
            sink.gauge(name, help);
        }
        for q in &roots {
            sink.sample(&[("device", &q.iface_name), ("kind", &q.kind)], value(q));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `RTM_GETQDISC` dump captured from this VM's kernel in a namespace holding a veth
    /// pair: `htb` as veth0's root (one packet of 90 bytes sent), a `pfifo` child under class
    /// 1:10 and an `ingress` qdisc; `noqueue` on veth1 (see tests/fixtures/netlink/README.md).
    const DUMP: &[u8] = include_bytes!("../../../tests/fixtures/netlink/qdisc.bin");

    #[test]
    fn real_dump() {
        let qdiscs = parse_dump(DUMP).unwrap();
        let htb = qdiscs.iter().find(|q| q.kind == "htb").expect("htb");
        assert_eq!((htb.parent, htb.ifindex), (0, 3));
        assert_eq!((htb.bytes, htb.packets, htb.drops), (90, 1, 0));
        let pfifo = qdiscs.iter().find(|q| q.kind == "pfifo").expect("pfifo");
        assert_eq!(pfifo.parent, 0x10010);
        let ingress = qdiscs
            .iter()
            .find(|q| q.kind == "ingress")
            .expect("ingress");
        assert_eq!(ingress.parent, 0xffff_fff1);
        assert!(qdiscs.iter().any(|q| q.kind == "noqueue" && q.parent == 0));
        let links = netlink::parse_link_names(&[include_bytes!(
            "../../../tests/fixtures/netlink/link.bin"
        )
        .to_vec()])
        .unwrap();
        let mut named = qdiscs.clone();
        for q in &mut named {
            if let Some((_, n)) = links.iter().find(|(i, _)| *i == q.ifindex) {
                q.iface_name = n.clone();
            }
        }
        let mut sink = MetricSink::new();
        emit(&named, None, None, &mut sink);
        let text = crate::testing::render_text(&sink);
        assert!(
            text.contains("node_qdisc_bytes_total{device=\"veth0\",kind=\"htb\"} 90\n"),
            "{text}"
        );
        assert!(
            text.contains("node_qdisc_packets_total{device=\"veth1\",kind=\"noqueue\"} 0\n"),
            "{text}"
        );
        assert!(
            !text.contains("pfifo") && !text.contains("ingress"),
            "{text}"
        );
        let exclude = Regex::new("veth1").unwrap();
        let mut sink = MetricSink::new();
        emit(&named, None, Some(&exclude), &mut sink);
        assert!(!crate::testing::render_text(&sink).contains("veth1"));
    }

    #[test]
    fn truncated_and_garbage_dumps() {
        assert!(parse_dump(&[]).unwrap().is_empty());
        assert!(parse_dump(&DUMP[..40]).is_err());
        assert!(parse_dump(&DUMP[..DUMP.len() - 1]).is_err());
        assert!(parse_qdisc(&[0; 10]).is_err());
        // A TCA_STATS2 basic block too short for its counters.
        let mut payload = vec![0u8; TCMSG_LEN];
        payload.extend_from_slice(&[12, 0, 7, 0, 8, 0, 1, 0, 1, 2, 3, 4]);
        assert!(parse_qdisc(&payload).is_err());
    }

    #[test]
    fn root_parent_is_zero() {
        let mut payload = vec![0u8; TCMSG_LEN];
        payload[12..16].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(parse_qdisc(&payload).unwrap().parent, 0);
        payload[12..16].copy_from_slice(&0x10001u32.to_ne_bytes());
        assert_eq!(parse_qdisc(&payload).unwrap().parent, 0x10001);
    }

    #[test]
    fn missing_fixture_file_fails_the_collector() {
        let mut options = crate::options::Options::default();
        options.set(&FIXTURES, "/nonexistent/nodex/qdisc");
        let settings = Arc::new(Settings::new(crate::roots::Roots::default(), options));
        let collector = (INFO.build)(&settings).unwrap();
        let mut sink = MetricSink::new();
        assert!(collector.collect(&mut sink).is_err());
        assert!(sink.is_empty());
    }

    #[test]
    fn include_and_exclude_together_stop_start_up() {
        let mut options = crate::options::Options::default();
        options.set(&DEVICE_INCLUDE, "eth");
        options.set(&DEVICE_EXCLUDE, "lo");
        let settings = Arc::new(Settings::new(crate::roots::Roots::default(), options));
        assert!((INFO.build)(&settings).is_err());
    }

    #[test]
    fn fixture_json() {
        let q = parse_fixture(
            br#"[{"IfaceName":"wlan0","Bytes":42,"packets":42,"Requeues":1,"Kind":"fq","Drops":1}]"#,
        )
        .unwrap();
        assert_eq!(q[0].iface_name, "wlan0");
        assert_eq!(q[0].packets, 42);
        assert_eq!(q[0].overlimits, 0);
        assert!(parse_fixture(b"").is_err());
        assert!(parse_fixture(b"{}").is_err());
        assert!(parse_fixture(br#"[{"Bytes":-1}]"#).is_err());
        assert!(parse_fixture(b"null").unwrap().is_empty());
    }
}
