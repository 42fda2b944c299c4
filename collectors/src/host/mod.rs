//! Host collectors: node_exporter's `node_*` families, one module each.

pub mod buddyinfo;
pub mod interrupts;
pub mod loadavg;
pub mod meminfo_numa;
pub mod processes;
pub mod slabinfo;
pub mod softirqs;
pub mod tcpstat;
pub mod zoneinfo;
