//! Container metadata from the runtimes' state on disk (read-only, no API calls): Docker's
//! `config.v2.json`/`hostconfig.json`, containerd's task bundle `config.json` (OCI spec with
//! CRI annotations) and CRI-O's `userdata/config.json` (best effort, see cadvisor.md §6).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

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

struct Entry {
    file: PathBuf,
    mtime: Option<SystemTime>,
    meta: Arc<Meta>,
}

/// Metadata cached by container id, re-read when its file's mtime changes.
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
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = entries.get(id) {
            if mtime(&e.file) == e.mtime && e.mtime.is_some() {
                return Some(Arc::clone(&e.meta));
            }
        }
        let (file, meta) = probe(dirs, containerd_ns, id, hint)?;
        let meta = Arc::new(meta);
        entries.insert(
            id.to_string(),
            Entry {
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

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER: &[u8] = br#"{"StreamConfig":{},"State":{"Running":true,"Pid":4242,"StartedAt":"2026-11-22T21:00:00Z","Health":{"Status":"healthy","FailingStreak":0}},"ID":"abc","Created":"2026-11-22T20:59:59Z","Path":"/bin/busybox","Config":{"Hostname":"abc","Image":"nodex-busy:test","Labels":{"io.kubernetes.container.name":"app","io.kubernetes.pod.name":"web-0","io.kubernetes.pod.namespace":"shop","io.kubernetes.pod.uid":"1b2c3d4e-0000-4000-8000-123456789abc"}},"Image":"sha256:1234","Name":"/k8s_app_web-0_shop_1b2c_0","Driver":"fuse-overlayfs"}"#;

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
