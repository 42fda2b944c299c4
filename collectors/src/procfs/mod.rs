//! Kernel text formats read by both the host (`node_*`) and the container (`container_*`)
//! sides, parsed once here. What node_exporter and cAdvisor do differently with the values
//! (which fields they keep, what they skip) stays in the callers.

pub mod cpuinfo;
pub mod meminfo;
pub mod mountinfo;
pub mod net_dev;
pub mod psi;
