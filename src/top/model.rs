//! From exposition samples to one snapshot per read, and from two snapshots to rows.
//!
//! Over 500 lines only with its unit tests (421 lines of code before them).

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use super::convert;
use super::expo::Sample;

/// The counters and gauges of one cgroup at one read.
#[derive(Debug, Clone, Default)]
pub struct Raw {
    /// cgroup id (path relative to the hierarchy root).
    pub id: String,
    /// Runtime name (Docker name, CRI container id or `k8s_...`).
    pub name: String,
    /// Kubernetes namespace ("" outside Kubernetes).
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Container name in the pod ("" or `POD` for the sandbox).
    pub container: String,
    cpu_total: Option<f64>,
    cpu_per_cpu: Option<f64>,
    throttled_periods: Option<f64>,
    periods: Option<f64>,
    working_set: Option<f64>,
    memory_limit: Option<f64>,
    shares: Option<f64>,
    quota: Option<f64>,
    period: Option<f64>,
    oom_events: Option<f64>,
    processes: Option<f64>,
    rx_bytes: Option<f64>,
    tx_bytes: Option<f64>,
    io_bytes: Option<f64>,
    log_written: Option<f64>,
}

fn add(slot: &mut Option<f64>, v: f64) {
    *slot = Some(slot.unwrap_or(0.0) + v);
}

/// Everything one read of the metrics gave.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// When the read finished.
    pub at: Instant,
    /// Cgroups by id.
    pub containers: BTreeMap<String, Raw>,
    /// `machine_cpu_cores`.
    pub machine_cores: Option<f64>,
    /// `machine_memory_bytes`.
    pub machine_memory: Option<f64>,
    /// Where `container_spec_cpu_shares` came from.
    pub shares_source: convert::SharesSource,
}

impl Snapshot {
    /// Builds a snapshot from parsed samples; `v2` overrides the shares heuristic when the
    /// hierarchy is known.
    pub fn from_samples(samples: &[Sample], at: Instant, v2: Option<bool>) -> Snapshot {
        let mut containers: BTreeMap<String, Raw> = BTreeMap::new();
        let mut machine_cores = None;
        let mut machine_memory = None;
        for s in samples {
            match s.name.as_str() {
                "machine_cpu_cores" => machine_cores = Some(s.value),
                "machine_memory_bytes" => machine_memory = Some(s.value),
                _ => {}
            }
            if !s.name.starts_with("container_") || !s.value.is_finite() {
                continue;
            }
            let id = s.label("id");
            if id.is_empty() {
                continue;
            }
            let c = containers.entry(id.to_string()).or_insert_with(|| Raw {
                id: id.to_string(),
                name: s.label("name").to_string(),
                namespace: s.label("namespace").to_string(),
                pod: s.label("pod").to_string(),
                container: s.label("container").to_string(),
                ..Raw::default()
            });
            let v = s.value;
            match s.name.as_str() {
                "container_cpu_usage_seconds_total" => match s.label("cpu") {
                    "total" | "" => add(&mut c.cpu_total, v),
                    _ => add(&mut c.cpu_per_cpu, v),
                },
                "container_cpu_cfs_throttled_periods_total" => c.throttled_periods = Some(v),
                "container_cpu_cfs_periods_total" => c.periods = Some(v),
                "container_memory_working_set_bytes" => c.working_set = Some(v),
                "container_spec_memory_limit_bytes" => c.memory_limit = Some(v),
                "container_spec_cpu_shares" => c.shares = Some(v),
                "container_spec_cpu_quota" => c.quota = Some(v),
                "container_spec_cpu_period" => c.period = Some(v),
                "container_oom_events_total" => c.oom_events = Some(v),
                "container_processes" => c.processes = Some(v),
                "container_network_receive_bytes_total" => add(&mut c.rx_bytes, v),
                "container_network_transmit_bytes_total" => add(&mut c.tx_bytes, v),
                "container_fs_reads_bytes_total" | "container_fs_writes_bytes_total" => {
                    add(&mut c.io_bytes, v)
                }
                // nodex's container_logs group (README "Container logs"): a counter of the
                // bytes the runtime wrote to the container's log files, across rotations.
                "container_log_written_bytes_total" => c.log_written = Some(v),
                _ => {}
            }
        }
        let all_shares = containers
            .values()
            .filter_map(|c| c.shares)
            .map(|s| s.max(0.0) as u64);
        let shares_source = if v2.unwrap_or_else(|| convert::looks_like_v2(all_shares)) {
            let pods: Vec<u64> = containers
                .values()
                .filter(|c| c.is_workload() && !c.pod.is_empty())
                .filter_map(|c| c.shares)
                .map(|s| s.max(0.0) as u64)
                .collect();
            convert::SharesSource::V2(convert::pick_formula(pods))
        } else {
            convert::SharesSource::V1
        };
        Snapshot {
            at,
            containers,
            machine_cores,
            machine_memory,
            shares_source,
        }
    }
}

impl Raw {
    fn cpu_seconds(&self) -> Option<f64> {
        self.cpu_total.or(self.cpu_per_cpu)
    }

    /// A workload container (not the root, a slice, a pod cgroup or a sandbox).
    fn is_workload(&self) -> bool {
        if self.pod.is_empty() {
            !self.name.is_empty()
        } else {
            !self.container.is_empty() && self.container != "POD"
        }
    }

    /// A pod's sandbox (pause) container, which holds the pod's network counters.
    fn is_sandbox(&self) -> bool {
        !self.pod.is_empty() && !self.name.is_empty() && !self.is_workload()
    }
}

/// One line of the view: a container, or a pod when grouped.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Row {
    /// Namespace ("" outside Kubernetes).
    pub namespace: String,
    /// Pod ("" outside Kubernetes).
    pub pod: String,
    /// Container name in the pod, or the runtime's name outside Kubernetes ("" for a pod row).
    pub container: String,
    /// cgroup id ("" for a pod row).
    pub id: String,
    /// CPU used, in cores, over the interval.
    pub cpu_cores: Option<f64>,
    /// CPU request in millicores (Kubernetes containers only).
    pub cpu_request_millis: Option<f64>,
    /// CPU limit in millicores.
    pub cpu_limit_millis: Option<f64>,
    /// Usage as a percentage of the request.
    pub cpu_request_percent: Option<f64>,
    /// Usage as a percentage of the limit.
    pub cpu_limit_percent: Option<f64>,
    /// Share of CFS periods throttled over the interval, in percent.
    pub throttled_percent: Option<f64>,
    /// Memory working set in bytes.
    pub memory_working_set_bytes: Option<f64>,
    /// Memory limit in bytes.
    pub memory_limit_bytes: Option<f64>,
    /// Working set as a percentage of the limit.
    pub memory_limit_percent: Option<f64>,
    /// OOM kills seen by the cgroup.
    pub oom_kills: Option<f64>,
    /// Processes.
    pub pids: Option<f64>,
    /// Network receive rate in bytes/s (the pod's, for Kubernetes containers).
    pub network_rx_bytes_per_second: Option<f64>,
    /// Network transmit rate in bytes/s.
    pub network_tx_bytes_per_second: Option<f64>,
    /// Block I/O (read + write) in bytes/s.
    pub block_io_bytes_per_second: Option<f64>,
    /// Log write rate in bytes/s (`container_log_written_bytes_total`; unknown without the
    /// container_logs group).
    pub log_write_bytes_per_second: Option<f64>,
    /// Restarts, from the kubelet's log file names.
    pub restarts: Option<u64>,
    #[serde(skip)]
    pub(crate) throttled_delta: Option<(f64, f64)>,
}

/// The node line (`kubectl top node`).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Node {
    /// Cores in use (the root cgroup's rate).
    pub cpu_cores: Option<f64>,
    /// Logical CPUs.
    pub cpu_count: Option<f64>,
    /// `cpu_cores` as a percentage of all CPUs.
    pub cpu_percent: Option<f64>,
    /// Working set of the root cgroup.
    pub memory_working_set_bytes: Option<f64>,
    /// Memory of the machine.
    pub memory_bytes: Option<f64>,
    /// Working set as a percentage of the machine's memory.
    pub memory_percent: Option<f64>,
}

/// Receive and transmit rates.
type RxTx = (Option<f64>, Option<f64>);

fn rate(prev: Option<f64>, cur: Option<f64>, secs: f64) -> Option<f64> {
    let (p, c) = (prev?, cur?);
    // A counter that went back (a restarted container reusing the id) has no rate.
    (secs > 0.0 && c >= p).then(|| (c - p) / secs)
}

fn percent(num: Option<f64>, den: Option<f64>) -> Option<f64> {
    let (n, d) = (num?, den?);
    (d > 0.0).then(|| n * 100.0 / d)
}

/// Rows and node line from two reads (`prev` earlier). `restarts` maps
/// (namespace, pod, container) to a restart count.
pub fn rows(
    prev: &Snapshot,
    cur: &Snapshot,
    restarts: &BTreeMap<(String, String, String), u64>,
) -> (Node, Vec<Row>) {
    let secs = cur.at.saturating_duration_since(prev.at).as_secs_f64();
    let mut pod_net: BTreeMap<(&str, &str), RxTx> = BTreeMap::new();
    for c in cur.containers.values().filter(|c| c.is_sandbox()) {
        let p = prev.containers.get(&c.id);
        let e = pod_net.entry((&c.namespace, &c.pod)).or_default();
        if let Some(r) = rate(p.and_then(|p| p.rx_bytes), c.rx_bytes, secs) {
            add(&mut e.0, r);
        }
        if let Some(t) = rate(p.and_then(|p| p.tx_bytes), c.tx_bytes, secs) {
            add(&mut e.1, t);
        }
    }
    let mut out = Vec::new();
    for c in cur.containers.values().filter(|c| c.is_workload()) {
        let Some(p) = prev.containers.get(&c.id) else {
            continue;
        };
        let k8s = !c.pod.is_empty();
        let cpu = rate(p.cpu_seconds(), c.cpu_seconds(), secs);
        let request = if k8s {
            c.shares
                .and_then(|s| convert::cpu_request_millis(s.max(0.0) as u64, cur.shares_source))
                .map(|m| m as f64)
        } else {
            None
        };
        let limit = match (c.quota, c.period) {
            (Some(q), Some(per)) => convert::cpu_limit_millis(q, per),
            _ => None,
        };
        let throttled_delta = match (
            p.throttled_periods,
            c.throttled_periods,
            p.periods,
            c.periods,
        ) {
            (Some(t0), Some(t1), Some(n0), Some(n1)) if t1 >= t0 && n1 >= n0 => {
                Some((t1 - t0, n1 - n0))
            }
            _ => None,
        };
        let memory_limit = c.memory_limit.and_then(convert::memory_limit);
        let (rx, tx) = if k8s {
            pod_net
                .get(&(c.namespace.as_str(), c.pod.as_str()))
                .copied()
                .unwrap_or_default()
        } else {
            (
                rate(p.rx_bytes, c.rx_bytes, secs),
                rate(p.tx_bytes, c.tx_bytes, secs),
            )
        };
        let container = if k8s { &c.container } else { &c.name };
        let mut row = Row {
            namespace: c.namespace.clone(),
            pod: c.pod.clone(),
            container: container.clone(),
            id: c.id.clone(),
            cpu_cores: cpu,
            cpu_request_millis: request,
            cpu_limit_millis: limit,
            memory_working_set_bytes: c.working_set,
            memory_limit_bytes: memory_limit,
            oom_kills: c.oom_events,
            pids: c.processes,
            network_rx_bytes_per_second: rx,
            network_tx_bytes_per_second: tx,
            block_io_bytes_per_second: rate(p.io_bytes, c.io_bytes, secs),
            log_write_bytes_per_second: rate(p.log_written, c.log_written, secs),
            restarts: restarts
                .get(&(c.namespace.clone(), c.pod.clone(), c.container.clone()))
                .copied(),
            throttled_delta,
            ..Row::default()
        };
        row.finish();
        out.push(row);
    }
    let root_prev = prev.containers.get("/");
    let root = cur.containers.get("/");
    let cores = rate(
        root_prev.and_then(Raw::cpu_seconds),
        root.and_then(Raw::cpu_seconds),
        secs,
    );
    let ws = root.and_then(|r| r.working_set);
    let node = Node {
        cpu_cores: cores,
        cpu_count: cur.machine_cores,
        cpu_percent: percent(cores, cur.machine_cores),
        memory_working_set_bytes: ws,
        memory_bytes: cur.machine_memory,
        memory_percent: percent(ws, cur.machine_memory),
    };
    (node, out)
}

impl Row {
    fn finish(&mut self) {
        self.cpu_request_percent =
            percent(self.cpu_cores.map(|c| c * 1000.0), self.cpu_request_millis);
        self.cpu_limit_percent = percent(self.cpu_cores.map(|c| c * 1000.0), self.cpu_limit_millis);
        self.throttled_percent = self
            .throttled_delta
            .and_then(|(t, n)| percent(Some(t), Some(n)));
        self.memory_limit_percent = percent(self.memory_working_set_bytes, self.memory_limit_bytes);
    }
}

fn sum(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x + y),
        (x, None) | (None, x) => x,
    }
}

/// Folds container rows into one row per pod (containers outside Kubernetes stay as they
/// are). A pod's limit is the sum of its containers' limits only when every one has one.
pub fn group_by_pod(rows: &[Row]) -> Vec<Row> {
    let mut pods: BTreeMap<(String, String), (Row, bool, bool)> = BTreeMap::new();
    let mut out = Vec::new();
    for r in rows {
        if r.pod.is_empty() {
            out.push(r.clone());
            continue;
        }
        let (g, cpu_limited, mem_limited) = pods
            .entry((r.namespace.clone(), r.pod.clone()))
            .or_insert_with(|| {
                (
                    Row {
                        namespace: r.namespace.clone(),
                        pod: r.pod.clone(),
                        // The pod's network, which every container row carries.
                        network_rx_bytes_per_second: r.network_rx_bytes_per_second,
                        network_tx_bytes_per_second: r.network_tx_bytes_per_second,
                        ..Row::default()
                    },
                    true,
                    true,
                )
            });
        g.cpu_cores = sum(g.cpu_cores, r.cpu_cores);
        g.cpu_request_millis = sum(g.cpu_request_millis, r.cpu_request_millis);
        *cpu_limited &= r.cpu_limit_millis.is_some();
        g.cpu_limit_millis = sum(g.cpu_limit_millis, r.cpu_limit_millis);
        *mem_limited &= r.memory_limit_bytes.is_some();
        g.memory_limit_bytes = sum(g.memory_limit_bytes, r.memory_limit_bytes);
        g.memory_working_set_bytes = sum(g.memory_working_set_bytes, r.memory_working_set_bytes);
        g.oom_kills = sum(g.oom_kills, r.oom_kills);
        g.pids = sum(g.pids, r.pids);
        g.block_io_bytes_per_second = sum(g.block_io_bytes_per_second, r.block_io_bytes_per_second);
        g.log_write_bytes_per_second =
            sum(g.log_write_bytes_per_second, r.log_write_bytes_per_second);
        g.restarts = match (g.restarts, r.restarts) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        g.throttled_delta = match (g.throttled_delta, r.throttled_delta) {
            (Some(a), Some(b)) => Some((a.0 + b.0, a.1 + b.1)),
            (a, b) => a.or(b),
        };
    }
    for (_, (mut g, cpu_limited, mem_limited)) in pods {
        if !cpu_limited {
            g.cpu_limit_millis = None;
        }
        if !mem_limited {
            g.memory_limit_bytes = None;
        }
        g.finish();
        out.push(g);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::top::expo;
    use std::time::Duration;

    fn snap(text: &str, at: Instant) -> Snapshot {
        Snapshot::from_samples(&expo::parse(text).expect("parses"), at, None)
    }

    const K8S: &str = "container=\"app\",id=\"/kubepods/burstable/pod1/c1\",image=\"i\",name=\"c1\",namespace=\"shop\",pod=\"web-0\"";
    const PAUSE: &str = "container=\"\",id=\"/kubepods/burstable/pod1/p1\",image=\"pause\",name=\"p1\",namespace=\"shop\",pod=\"web-0\"";

    fn text(cpu: f64, thr: f64, per: f64, rx: f64) -> String {
        format!(
            "container_cpu_usage_seconds_total{{{K8S},cpu=\"total\"}} {cpu}\n\
             container_cpu_cfs_throttled_periods_total{{{K8S}}} {thr}\n\
             container_cpu_cfs_periods_total{{{K8S}}} {per}\n\
             container_spec_cpu_shares{{{K8S}}} 256\n\
             container_spec_cpu_quota{{{K8S}}} 50000\n\
             container_spec_cpu_period{{{K8S}}} 100000\n\
             container_spec_memory_limit_bytes{{{K8S}}} 200\n\
             container_memory_working_set_bytes{{{K8S}}} 50\n\
             container_network_receive_bytes_total{{{PAUSE},interface=\"eth0\"}} {rx}\n\
             container_cpu_usage_seconds_total{{id=\"/\",cpu=\"total\"}} {cpu}\n\
             container_memory_working_set_bytes{{id=\"/\"}} 400\n\
             machine_cpu_cores 4\nmachine_memory_bytes 1000\n"
        )
    }

    #[test]
    fn rates_requests_limits_and_pod_network() {
        let t0 = Instant::now();
        let a = snap(&text(10.0, 5.0, 100.0, 1000.0), t0);
        let b = snap(
            &text(11.0, 15.0, 120.0, 3000.0),
            t0 + Duration::from_secs(2),
        );
        assert_eq!(
            b.shares_source,
            convert::SharesSource::V1,
            "256 is not a value of the weight conversion"
        );
        let restarts = BTreeMap::from([(("shop".into(), "web-0".into(), "app".into()), 3)]);
        let (node, rows) = rows(&a, &b, &restarts);
        assert_eq!(rows.len(), 1, "{rows:?}");
        let r = &rows[0];
        assert_eq!(r.container, "app");
        assert_eq!(r.cpu_cores, Some(0.5));
        assert_eq!(r.cpu_request_millis, Some(250.0));
        assert_eq!(r.cpu_limit_millis, Some(500.0));
        assert_eq!(r.cpu_request_percent, Some(200.0));
        assert_eq!(r.cpu_limit_percent, Some(100.0));
        assert_eq!(r.throttled_percent, Some(50.0));
        assert_eq!(r.memory_limit_percent, Some(25.0));
        assert_eq!(r.network_rx_bytes_per_second, Some(1000.0));
        assert_eq!(r.restarts, Some(3));
        assert_eq!(node.cpu_percent, Some(12.5));
        assert_eq!(node.memory_percent, Some(40.0));
        let pods = group_by_pod(&rows);
        assert_eq!(pods.len(), 1);
        assert_eq!(pods[0].container, "");
        assert_eq!(pods[0].cpu_cores, Some(0.5));
        assert_eq!(pods[0].throttled_percent, Some(50.0));
    }

    #[test]
    fn counter_reset_has_no_rate() {
        let t0 = Instant::now();
        let a = snap(&text(10.0, 5.0, 100.0, 1000.0), t0);
        let b = snap(&text(1.0, 1.0, 2.0, 10.0), t0 + Duration::from_secs(1));
        let (_, rows) = rows(&a, &b, &BTreeMap::new());
        assert_eq!(rows[0].cpu_cores, None);
        assert_eq!(rows[0].throttled_percent, None);
        assert_eq!(rows[0].network_rx_bytes_per_second, None);
    }

    const K8S2: &str = "container=\"sidecar\",id=\"/kubepods/burstable/pod1/c2\",image=\"i\",name=\"c2\",namespace=\"shop\",pod=\"web-0\"";

    /// Two containers of one pod, with the log counter when `logs` is given.
    fn logs_text(logs: Option<(f64, f64)>) -> String {
        let mut t = format!(
            "container_cpu_usage_seconds_total{{{K8S},cpu=\"total\"}} 1\n\
             container_cpu_usage_seconds_total{{{K8S2},cpu=\"total\"}} 1\n"
        );
        if let Some((a, b)) = logs {
            t.push_str(&format!(
                "# TYPE container_log_written_bytes_total counter\n\
                 container_log_written_bytes_total{{{K8S}}} {a}\n\
                 container_log_written_bytes_total{{{K8S2}}} {b}\n"
            ));
        }
        t
    }

    #[test]
    fn log_write_rate_from_two_reads_summed_per_pod() {
        let t0 = Instant::now();
        let a = snap(&logs_text(Some((1000.0, 0.0))), t0);
        let b = snap(
            &logs_text(Some((9000.0, 400.0))),
            t0 + Duration::from_secs(4),
        );
        let (_, rows) = rows(&a, &b, &BTreeMap::new());
        let by: BTreeMap<&str, Option<f64>> = rows
            .iter()
            .map(|r| (r.container.as_str(), r.log_write_bytes_per_second))
            .collect();
        assert_eq!(by["app"], Some(2000.0));
        assert_eq!(by["sidecar"], Some(100.0));
        let pods = group_by_pod(&rows);
        assert_eq!(pods.len(), 1);
        assert_eq!(pods[0].log_write_bytes_per_second, Some(2100.0));
    }

    #[test]
    fn log_counter_reset_and_missing_family_are_unknown() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(2);
        // The counter went back (nodex restarted behind --url): no rate for that one.
        let a = snap(&logs_text(Some((5000.0, 10.0))), t0);
        let b = snap(&logs_text(Some((100.0, 30.0))), t1);
        let (_, rows) = rows(&a, &b, &BTreeMap::new());
        assert_eq!(rows[0].container, "app");
        assert_eq!(rows[0].log_write_bytes_per_second, None);
        assert_eq!(rows[1].log_write_bytes_per_second, Some(10.0));
        // Without the family (cAdvisor, the kubelet, the group disabled): unknown, null in JSON.
        let a = snap(&logs_text(None), t0);
        let b = snap(&logs_text(None), t1);
        let (_, none) = super::rows(&a, &b, &BTreeMap::new());
        assert_eq!(none.len(), 2);
        assert!(none.iter().all(|r| r.log_write_bytes_per_second.is_none()));
        assert_eq!(group_by_pod(&none)[0].log_write_bytes_per_second, None);
        let json = serde_json::to_value(&none[0]).expect("serializes");
        assert_eq!(json["log_write_bytes_per_second"], serde_json::Value::Null);
        assert!(json
            .as_object()
            .is_some_and(|o| o.contains_key("log_write_bytes_per_second")));
    }
}
