//! Host collectors: node_exporter's `node_*` families, one module each.

pub mod interrupts;
pub mod loadavg;
pub mod processes;
pub mod softirqs;
pub mod tcpstat;
