//! Usage of a directory from the file system's project quota, as the kubelet reads an
//! `emptyDir` volume's under `LocalStorageCapacityIsolationFSQuotaMonitoring` (kubernetes
//! pkg/volume/util/fsquota/quota_linux.go and common/quota_linux_common_impl.go: the volume's
//! directory gets a project id of its own with the inherit flag, `GetConsumption` and
//! `GetInodes` read the project's usage, pkg/volume/util/fs/fs.go `DiskUsage` walks only when
//! they are unknown).
//!
//! Here: `FS_IOC_FSGETXATTR` on the directory (`fsx_projid`, `FS_XFLAG_PROJINHERIT`, struct
//! `fsxattr` of include/uapi/linux/fs.h), then `quotactl_fd(Q_GETQUOTA, PRJQUOTA)` (struct
//! `if_dqblk` of include/uapi/linux/quota.h; ext4 and XFS both answer it). The quota is used
//! only when the directory heads its project: a non-zero id, the inherit flag, and a parent
//! directory with another id (a layer's `diff` below a project directory, as Docker's and
//! CRI-O's overlay quotas make them, is walked: its project also holds `work`). Any failure
//! (no project, quota off, no `CAP_SYS_ADMIN`, a kernel before 5.14 without `quotactl_fd`)
//! means "walk it".

use std::os::fd::{AsRawFd, OwnedFd};

use crate::util::{u32_at, u64_at};

/// Bytes and inodes of a tree, as cAdvisor's `UsageInfo`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// `st_blocks * 512` summed over the entries (hard links once).
    pub bytes: u64,
    /// Entries counted (the root directory included, hard links once).
    pub inodes: u64,
}

/// `FS_IOC_FSGETXATTR`: `_IOR('X', 31, struct fsxattr)`.
const FS_IOC_FSGETXATTR: libc::c_ulong = 0x801c_581f;
/// `FS_XFLAG_PROJINHERIT`: new entries take the directory's project id.
pub const FS_XFLAG_PROJINHERIT: u32 = 0x0000_0200;
/// `sizeof(struct fsxattr)`.
const FSXATTR_LEN: usize = 28;
/// `QCMD(Q_GETQUOTA, PRJQUOTA)`: `Q_GETQUOTA` (0x800007) << 8 | `PRJQUOTA` (2).
const Q_GETQUOTA_PRJ: u32 = (0x0080_0007 << 8) | 2;
/// `sizeof(struct if_dqblk)` (eight `__u64` and a `__u32`, padded).
const DQBLK_LEN: usize = 72;
/// `QIF_SPACE` and `QIF_INODES` of `dqb_valid`.
const QIF_SPACE: u32 = 2;
const QIF_INODES: u32 = 8;

/// The project fields of a `struct fsxattr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProjectAttr {
    /// `fsx_xflags`.
    pub xflags: u32,
    /// `fsx_projid`.
    pub projid: u32,
}

impl ProjectAttr {
    /// True when new entries below inherit a non-zero project id.
    pub fn heads_project(&self) -> bool {
        self.projid != 0 && self.xflags & FS_XFLAG_PROJINHERIT != 0
    }
}

/// Parses a `struct fsxattr` as `FS_IOC_FSGETXATTR` fills it (native endian): `fsx_xflags` at
/// 0, `fsx_projid` at 12. `None` when shorter than the struct.
pub fn parse_fsxattr(b: &[u8]) -> Option<ProjectAttr> {
    if b.len() < FSXATTR_LEN {
        return None;
    }
    Some(ProjectAttr {
        xflags: u32_at(b, 0).ok()?,
        projid: u32_at(b, 12).ok()?,
    })
}

/// Parses a `struct if_dqblk` as `Q_GETQUOTA` fills it (native endian): `dqb_curspace` (bytes)
/// at 16, `dqb_curinodes` at 40, `dqb_valid` at 64. `None` when shorter than the struct or
/// when the kernel did not mark both usage fields valid.
pub fn parse_dqblk(b: &[u8]) -> Option<Usage> {
    if b.len() < DQBLK_LEN {
        return None;
    }
    let valid = u32_at(b, 64).ok()?;
    if valid & (QIF_SPACE | QIF_INODES) != QIF_SPACE | QIF_INODES {
        return None;
    }
    Some(Usage {
        bytes: u64_at(b, 16).ok()?,
        inodes: u64_at(b, 40).ok()?,
    })
}

/// The project attributes of the open file `fd`.
pub fn project_of(fd: &OwnedFd) -> Option<ProjectAttr> {
    let mut buf = [0u8; FSXATTR_LEN];
    // SAFETY: FS_IOC_FSGETXATTR writes at most sizeof(struct fsxattr) bytes to the pointer,
    // which points to a buffer of exactly that size that lives across the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), FS_IOC_FSGETXATTR as _, buf.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    parse_fsxattr(&buf)
}

/// The usage of project `projid` on the file system holding `fd`.
pub fn project_usage(fd: &OwnedFd, projid: u32) -> Option<Usage> {
    let mut buf = [0u8; DQBLK_LEN];
    // SAFETY: quotactl_fd(Q_GETQUOTA) writes one struct if_dqblk (DQBLK_LEN bytes) to the
    // pointer, a buffer of that size living across the call; the other arguments are values.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_quotactl_fd,
            fd.as_raw_fd() as libc::c_uint,
            Q_GETQUOTA_PRJ as libc::c_uint,
            projid as libc::c_uint,
            buf.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return None;
    }
    parse_dqblk(&buf)
}

/// The quota's usage of the directory `dir` if it heads a project of its own (see the module
/// documentation); `None`: walk it.
pub fn dir_usage(dir: &OwnedFd) -> Option<Usage> {
    let attr = project_of(dir)?;
    if !attr.heads_project() {
        return None;
    }
    let parent = rustix::fs::openat(
        dir,
        "..",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ok()?;
    if project_of(&parent).is_some_and(|p| p.projid == attr.projid) {
        return None;
    }
    project_usage(dir, attr.projid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsxattr_fields_at_their_offsets() {
        // struct fsxattr { __u32 fsx_xflags, fsx_extsize, fsx_nextents, fsx_projid,
        // fsx_cowextsize; unsigned char fsx_pad[8]; } (include/uapi/linux/fs.h)
        let mut b = [0u8; 28];
        b[0..4].copy_from_slice(&0x200u32.to_ne_bytes());
        b[4..8].copy_from_slice(&7u32.to_ne_bytes());
        b[12..16].copy_from_slice(&1234u32.to_ne_bytes());
        let a = parse_fsxattr(&b).expect("fsxattr");
        assert_eq!(
            a,
            ProjectAttr {
                xflags: 0x200,
                projid: 1234
            }
        );
        assert!(a.heads_project());
        assert!(!ProjectAttr { projid: 0, ..a }.heads_project());
        assert!(!ProjectAttr { xflags: 0, ..a }.heads_project());
        assert_eq!(parse_fsxattr(&b[..27]), None);
    }

    #[test]
    fn dqblk_usage_only_when_valid() {
        // struct if_dqblk { __u64 dqb_bhardlimit, dqb_bsoftlimit, dqb_curspace,
        // dqb_ihardlimit, dqb_isoftlimit, dqb_curinodes, dqb_btime, dqb_itime;
        // __u32 dqb_valid; } (include/uapi/linux/quota.h)
        let mut b = [0u8; 72];
        b[0..8].copy_from_slice(&99u64.to_ne_bytes());
        b[16..24].copy_from_slice(&40960u64.to_ne_bytes());
        b[40..48].copy_from_slice(&12u64.to_ne_bytes());
        assert_eq!(parse_dqblk(&b), None, "dqb_valid 0");
        b[64..68].copy_from_slice(&(QIF_SPACE | QIF_INODES | 1).to_ne_bytes());
        assert_eq!(
            parse_dqblk(&b),
            Some(Usage {
                bytes: 40960,
                inodes: 12
            })
        );
        b[64..68].copy_from_slice(&QIF_SPACE.to_ne_bytes());
        assert_eq!(parse_dqblk(&b), None, "inodes not valid");
        assert_eq!(parse_dqblk(&b[..71]), None);
    }

    #[test]
    fn a_plain_directory_is_walked() {
        let dir = rustix::fs::open(
            std::env::temp_dir(),
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        )
        .expect("open tmp");
        assert_eq!(dir_usage(&dir), None);
    }
}
