//! Docker and containerd for the live tests: the engine's commands, a `FROM scratch` busybox
//! image, and a guard that removes the containers, images and cgroups a test made, even when the
//! test fails. Everything is named by the test ([`crate::unique_tag`]); nothing else is touched.

use std::path::{Path, PathBuf};

use crate::process::run;

/// Docker's own containerd socket, which holds the `k8s.io` namespace on the test machines.
pub const CTR_ADDRESS: &str = "/run/docker/containerd/containerd.sock";

/// Docker's containerd task state (`--collector.container.containerd-state`).
pub const CONTAINERD_STATE: &str = "/run/docker/containerd/daemon";

/// The static busybox (Debian's busybox-static) the test images are built from.
pub const BUSYBOX: &str = "/bin/busybox";

/// Runs `docker` with `args`: its trimmed stdout, or the command and its stderr as the error.
pub fn docker(args: &[&str]) -> Result<String, String> {
    run("docker", args)
}

/// Runs `ctr` in the `k8s.io` namespace of [`CTR_ADDRESS`] (where the CRI plugin keeps
/// Kubernetes' containers).
pub fn ctr(args: &[&str]) -> Result<String, String> {
    let mut all = vec!["-n", "k8s.io", "--address", CTR_ADDRESS];
    all.extend_from_slice(args);
    run("ctr", &all)
}

/// True when Docker answers, `/bin/busybox` exists and the tests run as root: what every
/// live container test needs.
pub fn docker_ready() -> bool {
    crate::is_root() && Path::new(BUSYBOX).exists() && docker(&["info"]).is_ok()
}

/// True when, besides [`docker_ready`], `ctr` and Docker's containerd socket are there.
pub fn containerd_ready() -> bool {
    docker_ready() && crate::have("ctr") && Path::new(CTR_ADDRESS).exists()
}

/// A Docker image `FROM scratch` holding `/bin/busybox` (and any extra files), built from a
/// temporary context. Dropping it removes the image and the context; declare it before the
/// [`Cleanup`] of its containers, so that they are removed first.
pub struct BusyboxImage {
    /// The image reference (`<repository>:<tag>`).
    pub name: String,
    context: tempfile::TempDir,
}

impl BusyboxImage {
    /// Builds `repository:<unique tag>` with `cmd` as its `CMD` (none when empty) and `files`
    /// (path in the image, content) copied in.
    pub fn build(repository: &str, cmd: &[&str], files: &[(&str, &[u8])]) -> BusyboxImage {
        let context = tempfile::Builder::new()
            .prefix("nodex-image-")
            .tempdir()
            .expect("image build context");
        let image = BusyboxImage {
            name: format!("{repository}:{}", crate::unique_tag()),
            context,
        };
        let dir = image.context.path();
        std::fs::copy(BUSYBOX, dir.join("busybox")).expect("copy busybox");
        let mut dockerfile = String::from("FROM scratch\nCOPY busybox /bin/busybox\n");
        for (i, (path, content)) in files.iter().enumerate() {
            std::fs::write(dir.join(format!("file{i}")), content).expect("image file");
            dockerfile.push_str(&format!("COPY file{i} {path}\n"));
        }
        if !cmd.is_empty() {
            let argv = serde_json::to_string(cmd).expect("CMD as JSON");
            dockerfile.push_str(&format!("CMD {argv}\n"));
        }
        std::fs::write(dir.join("Dockerfile"), dockerfile).expect("Dockerfile");
        docker(&["build", "-q", "-t", &image.name, &dir.to_string_lossy()]).expect("docker build");
        image
    }

    /// The build context, a temporary directory removed with the image (room for a `docker
    /// save` tarball).
    pub fn context(&self) -> &Path {
        self.context.path()
    }

    /// Imports the image into containerd's `k8s.io` namespace (`docker save`, `ctr images
    /// import`) and returns its reference there; `cleanup` removes it.
    pub fn import_into_containerd(&self, cleanup: &mut Cleanup) -> String {
        let tar = self.context().join("image.tar");
        docker(&["save", "-o", &tar.to_string_lossy(), &self.name]).expect("docker save");
        let reference = format!("docker.io/library/{}", self.name);
        cleanup.ctr_images.push(reference.clone());
        ctr(&["images", "import", &tar.to_string_lossy()]).expect("ctr images import");
        reference
    }
}

impl Drop for BusyboxImage {
    fn drop(&mut self) {
        let _ = docker(&["rmi", "-f", &self.name]);
    }
}

/// Removes, when dropped, what a test made, in this order: Docker containers, containerd
/// containers (last made first), containerd images, Docker images, then cgroup directories
/// (deepest first as pushed).
#[derive(Default)]
pub struct Cleanup {
    /// Docker containers (`docker rm -f`).
    pub docker_containers: Vec<String>,
    /// containerd containers of the `k8s.io` namespace (task and container deleted).
    pub ctr_containers: Vec<String>,
    /// containerd images of the `k8s.io` namespace.
    pub ctr_images: Vec<String>,
    /// Docker images not owned by a [`BusyboxImage`].
    pub docker_images: Vec<String>,
    /// Cgroup directories the test (or runc for it) created, children before parents.
    pub cgroups: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.docker_containers {
            let _ = docker(&["rm", "-f", c]);
        }
        for c in self.ctr_containers.iter().rev() {
            let _ = ctr(&["tasks", "delete", "-f", c]);
            let _ = ctr(&["containers", "delete", c]);
        }
        for i in &self.ctr_images {
            let _ = ctr(&["images", "rm", i]);
        }
        for i in &self.docker_images {
            let _ = docker(&["rmi", "-f", i]);
        }
        for d in &self.cgroups {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// A Kubernetes-shaped pod run with `ctr` in containerd's `k8s.io` namespace: every container
/// carries the annotations the CRI plugin writes (containerd `pkg/cri/annotations/
/// annotations.go`) and runs in `<pod cgroup>/<id>`, as the kubelet's cgroupfs driver names it.
pub struct CriPod {
    /// The pod's uid (a UUID derived from the tag).
    pub uid: String,
    /// The sandbox container's id.
    pub sandbox: String,
    /// The pod's cgroup, `<parent>/pod<uid>`.
    pub cgroup: String,
    tag: String,
    annotations: Vec<String>,
    image: String,
    flags: Vec<String>,
}

impl CriPod {
    /// A pod `namespace/name` below cgroup `parent` running containerd image `image`; `flags`
    /// go to every `ctr run` (such as `--snapshotter overlayfs`). Ids derive from `tag`.
    pub fn new(
        tag: &str,
        namespace: &str,
        name: &str,
        parent: &str,
        image: &str,
        flags: &[&str],
    ) -> CriPod {
        let h = hex64(&format!("uid-{tag}"));
        let uid = format!(
            "{}-{}-4{}-8{}-{}",
            &h[..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        );
        let sandbox = hex64(&format!("sandbox-{tag}"));
        CriPod {
            annotations: vec![
                format!("io.kubernetes.cri.sandbox-id={sandbox}"),
                format!("io.kubernetes.cri.sandbox-name={name}"),
                format!("io.kubernetes.cri.sandbox-namespace={namespace}"),
                format!("io.kubernetes.cri.sandbox-uid={uid}"),
            ],
            cgroup: format!("{parent}/pod{uid}"),
            uid,
            sandbox,
            tag: tag.to_string(),
            image: image.to_string(),
            flags: flags.iter().map(|f| f.to_string()).collect(),
        }
    }

    /// A container id of this pod, derived from `seed`.
    pub fn container_id(&self, seed: &str) -> String {
        hex64(&format!("{seed}-{}", self.tag))
    }

    /// Runs container `id` (detached) with the pod's and `annotations`, `flags` and `cmd`;
    /// `cleanup` deletes it.
    pub fn run(
        &self,
        cleanup: &mut Cleanup,
        id: &str,
        annotations: &[String],
        flags: &[String],
        cmd: &[&str],
    ) {
        cleanup.ctr_containers.push(id.to_string());
        let cgroup = format!("{}/{id}", self.cgroup);
        let mut args: Vec<&str> = vec!["run", "-d", "--cgroup", &cgroup];
        args.extend(self.flags.iter().map(String::as_str));
        for a in self.annotations.iter().chain(annotations) {
            args.extend(["--annotation", a.as_str()]);
        }
        args.extend(flags.iter().map(String::as_str));
        args.extend([self.image.as_str(), id]);
        args.extend(cmd);
        ctr(&args).unwrap_or_else(|e| panic!("ctr run {id}: {e}"));
    }
}

/// The mount points of this host's cgroup hierarchies (v1) or of its cgroup2 mount.
pub fn cgroup_mounts() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let fstype = post.split_whitespace().next()?;
            let point = pre.split_whitespace().nth(4)?;
            (fstype == "cgroup" || fstype == "cgroup2").then(|| PathBuf::from(point))
        })
        .collect()
}

/// 64 hex digits derived from `seed` (`sha256sum`), shaped like a container id.
pub fn hex64(seed: &str) -> String {
    let out = run("sh", &["-c", &format!("echo {seed} | sha256sum")]).expect("sha256sum");
    out.get(..64)
        .unwrap_or_else(|| panic!("sha256sum said {out:?}"))
        .to_string()
}

/// Parses the sizes `docker stats` prints, such as `16.2MiB` or `980kB`, into bytes.
pub fn parse_size(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "kB" => 1e3,
        "MiB" => 1024.0 * 1024.0,
        "MB" => 1e6,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "GB" => 1e9,
        _ => return None,
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_stats_sizes() {
        assert_eq!(parse_size("16.5MiB"), Some(16.5 * 1024.0 * 1024.0));
        assert_eq!(parse_size(" 980kB "), Some(980e3));
        assert_eq!(parse_size("3B"), Some(3.0));
        assert_eq!(parse_size("1.5GiB"), Some(1.5 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(parse_size("12 parsecs"), None);
        assert_eq!(parse_size("MiB"), None);
    }

    #[test]
    fn ids_are_64_hex_digits_per_seed() {
        let a = hex64("a");
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, hex64("a"));
        assert_ne!(a, hex64("b"));
    }
}
