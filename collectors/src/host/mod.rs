//! Host collectors: node_exporter's `node_*` families, one module each.

pub mod buddyinfo;
pub mod cgroups;
pub mod cpu_vulnerabilities;
pub mod drbd;
pub mod interrupts;
pub mod ksmd;
pub mod lnstat;
pub mod loadavg;
pub mod meminfo_numa;
pub mod processes;
pub mod slabinfo;
pub mod softirqs;
pub mod swap;
pub mod sysctl;
pub mod tcpstat;
pub mod zoneinfo;
