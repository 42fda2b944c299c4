//! nodex: node_exporter and cAdvisor metrics from one small binary.
fn main() {}
