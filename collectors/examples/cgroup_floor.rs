//! The floor of a container scrape: reads the cgroup files nodex's container groups read, with
//! no parsing and no formatting, as cheaply as the kernel allows. `benches/cgroup_bench.py`
//! runs it beside nodex on the same cgroups and reports nodex's CPU as a ratio to it.
//!
//! ```text
//! cgroup_floor <mode> <passes> <hierarchy-root>=<file>,<file>,... ...
//! ```
//!
//! Each argument after the pass count is a hierarchy root with the files to read in every
//! cgroup below it; `stat:<name>` is an `fstatat` of that entry instead of a read and `.` an
//! `fstat` of the cgroup's directory (the start-time markers); `cgroup.procs+fd` reads
//! `cgroup.procs` and then lists `/proc/<pid>/fd` of each pid in it and reads every link (what
//! `container_file_descriptors` and `container_sockets` need). Modes, each timed per pass:
//!
//! - `orc`: walk every hierarchy depth-first, opening each directory relative to its parent's
//!   descriptor and listing it with `getdents64`; in each cgroup open every file relative to
//!   the directory's descriptor, read it to the end, close it. What a scrape must do at least
//!   to see every cgroup that exists when it starts.
//! - `pread`: open every file once (untimed), then per pass `pread` each at offset 0: no path
//!   lookup and no listing, so it cannot see cgroups created after the first pass. Opening
//!   stops at the descriptor limit; `files` says how many were kept.
//! - `walk`: the listing part of `orc` alone.
//!
//! Prints one JSON object: CPU and wall milliseconds per pass, and per pass the cgroups seen,
//! files read, entries `stat`ed and bytes read.

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Instant;

use rustix::fs::{fstat, openat, readlinkat, statat, AtFlags, FileType, Mode, OFlags, RawDir, CWD};
use rustix::io::{pread, read};

/// What to do in each cgroup of one hierarchy.
struct Hierarchy {
    root: String,
    reads: Vec<String>,
    stats: Vec<String>,
}

#[derive(Default)]
struct Counts {
    cgroups: u64,
    files: u64,
    stats: u64,
    links: u64,
    bytes: u64,
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC);

fn cpu_ms() -> f64 {
    let mut ru = MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is always valid.
    let ru = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr());
        ru.assume_init()
    };
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    ms(ru.ru_utime) + ms(ru.ru_stime)
}

/// Reads to the end; the first chunk stays at the start of `buf`.
fn read_all(fd: BorrowedFd<'_>, buf: &mut [u8]) -> u64 {
    let mut total = 0;
    let mut at = 0;
    while let Ok(n) = read(fd, &mut buf[at..]) {
        if n == 0 {
            break;
        }
        total += n as u64;
        if at + n < buf.len() / 2 {
            at += n;
        }
    }
    total
}

/// What `container_file_descriptors` and `container_sockets` need for the pids of one
/// `cgroup.procs`: list `/proc/<pid>/fd` and read each link.
fn proc_fds(procs: &[u8], dents: &mut [MaybeUninit<u8>], n: &mut Counts) {
    let mut link = Vec::with_capacity(64);
    for pid in procs.split(|b| *b == b'\n').filter(|p| !p.is_empty()) {
        let Ok(pid) = std::str::from_utf8(pid) else {
            continue;
        };
        let Ok(fd) = openat(CWD, format!("/proc/{pid}/fd"), DIR_FLAGS, Mode::empty()) else {
            continue;
        };
        let mut names = Vec::new();
        let mut entries = RawDir::new(fd.as_fd(), &mut *dents);
        while let Some(Ok(e)) = entries.next() {
            if !is_dot(e.file_name()) {
                names.push(e.file_name().to_owned());
            }
        }
        for name in names {
            if let Ok(target) = readlinkat(fd.as_fd(), name.as_c_str(), std::mem::take(&mut link)) {
                n.links += 1;
                link = target.into_bytes();
            }
        }
    }
}

/// One cgroup: its files (unless `list_only`), then its children, depth-first.
fn visit(
    dir: BorrowedFd<'_>,
    h: &Hierarchy,
    list_only: bool,
    buf: &mut [u8],
    dents: &mut [MaybeUninit<u8>],
    n: &mut Counts,
) {
    n.cgroups += 1;
    if !list_only {
        for f in &h.reads {
            let (name, fds) = match f.strip_suffix("+fd") {
                Some(name) => (name, true),
                None => (f.as_str(), false),
            };
            if let Ok(fd) = openat(dir, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) {
                n.files += 1;
                let len = read_all(fd.as_fd(), buf) as usize;
                n.bytes += len as u64;
                if fds {
                    let end = len.min(buf.len() / 2);
                    proc_fds(&buf[..end], dents, n);
                }
            }
        }
        for s in &h.stats {
            let ok = if s == "." {
                fstat(dir).is_ok()
            } else {
                statat(dir, s.as_str(), AtFlags::empty()).is_ok()
            };
            n.stats += u64::from(ok);
        }
    }
    let mut children: Vec<std::ffi::CString> = Vec::new();
    let mut entries = RawDir::new(dir, dents);
    while let Some(Ok(e)) = entries.next() {
        let name = e.file_name();
        if e.file_type() == FileType::Directory && !is_dot(name) {
            children.push(name.to_owned());
        }
    }
    for name in children {
        if let Ok(fd) = openat(dir, name.as_c_str(), DIR_FLAGS, Mode::empty()) {
            visit(fd.as_fd(), h, list_only, buf, dents, n);
        }
    }
}

fn is_dot(name: &CStr) -> bool {
    matches!(name.to_bytes(), b"." | b"..")
}

/// Opens every file of every cgroup and keeps the descriptors.
fn open_all(
    dir: BorrowedFd<'_>,
    h: &Hierarchy,
    dents: &mut [MaybeUninit<u8>],
    out: &mut Vec<OwnedFd>,
) {
    for f in &h.reads {
        let name = f.strip_suffix("+fd").unwrap_or(f);
        if let Ok(fd) = openat(dir, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) {
            out.push(fd);
        }
    }
    let mut children = Vec::new();
    let mut entries = RawDir::new(dir, dents);
    while let Some(Ok(e)) = entries.next() {
        if e.file_type() == FileType::Directory && !is_dot(e.file_name()) {
            children.push(e.file_name().to_owned());
        }
    }
    for name in children {
        if let Ok(fd) = openat(dir, name.as_c_str(), DIR_FLAGS, Mode::empty()) {
            open_all(fd.as_fd(), h, dents, out);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: cgroup_floor orc|pread|walk <passes> <root>=<file>,... ...";
    let (Some(mode), Some(passes)) = (
        args.first(),
        args.get(1).and_then(|p| p.parse::<u32>().ok()),
    ) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let hierarchies: Vec<Hierarchy> = args[2..]
        .iter()
        .filter_map(|a| {
            let (root, files) = a.split_once('=')?;
            let (stats, reads): (Vec<&str>, Vec<&str>) = files
                .split(',')
                .filter(|f| !f.is_empty())
                .partition(|f| *f == "." || f.starts_with("stat:"));
            Some(Hierarchy {
                root: root.to_string(),
                reads: reads.into_iter().map(str::to_string).collect(),
                stats: stats
                    .into_iter()
                    .map(|s| s.trim_start_matches("stat:").to_string())
                    .collect(),
            })
        })
        .collect();
    let mut buf = vec![0u8; 64 * 1024];
    let mut dents = vec![MaybeUninit::<u8>::uninit(); 64 * 1024];
    let mut kept = Vec::new();
    if mode == "pread" {
        for h in &hierarchies {
            if let Ok(fd) = openat(CWD, h.root.as_str(), DIR_FLAGS, Mode::empty()) {
                open_all(fd.as_fd(), h, &mut dents, &mut kept);
            }
        }
    }
    let (mut cpu, mut wall) = (Vec::new(), Vec::new());
    let mut n = Counts::default();
    for _ in 0..passes {
        n = Counts::default();
        let (c0, w0) = (cpu_ms(), Instant::now());
        match mode.as_str() {
            "pread" => {
                for fd in &kept {
                    n.files += 1;
                    n.bytes += pread(fd, &mut buf[..], 0).map_or(0, |r| r as u64);
                }
            }
            "orc" | "walk" => {
                for h in &hierarchies {
                    if let Ok(fd) = openat(CWD, h.root.as_str(), DIR_FLAGS, Mode::empty()) {
                        visit(fd.as_fd(), h, mode == "walk", &mut buf, &mut dents, &mut n);
                    }
                }
            }
            _ => {
                eprintln!("{usage}");
                std::process::exit(2);
            }
        }
        cpu.push(cpu_ms() - c0);
        wall.push(w0.elapsed().as_secs_f64() * 1e3);
    }
    let list = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.3}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    println!(
        "{{\"mode\":\"{mode}\",\"cpu_ms\":[{}],\"wall_ms\":[{}],\"cgroups\":{},\"files\":{},\"stats\":{},\"links\":{},\"bytes\":{}}}",
        list(&cpu),
        list(&wall),
        n.cgroups,
        n.files,
        n.stats,
        n.links,
        n.bytes
    );
}
