//! Where a container's writable layer is, per runtime, from the runtime's own records.
//!
//! - Docker (overlay2, fuse-overlayfs, overlay): `image/<driver>/layerdb/mounts/<id>/mount-id`
//!   names the layer, whose writable part is `<docker-root>/<driver>/<mount-id>/diff` (cAdvisor
//!   container/docker/handler.go `getRwLayerID` and `rootfsStorageDir`). Docker's
//!   `containers/<id>` directory (json logs, hostname, resolv.conf) is cAdvisor's
//!   `otherStorageDir`, added to the usage.
//! - containerd (overlayfs snapshotter) and CRI-O: the container's root file system is an
//!   `overlay` mount in the host mount table whose super options name the `upperdir`; the
//!   mount point is the task bundle's `rootfs` (`<state>/io.containerd.runtime.v2.task/<ns>/<id>/rootfs`)
//!   or CRI-O's `<root>/overlay/<layer>/merged`.
//! - CRI-O (containers/storage): `<crio-root>/overlay-containers/containers.json` maps each
//!   container `id` to its read-write `layer` (containers/storage containers.go `Container`), whose
//!   upper directory is `<crio-root>/overlay/<layer>/diff` (drivers/overlay/overlay.go), mounted or not.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use crate::error::ParseError;

/// The storage drivers whose layers Docker keeps as `<driver>/<mount-id>/diff`.
pub const DOCKER_DIFF_DRIVERS: &[&str] = &["overlay2", "fuse-overlayfs", "overlay"];

/// Parses Docker's `layerdb/mounts/<id>/mount-id` (moby layer/filestore.go `GetMountID`: the
/// id as the whole file, no newline): one path component of `[0-9A-Za-z_-]`, else an error.
pub fn parse_mount_id(bytes: &[u8]) -> Result<String, ParseError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ParseError::new("mount-id: not UTF-8"))?
        .trim();
    let ok = !text.is_empty()
        && text.len() <= 128
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(text.to_string())
    } else {
        Err(ParseError::new(format!("mount-id: invalid id {text:?}")))
    }
}

/// The `upperdir=` of overlay super options (fs/overlayfs/params.c: options split on commas
/// not escaped by a backslash); `None` without one, or when it is not an absolute path free of
/// `..` components.
pub fn overlay_upperdir(super_options: &str) -> Option<PathBuf> {
    let mut opts = Vec::new();
    let mut cur = String::new();
    let mut chars = super_options.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ',' => opts.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    opts.push(cur);
    let dir = opts.iter().find_map(|o| o.strip_prefix("upperdir="))?;
    let path = PathBuf::from(dir);
    let clean = path.is_absolute()
        && path
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
    clean.then_some(path)
}

/// Parses containers/storage's `containers.json` (a JSON array of containers with `id` and
/// `layer`): container id -> layer id, keeping entries whose both ids are one safe path component.
pub fn parse_crio_containers(bytes: &[u8]) -> Result<HashMap<String, String>, ParseError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ParseError::new(format!("containers.json: {e}")))?;
    let list = value
        .as_array()
        .ok_or_else(|| ParseError::new("containers.json: not an array"))?;
    let safe = |s: &str| parse_mount_id(s.as_bytes()).is_ok_and(|v| v == s);
    Ok(list
        .iter()
        .filter_map(|c| {
            let id = c.get("id")?.as_str()?;
            let layer = c.get("layer")?.as_str()?;
            (safe(id) && safe(layer)).then(|| (id.to_string(), layer.to_string()))
        })
        .collect())
}

/// CRI-O's writable layers below `crio_root`: container id -> `overlay/<layer>/diff`; empty when
/// `containers.json` is missing or unreadable.
pub fn crio_layers(crio_root: &Path) -> HashMap<String, PathBuf> {
    let Ok(bytes) = std::fs::read(crio_root.join("overlay-containers/containers.json")) else {
        return HashMap::new();
    };
    parse_crio_containers(&bytes)
        .unwrap_or_default()
        .into_iter()
        .map(|(id, layer)| (id, crio_root.join("overlay").join(layer).join("diff")))
        .collect()
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The container id of a containerd task's `rootfs` mount point below `state`
/// (`<state>/io.containerd.runtime.v2.task/<ns>/<id>/rootfs`).
pub fn containerd_rootfs_id<'a>(state: &str, mount_point: &'a str) -> Option<&'a str> {
    let rest = mount_point
        .strip_prefix(state.trim_end_matches('/'))?
        .strip_prefix("/io.containerd.runtime.v2.task/")?;
    let mut parts = rest.split('/');
    let (_ns, id, leaf) = (parts.next()?, parts.next()?, parts.next()?);
    (leaf == "rootfs" && parts.next().is_none() && !id.is_empty() && id != "." && id != "..")
        .then_some(id)
}

/// Writable layers found in the mount table: container id -> upper directory, for overlay
/// mounts on containerd task bundles.
pub fn mount_layers(
    mounts: &[crate::host::filesystem::Mount],
    containerd_states: &[String],
) -> HashMap<String, PathBuf> {
    let mut out = HashMap::new();
    for m in mounts.iter().filter(|m| m.fs_type == "overlay") {
        let Some(upper) = overlay_upperdir(&m.super_options) else {
            continue;
        };
        if let Some(id) = containerd_states
            .iter()
            .find_map(|s| containerd_rootfs_id(s, &m.mount_point))
        {
            out.insert(id.to_string(), upper);
        }
    }
    out
}

/// Docker's writable layer of container `id` (64 hex) below `docker_root`: the first driver of
/// [`DOCKER_DIFF_DRIVERS`] with a `mount-id` record; `None` when none has one.
pub fn docker_layer(docker_root: &Path, id: &str) -> Option<PathBuf> {
    if !is_hex64(id) {
        return None;
    }
    DOCKER_DIFF_DRIVERS.iter().find_map(|driver| {
        let record = docker_root
            .join("image")
            .join(driver)
            .join("layerdb/mounts")
            .join(id)
            .join("mount-id");
        let mount_id = parse_mount_id(&std::fs::read(record).ok()?).ok()?;
        Some(docker_root.join(driver).join(mount_id).join("diff"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_id_is_one_safe_component() {
        assert_eq!(
            parse_mount_id(b"3f1c0a9e8e2b6b1c4f0f").expect("id"),
            "3f1c0a9e8e2b6b1c4f0f"
        );
        assert!(parse_mount_id(b"../../etc").is_err());
        assert!(parse_mount_id(b"a/b").is_err());
        assert!(parse_mount_id(b"").is_err());
        assert!(parse_mount_id(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn crio_containers_json() {
        // The shape containers/storage writes (containers.go `Container`).
        let json = br#"[{"id":"aaaa","names":["k8s_app_pod_ns_uid_0"],"image":"img1","layer":"l1",
            "metadata":"{}","created":"2026-11-30T10:00:00Z"},
            {"id":"bbbb","image":"img2","layer":"../../etc"},{"id":"cccc"}]"#;
        let map = parse_crio_containers(json).expect("parses");
        assert_eq!(map.len(), 1);
        assert_eq!(map["aaaa"], "l1");
        assert!(parse_crio_containers(b"{}").is_err());
        assert!(parse_crio_containers(b"[").is_err());
    }

    #[test]
    fn upperdir_from_super_options() {
        // containerd's overlayfs snapshotter mount, as the kernel shows it.
        let opts = "rw,lowerdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/2/fs,\
                    upperdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/9/fs,\
                    workdir=/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/9/work,index=off";
        assert_eq!(
            overlay_upperdir(opts),
            Some(PathBuf::from(
                "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/9/fs"
            ))
        );
        assert_eq!(
            overlay_upperdir(r"rw,upperdir=/a\,b/fs,workdir=/w"),
            Some(PathBuf::from("/a,b/fs"))
        );
        assert_eq!(overlay_upperdir("rw,lowerdir=/l"), None);
        assert_eq!(overlay_upperdir("upperdir=relative/x"), None);
        assert_eq!(overlay_upperdir("upperdir=/a/../etc"), None);
    }

    #[test]
    fn containerd_rootfs_mount_points() {
        let id = "c".repeat(64);
        let mp = format!("/run/containerd/io.containerd.runtime.v2.task/k8s.io/{id}/rootfs");
        assert_eq!(
            containerd_rootfs_id("/run/containerd", &mp),
            Some(id.as_str())
        );
        assert_eq!(
            containerd_rootfs_id("/run/containerd/", &mp),
            Some(id.as_str())
        );
        assert_eq!(containerd_rootfs_id("/run/other", &mp), None);
        assert_eq!(
            containerd_rootfs_id(
                "/run/containerd",
                "/run/containerd/io.containerd.runtime.v2.task/k8s.io/x/rootfs/sub"
            ),
            None
        );
    }

    #[test]
    fn docker_and_crio_records_on_disk() {
        let base_tmp = tempfile::tempdir().unwrap();
        let base = base_tmp.path().to_path_buf();
        let id = "a".repeat(64);
        let record = base
            .join("docker/image/fuse-overlayfs/layerdb/mounts")
            .join(&id);
        std::fs::create_dir_all(&record).expect("record dir");
        // moby writes the mount id without a trailing newline.
        std::fs::write(record.join("mount-id"), "5b2d0c7e1f").expect("mount-id");
        assert_eq!(
            docker_layer(&base.join("docker"), &id),
            Some(base.join("docker/fuse-overlayfs/5b2d0c7e1f/diff"))
        );
        assert_eq!(docker_layer(&base.join("docker"), "not-an-id"), None);
        assert_eq!(docker_layer(&base.join("docker"), &"b".repeat(64)), None);
        let crio = base.join("crio");
        std::fs::create_dir_all(crio.join("overlay-containers")).expect("crio dir");
        std::fs::write(
            crio.join("overlay-containers/containers.json"),
            format!(r#"[{{"id":"{id}","layer":"l9"}}]"#),
        )
        .expect("containers.json");
        assert_eq!(crio_layers(&crio)[&id], crio.join("overlay/l9/diff"));
        assert!(crio_layers(&base.join("absent")).is_empty());
    }
}
