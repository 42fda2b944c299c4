//! network_route: `node_network_route_info` and `node_network_routes{device}` from rtnetlink
//! `RTM_GETROUTE` and `RTM_GETLINK` dumps of the namespace nodex runs in, as node_exporter's
//! `jsimonetti/rtnetlink` path: every table and both address families, unicast routes only,
//! one series per next hop of a multipath route.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::netlink::{self, parse_attrs, Socket};
use crate::stateless_collector;
use crate::util::{u16_at, u32_at};

stateless_collector!(
    "network_route",
    false,
    "rtnetlink RTM_GETROUTE + RTM_GETLINK of nodex's network namespace; live only (tests/netlink_live.rs)",
    collect
);

const RTM_NEWROUTE: u16 = 24;
const RTMSG_LEN: usize = 12;
const RTN_UNICAST: u8 = 1;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_MULTIPATH: u16 = 9;

/// One next hop of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextHop {
    /// Output interface index.
    pub ifindex: u32,
    /// Gateway, if any.
    pub gateway: Option<IpAddr>,
    /// `rtnh_hops` (weight − 1), for multipath hops only.
    pub hops: Option<u8>,
}

/// One route of the dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `rtm_family`.
    pub family: u8,
    /// `rtm_dst_len`.
    pub dst_len: u8,
    /// `rtm_protocol`.
    pub protocol: u8,
    /// `rtm_type`.
    pub kind: u8,
    /// `RTA_DST`.
    pub dst: Option<IpAddr>,
    /// `RTA_PREFSRC`.
    pub src: Option<IpAddr>,
    /// `RTA_PRIORITY` (0 when absent).
    pub priority: u32,
    /// The next hops: `RTA_MULTIPATH`'s, or the single `RTA_OIF`/`RTA_GATEWAY` one.
    pub hops: Vec<NextHop>,
}

fn ip(value: &[u8]) -> Option<IpAddr> {
    match value.len() {
        4 => <[u8; 4]>::try_from(value)
            .ok()
            .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        16 => <[u8; 16]>::try_from(value)
            .ok()
            .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        _ => None,
    }
}

/// Parses one `RTM_NEWROUTE` payload (`struct rtmsg` + attributes).
pub fn parse_route(payload: &[u8]) -> Result<Route, ParseError> {
    if payload.len() < RTMSG_LEN {
        return Err(ParseError::new(format!(
            "short rtmsg: {} bytes",
            payload.len()
        )));
    }
    let mut route = Route {
        family: payload[0],
        dst_len: payload[1],
        protocol: payload[5],
        kind: payload[7],
        dst: None,
        src: None,
        priority: 0,
        hops: Vec::new(),
    };
    let mut oif = 0;
    let mut gateway = None;
    let mut multipath = Vec::new();
    for attr in parse_attrs(&payload[RTMSG_LEN..])? {
        match attr.kind {
            RTA_DST => route.dst = ip(attr.value),
            RTA_PREFSRC => route.src = ip(attr.value),
            RTA_GATEWAY => gateway = ip(attr.value),
            RTA_OIF => oif = u32_at(attr.value, 0)?,
            RTA_PRIORITY => route.priority = u32_at(attr.value, 0)?,
            RTA_MULTIPATH => multipath = parse_multipath(attr.value)?,
            _ => {}
        }
    }
    route.hops = if multipath.is_empty() {
        vec![NextHop {
            ifindex: oif,
            gateway,
            hops: None,
        }]
    } else {
        multipath
    };
    Ok(route)
}

/// Parses `RTA_MULTIPATH`: a run of `struct rtnexthop` (len, flags, hops, ifindex), each
/// followed by its own attributes.
fn parse_multipath(mut buf: &[u8]) -> Result<Vec<NextHop>, ParseError> {
    let mut hops = Vec::new();
    while buf.len() >= 8 {
        let len = u16_at(buf, 0)? as usize;
        if len < 8 || len > buf.len() {
            return Err(ParseError::new(format!(
                "rtnexthop length {len} out of range"
            )));
        }
        let mut hop = NextHop {
            ifindex: u32_at(buf, 4)?,
            gateway: None,
            hops: Some(buf[3]),
        };
        for attr in parse_attrs(&buf[8..len])? {
            if attr.kind == RTA_GATEWAY {
                hop.gateway = ip(attr.value);
            }
        }
        hops.push(hop);
        buf = buf.get((len + 3) & !3..).unwrap_or(&[]);
    }
    Ok(hops)
}

/// Parses every route of an `RTM_GETROUTE` dump.
pub fn parse_dump(dump: &[u8]) -> Result<Vec<Route>, ParseError> {
    netlink::payloads_of(&[dump.to_vec()], RTM_NEWROUTE)?
        .into_iter()
        .map(parse_route)
        .collect()
}

/// node_exporter's `networkRouteIPWithPrefixToString`: `default` for a zero prefix length,
/// otherwise `ip/len` (Go's `IPNet.String`; a missing address prints as `<nil>`).
pub fn dest_label(route: &Route) -> String {
    if route.dst_len == 0 {
        return "default".into();
    }
    match route.dst {
        Some(addr) => format!("{addr}/{}", route.dst_len),
        None => format!("<nil>/{}", route.dst_len),
    }
}

/// node_exporter's `networkRouteProtocolToString` (names from `linux/rtnetlink.h`).
pub fn protocol_name(protocol: u8) -> &'static str {
    match protocol {
        0 => "unspec",
        1 => "redirect",
        2 => "kernel",
        3 => "boot",
        4 => "static",
        8 => "gated",
        9 => "ra",
        10 => "mrt",
        11 => "zebra",
        12 => "bird",
        13 => "dnrouted",
        14 => "xorp",
        15 => "ntk",
        16 => "dhcp",
        17 => "mrouted",
        42 => "babel",
        186 => "bgp",
        187 => "isis",
        188 => "ospf",
        189 => "rip",
        192 => "eigrp",
        _ => "unknown",
    }
}

fn ip_label(addr: Option<IpAddr>) -> String {
    addr.map(|a| a.to_string()).unwrap_or_default()
}

/// Writes `node_network_route_info` for the unicast routes and `node_network_routes` per device.
pub fn emit(routes: &[Route], links: &[(u32, String)], sink: &mut MetricSink) {
    let name_of = |index: u32| {
        links
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, n)| n.as_str())
            .unwrap_or("")
    };
    let mut per_device: BTreeMap<String, u64> = BTreeMap::new();
    sink.gauge(
        "node_network_route_info",
        "network routing table information",
    );
    for route in routes.iter().filter(|r| r.kind == RTN_UNICAST) {
        let src = ip_label(route.src);
        let dest = dest_label(route);
        let priority = route.priority.to_string();
        for hop in &route.hops {
            let device = name_of(hop.ifindex);
            let gw = ip_label(hop.gateway);
            let weight = hop
                .hops
                .map(|h| (u32::from(h) + 1).to_string())
                .unwrap_or_default();
            sink.sample(
                &[
                    ("device", device),
                    ("src", &src),
                    ("dest", &dest),
                    ("gw", &gw),
                    ("priority", &priority),
                    ("proto", protocol_name(route.protocol)),
                    ("weight", &weight),
                ],
                1.0,
            );
            *per_device.entry(device.to_string()).or_default() += 1;
        }
    }
    sink.gauge("node_network_routes", "network routes by interface");
    for (device, count) in &per_device {
        sink.sample(&[("device", device)], *count as f64);
    }
}

fn collect(_settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let err = |what: &str, e: std::io::Error| CollectError::Other(format!("{what}: {e}"));
    let mut sock =
        Socket::open(netlink::NETLINK_ROUTE).map_err(|e| err("couldn't connect rtnetlink", e))?;
    let links = netlink::link_names(&mut sock).map_err(|e| err("couldn't get links", e))?;
    // struct rtmsg, all zero: every family and table.
    let replies = sock
        .dump(netlink::RTM_GETROUTE, &[0u8; RTMSG_LEN], &[])
        .map_err(|e| err("couldn't get routes", e))?;
    let routes = parse_dump(&replies.concat())
        .map_err(|e| CollectError::Other(format!("couldn't get routes: {e}")))?;
    emit(&routes, &links, sink);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `RTM_GETROUTE` dump captured from this VM's kernel in a namespace with a veth pair
    /// (10.231.0.1/24 on veth0, a static route 10.232.0.0/16 via 10.231.0.2 metric 7, and a
    /// multipath route 10.233.0.0/16 over two gateways, weights 1 and 3; IPv6 link-local
    /// routes on both ends; see tests/fixtures/netlink/README.md).
    const DUMP: &[u8] = include_bytes!("../../../tests/fixtures/netlink/route.bin");
    const LINKS: &[u8] = include_bytes!("../../../tests/fixtures/netlink/link.bin");

    #[test]
    fn real_dump_renders_node_exporter_labels() {
        let routes = parse_dump(DUMP).unwrap();
        let links = netlink::parse_link_names(&[LINKS.to_vec()]).unwrap();
        let mut sink = MetricSink::new();
        emit(&routes, &links, &mut sink);
        let text = crate::testing::render_text(&sink);
        assert!(text.contains(
            r#"node_network_route_info{dest="10.231.0.0/24",device="veth0",gw="",priority="0",proto="kernel",src="10.231.0.1",weight=""} 1"#
        ), "{text}");
        assert!(text.contains(
            r#"node_network_route_info{dest="10.232.0.0/16",device="veth0",gw="10.231.0.2",priority="7",proto="static",src="",weight=""} 1"#
        ), "{text}");
        assert!(text.contains(
            r#"node_network_route_info{dest="10.233.0.0/16",device="veth0",gw="10.231.0.3",priority="0",proto="static",src="",weight="3"} 1"#
        ), "{text}");
        assert!(text.contains(
            r#"node_network_route_info{dest="fe80::/64",device="veth1",gw="",priority="256",proto="kernel",src="",weight=""} 1"#
        ), "{text}");
        // Two plain IPv4 routes, two multipath hops and fe80::/64.
        assert!(
            text.contains(r#"node_network_routes{device="veth0"} 5"#),
            "{text}"
        );
        assert!(
            text.contains(r#"node_network_routes{device="veth1"} 1"#),
            "{text}"
        );
        // Local-table routes (type local/broadcast) are not unicast.
        assert!(!text.contains(r#"dest="10.231.0.1/32""#), "{text}");
        assert!(!text.contains(r#"dest="ff00::/8""#), "{text}");
    }

    #[test]
    fn truncated_and_garbage_dumps() {
        assert!(parse_dump(&[]).unwrap().is_empty());
        assert!(parse_dump(&DUMP[..DUMP.len() - 3]).is_err());
        assert!(parse_route(&[0; 4]).is_err());
        assert!(parse_multipath(&[4, 0, 0, 0, 0, 0, 0, 0]).is_err());
        let mut payload = vec![0u8; RTMSG_LEN];
        payload.extend_from_slice(&[6, 0, 4, 0, 1, 0, 0, 0]);
        assert!(
            parse_route(&payload).is_err(),
            "RTA_OIF shorter than 4 bytes"
        );
    }

    #[test]
    fn labels() {
        assert_eq!(protocol_name(4), "static");
        assert_eq!(protocol_name(99), "unknown");
        let mut r = parse_route(&[0u8; RTMSG_LEN]).unwrap();
        assert_eq!(dest_label(&r), "default");
        r.dst_len = 64;
        r.dst = "fe80::".parse().ok();
        assert_eq!(dest_label(&r), "fe80::/64");
    }
}
