//! The mount table (`/proc/<pid>/mountinfo`, proc(5)) as the filesystem collector needs it,
//! decoded as node_exporter's `parseFilesystemLabels` does; the lines are split by the one
//! mountinfo parser (`crate::procfs::mountinfo`).

use crate::error::ParseError;
use crate::procfs::mountinfo;

/// One line of mountinfo, as the collector needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Mount source (`device` label).
    pub device: String,
    /// Mount point with `\040` and `\011` decoded (only those, as node_exporter) and invalid
    /// UTF-8 replaced.
    pub mount_point: String,
    /// The mount point bytes with every kernel escape decoded (the path `statfs` is given).
    pub mount_point_raw: Vec<u8>,
    /// File-system type.
    pub fs_type: String,
    /// Device major number, as text.
    pub major: String,
    /// Device minor number, as text.
    pub minor: String,
    /// Per-mount options (field 6).
    pub mount_options: String,
    /// Super-block options (last field).
    pub super_options: String,
}

impl Mount {
    /// node_exporter's read-only rule: `ro` among the mount or super options, or ext4's
    /// `emergency_ro` among the super options.
    pub fn readonly(&self) -> bool {
        self.mount_options.split(',').any(|o| o == "ro")
            || self
                .super_options
                .split(',')
                .any(|o| o == "ro" || o == "emergency_ro")
    }
}

/// Parses `/proc/<pid>/mountinfo` with procfs' rules: at least 10 space-separated fields, the
/// `-` separator fourth from the end, numeric ids and a `major:minor` pair. Any malformed line
/// fails the whole file.
pub fn parse_mountinfo(bytes: &[u8]) -> Result<Vec<Mount>, ParseError> {
    Ok(mountinfo::parse(bytes)?.iter().map(mount).collect())
}

/// node_exporter's view of one mountinfo line.
fn mount(line: &mountinfo::Line<'_>) -> Mount {
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Mount {
        device: lossy(line.source),
        // The label as node_exporter writes it; statfs gets the path the kernel means, so a
        // mount point with a backslash or newline is measured (node_exporter's statfs of the
        // half-decoded path fails there).
        mount_point: lossy(&unescape_space_and_tab(line.mount_point)),
        mount_point_raw: mountinfo::unescape_octal(line.mount_point),
        fs_type: lossy(line.fs_type),
        major: line.major.to_string(),
        minor: line.minor.to_string(),
        mount_options: lossy(line.mount_options),
        super_options: lossy(line.super_options),
    }
}

/// node_exporter's `parseFilesystemLabels` decodes only `\040` (space) and `\011` (tab) in
/// the mount point, in that order (`strings.ReplaceAll`); procfs keeps the field as the kernel
/// wrote it, so `\012`, `\134` and `\043` stay literal in the `mountpoint` label.
fn unescape_space_and_tab(field: &[u8]) -> Vec<u8> {
    fn replace(input: &[u8], from: &[u8; 4], to: u8) -> Vec<u8> {
        let mut out = Vec::with_capacity(input.len());
        let mut i = 0;
        while i < input.len() {
            if input.get(i..i + 4) == Some(from.as_slice()) {
                out.push(to);
                i += 4;
            } else {
                out.extend_from_slice(input.get(i..=i).unwrap_or_default());
                i += 1;
            }
        }
        out
    }
    replace(&replace(field, b"\\040", b' '), b"\\011", b'\t')
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A mount table with escapes, a read-only mount, and invalid UTF-8.
    pub(crate) const SAMPLE: &[u8] = b"22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict
28 27 0:25 / /mnt/tools ro,nosuid,nodev,relatime - tmpfs model_tools_unavailable ro,size=4k,mode=755
42 27 254:0 /var/lib/docker /var/lib/docker rw,relatime shared:1 - ext4 /dev/vda rw,discard
43 27 8:1 / /mnt/with\\040space\\011tab rw master:3 - ext4 /dev/sda1 rw,emergency_ro
44 27 8:2 / /mnt/bad\xff rw - ext4 /dev/sda2 rw
";

    #[test]
    fn parses_mountinfo() {
        let mounts = parse_mountinfo(SAMPLE).unwrap();
        assert_eq!(mounts.len(), 6);
        let root = &mounts[1];
        assert_eq!(
            (
                root.device.as_str(),
                root.mount_point.as_str(),
                root.fs_type.as_str()
            ),
            ("/dev/vda", "/", "ext4")
        );
        assert_eq!((root.major.as_str(), root.minor.as_str()), ("254", "0"));
        assert!(!root.readonly());
        assert!(mounts[2].readonly());
        assert_eq!(mounts[3].mount_point, "/var/lib/docker");
        assert_eq!(mounts[4].mount_point, "/mnt/with space\ttab");
        assert!(mounts[4].readonly(), "emergency_ro");
        assert_eq!(mounts[5].mount_point, "/mnt/bad\u{fffd}");
        assert_eq!(mounts[5].mount_point_raw, b"/mnt/bad\xff");
    }

    #[test]
    fn only_space_and_tab_are_unescaped() {
        let line = b"45 27 8:3 / /mnt/a\\134b\\012c\\040d rw - ext4 /dev/sda3 rw\n";
        let mounts = parse_mountinfo(line).unwrap();
        assert_eq!(mounts[0].mount_point, "/mnt/a\\134b\\012c d");
        assert_eq!(mounts[0].mount_point_raw, b"/mnt/a\\b\nc d");
    }

    #[test]
    fn rejects_bad_mountinfo() {
        assert_eq!(parse_mountinfo(b"").unwrap(), vec![]);
        assert!(parse_mountinfo(b"27 1 254:0 / / rw - ext4").is_err());
        assert!(parse_mountinfo(b"27 1 254:0 / / rw x ext4 /dev/vda rw y").is_err());
        assert!(parse_mountinfo(b"27 1 254-0 / / rw shared:1 - ext4 /dev/vda rw").is_err());
        assert!(parse_mountinfo(b"x 1 254:0 / / rw shared:1 - ext4 /dev/vda rw").is_err());
        assert!(parse_mountinfo(&[0xff, 0xfe, 0x00]).is_err());
    }
}
