//! Host collectors: node_exporter's `node_*` families, one module each.

pub mod arp;
pub mod bonding;
pub mod conntrack;
pub mod cpu;
pub mod diskstats;
pub mod entropy;
pub mod filefd;
pub mod filesystem;
pub mod kernel_hung;
pub mod loadavg;
pub mod mdadm;
pub mod meminfo;
pub mod netclass;
pub mod netdev;
pub mod netstat;
pub mod pressure;
pub mod schedstat;
pub mod sockstat;
pub mod softnet;
pub mod stat;
pub mod udp_queues;
pub mod vmstat;
