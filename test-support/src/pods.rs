//! The kubelet pod layout of the project quota tests (`collectors/tests/quota_live.rs` on a
//! mounted ext4 image, `tests/vm_quota.rs` in an image `mkfs.ext4 -d` builds): one pod's log
//! directory and its two emptyDir volumes, `cache` (which the tests give a project of its own)
//! and `scratch`, and a file `outside` them, below a root that stands for the file system's.

use std::path::{Path, PathBuf};

/// The pod's UID.
pub const POD_UID: &str = "0c5e2d7a-1b3f-4a8e-9d6c-5e4f3a2b1c0d";
/// The pod's namespace.
pub const NAMESPACE: &str = "batch";
/// The pod's name.
pub const POD: &str = "etl-6b8c";

/// The pod's emptyDir volumes, relative to the root (the kubelet root is `kubelet`).
pub fn volumes() -> String {
    format!("kubelet/pods/{POD_UID}/volumes/kubernetes.io~empty-dir")
}

/// The layout's paths below its root.
pub struct PodLayout {
    /// The kubelet root (`<root>/kubelet`).
    pub kubelet: PathBuf,
    /// The pod log directory root (`<root>/logs`).
    pub logs: PathBuf,
    /// The `cache` emptyDir.
    pub cache: PathBuf,
    /// The `scratch` emptyDir.
    pub scratch: PathBuf,
    /// A file outside the volumes (made by [`PodLayout::fill`]).
    pub outside: PathBuf,
}

impl PodLayout {
    /// Makes the pod's log directory and its `cache` and `scratch` volumes, empty, below
    /// `root`.
    pub fn make(root: &Path) -> PodLayout {
        let vols = root.join(volumes());
        let layout = PodLayout {
            kubelet: root.join("kubelet"),
            logs: root.join("logs"),
            cache: vols.join("cache"),
            scratch: vols.join("scratch"),
            outside: root.join("outside"),
        };
        let pod_logs = layout.logs.join(format!("{NAMESPACE}_{POD}_{POD_UID}"));
        for dir in [&pod_logs, &layout.cache, &layout.scratch] {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        }
        layout
    }

    /// Writes the files: in `cache` a 300,000-byte `blob` and 25 small files in `d`, in
    /// `scratch` ten of 7,000 bytes, and `outside`, 50,000 bytes.
    pub fn fill(&self) {
        write(&self.cache.join("blob"), 300_000);
        for i in 0..25 {
            write(&self.cache.join(format!("d/f{i}")), 1_000 + i);
        }
        for i in 0..10 {
            write(&self.scratch.join(format!("f{i}")), 7_000);
        }
        write(&self.outside, 50_000);
    }
}

fn write(path: &Path, len: usize) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{}: {e}", parent.display()));
    }
    // Not zeros: mkfs.ext4 -d would store those as holes.
    std::fs::write(path, vec![b'q'; len]).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// The value of `family`'s series for the pod's `emptydir` source in exposition `text`.
pub fn emptydir_value(text: &str, family: &str) -> Option<f64> {
    let labels = [
        format!("namespace=\"{NAMESPACE}\""),
        format!("pod=\"{POD}\""),
        "source=\"emptydir\"".to_string(),
    ];
    let must: Vec<&str> = labels.iter().map(String::as_str).collect();
    crate::value(text, family, &must)
}
