//! A real Prometheus (Debian's) scrapes nodex; its HTTP API must show `up` 1, per-CPU/per-mode
//! CPU rates, and the node-mixin memory utilisation recording rule evaluated.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::prometheus::{eventually, start_prometheus, value};
use common::start_nodex;

fn cpu_count() -> usize {
    std::fs::read_to_string("/proc/stat")
        .expect("read /proc/stat")
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count()
}

#[test]
fn prometheus_scrapes_nodex_and_rules_evaluate() {
    let nodex = start_nodex(&[]);
    let rules = common::repo().join("tests/prometheus/node-rules.yml");
    let prom = start_prometheus(&format!(
        "rule_files: ['{}']\nscrape_configs:\n  - job_name: node\n    static_configs: [{{targets: ['{}']}}]\n",
        rules.display(),
        nodex.addr
    ));
    let limit = Duration::from_secs(60);

    eventually(&prom, "up{job=\"node\"}", limit, |r| {
        r.len() == 1 && value(&r[0]) == 1.0
    });

    let cpus = cpu_count();
    let modes = [
        "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
    ];
    let rates = eventually(
        &prom,
        "rate(node_cpu_seconds_total{job=\"node\"}[5s])",
        limit,
        |r| r.len() == cpus * modes.len(),
    );
    let pairs: BTreeSet<(String, String)> = rates
        .iter()
        .map(|s| {
            let m = &s["metric"];
            (
                m["cpu"].as_str().unwrap_or("").to_string(),
                m["mode"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = (0..cpus)
        .flat_map(|c| modes.iter().map(move |m| (c.to_string(), m.to_string())))
        .collect();
    assert_eq!(pairs, want, "one rate series per CPU and mode");

    let mem = eventually(
        &prom,
        "instance:node_memory_utilisation:ratio",
        limit,
        |r| r.len() == 1,
    );
    let ratio = value(&mem[0]);
    assert!(
        ratio > 0.0 && ratio < 1.0,
        "memory utilisation {ratio} outside (0, 1)"
    );
    let num_cpu = eventually(&prom, "instance:node_num_cpu:sum", limit, |r| r.len() == 1);
    assert_eq!(value(&num_cpu[0]), cpus as f64);
}
