//! A real Linux kernel under qemu for tests that need what this host's kernel does not have (a
//! pure cgroup v2 or hybrid layout, ext4 project quotas): Debian's `linux-image-amd64` kernel
//! (fetched into `target/vm-kernel` by `scripts/vm-kernel.sh`), booted with `-accel tcg` from an
//! initramfs this module writes: static busybox, a static nodex, the `brd` RAM-disk, ext4 and
//! quota-format modules and a test's own `/init` script.
//! The script prints what the test compares between markers on the serial console
//! ([`MARK_BEGIN`] `name` / [`MARK_END`] `name`) and ends with [`MARK_DONE`].
//!
//! Reusable: a benchmark boots the same kernel with its own script via [`Prerequisites::find`],
//! [`Initramfs::base`] and [`boot`].

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Opens a section of the console output: `@@@BEGIN <name>`.
pub const MARK_BEGIN: &str = "@@@BEGIN ";
/// Closes a section: `@@@END <name>`.
pub const MARK_END: &str = "@@@END ";
/// The script's last line, after which the VM is stopped.
pub const MARK_DONE: &str = "@@@DONE";

/// Shell helpers every script can source from `/lib/vm.sh` (mounts, markers, power off).
pub const LIB_SH: &str = include_str!("../vm/lib.sh");

/// What booting needs: qemu, the kernel and its brd module, busybox and a static nodex.
#[derive(Clone, Debug)]
pub struct Prerequisites {
    /// `qemu-system-x86_64`.
    pub qemu: PathBuf,
    /// The kernel image.
    pub vmlinuz: PathBuf,
    /// Modules for that kernel in load order (`brd`, ext4 and its dependencies, `quota_v2`).
    pub modules: Vec<PathBuf>,
    /// A statically linked busybox.
    pub busybox: PathBuf,
    /// A statically linked nodex (see [`static_nodex`]).
    pub nodex: PathBuf,
}

impl Prerequisites {
    /// Finds or builds everything, once per test binary (tests running in parallel wait for
    /// the one build); `Err` says what is missing (the caller decides whether that skips or
    /// fails, see `skip_unless_ci`).
    pub fn find() -> Result<Self, String> {
        static FOUND: std::sync::OnceLock<Result<Prerequisites, String>> =
            std::sync::OnceLock::new();
        FOUND.get_or_init(Self::find_uncached).clone()
    }

    fn find_uncached() -> Result<Self, String> {
        Self::with_nodex(static_nodex()?)
    }

    /// Everything but nodex, which the caller built (a benchmark boots a release build).
    pub fn with_nodex(nodex: PathBuf) -> Result<Self, String> {
        let qemu = which("qemu-system-x86_64")
            .ok_or("qemu-system-x86_64 not found (Debian package qemu-system-x86)")?;
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .iter()
            .map(PathBuf::from)
            .find(|p| is_static(p))
            .ok_or("no static busybox (Debian package busybox-static)")?;
        let kernel = kernel_dir()?;
        let list = kernel.join("modules");
        let modules = std::fs::read_to_string(&list)
            .map_err(|e| format!("{}: {e}", list.display()))?
            .split_whitespace()
            .filter_map(|m| m.rsplit('/').next())
            .map(|name| kernel.join(name))
            .collect();
        Ok(Prerequisites {
            qemu,
            vmlinuz: kernel.join("vmlinuz"),
            modules,
            busybox,
            nodex,
        })
    }
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// True for a 64-bit ELF file without a `PT_INTERP` program header (statically linked).
fn is_static(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| elf_interp(&b) == Some(false))
}

/// Whether an ELF64 little-endian image has a `PT_INTERP` header (`None`: not such an image).
/// Offsets from the System V gABI: `e_phoff` at 0x20, `e_phentsize` at 0x36, `e_phnum` at
/// 0x38; `p_type` first in each program header, `PT_INTERP` = 3.
fn elf_interp(b: &[u8]) -> Option<bool> {
    if !b.starts_with(b"\x7fELF\x02\x01") {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?) as usize);
    let phoff = u64::from_le_bytes(b.get(0x20..0x28)?.try_into().ok()?) as usize;
    let (size, count) = (u16_at(0x36)?, u16_at(0x38)?);
    for i in 0..count {
        let at = phoff + i * size;
        if u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) == 3 {
            return Some(true);
        }
    }
    Some(false)
}

/// The kernel directory: `NODEX_VM_KERNEL` if set, else what `scripts/vm-kernel.sh` fetches
/// (or already fetched) into `target/vm-kernel`.
pub fn kernel_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("NODEX_VM_KERNEL") {
        return Ok(PathBuf::from(dir));
    }
    let out = Command::new(super::repo().join("scripts/vm-kernel.sh"))
        .output()
        .map_err(|e| format!("scripts/vm-kernel.sh: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "scripts/vm-kernel.sh: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Builds nodex statically as `scripts/build-image.sh` does (glibc `+crt-static`, non-PIE), in
/// the debug profile to keep CI short, under `target/<host triple>/debug` (apart from the normal
/// build), and returns a stripped copy (the debug symbols would be ~100 MB of initramfs).
pub fn static_nodex() -> Result<PathBuf, String> {
    static_binary(false, &["--bin", "nodex"], "nodex")
}

/// Builds `what` (cargo arguments naming one binary or example) statically, as
/// [`static_nodex`] does, in the release profile if `release`, and returns a stripped copy of
/// `artifact` (its path below `target/<host triple>/<profile>/`).
pub fn static_binary(release: bool, what: &[&str], artifact: &str) -> Result<PathBuf, String> {
    let repo = super::repo();
    let triple = host_triple()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let profile = if release { "release" } else { "debug" };
    let out = Command::new(cargo)
        .current_dir(&repo)
        .args(["build", "--locked", "--target", &triple])
        .args(release.then_some("--release"))
        .args(what)
        .env(
            "RUSTFLAGS",
            "-C target-feature=+crt-static -C relocation-model=static",
        )
        .output()
        .map_err(|e| format!("cargo build (static {artifact}): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo build (static {artifact}): {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target"));
    let built = target.join(format!("{triple}/{profile}/{artifact}"));
    let stripped = target.join(format!("{triple}/{profile}/{artifact}.vm"));
    let out = Command::new("strip")
        .arg("-o")
        .arg(&stripped)
        .arg(&built)
        .output()
        .map_err(|e| format!("strip (binutils): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "strip {}: {}",
            built.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if !is_static(&stripped) {
        return Err(format!("{} is not static", stripped.display()));
    }
    Ok(stripped)
}

fn host_triple() -> Result<String, String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|e| format!("rustc -vV: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_string)
        .ok_or_else(|| "rustc -vV names no host".to_string())
}

/// A newc ("SVR4 with no CRC") cpio archive, the initramfs format the kernel unpacks
/// (kernel `Documentation/driver-api/early-userspace/buffer-format.rst`): per entry a
/// 110-byte ASCII header (`070701` and 13 eight-digit hex fields), the NUL-terminated name
/// padded to 4 bytes, the data padded to 4 bytes; a `TRAILER!!!` entry ends it.
#[derive(Default)]
pub struct Cpio {
    buf: Vec<u8>,
    next_ino: u32,
}

impl Cpio {
    /// An empty archive.
    pub fn new() -> Self {
        Cpio {
            buf: Vec::new(),
            next_ino: 1,
        }
    }

    fn entry(&mut self, name: &str, mode: u32, nlink: u32, data: &[u8]) {
        let ino = self.next_ino;
        self.next_ino += 1;
        let fields = [
            ino,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime
            data.len() as u32,
            0, // devmajor
            0, // devminor
            0, // rdevmajor
            0, // rdevminor
            name.len() as u32 + 1,
            0, // check
        ];
        self.buf.extend_from_slice(b"070701");
        for f in fields {
            self.buf.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(0);
        self.pad();
        self.buf.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    /// A directory (`name` without a leading `/`).
    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.entry(name, 0o040755, 2, &[]);
        self
    }

    /// A regular file with permission bits `perm`.
    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) -> &mut Self {
        self.entry(name, 0o100000 | (perm & 0o7777), 1, data);
        self
    }

    /// A symbolic link to `target`.
    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name, 0o120777, 1, target.as_bytes());
        self
    }

    /// The archive with its trailer.
    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, 1, &[]);
        self.buf
    }
}

/// The initramfs every VM test starts from.
pub struct Initramfs;

impl Initramfs {
    /// `/bin/busybox` (applets installed by the script), `/bin/nodex`, the modules under
    /// `/lib/modules/` with their load order in `/lib/modules/order`, `/lib/vm.sh` ([`LIB_SH`])
    /// and `init` as `/init`; the caller may add files before `finish()`.
    pub fn base(p: &Prerequisites, init: &str) -> Result<Cpio, String> {
        let read =
            |path: &Path| std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()));
        let mut c = Cpio::new();
        for d in [
            "bin",
            "dev",
            "proc",
            "sys",
            "run",
            "tmp",
            "mnt",
            "lib",
            "lib/modules",
            "var",
            "etc",
        ] {
            c.dir(d);
        }
        let mut order = String::new();
        for m in &p.modules {
            let name = m
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| format!("module path {}", m.display()))?;
            c.file(&format!("lib/modules/{name}"), 0o644, &read(m)?);
            order.push_str(name);
            order.push('\n');
        }
        c.file("lib/modules/order", 0o644, order.as_bytes());
        c.file("bin/busybox", 0o755, &read(&p.busybox)?)
            .file("bin/nodex", 0o755, &read(&p.nodex)?)
            .file("lib/vm.sh", 0o644, LIB_SH.as_bytes())
            .file("init", 0o755, init.as_bytes());
        Ok(c)
    }
}

/// Kills and reaps qemu when dropped, so a failing or timed-out test never leaks it.
struct QemuGuard(Child);

impl Drop for QemuGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Boots the kernel with `initrd` (`-accel tcg`, one CPU, `memory_mb` of RAM, serial console
/// on stdout, no network or disks), returns the console output (without `\r`) up to
/// [`MARK_DONE`], or `Err` with what was printed if the VM stopped or `limit` passed first.
pub fn boot(
    p: &Prerequisites,
    initrd: &Path,
    memory_mb: u32,
    limit: Duration,
) -> Result<String, String> {
    let child = Command::new(&p.qemu)
        .args(["-accel", "tcg", "-smp", "1", "-m", &memory_mb.to_string()])
        .args([
            "-nodefaults",
            "-display",
            "none",
            "-serial",
            "stdio",
            "-no-reboot",
        ])
        .arg("-kernel")
        .arg(&p.vmlinuz)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", "console=ttyS0 quiet loglevel=3 panic=-1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", p.qemu.display()))?;
    let mut guard = QemuGuard(child);
    let stdout = guard.0.stdout.take().ok_or("qemu stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n') {
            let Ok(line) = line else { break };
            let text = String::from_utf8_lossy(&line)
                .trim_end_matches('\r')
                .to_string();
            if tx.send(text).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + limit;
    let mut console = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = line.trim() == MARK_DONE;
                console.push_str(&line);
                console.push('\n');
                if done {
                    return Ok(console);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "the VM did not finish within {limit:?}; console so far:\n{console}"
                ))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let mut err = String::new();
                if let Some(mut e) = guard.0.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                return Err(format!(
                    "the VM stopped before {MARK_DONE}; qemu: {err}\nconsole:\n{console}"
                ));
            }
        }
    }
}

/// The sections of the console output by name (the text between `@@@BEGIN name` and
/// `@@@END name`, each line ending in `\n`). Lines outside sections (kernel messages) are
/// ignored; a name seen twice keeps the last.
pub fn sections(console: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in console.lines() {
        if let Some(name) = line.strip_prefix(MARK_BEGIN) {
            current = Some((name.trim().to_string(), String::new()));
        } else if let Some(name) = line.strip_prefix(MARK_END) {
            if let Some((open, text)) = current.take() {
                if open == name.trim() {
                    out.insert(open, text);
                }
            }
        } else if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    out
}

/// How long a VM may take: `NODEX_VM_TIMEOUT` seconds, else `default` (TCG is slow on a
/// loaded machine).
pub fn timeout(default: Duration) -> Duration {
    std::env::var("NODEX_VM_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(default)
}
