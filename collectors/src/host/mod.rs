//! Host collectors: node_exporter's `node_*` families, one module each.

pub mod arp;
pub mod bonding;
pub mod conntrack;
pub mod loadavg;
pub mod netclass;
pub mod netdev;
pub mod netstat;
pub mod sockstat;
pub mod udp_queues;
