//! A real Prometheus (Debian's) for the end-to-end tests, queried over its HTTP API.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, get, wait_ready};

/// A running Prometheus with its own data directory, killed when dropped.
pub struct Prometheus {
    child: std::process::Child,
    port: u16,
    /// Where its configuration and data live.
    pub dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Prometheus with a 1 s scrape and evaluation interval and `rest` (YAML: rule_files,
/// scrape_configs) appended to the global section.
pub fn start_prometheus(rest: &str) -> Prometheus {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n{rest}");
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
    let prom = Prometheus { child, port, dir };
    wait_ready(
        &format!("http://127.0.0.1:{port}/-/ready"),
        Duration::from_secs(60),
    );
    prom
}

/// Runs an instant query and returns its result vector.
pub fn query(prom: &Prometheus, expr: &str) -> Vec<serde_json::Value> {
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
pub fn eventually(
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

/// The numeric value of an instant-vector sample.
pub fn value(sample: &serde_json::Value) -> f64 {
    sample["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}
