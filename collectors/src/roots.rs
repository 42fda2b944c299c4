//! The one place collectors get file-system locations from.
//!
//! Every collector builds its paths through `Roots`, never from a literal `/proc` or `/sys`, so
//! that any collector runs unchanged on a fixture tree or on host mounts under `/host`.

use std::path::{Path, PathBuf};

/// The configured roots: `--path.procfs`, `--path.sysfs`, `--path.rootfs`, `--path.udev.data`.
#[derive(Clone, Debug)]
pub struct Roots {
    /// Where the host's procfs is mounted (default `/proc`).
    pub procfs: PathBuf,
    /// Where the host's sysfs is mounted (default `/sys`).
    pub sysfs: PathBuf,
    /// Where the host's root file system is mounted (default `/`).
    pub rootfs: PathBuf,
    /// The udev database directory (default `/run/udev/data`).
    pub udev_data: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots {
            procfs: PathBuf::from("/proc"),
            sysfs: PathBuf::from("/sys"),
            rootfs: PathBuf::from("/"),
            udev_data: PathBuf::from("/run/udev/data"),
        }
    }
}

impl Roots {
    /// Roots for a fixture tree laid out as `<base>/proc`, `<base>/sys`, `<base>/root`, `<base>/udev`.
    pub fn fixture(base: &Path) -> Self {
        Roots {
            procfs: base.join("proc"),
            sysfs: base.join("sys"),
            rootfs: base.join("root"),
            udev_data: base.join("udev"),
        }
    }

    /// A path below the procfs root, e.g. `proc("net/dev")`.
    pub fn proc(&self, rel: impl AsRef<Path>) -> PathBuf {
        join(&self.procfs, rel.as_ref())
    }

    /// A path below the sysfs root, e.g. `sys("class/net")`.
    pub fn sys(&self, rel: impl AsRef<Path>) -> PathBuf {
        join(&self.sysfs, rel.as_ref())
    }

    /// A path below the root file system; `rel` may be absolute (a mount point).
    pub fn root(&self, rel: impl AsRef<Path>) -> PathBuf {
        let rel = rel.as_ref();
        join(&self.rootfs, rel.strip_prefix("/").unwrap_or(rel))
    }

    /// A path below the udev data directory.
    pub fn udev(&self, rel: impl AsRef<Path>) -> PathBuf {
        join(&self.udev_data, rel.as_ref())
    }

    /// Removes the rootfs prefix from a mount point as seen in the host's mountinfo, so that
    /// `/host/root/var` is reported as `/var` (node_exporter's `rootfsStripPrefix`).
    pub fn strip_rootfs<'a>(&self, mount_point: &'a str) -> &'a str {
        let root = self.rootfs.to_str().unwrap_or("/");
        if root == "/" || root.is_empty() {
            return mount_point;
        }
        match mount_point.strip_prefix(root.trim_end_matches('/')) {
            Some("") => "/",
            Some(rest) if rest.starts_with('/') => rest,
            _ => mount_point,
        }
    }
}

/// `Path::join` in one allocation: `join` copies the base into a buffer of its own length
/// and then grows it for the rest (a `realloc`, ~400 instructions a path).
pub trait JoinExt {
    /// What `Path::join` gives, allocated once.
    fn join_exact<P: AsRef<Path>>(&self, rel: P) -> PathBuf;
}

impl JoinExt for Path {
    fn join_exact<P: AsRef<Path>>(&self, rel: P) -> PathBuf {
        join(self, rel.as_ref())
    }
}

/// `base.join(rel)` in one allocation: `Path::join` copies `base` into a buffer of its exact
/// size and grows it again for `rel` (a reallocation per path, hundreds per scrape).
fn join(base: &Path, rel: &Path) -> PathBuf {
    let mut path = PathBuf::with_capacity(base.as_os_str().len() + rel.as_os_str().len() + 1);
    path.push(base);
    path.push(rel);
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_below_roots() {
        let r = Roots::fixture(Path::new("/fx"));
        assert_eq!(r.proc("stat"), PathBuf::from("/fx/proc/stat"));
        assert_eq!(
            r.root("/etc/os-release"),
            PathBuf::from("/fx/root/etc/os-release")
        );
        assert_eq!(r.sys("class/net"), PathBuf::from("/fx/sys/class/net"));
    }

    /// The one-allocation join gives what `Path::join` gives.
    #[test]
    fn join_matches_path_join() {
        for base in ["/proc", "/", "/host/sys/", "", "rel"] {
            for rel in ["stat", "net/dev", "/abs", "", "a/", "./x"] {
                assert_eq!(
                    join(Path::new(base), Path::new(rel)),
                    Path::new(base).join(rel),
                    "{base:?} {rel:?}"
                );
            }
        }
    }

    #[test]
    fn strips_rootfs_prefix() {
        let mut r = Roots::default();
        assert_eq!(r.strip_rootfs("/var"), "/var");
        r.rootfs = PathBuf::from("/host/root");
        assert_eq!(r.strip_rootfs("/host/root"), "/");
        assert_eq!(r.strip_rootfs("/host/root/var"), "/var");
        assert_eq!(r.strip_rootfs("/host/rootx"), "/host/rootx");
        assert_eq!(r.strip_rootfs("/proc"), "/proc");
    }
}
