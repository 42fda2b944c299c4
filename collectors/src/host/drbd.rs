//! drbd (off by default): `node_drbd_*{device}` from `/proc/drbd` (DRBD 8 status format).

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::{MetricSink, MetricType};
use crate::stateless_collector;
use crate::util::{lossy, parse_f64, read};

stateless_collector!("drbd", false, "/proc/drbd", collect);

/// Numerical fields: key, metric name, HELP, type and multiplier (KiB fields → bytes).
const NUMERICAL: &[(&str, &str, &str, MetricType, f64)] = &[
    ("ns", "node_drbd_network_sent_bytes_total", "Total number of bytes sent via the network.", MetricType::Counter, 1024.0),
    // The kernel prints `nr` in KiB like `ns` (`recv_cnt/2` sectors in drbd_proc.c);
    // node_exporter's drbd_linux.go multiplies it by 1, so it reports KiB as bytes.
    ("nr", "node_drbd_network_received_bytes_total", "Total number of bytes received via the network.", MetricType::Counter, 1024.0),
    ("dw", "node_drbd_disk_written_bytes_total", "Net data written on local hard disk; in bytes.", MetricType::Counter, 1024.0),
    ("dr", "node_drbd_disk_read_bytes_total", "Net data read from local hard disk; in bytes.", MetricType::Counter, 1024.0),
    ("al", "node_drbd_activitylog_writes_total", "Number of updates of the activity log area of the meta data.", MetricType::Counter, 1.0),
    ("bm", "node_drbd_bitmap_writes_total", "Number of updates of the bitmap area of the meta data.", MetricType::Counter, 1.0),
    ("lo", "node_drbd_local_pending", "Number of open requests to the local I/O sub-system.", MetricType::Gauge, 1.0),
    ("pe", "node_drbd_remote_pending", "Number of requests sent to the peer, but that have not yet been answered by the latter.", MetricType::Gauge, 1.0),
    ("ua", "node_drbd_remote_unacknowledged", "Number of requests received by the peer via the network connection, but that have not yet been answered.", MetricType::Gauge, 1.0),
    ("ap", "node_drbd_application_pending", "Number of block I/O requests forwarded to DRBD, but not yet answered by DRBD.", MetricType::Gauge, 1.0),
    ("ep", "node_drbd_epochs", "Number of Epochs currently on the fly.", MetricType::Gauge, 1.0),
    ("oos", "node_drbd_out_of_sync_bytes", "Amount of data known to be out of sync; in bytes.", MetricType::Gauge, 1024.0),
];

/// `local/remote` pairs: key, metric name, HELP and the value that counts as 1.
const PAIRS: &[(&str, &str, &str, &str)] = &[
    (
        "ro",
        "node_drbd_node_role_is_primary",
        "Whether the role of the node is in the primary state.",
        "Primary",
    ),
    (
        "ds",
        "node_drbd_disk_state_is_up_to_date",
        "Whether the disk of the node is up to date.",
        "UpToDate",
    ),
];

/// One sample: family name, HELP, type, device, optional `node` label (`local`/`remote`), value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Family name.
    pub name: &'static str,
    /// HELP text.
    pub help: &'static str,
    /// Family type.
    pub kind: MetricType,
    /// `drbd<minor>` (or `unknown` before the first device line).
    pub device: String,
    /// `local` or `remote` for the state pairs.
    pub node: Option<&'static str>,
    /// The value.
    pub value: f64,
}

/// Parses `/proc/drbd` word by word as node_exporter does: `N:` starts device `drbdN`, known
/// `key:value` words become samples, everything else is skipped.
pub fn parse(bytes: &[u8]) -> Result<Vec<Sample>, ParseError> {
    let text = lossy(bytes);
    let mut device = "unknown".to_string();
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        let mut kv = word.split(':');
        let (Some(key), Some(value), None) = (kv.next(), kv.next(), kv.next()) else {
            continue;
        };
        if value.is_empty() {
            if let Ok(id) = key.parse::<u64>() {
                device = format!("drbd{id}");
                continue;
            }
        }
        let sample = |name, help, kind, node, value| Sample {
            name,
            help,
            kind,
            device: device.clone(),
            node,
            value,
        };
        if let Some((_, name, help, kind, mult)) = NUMERICAL.iter().find(|n| n.0 == key) {
            out.push(sample(name, help, *kind, None, parse_f64(value)? * mult));
        } else if let Some((_, name, help, ok)) = PAIRS.iter().find(|p| p.0 == key) {
            let (local, remote) = value
                .split_once('/')
                .ok_or_else(|| ParseError::new(format!("no local/remote pair in {word:?}")))?;
            let remote = remote.split('/').next().unwrap_or(remote);
            for (node, state) in [("local", local), ("remote", remote)] {
                let v = if state == *ok { 1.0 } else { 0.0 };
                out.push(sample(name, help, MetricType::Gauge, Some(node), v));
            }
        } else if key == "cs" {
            let v = if value == "Connected" { 1.0 } else { 0.0 };
            out.push(sample(
                "node_drbd_connected",
                "Whether DRBD is connected to the peer.",
                MetricType::Gauge,
                None,
                v,
            ));
        }
    }
    Ok(out)
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let path = settings.roots.proc("drbd");
    let bytes = match read(&path) {
        Ok(b) => b,
        Err(e) if e.is_not_found() => {
            return Err(CollectError::NoData(format!(
                "{} does not exist",
                path.display()
            )))
        }
        Err(e) => return Err(e),
    };
    let samples = parse(&bytes).map_err(|e| CollectError::parse(&path, e))?;
    for s in &samples {
        sink.family(s.name, s.help, s.kind);
        match s.node {
            Some(node) => sink.sample(&[("device", &s.device), ("node", node)], s.value),
            None => sink.sample(&[("device", &s.device)], s.value),
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "version: 8.4.11 (api:1/proto:86-101)\nsrcversion: 1A9F77B1CA5FF92235C2213\n\n 1: cs:Connected ro:Primary/Secondary ds:UpToDate/UpToDate C r-----\n    ns:4 nr:12 dw:4 dr:1076 al:1 bm:0 lo:0 pe:0 ua:0 ap:0 ep:1 wo:f oos:0\n";

    #[test]
    fn parses_kernel_format() {
        let s = parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(s.len(), 1 + 2 + 2 + 12);
        assert_eq!(s[0].name, "node_drbd_connected");
        assert_eq!(s[0].device, "drbd1");
        assert_eq!(s[0].value, 1.0);
        let role: Vec<_> = s
            .iter()
            .filter(|x| x.name == "node_drbd_node_role_is_primary")
            .collect();
        assert_eq!((role[0].node, role[0].value), (Some("local"), 1.0));
        assert_eq!((role[1].node, role[1].value), (Some("remote"), 0.0));
        let ns = s
            .iter()
            .find(|x| x.name == "node_drbd_network_sent_bytes_total")
            .unwrap();
        assert_eq!(ns.value, 4096.0);
        let nr = s
            .iter()
            .find(|x| x.name == "node_drbd_network_received_bytes_total")
            .unwrap();
        assert_eq!(nr.value, 12.0 * 1024.0, "nr is KiB, as ns (drbd_proc.c)");
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(b"").unwrap().is_empty());
        assert!(parse(b" 1: ns:abc").is_err());
        assert!(parse(b" 1: ro:Primary").is_err());
        assert!(parse(&[0xff, 0xfe, b':', b'1']).unwrap().is_empty());
        assert_eq!(parse(b"ns:1").unwrap()[0].device, "unknown");
    }
}
