//! What a cgroup path (a container `id`) says by itself: the runtime container id and runtime hint
//! in its last component, and the Kubernetes pod uid (the layouts of cAdvisor's
//! `container/{docker,containerd,crio}/handler.go` name parsing and the kubelet's
//! `pkg/kubelet/cm/cgroup_manager_linux.go`).

/// The runtime a cgroup name points to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeHint {
    /// `docker-<id>.scope`.
    Docker,
    /// `cri-containerd-<id>.scope`.
    Containerd,
    /// `crio-<id>` or `crio-<id>.scope`.
    Crio,
    /// A bare 64-hex name (cgroupfs driver, any runtime) or podman/nerdctl scopes.
    Unknown,
}

/// The facts parsed from one cgroup id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout<'a> {
    /// The 64-hex runtime container id in the last component, if any.
    pub container_id: Option<&'a str>,
    /// Which runtime the name suggests (only with a container id).
    pub hint: RuntimeHint,
    /// The pod uid (dashed form) from the last or the parent component.
    pub pod_uid: Option<String>,
    /// True when the last component is the pod cgroup itself.
    pub is_pod: bool,
    /// True for CRI-O's `crio-conmon-<id>.scope` monitor cgroups.
    pub conmon: bool,
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The pod uid of a pod cgroup component: `pod<uid>` (cgroupfs) or
/// `kubepods-<qos>-pod<uid_>.slice` (systemd, `_` unescaped to `-`).
pub fn pod_uid(component: &str) -> Option<String> {
    let base = component.strip_suffix(".slice").unwrap_or(component);
    let at = base.rfind("pod")?;
    if at > 0 && !base[..at].ends_with('-') {
        return None;
    }
    let uid = &base[at + 3..];
    let valid = uid.len() >= 8
        && uid
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'-' || b == b'_');
    valid.then(|| uid.replace('_', "-"))
}

/// Parses a container id such as `/kubepods/burstable/pod<uid>/<64hex>`.
pub fn parse(id: &str) -> Layout<'_> {
    let mut parts = id.rsplit('/').filter(|p| !p.is_empty());
    let last = parts.next().unwrap_or("");
    let parent = parts.next().unwrap_or("");
    let (container_id, hint, conmon) = runtime_id(last);
    let own_pod = pod_uid(last);
    let is_pod = own_pod.is_some() && container_id.is_none();
    let pod = if is_pod { own_pod } else { pod_uid(parent) };
    Layout {
        container_id,
        hint,
        pod_uid: pod,
        is_pod,
        conmon,
    }
}

fn runtime_id(last: &str) -> (Option<&str>, RuntimeHint, bool) {
    let base = last.strip_suffix(".scope").unwrap_or(last);
    const PREFIXES: [(&str, RuntimeHint); 5] = [
        ("docker-", RuntimeHint::Docker),
        ("cri-containerd-", RuntimeHint::Containerd),
        ("crio-", RuntimeHint::Crio),
        ("libpod-", RuntimeHint::Unknown),
        ("nerdctl-", RuntimeHint::Unknown),
    ];
    if let Some(rest) = base.strip_prefix("crio-conmon-") {
        return (is_hex64(rest).then_some(rest), RuntimeHint::Crio, true);
    }
    for (prefix, hint) in PREFIXES {
        if let Some(rest) = base.strip_prefix(prefix) {
            if is_hex64(rest) {
                return (Some(rest), hint, false);
            }
        }
    }
    if is_hex64(base) && !last.ends_with(".mount") {
        return (Some(base), RuntimeHint::Unknown, false);
    }
    (None, RuntimeHint::Unknown, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "06298af8e1c9a0b4f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2c";

    #[test]
    fn cgroupfs_layouts() {
        let path = format!("/kubepods/burstable/pod1b2c3d4e-0000-4000-8000-123456789abc/{ID}");
        let l = parse(&path);
        assert_eq!(l.container_id, Some(ID));
        assert_eq!(
            l.pod_uid.as_deref(),
            Some("1b2c3d4e-0000-4000-8000-123456789abc")
        );
        assert!(!l.is_pod);
        let p = parse("/kubepods/pod1b2c3d4e-0000-4000-8000-123456789abc");
        assert!(p.is_pod);
        let path = format!("/kubepods/besteffort/pod1b2c3d4e-0000/crio-{ID}");
        let crio = parse(&path);
        assert_eq!(crio.hint, RuntimeHint::Crio);
        assert_eq!(parse(&format!("/docker/{ID}")).container_id, Some(ID));
    }

    #[test]
    fn systemd_layouts() {
        let base = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1b2c3d4e_0000_4000_8000_123456789abc.slice";
        let pod = parse(base);
        assert!(pod.is_pod);
        assert_eq!(
            pod.pod_uid.as_deref(),
            Some("1b2c3d4e-0000-4000-8000-123456789abc")
        );
        let path = format!("{base}/cri-containerd-{ID}.scope");
        let c = parse(&path);
        assert_eq!(
            (c.container_id, c.hint, c.is_pod),
            (Some(ID), RuntimeHint::Containerd, false)
        );
        assert_eq!(
            c.pod_uid.as_deref(),
            Some("1b2c3d4e-0000-4000-8000-123456789abc")
        );
        let path = format!("/system.slice/docker-{ID}.scope");
        let d = parse(&path);
        assert_eq!((d.container_id, d.hint), (Some(ID), RuntimeHint::Docker));
        assert!(parse(&format!("{base}/crio-conmon-{ID}.scope")).conmon);
    }

    #[test]
    fn systemd_docker_layouts() {
        // cri-dockerd with Docker's systemd driver: every QoS class, `_` in the uid slice name.
        for (slice, pod) in [
            (
                "/kubepods.slice/kubepods-besteffort.slice",
                "kubepods-besteffort-pod0c1d2e3f_4a5b_4c6d_9e7f_8a9b0c1d2e3f.slice",
            ),
            (
                "/kubepods.slice",
                "kubepods-pod0c1d2e3f_4a5b_4c6d_9e7f_8a9b0c1d2e3f.slice",
            ),
        ] {
            let p = parse(&format!("{slice}/{pod}")).pod_uid;
            assert_eq!(
                p.as_deref(),
                Some("0c1d2e3f-4a5b-4c6d-9e7f-8a9b0c1d2e3f"),
                "{pod}"
            );
            let path = format!("{slice}/{pod}/docker-{ID}.scope");
            let c = parse(&path);
            assert_eq!(
                (c.container_id, c.hint, c.is_pod),
                (Some(ID), RuntimeHint::Docker, false)
            );
            assert_eq!(c.pod_uid, p, "{path}");
        }
        let d = parse("/system.slice/docker.service");
        assert_eq!((d.container_id, d.is_pod, d.pod_uid), (None, false, None));
        let path = format!("/system.slice/docker-{ID}.scope");
        assert_eq!(parse(&path).pod_uid, None);
        let mount = format!("/system.slice/var-lib-docker-overlay2-{ID}-merged.mount");
        assert_eq!(parse(&mount).container_id, None);
    }

    #[test]
    fn non_containers() {
        for id in [
            "/",
            "/system.slice/ssh.service",
            "/kubepods.slice/kubepods-burstable.slice",
            "/kubepods",
            "/system.slice/var-lib-docker-overlay2-x.mount",
            "/user.slice/podman.service",
            "",
            "/\u{fffd}\u{0}",
        ] {
            let l = parse(id);
            assert_eq!(l.container_id, None, "{id}");
            assert!(!l.is_pod, "{id}");
        }
        assert_eq!(pod_uid("kubepods-besteffort"), None);
        assert_eq!(pod_uid("ipod1234567890"), None);
    }
}
