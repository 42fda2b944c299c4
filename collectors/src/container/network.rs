//! container_network: `container_network_{receive,transmit}_{bytes,packets,packets_dropped,errors}_total`
//! per interface, from `/proc/<pid>/net/dev` of a process in the container, only for the owner
//! of a network namespace (the root cgroup, Docker containers not in `container:` mode, pod
//! sandboxes). A container in the host's network namespace (same `ns/net` as pid 1, or the
//! runtime says so) gets no series: host NICs are never attributed to a container.

use super::parse::{net_dev, pids, NetDev};
use super::walk::{read, Container, Ctrl, Kind, Snapshot};
use super::{container_group, family};
use crate::collector::Settings;
use crate::error::CollectError;
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

fn first_pid(snap: &Snapshot, id: &str) -> Option<u32> {
    [Ctrl::Pids, Ctrl::Cpu, Ctrl::Memory]
        .iter()
        .filter_map(|c| snap.hier.dir(*c, id))
        .find_map(|d| pids(&read(&d, "cgroup.procs")?).ok()?.first().copied())
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
            let pid = first_pid(snap, &c.id).or(m.pid)?.to_string();
            let own = netns(roots, &pid)?;
            if netns(roots, "1").is_some_and(|host| host == own) {
                return None;
            }
            pid
        }
        Kind::Pod | Kind::Raw => return None,
    };
    let bytes = std::fs::read(roots.proc(format!("{pid}/net/dev"))).ok()?;
    let mut devs = net_dev(&bytes).ok()?;
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
