//! kubernetes-mixin's container recording rules evaluate on a real Prometheus scraping nodex
//! over the cgroup v2 fixture tree (containerd, systemd driver), with `namespace`, `pod`,
//! `container` and `image` set. The rules join with kube-state-metrics' `kube_pod_info`; here
//! nodex's textfile collector serves those series so that the join has its other side.

mod common;

use std::time::Duration;

use common::prometheus::{eventually, start_prometheus};
use common::{repo, start_nodex};

const GROUPS: &[&str] = &[
    "container_cpu",
    "container_diskio",
    "container_memory",
    "container_network",
    "container_oom",
    "container_pressure",
    "container_process",
    "container_spec",
    "machine",
];

#[test]
fn kubernetes_mixin_container_rules_evaluate() {
    let textfiles = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        textfiles.path().join("kube_pod_info.prom"),
        "kube_pod_info{namespace=\"shop\",pod=\"web-0\",node=\"node-1\"} 1\n\
         kube_pod_info{namespace=\"data\",pod=\"db-0\",node=\"node-1\"} 1\n",
    )
    .expect("write kube_pod_info");
    let base = repo().join("tests/fixtures/cgroup-v2");
    let mut args = vec![
        format!("--path.procfs={}", base.join("proc").display()),
        format!("--path.sysfs={}", base.join("sys").display()),
        format!("--path.rootfs={}", base.join("root").display()),
        "--collector.disable-defaults".to_string(),
        "--collector.textfile".to_string(),
        format!(
            "--collector.textfile.directory={}",
            textfiles.path().display()
        ),
    ];
    args.extend(GROUPS.iter().map(|g| format!("--collector.{g}")));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let nodex = start_nodex(&refs);
    let rules = repo().join("tests/prometheus/k8s-rules.yml");
    let prom = start_prometheus(&format!(
        "rule_files: ['{}']\nscrape_configs:\n  - job_name: cadvisor\n    honor_labels: true\n    static_configs: [{{targets: ['{}']}}]\n",
        rules.display(),
        nodex.addr
    ));
    let limit = Duration::from_secs(60);
    let want = [("shop", "web-0", "app"), ("data", "db-0", "postgres")];
    for record in [
        "node_namespace_pod_container:container_cpu_usage_seconds_total:sum_irate",
        "node_namespace_pod_container:container_memory_working_set_bytes",
        "node_namespace_pod_container:container_memory_rss",
        "node_namespace_pod_container:container_memory_cache",
        "node_namespace_pod_container:container_memory_swap",
    ] {
        let result = eventually(&prom, record, limit, |r| r.len() == want.len());
        for (namespace, pod, container) in want {
            let found = result
                .iter()
                .find(|s| s["metric"]["pod"] == pod)
                .unwrap_or_else(|| panic!("{record}: no series for {pod}: {result:?}"));
            let m = &found["metric"];
            assert_eq!(m["namespace"], namespace, "{record}");
            assert_eq!(m["container"], container, "{record}");
            assert_eq!(m["node"], "node-1", "{record}: joined with kube_pod_info");
            if !record.ends_with("sum_irate") {
                assert!(
                    m["image"].as_str().is_some_and(|i| !i.is_empty()),
                    "{record}: image set: {m}"
                );
            }
        }
    }
}
