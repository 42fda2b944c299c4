//! Host collectors: node_exporter's `node_*` families, one module each.

pub mod cpu;
pub mod entropy;
pub mod filefd;
pub mod kernel_hung;
pub mod loadavg;
pub mod meminfo;
pub mod pressure;
pub mod schedstat;
pub mod softnet;
pub mod stat;
pub mod vmstat;
pub mod diskstats;
pub mod filesystem;
pub mod loadavg;
pub mod mdadm;
pub mod arp;
pub mod bonding;
pub mod conntrack;
pub mod loadavg;
pub mod netclass;
pub mod netdev;
pub mod netstat;
pub mod sockstat;
pub mod udp_queues;
