//! The alerting and recording rules in `deploy/prometheus/nodex-rules.yml` (`promtool check
//! rules`, and `promtool test rules` with a unit test for every alert and recording rule) and the
//! Grafana dashboards in `deploy/grafana/`: every panel query is run on a real Prometheus that
//! scrapes nodex on this machine the way the kustomize ServiceMonitor does (host job and cadvisor
//! job), loading the rules; every query must parse, and every query that does not need pods or
//! kube-state-metrics must return data.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::prometheus::{eventually, query, start_prometheus};
use common::{repo, start_nodex};
use serde_json::Value;

const RULES: &str = "deploy/prometheus/nodex-rules.yml";
const RULE_TESTS: &str = "tests/prometheus/nodex-rules.test.yml";

fn promtool(args: &[&str], dir: &Path) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool is missing: install Debian's prometheus");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// (alert names, recorded names) of a rules file.
fn rule_names(text: &str) -> (Vec<String>, Vec<String>) {
    let doc: Value = serde_saphyr::from_str(text).expect("rules parse");
    let (mut alerts, mut records) = (Vec::new(), Vec::new());
    for group in doc["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            if let Some(a) = rule["alert"].as_str() {
                alerts.push(a.to_string());
            }
            if let Some(r) = rule["record"].as_str() {
                records.push(r.to_string());
            }
        }
    }
    (alerts, records)
}

#[test]
fn rules_check_and_every_rule_has_a_passing_unit_test() {
    let rules = std::fs::read_to_string(repo().join(RULES)).expect("rules");
    let tests = std::fs::read_to_string(repo().join(RULE_TESTS)).expect("rule tests");
    let (ok, out) = promtool(&["check", "rules", RULES], &repo());
    assert!(ok, "promtool check rules:\n{out}");
    let (ok, out) = promtool(
        &["test", "rules", "nodex-rules.test.yml"],
        &repo().join("tests/prometheus"),
    );
    assert!(ok, "promtool test rules:\n{out}");

    let doc: Value = serde_saphyr::from_str(&tests).expect("rule tests parse");
    let mut alerted = Vec::new();
    let mut recorded = Vec::new();
    for case in doc["tests"].as_array().expect("tests") {
        for a in case["alert_rule_test"].as_array().into_iter().flatten() {
            // An alert counts as tested when some case expects it to fire.
            if a["exp_alerts"].as_array().is_some_and(|e| !e.is_empty()) {
                alerted.push(a["alertname"].as_str().unwrap_or_default().to_string());
            }
        }
        for e in case["promql_expr_test"].as_array().into_iter().flatten() {
            recorded.push(e["expr"].as_str().unwrap_or_default().to_string());
        }
    }
    let (alerts, records) = rule_names(&rules);
    assert!(!alerts.is_empty() && !records.is_empty());
    for alert in &alerts {
        assert!(alerted.contains(alert), "no unit test fires {alert}");
    }
    for record in &records {
        assert!(
            recorded.iter().any(|e| e.starts_with(record.as_str())),
            "no unit test evaluates {record}"
        );
    }

    // The unit tests have teeth: a longer `for` on NodexDown makes them fail.
    let dir = tempfile::tempdir().expect("tempdir");
    let slower = rules.replacen("        for: 5m\n", "        for: 50m\n", 1);
    assert_ne!(slower, rules);
    std::fs::create_dir_all(dir.path().join("deploy/prometheus")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("tests/prometheus")).expect("mkdir");
    std::fs::write(dir.path().join(RULES), slower).expect("write rules");
    std::fs::write(dir.path().join(RULE_TESTS), &tests).expect("write tests");
    let (ok, out) = promtool(
        &["test", "rules", "nodex-rules.test.yml"],
        &dir.path().join("tests/prometheus"),
    );
    assert!(
        !ok && out.contains("NodexDown"),
        "mutated rules passed:\n{out}"
    );
}

fn dashboards() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("deploy/grafana"))
        .expect("deploy/grafana")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
}

/// Every (panel title, query) of a dashboard, rows' nested panels included.
fn panel_queries(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for p in panels.as_array().into_iter().flatten() {
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = t["expr"].as_str() {
                    out.push((
                        p["title"].as_str().unwrap_or_default().to_string(),
                        expr.to_string(),
                    ));
                }
            }
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// Queries that need pods (a kubelet's containers) or kube-state-metrics may be empty here;
/// so may a query for failures (`== 0`). Every other query must return data.
fn needs_data(expr: &str) -> bool {
    !(expr.contains("kube_")
        || expr.contains("pod!=\"\"")
        || expr.contains("container!=\"\"")
        || expr.trim_end().ends_with("== 0"))
}

#[test]
fn dashboard_queries_run_on_a_real_prometheus_scraping_nodex() {
    let nodex = start_nodex(&[]);
    // The two jobs of deploy/kubernetes/servicemonitor.yaml, with its params and relabelings.
    let sm = std::fs::read_to_string(repo().join("deploy/kubernetes/servicemonitor.yaml"))
        .expect("servicemonitor");
    let sm: Value = serde_saphyr::from_str(&sm).expect("servicemonitor parses");
    let groups = sm["spec"]["endpoints"][1]["params"]["collect[]"].clone();
    let groups = serde_json::to_string(&groups).expect("json");
    let rules = repo().join(RULES);
    let prom = start_prometheus(&format!(
        "rule_files: ['{rules}']\nscrape_configs:\n\
         \x20 - job_name: node-exporter\n    scrape_interval: 10s\n    scrape_timeout: 10s\n    params: {{'exclude[]': {groups}}}\n    static_configs: [{{targets: ['{addr}'], labels: {{}}}}]\n\
         \x20   relabel_configs: [{{target_label: instance, replacement: testnode}}]\n\
         \x20 - job_name: cadvisor\n    scrape_interval: 10s\n    scrape_timeout: 10s\n    honor_labels: true\n    params: {{'collect[]': {groups}}}\n    static_configs: [{{targets: ['{addr}']}}]\n\
         \x20   relabel_configs: [{{target_label: node, replacement: testnode}}]\n",
        rules = rules.display(),
        addr = nodex.addr,
    ));
    let limit = Duration::from_secs(120);
    eventually(&prom, "count(up == 1)", limit, |r| {
        r.first()
            .is_some_and(|s| common::prometheus::value(s) == 2.0)
    });
    // Two successful scrapes of each job, so that rates have their two samples. The scrapes
    // get 10 s: on a loaded machine a debug build has taken 5 s for the container job.
    eventually(&prom, "sum_over_time(up[1m])", limit, |r| {
        r.len() == 2 && r.iter().all(|s| common::prometheus::value(s) >= 2.0)
    });
    // The recording rules evaluate on nodex's series.
    eventually(
        &prom,
        "instance:nodex_collectors_failing:count",
        limit,
        |r| !r.is_empty(),
    );

    let mut checked = 0;
    for file in dashboards() {
        let dashboard: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("read dashboard"))
                .expect("dashboard JSON");
        assert!(dashboard["uid"].is_string() && dashboard["title"].is_string());
        // The variables' queries: the jobs and nodes the dashboard offers.
        assert!(!query(&prom, "node_uname_info").is_empty());
        assert!(!query(&prom, "node_uname_info{job=~\"node-exporter\"}").is_empty());
        for (title, expr) in panel_queries(&dashboard) {
            let concrete = expr
                .replace("$__rate_interval", "1m")
                .replace("$job", "node-exporter")
                .replace("$node", "testnode");
            assert!(
                !concrete.contains('$'),
                "{title}: unknown variable in {expr}"
            );
            // `query` asserts that Prometheus accepted the expression.
            if needs_data(&expr) {
                eventually(&prom, &concrete, Duration::from_secs(20), |r| !r.is_empty());
            } else {
                query(&prom, &concrete);
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} queries");
    drop(nodex);
}
