//! Host collectors: node_exporter's `node_*` families, one module each.

pub mod bcache;
pub mod bcachefs;
pub mod btrfs;
pub mod ipvs;
pub mod loadavg;
pub mod nfs;
pub mod nfsd;
pub mod xfs;
pub mod zfs;
