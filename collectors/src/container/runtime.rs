//! Container metadata from the runtimes' state on disk (read-only, no API calls): Docker's
//! `config.v2.json`/`hostconfig.json`, containerd's task bundle `config.json` (OCI spec with CRI
//! annotations) and CRI-O's `userdata/config.json` (best effort: cAdvisor's CRI-O handler asks
//! CRI-O's API instead, `container/crio/client.go`).
//!
//! Over 500 lines (582 of code, the rest its tests): the three runtimes' formats, the metadata
//! cache and the kubelet log-name fallback all build the one `Meta` type; one module per runtime
//! is the next split (README, Known gaps).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use super::layout::RuntimeHint;
use crate::error::ParseError;

/// What nodex knows about one runtime container.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Meta {
    /// The `name` label (Docker name without `/`, containerd id, CRI-O name).
    pub name: String,
    /// The `image` label.
    pub image: String,
    /// Kubernetes pod name.
    pub pod: String,
    /// Kubernetes namespace.
    pub namespace: String,
    /// Kubernetes container name (`POD` for Docker/CRI-O sandboxes, `""` for containerd's).
    pub container: String,
    /// Kubernetes pod uid.
    pub pod_uid: String,
    /// True for a pod sandbox (pause container).
    pub sandbox: bool,
    /// True when this container owns its network namespace (gets network series).
    pub netns_owner: bool,
    /// True when the runtime says the container runs in the host's network namespace.
    pub host_network: bool,
    /// Runtime labels (Docker labels, OCI annotations), for `--collector.container.labels=cadvisor`.
    pub labels: Vec<(String, String)>,
    /// When the runtime started the container (unix seconds; Docker's `State.StartedAt`).
    pub started: Option<f64>,
    /// When the runtime created the container (unix seconds; Docker's `Created`).
    pub created: Option<f64>,
    /// The health-check status (Docker's `State.Health.Status`; `""` without a check).
    pub health: String,
    /// The runtime's pid of the container's init process (Docker `State.Pid`, containerd
    /// `init.pid`), used when the cgroup lists no process of its own.
    pub pid: Option<u32>,
}

/// Parses an RFC 3339 UTC time as Docker writes it (`2026-11-22T21:00:00.123456789Z`) into
/// unix seconds. Other offsets and Go's zero time (`0001-01-01T00:00:00Z`) give `None`.
pub fn parse_rfc3339_utc(s: &str) -> Option<f64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':').map(|x| x.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    let valid = (1970..=9999).contains(&y)
        && (1..=12).contains(&m)
        && (1..=31).contains(&day)
        && hh < 24
        && mm < 60
        && ss < 61
        && frac.bytes().all(|b| b.is_ascii_digit());
    if !valid {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let fraction = format!("0.{frac}").parse::<f64>().unwrap_or(0.0);
    Some((days * 86400 + hh * 3600 + mm * 60 + ss) as f64 + fraction)
}

fn json(bytes: &[u8]) -> Result<Value, ParseError> {
    serde_json::from_slice(bytes).map_err(|e| ParseError::new(format!("invalid JSON: {e}")))
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn string_map(v: Option<&Value>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn label<'a>(labels: &'a [(String, String)], key: &str) -> &'a str {
    labels
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// Parses Docker's `config.v2.json` plus the `NetworkMode` of `hostconfig.json` (`""` if absent).
pub fn parse_docker(config: &[u8], network_mode: &str) -> Result<Meta, ParseError> {
    let v = json(config)?;
    if !v.is_object() {
        return Err(ParseError::new("config.v2.json is not an object"));
    }
    let labels = string_map(v.get("Config").and_then(|c| c.get("Labels")));
    let kube_container = label(&labels, "io.kubernetes.container.name").to_string();
    Ok(Meta {
        name: str_at(&v, &["Name"]).trim_start_matches('/').to_string(),
        image: str_at(&v, &["Config", "Image"]).to_string(),
        pod: label(&labels, "io.kubernetes.pod.name").to_string(),
        namespace: label(&labels, "io.kubernetes.pod.namespace").to_string(),
        pod_uid: label(&labels, "io.kubernetes.pod.uid").to_string(),
        sandbox: kube_container == "POD"
            || label(&labels, "io.kubernetes.docker.type") == "podsandbox",
        container: kube_container,
        netns_owner: !network_mode.starts_with("container:"),
        host_network: network_mode == "host",
        labels,
        started: parse_rfc3339_utc(str_at(&v, &["State", "StartedAt"])),
        created: parse_rfc3339_utc(str_at(&v, &["Created"])),
        health: str_at(&v, &["State", "Health", "Status"]).to_string(),
        pid: v
            .get("State")
            .and_then(|st| st.get("Pid"))
            .and_then(Value::as_u64)
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| *p > 0),
    })
}

/// Parses the `NetworkMode` of Docker's `hostconfig.json`.
pub fn parse_docker_network_mode(bytes: &[u8]) -> Result<String, ParseError> {
    Ok(str_at(&json(bytes)?, &["NetworkMode"]).to_string())
}

/// Parses an OCI bundle `config.json` written by containerd (CRI annotations) or CRI-O.
pub fn parse_oci(bytes: &[u8], id: &str) -> Result<Meta, ParseError> {
    let v = json(bytes)?;
    if !v.is_object() {
        return Err(ParseError::new("config.json is not an object"));
    }
    let ann = string_map(v.get("annotations"));
    // A `network` entry (new, or a CRI runtime's pinned netns path) means the container does not
    // run in the runtime's network namespace; without one it inherits the host's (OCI spec).
    let own_netns = v
        .get("linux")
        .and_then(|l| l.get("namespaces"))
        .and_then(Value::as_array)
        .is_some_and(|ns| {
            ns.iter()
                .any(|n| n.get("type").and_then(Value::as_str) == Some("network"))
        });
    let mut m = if label(&ann, "io.kubernetes.cri-o.ContainerType").is_empty() {
        containerd_meta(&ann, id, own_netns)
    } else {
        crio_meta(&ann, own_netns)
    };
    m.labels = ann;
    Ok(m)
}

fn containerd_meta(ann: &[(String, String)], id: &str, own_netns: bool) -> Meta {
    let kind = label(ann, "io.kubernetes.cri.container-type");
    let sandbox = kind == "sandbox";
    let image = if sandbox {
        label(ann, "io.kubernetes.cri.podsandbox.image-name")
    } else {
        label(ann, "io.kubernetes.cri.image-name")
    };
    Meta {
        name: id.to_string(),
        image: image.to_string(),
        pod: label(ann, "io.kubernetes.cri.sandbox-name").to_string(),
        namespace: label(ann, "io.kubernetes.cri.sandbox-namespace").to_string(),
        container: label(ann, "io.kubernetes.cri.container-name").to_string(),
        pod_uid: label(ann, "io.kubernetes.cri.sandbox-uid").to_string(),
        sandbox,
        // CRI app containers join the sandbox's netns; outside CRI a container owns its netns
        // when its spec asks for a new one.
        netns_owner: if kind.is_empty() { own_netns } else { sandbox },
        host_network: !own_netns && (sandbox || kind.is_empty()),
        ..Meta::default()
    }
}

fn crio_meta(ann: &[(String, String)], own_netns: bool) -> Meta {
    let sandbox = label(ann, "io.kubernetes.cri-o.ContainerType") == "sandbox";
    let kube: HashMap<String, String> =
        serde_json::from_str(label(ann, "io.kubernetes.cri-o.Labels")).unwrap_or_default();
    let get = |k: &str| kube.get(k).cloned().unwrap_or_default();
    let mut image = label(ann, "io.kubernetes.cri-o.ImageName");
    if image.is_empty() {
        image = label(ann, "io.kubernetes.cri-o.Image");
    }
    Meta {
        name: label(ann, "io.kubernetes.cri-o.Name").to_string(),
        image: image.to_string(),
        pod: get("io.kubernetes.pod.name"),
        namespace: get("io.kubernetes.pod.namespace"),
        container: if sandbox {
            "POD".to_string()
        } else {
            get("io.kubernetes.container.name")
        },
        pod_uid: get("io.kubernetes.pod.uid"),
        sandbox,
        netns_owner: sandbox,
        host_network: sandbox
            && match label(ann, "io.kubernetes.cri-o.HostNetwork") {
                "" => !own_netns,
                flag => flag == "true",
            },
        ..Meta::default()
    }
}

/// Where the runtimes keep their state (already below `--path.rootfs`).
#[derive(Clone, Debug)]
pub struct StateDirs {
    /// Docker's data root (`/var/lib/docker`).
    pub docker: PathBuf,
    /// containerd's state dir (`/run/containerd`).
    pub containerd: PathBuf,
    /// CRI-O's storage roots (root and runroot).
    pub crio: Vec<PathBuf>,
}

/// What the cache knows of a container id.
enum Entry {
    /// Its records, re-read when `file`'s mtime changes.
    Found {
        file: PathBuf,
        mtime: Option<SystemTime>,
        meta: Arc<Meta>,
    },
    /// No runtime had records for it when it was probed at this instant.
    Missing(Instant),
}

/// How long a container id whose runtime records were not found is not looked for again.
/// Every runtime writes them before it creates the container's cgroup (Docker's
/// `config.v2.json` at create, the OCI bundle's `config.json` before `runc create`), so a miss
/// is almost always a cgroup no runtime made; probing it on every scrape cost three failed
/// path lookups per cgroup (3,000 per scrape at 1,000 such cgroups). The retry covers the rest.
pub const RETRY_MISSING: Duration = Duration::from_secs(30);

/// Metadata cached by container id, re-read when its file's mtime changes; ids without
/// records are probed again after [`RETRY_MISSING`].
#[derive(Default)]
pub struct MetaCache {
    entries: Mutex<HashMap<String, Entry>>,
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl MetaCache {
    /// Looks a runtime container id up, preferring the runtime the cgroup name suggests.
    /// `containerd_ns` are the namespace directories of containerd's task state.
    pub fn lookup(
        &self,
        dirs: &StateDirs,
        containerd_ns: &[PathBuf],
        id: &str,
        hint: RuntimeHint,
    ) -> Option<Arc<Meta>> {
        self.lookup_at(dirs, containerd_ns, id, hint, Instant::now())
    }

    fn lookup_at(
        &self,
        dirs: &StateDirs,
        containerd_ns: &[PathBuf],
        id: &str,
        hint: RuntimeHint,
        now: Instant,
    ) -> Option<Arc<Meta>> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(id) {
            Some(Entry::Found {
                file,
                mtime: seen,
                meta,
            }) if mtime(file) == *seen && seen.is_some() => {
                return Some(Arc::clone(meta));
            }
            Some(Entry::Missing(at)) if now.saturating_duration_since(*at) < RETRY_MISSING => {
                return None;
            }
            _ => {}
        }
        let Some((file, meta)) = probe(dirs, containerd_ns, id, hint) else {
            entries.insert(id.to_string(), Entry::Missing(now));
            return None;
        };
        let meta = Arc::new(meta);
        entries.insert(
            id.to_string(),
            Entry::Found {
                mtime: mtime(&file),
                file,
                meta: Arc::clone(&meta),
            },
        );
        Some(meta)
    }

    /// Drops entries of containers not seen in the latest walk.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|id, _| keep(id));
    }
}

fn probe(
    dirs: &StateDirs,
    containerd_ns: &[PathBuf],
    id: &str,
    hint: RuntimeHint,
) -> Option<(PathBuf, Meta)> {
    let docker = || {
        let dir = dirs.docker.join("containers").join(id);
        let file = dir.join("config.v2.json");
        let config = std::fs::read(&file).ok()?;
        let mode = std::fs::read(dir.join("hostconfig.json"))
            .ok()
            .and_then(|b| parse_docker_network_mode(&b).ok())
            .unwrap_or_default();
        parse_docker(&config, &mode).ok().map(|m| (file, m))
    };
    let oci = |file: PathBuf| {
        let bytes = std::fs::read(&file).ok()?;
        parse_oci(&bytes, id).ok().map(|m| (file, m))
    };
    let containerd = || {
        containerd_ns.iter().find_map(|ns| {
            let (file, mut meta) = oci(ns.join(id).join("config.json"))?;
            meta.pid = std::fs::read_to_string(ns.join(id).join("init.pid"))
                .ok()
                .and_then(|p| p.trim().parse().ok())
                .filter(|p| *p > 0);
            Some((file, meta))
        })
    };
    let crio = || {
        dirs.crio.iter().find_map(|root| {
            oci(root
                .join("overlay-containers")
                .join(id)
                .join("userdata/config.json"))
        })
    };
    match hint {
        RuntimeHint::Containerd => containerd().or_else(docker).or_else(crio),
        RuntimeHint::Crio => crio().or_else(containerd).or_else(docker),
        RuntimeHint::Docker | RuntimeHint::Unknown => docker().or_else(containerd).or_else(crio),
    }
}

/// The pod uid → (namespace, pod name) map from kubelet's `/var/log/pods/<ns>_<pod>_<uid>` dirs.
pub fn parse_pod_log_dir(name: &str) -> Option<(String, String, String)> {
    let mut parts = name.rsplitn(2, '_');
    let uid = parts.next()?;
    let (ns, pod) = parts.next()?.split_once('_')?;
    (!uid.is_empty() && !ns.is_empty() && !pod.is_empty())
        .then(|| (uid.to_string(), ns.to_string(), pod.to_string()))
}

/// The pod uid → (namespace, pod name) map of a kubelet pod log directory (`/var/log/pods`);
/// empty when the directory is absent or unreadable.
pub fn pod_log_dirs(dir: &Path) -> HashMap<String, (String, String)> {
    crate::util::list_dir(dir)
        .unwrap_or_default()
        .iter()
        .filter_map(|name| parse_pod_log_dir(name))
        .map(|(uid, ns, pod)| (uid, (ns, pod)))
        .collect()
}

/// What one kubelet log symlink name in `/var/log/containers` says about a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogName {
    /// Pod name.
    pub pod: String,
    /// Pod namespace.
    pub namespace: String,
    /// Kubernetes container name.
    pub container: String,
    /// The runtime container id, or a prefix of it when the kubelet cut the name at 255 bytes.
    pub id: String,
}

/// The kubelet cuts symlink names to ext4's 255 bytes and resolves ids from 6 characters on
/// (`ext4MaxFileNameLen` and `getContainerIDFromLegacyLogSymlink` in kubelet
/// `pkg/kubelet/kuberuntime/legacy.go`).
const LOG_NAME_MAX: usize = 255;
const MIN_ID_PREFIX: usize = 6;

/// Parses a kubelet log symlink name, `<pod>_<namespace>_<container>-<container id>.log`
/// (kubelet `logSymlink` in `pkg/kubelet/kuberuntime/legacy.go`; pod, namespace and container
/// names are DNS names without `_`, the id is hex). A name cut at 255 bytes keeps a prefix of
/// the id of at least 6 characters; shorter leftovers are refused, as the kubelet does.
pub fn parse_container_log_name(name: &str) -> Option<LogName> {
    let stem = name.strip_suffix(".log")?;
    let (pod, rest) = stem.split_once('_')?;
    let (namespace, rest) = rest.split_once('_')?;
    let (container, id) = rest.rsplit_once('-')?;
    let hex = id.bytes().all(|b| b.is_ascii_hexdigit());
    let complete = id.len() == 64 || (name.len() == LOG_NAME_MAX && id.len() >= MIN_ID_PREFIX);
    let names_ok = [pod, namespace, container]
        .iter()
        .all(|s| !s.is_empty() && !s.contains('_'));
    (hex && complete && names_ok).then(|| LogName {
        pod: pod.to_string(),
        namespace: namespace.to_string(),
        container: container.to_string(),
        id: id.to_string(),
    })
}

/// The container id → pod, namespace, container map of the kubelet's `/var/log/containers`.
#[derive(Debug, Default)]
pub struct ContainerLogs {
    full: HashMap<String, LogName>,
    cut: Vec<LogName>,
}

impl ContainerLogs {
    /// Builds the map from symlink names (see [`parse_container_log_name`]).
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut logs = ContainerLogs::default();
        for entry in names.into_iter().filter_map(parse_container_log_name) {
            if entry.id.len() == 64 {
                logs.full.insert(entry.id.clone(), entry);
            } else {
                logs.cut.push(entry);
            }
        }
        logs
    }

    /// Lists the directory; `None` when it is absent or unreadable.
    pub fn read(dir: &Path) -> Option<Self> {
        let names = crate::util::list_dir(dir).ok()?;
        Some(Self::from_names(names.iter().map(String::as_str)))
    }

    /// The entry of a full 64-hex container id.
    pub fn get(&self, id: &str) -> Option<&LogName> {
        self.full
            .get(id)
            .or_else(|| self.cut.iter().find(|e| id.starts_with(&e.id)))
    }
}

/// Metadata for a container whose runtime state nodex may not read, from the kubelet's
/// world-readable log layout: a container with a `/var/log/containers` entry is an app
/// container; one without an entry inside a pod the pod log directory names is the pod's
/// sandbox (the kubelet keeps no log for it). `name` is the containerd id when containerd's
/// task directory for the id can be seen (`stat` needs only search permission), else empty;
/// `image` stays empty (only the runtime's private state has it).
pub fn meta_from_logs(
    logs: &ContainerLogs,
    pods: &HashMap<String, (String, String)>,
    id: &str,
    pod_uid: Option<&str>,
    containerd_k8s: &Path,
) -> Option<Meta> {
    let name = if std::fs::symlink_metadata(containerd_k8s.join(id)).is_ok() {
        id.to_string()
    } else {
        String::new()
    };
    let pod_uid = pod_uid.unwrap_or("").to_string();
    if let Some(e) = logs.get(id) {
        return Some(Meta {
            name,
            pod: e.pod.clone(),
            namespace: e.namespace.clone(),
            container: e.container.clone(),
            pod_uid,
            ..Meta::default()
        });
    }
    let (namespace, pod) = pods.get(&pod_uid)?;
    Some(Meta {
        name,
        pod: pod.clone(),
        namespace: namespace.clone(),
        pod_uid,
        sandbox: true,
        netns_owner: true,
        ..Meta::default()
    })
}

/// A container runtime whose state nodex reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Runtime {
    /// containerd (task bundles).
    Containerd,
    /// CRI-O (storage `overlay-containers`).
    Crio,
    /// Docker (`containers/<id>`).
    Docker,
}

impl Runtime {
    /// The `runtime` label value.
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Containerd => "containerd",
            Runtime::Crio => "crio",
            Runtime::Docker => "docker",
        }
    }
}

/// Whether a state directory can be read: `None` when it does not exist, `Some(false)` when it
/// exists or may exist (a parent without search permission hides it) but cannot be opened.
/// Opening a directory read-only asks for the same permission as listing it, without the list.
fn dir_access(dir: &Path) -> Option<bool> {
    match std::fs::File::open(dir) {
        Ok(_) => Some(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => None,
        Err(_) => Some(false),
    }
}

/// The directories each runtime's lookups read, and whether each is readable.
fn runtime_dirs(dirs: &StateDirs) -> Vec<(Runtime, Vec<PathBuf>)> {
    let task = dirs.containerd.join("io.containerd.runtime.v2.task");
    let mut containerd = vec![task.clone()];
    containerd.extend(crate::util::list_dir_paths(&task).unwrap_or_default());
    vec![
        (Runtime::Containerd, containerd),
        (
            Runtime::Crio,
            dirs.crio
                .iter()
                .map(|r| r.join("overlay-containers"))
                .collect(),
        ),
        (Runtime::Docker, vec![dirs.docker.join("containers")]),
    ]
}

/// Per runtime present on the host, whether nodex may read its metadata: the directories its
/// lookups read can be opened.
pub fn state_access(dirs: &StateDirs) -> Vec<(Runtime, bool)> {
    runtime_dirs(dirs)
        .into_iter()
        .filter_map(|(rt, paths)| {
            let seen: Vec<bool> = paths.iter().filter_map(|p| dir_access(p)).collect();
            (!seen.is_empty()).then(|| (rt, seen.iter().all(|ok| *ok)))
        })
        .collect()
}

/// Logs, once per runtime and process, that a runtime's metadata is unreadable, which labels
/// stay empty for it and why. `logs_dir` is the kubelet's container log directory.
pub fn warn_unreadable(
    warned: &Mutex<Vec<Runtime>>,
    access: &[(Runtime, bool)],
    dirs: &StateDirs,
    logs_dir: &Path,
) {
    let mut warned = warned.lock().unwrap_or_else(|p| p.into_inner());
    for (rt, ok) in access {
        if *ok || warned.contains(rt) {
            continue;
        }
        warned.push(*rt);
        let state = match rt {
            Runtime::Containerd => dirs.containerd.clone(),
            Runtime::Crio => dirs.crio.first().cloned().unwrap_or_default(),
            Runtime::Docker => dirs.docker.clone(),
        };
        let (empty, rest) = if dir_access(logs_dir) == Some(true) {
            (
                "image (and name where the runtime cannot be told)",
                format!(
                    "pod, namespace and container come from {}",
                    logs_dir.display()
                ),
            )
        } else {
            (
                "name, image, pod, namespace and container",
                format!(
                    "the kubelet log directory {} is missing or unreadable",
                    logs_dir.display()
                ),
            )
        };
        tracing::warn!(
            "{} state under {} is not readable (permission denied): its containers' series get empty {empty}; {rest}. Run nodex as uid 0 (README, Deployment)",
            rt.name(),
            state.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER: &[u8] = br#"{"StreamConfig":{},"State":{"Running":true,"Pid":4242,"StartedAt":"2026-11-22T21:00:00Z","Health":{"Status":"healthy","FailingStreak":0}},"ID":"abc","Created":"2026-11-22T20:59:59Z","Path":"/bin/busybox","Config":{"Hostname":"abc","Image":"nodex-busy:test","Labels":{"io.kubernetes.container.name":"app","io.kubernetes.pod.name":"web-0","io.kubernetes.pod.namespace":"shop","io.kubernetes.pod.uid":"1b2c3d4e-0000-4000-8000-123456789abc"}},"Image":"sha256:1234","Name":"/k8s_app_web-0_shop_1b2c_0","Driver":"fuse-overlayfs"}"#;

    #[test]
    fn ids_without_records_are_probed_again_only_after_the_retry() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = StateDirs {
            docker: tmp.path().to_path_buf(),
            containerd: tmp.path().join("containerd"),
            crio: Vec::new(),
        };
        let cache = MetaCache::default();
        let id = "abc";
        let t0 = Instant::now();
        let find = |at| cache.lookup_at(&dirs, &[], id, RuntimeHint::Docker, at);
        assert!(find(t0).is_none());
        let dir = tmp.path().join("containers").join(id);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.v2.json"), DOCKER).unwrap();
        assert!(
            find(t0 + Duration::from_secs(1)).is_none(),
            "the miss is kept"
        );
        let found = find(t0 + RETRY_MISSING).expect("probed again after the retry");
        assert_eq!(found.image, "nodex-busy:test");
        // A cgroup the walk no longer sees is forgotten, misses too.
        cache.retain(|_| false);
        assert!(cache.entries.lock().unwrap().is_empty());
    }

    #[test]
    fn docker_config() {
        let m = parse_docker(DOCKER, "container:0123").unwrap();
        assert_eq!(m.name, "k8s_app_web-0_shop_1b2c_0");
        assert_eq!(m.image, "nodex-busy:test");
        assert_eq!(
            (m.pod.as_str(), m.namespace.as_str(), m.container.as_str()),
            ("web-0", "shop", "app")
        );
        assert!(!m.netns_owner && !m.sandbox && !m.host_network);
        let plain = parse_docker(
            br#"{"Name":"/web","Config":{"Image":"nginx","Labels":null}}"#,
            "bridge",
        )
        .unwrap();
        assert!(plain.netns_owner);
        assert_eq!(plain.container, "");
        assert_eq!(
            parse_docker_network_mode(br#"{"NetworkMode":"host"}"#).unwrap(),
            "host"
        );
        assert!(parse_docker(b"", "").is_err());
        assert!(parse_docker(&DOCKER[..40], "").is_err());
        assert!(parse_docker(b"[1,2]", "").is_err());
        assert!(parse_docker(&[0xff, 0xfe], "").is_err());
    }

    const SANDBOX: &[u8] = br#"{"ociVersion":"1.1.0","process":{"args":["/pause"]},"linux":{"namespaces":[{"type":"pid"},{"type":"ipc"},{"type":"uts"},{"type":"mount"},{"type":"network","path":"/var/run/netns/cni-0c9d4e5f"}]},"annotations":{"io.kubernetes.cri.container-type":"sandbox","io.kubernetes.cri.sandbox-id":"06298a","io.kubernetes.cri.sandbox-log-directory":"/var/log/pods/shop_web-0_1b2c","io.kubernetes.cri.sandbox-name":"web-0","io.kubernetes.cri.sandbox-namespace":"shop","io.kubernetes.cri.sandbox-uid":"1b2c","io.kubernetes.cri.podsandbox.image-name":"registry.k8s.io/pause:3.9"}}"#;

    #[test]
    fn containerd_config() {
        let s = parse_oci(SANDBOX, "06298a").unwrap();
        assert!(s.sandbox && s.netns_owner && !s.host_network);
        assert_eq!(
            (s.name.as_str(), s.image.as_str(), s.container.as_str()),
            ("06298a", "registry.k8s.io/pause:3.9", "")
        );
        let host = parse_oci(br#"{"linux":{"namespaces":[{"type":"pid"}]},"annotations":{"io.kubernetes.cri.container-type":"sandbox"}}"#, "x").unwrap();
        assert!(host.host_network);
        let app = parse_oci(br#"{"linux":{"namespaces":[{"type":"network","path":"/proc/1/ns/net"}]},"annotations":{"io.kubernetes.cri.container-type":"container","io.kubernetes.cri.container-name":"app","io.kubernetes.cri.image-name":"docker.io/library/nginx:1","io.kubernetes.cri.sandbox-name":"web-0","io.kubernetes.cri.sandbox-namespace":"shop"}}"#, "c1").unwrap();
        assert!(!app.netns_owner && !app.sandbox);
        assert_eq!(
            (app.container.as_str(), app.image.as_str()),
            ("app", "docker.io/library/nginx:1")
        );
        assert!(parse_oci(b"", "x").is_err());
        assert!(parse_oci(&SANDBOX[..50], "x").is_err());
        assert!(parse_oci(b"\"str\"", "x").is_err());
    }

    #[test]
    fn crio_config() {
        let c = parse_oci(br#"{"annotations":{"io.kubernetes.cri-o.ContainerType":"sandbox","io.kubernetes.cri-o.Name":"k8s_POD_web-0_shop_1b2c_0","io.kubernetes.cri-o.HostNetwork":"true","io.kubernetes.cri-o.Labels":"{\"io.kubernetes.pod.name\":\"web-0\",\"io.kubernetes.pod.namespace\":\"shop\"}"}}"#, "x").unwrap();
        assert!(c.sandbox && c.host_network && c.netns_owner);
        let pinned = parse_oci(br#"{"linux":{"namespaces":[{"type":"network","path":"/var/run/netns/x"}]},"annotations":{"io.kubernetes.cri-o.ContainerType":"sandbox","io.kubernetes.cri-o.HostNetwork":"false"}}"#, "x").unwrap();
        assert!(pinned.sandbox && !pinned.host_network);
        assert_eq!(
            (c.pod.as_str(), c.namespace.as_str(), c.container.as_str()),
            ("web-0", "shop", "POD")
        );
    }

    #[test]
    fn docker_times() {
        assert_eq!(parse_rfc3339_utc("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(
            parse_rfc3339_utc("2026-11-22T21:00:00.5Z"),
            Some(1795381200.5)
        );
        assert_eq!(parse_rfc3339_utc("2000-02-29T12:00:00Z"), Some(951825600.0));
        assert_eq!(parse_rfc3339_utc("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339_utc("2026-11-22T21:00:00+01:00"), None);
        assert_eq!(parse_rfc3339_utc(""), None);
        assert_eq!(parse_rfc3339_utc("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339_utc("garbage"), None);
        let m = parse_docker(DOCKER, "").unwrap();
        assert_eq!(m.started, Some(1795381200.0));
        assert_eq!(m.created, Some(1795381199.0));
        assert_eq!(m.health, "healthy");
        assert_eq!(m.pid, Some(4242));
    }

    const CID: &str = "8f34c2a1b0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3";

    #[test]
    fn container_log_names() {
        // kubelet logSymlink: fmt.Sprintf("%s_%s-%s", podFullName, containerName, containerID)
        // with podFullName = "<pod>_<namespace>", then ".log".
        let e = parse_container_log_name(&format!("web-1_shop_app-{CID}.log")).unwrap();
        assert_eq!(
            (
                e.pod.as_str(),
                e.namespace.as_str(),
                e.container.as_str(),
                e.id.as_str()
            ),
            ("web-1", "shop", "app", CID)
        );
        let dashed = parse_container_log_name(&format!(
            "coredns-5d78c9869d-x2x4k_kube-system_coredns-sidecar-{CID}.log"
        ))
        .unwrap();
        assert_eq!(
            (dashed.pod.as_str(), dashed.container.as_str()),
            ("coredns-5d78c9869d-x2x4k", "coredns-sidecar")
        );
        // Cut at 255 bytes as logSymlink does: the id is a prefix.
        let pod = "p".repeat(200);
        let full = format!("{pod}_ns_c-{CID}");
        let cut = format!("{}.log", &full[..LOG_NAME_MAX - 4]);
        assert_eq!(cut.len(), LOG_NAME_MAX);
        let e = parse_container_log_name(&cut).unwrap();
        assert!(CID.starts_with(&e.id) && e.id.len() == 45, "{e:?}");
        let logs = ContainerLogs::from_names([cut.as_str(), "garbage.log"]);
        assert_eq!(logs.get(CID).map(|e| e.pod.as_str()), Some(pod.as_str()));
        assert!(logs.get(&"0".repeat(64)).is_none());
        // Too short a leftover, a short id without a cut, or not hex: refused.
        let pod = "p".repeat(242);
        let short = format!("{}.log", &format!("{pod}_ns_c-{CID}")[..LOG_NAME_MAX - 4]);
        assert!(parse_container_log_name(&short).is_none(), "{short}");
        for bad in [
            "web-1_shop_app-8f34c2.log".to_string(),
            format!("web-1_shop_app-{}.log", "z".repeat(64)),
            format!("web-1_shop_app-{CID}"),
            format!("web-1_app-{CID}.log"),
            format!("_shop_app-{CID}.log"),
            format!("web_1_shop_app-{CID}.log"),
            String::new(),
        ] {
            assert!(parse_container_log_name(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn metadata_from_the_log_layout() {
        let uid = "4c3e0000-1111-4222-8333-444455556666";
        let logs = ContainerLogs::from_names([format!("web-1_shop_app-{CID}.log").as_str()]);
        let pods = HashMap::from([(uid.to_string(), ("shop".to_string(), "web-1".to_string()))]);
        let base_tmp = tempfile::tempdir().unwrap();
        let base = base_tmp.path().to_path_buf();
        let k8s = base.join("k8s.io");
        let app = meta_from_logs(&logs, &pods, CID, Some(uid), &k8s).unwrap();
        assert_eq!(
            (
                app.pod.as_str(),
                app.namespace.as_str(),
                app.container.as_str()
            ),
            ("web-1", "shop", "app")
        );
        assert_eq!((app.name.as_str(), app.image.as_str()), ("", ""));
        assert!(!app.sandbox && !app.netns_owner);
        std::fs::create_dir_all(k8s.join(CID)).unwrap();
        let named = meta_from_logs(&logs, &pods, CID, Some(uid), &k8s).unwrap();
        assert_eq!(named.name, CID, "containerd's task dir names it");
        let sandbox_id = "a".repeat(64);
        let sandbox = meta_from_logs(&logs, &pods, &sandbox_id, Some(uid), &k8s).unwrap();
        assert!(sandbox.sandbox && sandbox.netns_owner);
        assert_eq!(
            (
                sandbox.pod.as_str(),
                sandbox.namespace.as_str(),
                sandbox.container.as_str()
            ),
            ("web-1", "shop", "")
        );
        assert!(meta_from_logs(&logs, &pods, &sandbox_id, None, &k8s).is_none());
        assert!(meta_from_logs(&logs, &pods, &sandbox_id, Some("other"), &k8s).is_none());
    }

    #[test]
    fn runtime_state_access() {
        let base_tmp = tempfile::tempdir().unwrap();
        let base = base_tmp.path().to_path_buf();
        let dirs = StateDirs {
            docker: base.join("docker"),
            containerd: base.join("containerd"),
            crio: vec![base.join("crio")],
        };
        assert!(
            state_access(&dirs).is_empty(),
            "absent runtimes are not reported"
        );
        std::fs::create_dir_all(base.join("docker/containers")).unwrap();
        std::fs::create_dir_all(base.join("containerd/io.containerd.runtime.v2.task/k8s.io"))
            .unwrap();
        assert_eq!(
            state_access(&dirs),
            vec![(Runtime::Containerd, true), (Runtime::Docker, true)]
        );
        std::fs::write(base.join("crio"), b"").unwrap();
        assert_eq!(state_access(&dirs).len(), 2, "a file is not a state dir");
    }

    #[test]
    fn pod_log_dirs() {
        assert_eq!(
            parse_pod_log_dir("shop_web-0_1b2c3d4e-0000-4000-8000-123456789abc"),
            Some((
                "1b2c3d4e-0000-4000-8000-123456789abc".into(),
                "shop".into(),
                "web-0".into()
            ))
        );
        assert_eq!(parse_pod_log_dir("garbage"), None);
        assert_eq!(parse_pod_log_dir("_x_"), None);
    }
}
