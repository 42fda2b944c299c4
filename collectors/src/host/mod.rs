//! Host collectors: node_exporter's `node_*` families, one module each.

pub mod diskstats;
pub mod filesystem;
pub mod loadavg;
pub mod mdadm;
