//! Host collectors: node_exporter's `node_*` families, one module each.

pub mod dmi;
pub mod dmmultipath;
pub mod edac;
pub mod fibrechannel;
pub mod infiniband;
pub mod loadavg;
pub mod nvme;
pub mod rapl;
pub mod tapestats;
pub mod watchdog;
