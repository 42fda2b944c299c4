//! Container identity: joins each cgroup found by the walk with the runtimes' metadata, the
//! kubelet's `/var/log/pods` and `/var/log/containers`, and builds its kind and labels.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::config::Config;
use super::layout;
use super::runtime::{self, ContainerLogs, Meta, MetaCache, Runtime};
use crate::expfmt::LabelSets;
use crate::util;

/// What kind of cgroup a container is, which decides its labels and families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The hierarchy root `/`.
    Root,
    /// A system service, slice, QoS level or unknown cgroup.
    Raw,
    /// A Kubernetes pod cgroup (`...pod<uid>`).
    Pod,
    /// A runtime container.
    App,
    /// A pod sandbox (pause container): network series only.
    Sandbox,
}

/// One container of a snapshot.
#[derive(Debug)]
pub struct Container {
    /// The cgroup path relative to the hierarchy root.
    pub id: String,
    /// Its kind.
    pub kind: Kind,
    /// Label pairs, sorted by name.
    pub labels: Vec<(String, String)>,
    /// Index of its labels in `Snapshot::label_sets`.
    pub set: u32,
    /// Runtime metadata, if a runtime knows it.
    pub meta: Option<Arc<Meta>>,
}

/// The containers of cgroup `ids` (sorted), their encoded label sets and, per runtime
/// present, whether its metadata could be read. Forgets cached metadata of containers gone.
pub fn identify(
    cfg: &Config,
    meta: &MetaCache,
    warned: &std::sync::Mutex<Vec<Runtime>>,
    ids: &[String],
) -> (Vec<Container>, LabelSets, Vec<(Runtime, bool)>) {
    let containerd_ns =
        util::list_dir_paths(&cfg.state.containerd.join("io.containerd.runtime.v2.task"))
            .unwrap_or_default();
    let mut found: Vec<(String, layout::Layout<'_>, Option<Arc<Meta>>)> = ids
        .iter()
        .map(|id| {
            let l = layout::parse(id);
            let m = l
                .container_id
                .and_then(|cid| meta.lookup(&cfg.state, &containerd_ns, cid, l.hint));
            (id.clone(), l, m)
        })
        .collect();
    meta.retain(|cid| found.iter().any(|(_, l, _)| l.container_id == Some(cid)));
    let runtimes = runtime::state_access(&cfg.state);
    runtime::warn_unreadable(warned, &runtimes, &cfg.state, &cfg.container_log_dir);
    fill_from_logs(cfg, &mut found);
    let pods = pod_names(cfg, &found);
    let mut label_sets = LabelSets::new();
    let containers = found
        .drain(..)
        .map(|(id, l, meta)| {
            let mut c = container(cfg, id, &l, meta, &pods);
            let pairs: Vec<(&str, &str)> = c
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            c.set = label_sets.push(&pairs);
            c
        })
        .collect();
    (containers, label_sets, runtimes)
}

fn pod_names(
    cfg: &Config,
    found: &[(String, layout::Layout<'_>, Option<Arc<Meta>>)],
) -> HashMap<String, (String, String)> {
    let mut pods: HashMap<String, (String, String)> = HashMap::new();
    let wanted = found.iter().any(|(_, l, _)| l.is_pod);
    if !wanted {
        return pods;
    }
    for (_, l, meta) in found {
        let Some(m) = meta else { continue };
        let uid = if m.pod_uid.is_empty() {
            l.pod_uid.clone().unwrap_or_default()
        } else {
            m.pod_uid.clone()
        };
        if !uid.is_empty() && !m.pod.is_empty() {
            pods.insert(uid, (m.namespace.clone(), m.pod.clone()));
        }
    }
    for (uid, names) in runtime::pod_log_dirs(&cfg.pod_log_dir) {
        pods.entry(uid).or_insert(names);
    }
    pods
}

/// Names the runtime containers whose state could not be read from the kubelet's log layout
/// (see [`runtime::meta_from_logs`]); reads the log directories only when one is missing.
fn fill_from_logs(cfg: &Config, found: &mut [(String, layout::Layout<'_>, Option<Arc<Meta>>)]) {
    let missing = |(_, l, m): &(String, layout::Layout<'_>, Option<Arc<Meta>>)| {
        l.container_id.is_some() && m.is_none()
    };
    if !found.iter().any(missing) {
        return;
    }
    let Some(logs) = ContainerLogs::read(&cfg.container_log_dir) else {
        return;
    };
    let pods = runtime::pod_log_dirs(&cfg.pod_log_dir);
    let k8s = cfg
        .state
        .containerd
        .join("io.containerd.runtime.v2.task/k8s.io");
    for (_, l, meta) in found.iter_mut().filter(|f| missing(f)) {
        let Some(cid) = l.container_id else { continue };
        *meta =
            runtime::meta_from_logs(&logs, &pods, cid, l.pod_uid.as_deref(), &k8s).map(Arc::new);
    }
}

fn container(
    cfg: &Config,
    id: String,
    l: &layout::Layout<'_>,
    meta: Option<Arc<Meta>>,
    pods: &HashMap<String, (String, String)>,
) -> Container {
    let kind = match &meta {
        _ if id == "/" => Kind::Root,
        Some(m) if m.sandbox => Kind::Sandbox,
        Some(_) => Kind::App,
        None if l.is_pod => Kind::Pod,
        None => Kind::Raw,
    };
    let empty = Meta::default();
    let m = meta.as_deref().unwrap_or(&empty);
    let (namespace, pod) = match (kind, l.pod_uid.as_ref().and_then(|u| pods.get(u))) {
        (Kind::Pod, Some((ns, pod))) => (ns.as_str(), pod.as_str()),
        _ => (m.namespace.as_str(), m.pod.as_str()),
    };
    let mut labels: Vec<(String, String)> = if cfg.cadvisor_labels {
        let mut v = vec![
            ("id".to_string(), id.clone()),
            ("image".to_string(), m.image.clone()),
            ("name".to_string(), m.name.clone()),
        ];
        let runtime: BTreeMap<&str, &str> = m
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        for key in &cfg.allowlist {
            v.push((
                format!("container_label_{}", util::sanitize_metric_name(key)),
                runtime.get(key.as_str()).copied().unwrap_or("").to_string(),
            ));
        }
        v
    } else {
        [
            ("container", m.container.as_str()),
            ("id", id.as_str()),
            ("image", m.image.as_str()),
            ("name", m.name.as_str()),
            ("namespace", namespace),
            ("pod", pod),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    labels.sort();
    Container {
        id,
        kind,
        labels,
        set: 0,
        meta,
    }
}
