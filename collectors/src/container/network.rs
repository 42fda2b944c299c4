//! container_network: `container_network_{receive,transmit}_{bytes,packets,packets_dropped,errors}_total`
//! per interface, from `/proc/<pid>/net/dev` of a process in the container, only for the owner
//! of a network namespace (the root cgroup, Docker containers not in `container:` mode, pod
//! sandboxes). A container in the host's network namespace (same `ns/net` as pid 1, or the
//! runtime says so) gets no series: host NICs are never attributed to a container.

use super::walk::{Container, Kind, Snapshot};
use super::{container_group, family};
use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::{MetricSink, MetricType};
use crate::roots::Roots;

container_group!(
    "container_network",
    "cgroup cgroup.procs; /proc/<pid>/net/dev, /proc/<pid>/ns/net",
    emit,
    &[]
);

/// Interfaces cAdvisor never reports for a container.
const SKIPPED_PREFIXES: [&str; 4] = ["lo", "veth", "docker", "nerdctl"];

/// True when the interface is reported (not loopback, veth or a runtime bridge). The prefixes
/// match case-insensitively, as cAdvisor's `isIgnoredDevice` lowercases the name first.
pub fn interface_reported(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !SKIPPED_PREFIXES.iter().any(|p| lower.starts_with(p))
}

/// Counters of one interface from `/proc/<pid>/net/dev`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetDev {
    /// Interface name.
    pub name: String,
    /// Receive: bytes, packets, errors, dropped.
    pub rx: [u64; 4],
    /// Transmit: bytes, packets, errors, dropped.
    pub tx: [u64; 4],
}

/// Parses `/proc/<pid>/net/dev` (`procfs::net_dev`) after checking its two header lines, as
/// cAdvisor's `scanInterfaceStats`; lines need 17 fields (name + 16 counters).
pub fn net_dev(bytes: &[u8]) -> Result<Vec<NetDev>, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError::new("not UTF-8"))?;
    let mut lines = text.lines();
    let header_ok = lines.next().is_some_and(|l| l.contains('|'))
        && lines.next().is_some_and(|l| l.contains('|'));
    if !header_ok {
        return Err(ParseError::new("missing net/dev header"));
    }
    Ok(crate::procfs::net_dev::parse(bytes)?
        .into_iter()
        .map(|d| NetDev {
            name: d.name,
            rx: [d.rx[0], d.rx[1], d.rx[2], d.rx[3]],
            tx: [d.tx[0], d.tx[1], d.tx[2], d.tx[3]],
        })
        .collect())
}

fn netns(roots: &Roots, pid: &str) -> Option<std::path::PathBuf> {
    std::fs::read_link(roots.proc(format!("{pid}/ns/net"))).ok()
}

fn interfaces(roots: &Roots, snap: &Snapshot, c: &Container) -> Option<Vec<NetDev>> {
    let pid = match c.kind {
        Kind::Root => "1".to_string(),
        Kind::App | Kind::Sandbox => {
            let m = c.meta.as_ref()?;
            if !m.netns_owner || m.host_network {
                return None;
            }
            let pid = snap.hier.first_pid(&c.id).or(m.pid)?.to_string();
            let own = netns(roots, &pid)?;
            if netns(roots, "1").is_some_and(|host| host == own) {
                return None;
            }
            pid
        }
        Kind::Pod | Kind::Raw => return None,
    };
    // A process that exited since the walk has no file: skipped silently, as a gone cgroup.
    let path = roots.proc(format!("{pid}/net/dev"));
    let bytes = std::fs::read(&path).ok()?;
    let mut devs = match net_dev(&bytes) {
        Ok(d) => d,
        Err(e) => {
            tracing::debug!("{}: {e}", path.display());
            return None;
        }
    };
    devs.retain(|d| interface_reported(&d.name));
    Some(devs)
}

fn emit(settings: &Settings, snap: &Snapshot, sink: &mut MetricSink) -> Result<(), CollectError> {
    let stats: Vec<(&Container, Vec<NetDev>)> = snap
        .containers
        .iter()
        .filter_map(|c| interfaces(&settings.roots, snap, c).map(|d| (c, d)))
        .collect();
    let families = [
        (
            "container_network_receive_bytes_total",
            "Cumulative count of bytes received",
        ),
        (
            "container_network_receive_packets_total",
            "Cumulative count of packets received",
        ),
        (
            "container_network_receive_errors_total",
            "Cumulative count of errors encountered while receiving",
        ),
        (
            "container_network_receive_packets_dropped_total",
            "Cumulative count of packets dropped while receiving",
        ),
        (
            "container_network_transmit_bytes_total",
            "Cumulative count of bytes transmitted",
        ),
        (
            "container_network_transmit_packets_total",
            "Cumulative count of packets transmitted",
        ),
        (
            "container_network_transmit_errors_total",
            "Cumulative count of errors encountered while transmitting",
        ),
        (
            "container_network_transmit_packets_dropped_total",
            "Cumulative count of packets dropped while transmitting",
        ),
    ];
    for (i, (name, help)) in families.into_iter().enumerate() {
        family(
            sink,
            snap,
            (name, help, MetricType::Counter),
            stats.iter().flat_map(|(c, devs)| {
                devs.iter().map(move |d| {
                    let v = if i < 4 { d.rx[i] } else { d.tx[i - 4] };
                    (*c, vec![("interface", d.name.as_str())], v as f64)
                })
            }),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GARBAGE: &[u8] = &[0xff, 0xfe, 0x00, 0x12];

    #[test]
    fn net_dev_lines() {
        let s = b"Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0\n  eth0: 2155 25 1 2 0 0 0 0 1286 15 3 4 0 0 0 0\n";
        let v = net_dev(s).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].name, "eth0");
        assert_eq!(v[1].rx, [2155, 25, 1, 2]);
        assert_eq!(v[1].tx, [1286, 15, 3, 4]);
        assert!(net_dev(b"").is_err());
        assert!(net_dev(&s[..s.len() - 20]).is_err());
        assert!(net_dev(GARBAGE).is_err());
    }

    #[test]
    fn skips_virtual_interfaces() {
        for skipped in [
            "lo", "veth1a2b", "docker0", "nerdctl0", "Docker1", "VETHab", "LO",
        ] {
            assert!(!interface_reported(skipped));
        }
        for kept in ["eth0", "ens5", "cni0", "cali123"] {
            assert!(interface_reported(kept));
        }
    }
}
