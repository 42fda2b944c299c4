//! A real Prometheus (Debian's) scrapes nodex; its HTTP API must show `up` 1, per-CPU/per-mode
//! CPU rates, and the node-mixin memory utilisation recording rule evaluated.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, get, start_nodex, wait_ready};

struct Prometheus {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_prometheus(target: &str) -> Prometheus {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = common::repo().join("tests/prometheus/node-rules.yml");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: ['{}']\nscrape_configs:\n  - job_name: node\n    static_configs: [{{targets: ['{target}']}}]\n",
        rules.display()
    );
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config).expect("write config");
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus is missing: install Debian's prometheus (see README)");
    let prom = Prometheus {
        child,
        port,
        _dir: dir,
    };
    wait_ready(
        &format!("http://127.0.0.1:{port}/-/ready"),
        Duration::from_secs(60),
    );
    prom
}

fn query(prom: &Prometheus, expr: &str) -> Vec<serde_json::Value> {
    let mut encoded = String::new();
    for b in expr.bytes() {
        if b.is_ascii_alphanumeric() {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    let url = format!(
        "http://127.0.0.1:{}/api/v1/query?query={encoded}",
        prom.port
    );
    let resp = get(&url, &[]).expect("query prometheus");
    let json: serde_json::Value =
        serde_json::from_slice(&resp.body).expect("prometheus answers JSON");
    assert_eq!(json["status"], "success", "query {expr}: {json}");
    json["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Polls `expr` until `ok` accepts the result, or fails with the last result after `limit`.
fn eventually(
    prom: &Prometheus,
    expr: &str,
    limit: Duration,
    ok: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + limit;
    loop {
        let result = query(prom, expr);
        if ok(&result) {
            return result;
        }
        assert!(
            Instant::now() < deadline,
            "{expr} never satisfied the check; last result: {result:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn value(sample: &serde_json::Value) -> f64 {
    sample["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

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
    let prom = start_prometheus(&nodex.addr.to_string());
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
