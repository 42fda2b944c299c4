//! A minimal FUSE file system for the fault tests, speaking the kernel protocol over
//! `/dev/fuse` directly (no libfuse, no crate): one empty root directory whose `statfs` can be
//! *held*, left unanswered (so callers block in the kernel exactly as on a dead NFS or FUSE
//! server), until the test releases it. Mounted with mount(2) under a fresh temporary directory
//! (needs root and /dev/fuse); the guard answers held calls and unmounts lazily with
//! `fusermount3 -u -z` (falling back to umount2(MNT_DETACH)) when dropped, even on failure.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

const FUSE_FORGET: u32 = 2;
const FUSE_GETATTR: u32 = 3;
const FUSE_STATFS: u32 = 17;
const FUSE_INIT: u32 = 26;
const FUSE_INTERRUPT: u32 = 36;
const FUSE_DESTROY: u32 = 38;
const FUSE_BATCH_FORGET: u32 = 42;
const IN_HEADER: usize = 40;

/// Blocks of the file system (`f_blocks`).
pub const BLOCKS: u64 = 1000;
/// Block size (`f_bsize` and `f_frsize`).
pub const BLOCK_SIZE: u32 = 4096;

#[derive(Default)]
struct Gate {
    held: bool,
    /// Held calls: request id and the calling thread's id.
    pending: Vec<(u64, u32)>,
}

/// The mounted file system; unmounted when dropped.
pub struct HeldFs {
    dir: tempfile::TempDir,
    dev: Arc<File>,
    gate: Arc<Mutex<Gate>>,
}

/// The reply to `unique`: an error (negative errno) or a payload.
fn reply(dev: &File, unique: u64, error: i32, payload: &[u8]) {
    let len = (16 + payload.len()) as u32;
    let mut out = Vec::with_capacity(len as usize);
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&error.to_ne_bytes());
    out.extend_from_slice(&unique.to_ne_bytes());
    out.extend_from_slice(payload);
    // One write per reply; a failure means the connection is gone, which ends the server.
    let _ = (&*dev).write(&out);
}

fn statfs_reply() -> Vec<u8> {
    let mut p = Vec::with_capacity(80);
    for v in [BLOCKS, BLOCKS / 2, BLOCKS / 4, 100, 50] {
        p.extend_from_slice(&v.to_ne_bytes()); // blocks, bfree, bavail, files, ffree
    }
    for v in [BLOCK_SIZE, 255, BLOCK_SIZE, 0] {
        p.extend_from_slice(&v.to_ne_bytes()); // bsize, namelen, frsize, padding
    }
    p.resize(80, 0); // spare[6]
    p
}

fn getattr_reply() -> Vec<u8> {
    let mut p = Vec::with_capacity(104);
    p.extend_from_slice(&1u64.to_ne_bytes()); // attr_valid
    p.extend_from_slice(&[0u8; 8]); // attr_valid_nsec, dummy
    for v in [1u64, 0, 0, 0, 0, 0] {
        p.extend_from_slice(&v.to_ne_bytes()); // ino, size, blocks, atime, mtime, ctime
    }
    for v in [0u32, 0, 0, libc::S_IFDIR | 0o755, 2, 0, 0, 0, BLOCK_SIZE, 0] {
        // atimensec, mtimensec, ctimensec, mode, nlink, uid, gid, rdev, blksize, flags
        p.extend_from_slice(&v.to_ne_bytes());
    }
    p
}

fn init_reply(request: &[u8]) -> Vec<u8> {
    let readahead = request
        .get(IN_HEADER + 8..IN_HEADER + 12)
        .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    let mut p = Vec::with_capacity(64);
    for v in [7u32, 31, readahead, 0] {
        p.extend_from_slice(&v.to_ne_bytes()); // major, minor, max_readahead, flags
    }
    p.extend_from_slice(&16u16.to_ne_bytes()); // max_background
    p.extend_from_slice(&12u16.to_ne_bytes()); // congestion_threshold
    p.extend_from_slice(&(128u32 * 1024).to_ne_bytes()); // max_write
    p.extend_from_slice(&1u32.to_ne_bytes()); // time_gran
    p.resize(64, 0); // max_pages, map_alignment, flags2, unused
    p
}

fn serve(dev: Arc<File>, gate: Arc<Mutex<Gate>>) {
    let mut buf = vec![0u8; 1024 * 1024 + 4096];
    loop {
        let n = match (&*dev).read(&mut buf) {
            Ok(n) => n,
            // ENOENT: the request was interrupted before it was read; EINTR: a signal.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EINTR)) => continue,
            Err(_) => return, // ENODEV: unmounted
        };
        let req = &buf[..n];
        if req.len() < IN_HEADER {
            continue;
        }
        let opcode = u32::from_ne_bytes([req[4], req[5], req[6], req[7]]);
        let mut unique = [0u8; 8];
        unique.copy_from_slice(&req[8..16]);
        let unique = u64::from_ne_bytes(unique);
        match opcode {
            FUSE_INIT => reply(&dev, unique, 0, &init_reply(req)),
            FUSE_GETATTR => reply(&dev, unique, 0, &getattr_reply()),
            FUSE_STATFS => {
                let mut g = gate.lock().unwrap_or_else(|p| p.into_inner());
                if g.held {
                    let tid = u32::from_ne_bytes([req[32], req[33], req[34], req[35]]);
                    g.pending.push((unique, tid));
                } else {
                    drop(g);
                    reply(&dev, unique, 0, &statfs_reply());
                }
            }
            FUSE_FORGET | FUSE_BATCH_FORGET | FUSE_INTERRUPT => {}
            FUSE_DESTROY => {
                reply(&dev, unique, 0, &[]);
                return;
            }
            _ => reply(&dev, unique, -libc::ENOSYS, &[]),
        }
    }
}

impl HeldFs {
    /// Mounts a fresh instance; `Err` says which prerequisite is missing (not root, no
    /// /dev/fuse, mount refused), for the caller to skip on.
    pub fn mount() -> Result<HeldFs, String> {
        if !nodex_test_support::is_root() {
            return Err("needs root to mount a FUSE file system".into());
        }
        let dev = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/fuse")
            .map_err(|e| format!("cannot open /dev/fuse: {e}"))?;
        let dir = tempfile::Builder::new()
            .prefix("nodex-heldfs-")
            .tempdir()
            .map_err(|e| format!("tempdir: {e}"))?;
        let target =
            std::ffi::CString::new(dir.path().as_os_str().as_bytes()).map_err(|e| e.to_string())?;
        let data = std::ffi::CString::new(format!(
            "fd={},rootmode=40000,user_id=0,group_id=0,allow_other",
            dev.as_raw_fd()
        ))
        .map_err(|e| e.to_string())?;
        // SAFETY: every pointer is a valid NUL-terminated string alive for the call.
        let rc = unsafe {
            libc::mount(
                c"nodex-heldfs".as_ptr(),
                target.as_ptr(),
                c"fuse.nodex-heldfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                data.as_ptr().cast(),
            )
        };
        if rc != 0 {
            return Err(format!(
                "mount(2) of a FUSE file system refused: {}",
                std::io::Error::last_os_error()
            ));
        }
        let dev = Arc::new(dev);
        let gate = Arc::new(Mutex::new(Gate::default()));
        let (d, g) = (Arc::clone(&dev), Arc::clone(&gate));
        std::thread::spawn(move || serve(d, g));
        Ok(HeldFs { dir, dev, gate })
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// From now on `statfs` calls are left unanswered.
    pub fn hold(&self) {
        self.gate.lock().unwrap_or_else(|p| p.into_inner()).held = true;
    }

    /// Answers every held `statfs` call and answers new ones at once.
    pub fn release(&self) {
        let pending = {
            let mut g = self.gate.lock().unwrap_or_else(|p| p.into_inner());
            g.held = false;
            std::mem::take(&mut g.pending)
        };
        for (unique, _) in pending {
            reply(&self.dev, unique, 0, &statfs_reply());
        }
    }

    /// How many `statfs` calls of process `pid` (any of its threads) are held now; other
    /// processes of the host may stat the mount too.
    pub fn held_calls_of(&self, pid: u32) -> usize {
        let g = self.gate.lock().unwrap_or_else(|p| p.into_inner());
        g.pending
            .iter()
            .filter(|(_, tid)| Path::new(&format!("/proc/{pid}/task/{tid}")).exists())
            .count()
    }

    /// A guard that releases held calls when dropped. Declare it after the process that may
    /// be blocked: a killed process still waits, uninterruptibly, for a `statfs` call the
    /// server has read, so it must be answered before the process is reaped.
    pub fn release_on_drop(&self) -> ReleaseOnDrop<'_> {
        ReleaseOnDrop(self)
    }
}

/// Releases the held calls of a [`HeldFs`] when dropped.
pub struct ReleaseOnDrop<'a>(&'a HeldFs);

impl Drop for ReleaseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

impl Drop for HeldFs {
    fn drop(&mut self) {
        self.release();
        let lazy = std::process::Command::new("fusermount3")
            .arg("-u")
            .arg("-z")
            .arg(self.dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !lazy {
            if let Ok(target) = std::ffi::CString::new(self.dir.path().as_os_str().as_bytes()) {
                // SAFETY: `target` is a valid NUL-terminated path alive for the call.
                unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }
}
