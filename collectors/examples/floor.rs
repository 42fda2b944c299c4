//! Benchmark tool: the kernel's share of a host scrape, the floor no exporter can go under.
//! Replays the file-system and netlink calls nodex made in one recorded scrape (the same opens,
//! `pread`s, directory reads, `stat`s and `statfs`es, the same netlink dumps) without parsing or
//! formatting anything, so its CPU per replay is what the kernel charges for producing the data.
//!
//! Recording (`benches/scrape_bench.py` does it): `strace -f -qq -o TRACE -e trace=<the calls
//! below> -p <nodex pid>` around one scrape, and `ls -l /proc/<pid>/fd` afterwards for the
//! descriptors nodex keeps open between scrapes (those are opened once here too).
//!
//! `cargo run --release -p nodex-collectors --example floor -- TRACE FDMAP [RUNS]` replays RUNS
//! times and prints the CPU per replay; without RUNS it replays once per line read from stdin
//! and answers each with a line, so a benchmark can drive it in step with scrapes.

use std::collections::HashMap;
use std::ffi::CString;
use std::io::{BufRead, Write};

use nodex_collectors::netlink::{Socket, NETLINK_ROUTE, RTM_GETLINK};

const NETLINK_SOCK_DIAG: i32 = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const IFLA_EXT_MASK: u16 = 29;

/// One call to replay.
#[derive(Debug, PartialEq)]
enum Op {
    /// `openat` of a path (relative to a traced descriptor or absolute), its flags and the
    /// descriptor the trace got (`None` when it failed).
    Open(Option<i32>, String, i32, Option<i32>),
    /// `pread64(fd, _, len, offset)`.
    Pread(i32, usize, i64),
    /// `read(fd, _, len)`.
    Read(i32, usize),
    /// `getdents64(fd, _, len)`.
    Getdents(i32, usize),
    /// `close(fd)`.
    Close(i32),
    /// A `stat` of a path (`statx`, `newfstatat`), relative to a traced descriptor or not.
    Stat(Option<i32>, String),
    /// `fstat`/`statx` of a descriptor.
    Fstat(i32),
    /// `statfs(path)`.
    Statfs(String),
    /// An `RTM_GETLINK` dump with this `IFLA_EXT_MASK`.
    LinkDump(u32),
    /// A UDP `SOCK_DIAG_BY_FAMILY` dump of this address family.
    UdpDiag(u8),
    /// `prlimit64`/`getrlimit` of `RLIMIT_NOFILE`.
    Rlimit,
    /// `uname`.
    Uname,
}

/// The quoted strings of a strace argument list, in order (strace escapes `"` and `\`).
fn quoted(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = args.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut s = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        s.push(n);
                    }
                }
                '"' => break,
                c => s.push(c),
            }
        }
        out.push(s);
    }
    out
}

/// A descriptor argument: `AT_FDCWD` is none, a number is that descriptor.
fn dirfd(arg: &str) -> Option<Option<i32>> {
    if arg == "AT_FDCWD" {
        Some(None)
    } else {
        arg.parse().ok().map(Some)
    }
}

fn open_flags(text: &str) -> i32 {
    let mut flags = libc::O_RDONLY | libc::O_CLOEXEC;
    for f in text.split('|') {
        flags |= match f.trim() {
            "O_DIRECTORY" => libc::O_DIRECTORY,
            "O_NONBLOCK" => libc::O_NONBLOCK,
            "O_PATH" => libc::O_PATH,
            "O_NOFOLLOW" => libc::O_NOFOLLOW,
            _ => 0,
        };
    }
    flags
}

/// Parses one complete (not `unfinished`) strace line: `[pid] name(args) = result`.
fn parse_line(line: &str) -> Option<Op> {
    let line = line.trim();
    let line = match line.split_once(' ') {
        Some((pid, rest)) if pid.chars().all(|c| c.is_ascii_digit()) => rest,
        _ => line,
    };
    let (name, rest) = line.split_once('(')?;
    // strace pads the result column (`name(args)   = result`), and an error result ends in
    // `(message)`: the arguments end at the last `)` followed by `=`.
    let close = rest
        .rmatch_indices(')')
        .map(|(i, _)| i)
        .find(|&i| rest[i + 1..].trim_start().starts_with('='))?;
    let (args, result) = (&rest[..close], &rest[close + 1..]);
    let result = result.trim_start().strip_prefix('=')?;
    let result: Option<i64> = result.split_whitespace().next()?.parse().ok();
    let ok = result.filter(|r| *r >= 0);
    let fields: Vec<&str> = args.split(", ").collect();
    let int = |i: usize| fields.get(i).and_then(|f| f.trim().parse::<i64>().ok());
    match name {
        "openat" => {
            let path = quoted(args).into_iter().next()?;
            let flags = open_flags(fields.get(2)?);
            Some(Op::Open(
                dirfd(fields.first()?)?,
                path,
                flags,
                ok.map(|r| r as i32),
            ))
        }
        "pread64" => Some(Op::Pread(
            int(0)? as i32,
            int(fields.len() - 2)? as usize,
            int(fields.len() - 1)?,
        )),
        "read" => Some(Op::Read(int(0)? as i32, int(fields.len() - 1)? as usize)),
        "getdents64" => Some(Op::Getdents(
            int(0)? as i32,
            int(fields.len() - 1)? as usize,
        )),
        "close" => Some(Op::Close(int(0)? as i32)),
        "statx" | "newfstatat" => {
            let dir = dirfd(fields.first()?)?;
            let path = quoted(args).into_iter().next()?;
            match (path.is_empty(), dir) {
                (true, Some(fd)) => Some(Op::Fstat(fd)),
                _ => Some(Op::Stat(dir, path)),
            }
        }
        "fstat" => Some(Op::Fstat(int(0)? as i32)),
        "statfs" => Some(Op::Statfs(quoted(args).into_iter().next()?)),
        "sendto" | "sendmsg" if args.contains("nlmsg_type=RTM_GETLINK") => {
            let mask = args
                .split("IFLA_EXT_MASK}, ")
                .nth(1)
                .map(|s| {
                    s.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                        .next()
                })
                .unwrap_or(None);
            let mask = match mask {
                Some("RTEXT_FILTER_SKIP_STATS") => 1 << 3,
                Some(m) => m.parse().unwrap_or(0),
                None => 0,
            };
            Some(Op::LinkDump(mask))
        }
        "sendto" | "sendmsg" if args.contains("nlmsg_type=SOCK_DIAG_BY_FAMILY") => {
            if args.contains("sdiag_family=AF_INET6") {
                Some(Op::UdpDiag(libc::AF_INET6 as u8))
            } else {
                Some(Op::UdpDiag(libc::AF_INET as u8))
            }
        }
        "prlimit64" | "getrlimit" if args.contains("RLIMIT_NOFILE") => Some(Op::Rlimit),
        "uname" => Some(Op::Uname),
        _ => None,
    }
}

/// The calls of a trace in order, `unfinished`/`resumed` halves joined per thread.
fn parse_trace(text: &str) -> Vec<Op> {
    let mut pending: HashMap<String, String> = HashMap::new();
    let mut ops = Vec::new();
    for line in text.lines() {
        let (pid, rest) = line.split_once(' ').unwrap_or(("", line));
        let full = if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            pending.insert(pid.to_string(), head.to_string());
            continue;
        } else if let Some(tail) = rest.strip_prefix("<... ") {
            let Some(head) = pending.remove(pid) else {
                continue;
            };
            let tail = tail.split_once(" resumed>").map(|(_, t)| t).unwrap_or("");
            format!("{head}{tail}")
        } else {
            rest.to_string()
        };
        if let Some(op) = parse_line(&full) {
            ops.push(op);
        }
    }
    ops
}

/// `fd path` pairs of an `ls -l /proc/<pid>/fd` listing: the descriptors kept between scrapes.
fn parse_fd_map(text: &str) -> HashMap<i32, String> {
    text.lines()
        .filter_map(|l| {
            let (left, target) = l.split_once(" -> ")?;
            let fd = left.split_whitespace().last()?.parse().ok()?;
            // nodex's `/proc/self/...` and `/proc/net/...` resolve to `/proc/<its pid>/...`.
            let target = match target
                .strip_prefix("/proc/")
                .and_then(|t| t.split_once('/'))
            {
                Some((pid, rest)) if pid.bytes().all(|b| b.is_ascii_digit()) => {
                    format!("/proc/self/{rest}")
                }
                _ => target.to_string(),
            };
            target.starts_with('/').then_some((fd, target))
        })
        .collect()
}

fn cstr(s: &str) -> CString {
    CString::new(s).unwrap_or_default()
}

/// Replays traces; descriptors open across scrapes in nodex stay open here.
struct Replayer {
    ops: Vec<Op>,
    kept_paths: HashMap<i32, String>,
    fds: HashMap<i32, i32>,
    buf: Vec<u8>,
    route: Option<Socket>,
    diag: Option<Socket>,
}

impl Replayer {
    fn fd(&mut self, traced: i32) -> Option<i32> {
        if let Some(fd) = self.fds.get(&traced) {
            return Some(*fd);
        }
        let path = self.kept_paths.get(&traced)?;
        // SAFETY: a valid C string; the descriptor is owned by this map.
        let fd = unsafe { libc::open(cstr(path).as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        (fd >= 0).then(|| {
            self.fds.insert(traced, fd);
            fd
        })
    }

    fn dir(&mut self, traced: Option<i32>) -> i32 {
        traced.and_then(|d| self.fd(d)).unwrap_or(libc::AT_FDCWD)
    }

    fn run(&mut self) {
        let ops = std::mem::take(&mut self.ops);
        let buf = self.buf.as_mut_ptr().cast();
        let cap = self.buf.len();
        for op in &ops {
            // SAFETY (every call below): valid C strings and a buffer of `cap` bytes; results
            // are ignored as the trace's were recorded, failures included.
            match op {
                Op::Open(dir, path, flags, traced) => {
                    let dirfd = self.dir(*dir);
                    let fd = unsafe { libc::openat(dirfd, cstr(path).as_ptr(), *flags) };
                    if let (Some(t), true) = (traced, fd >= 0) {
                        if let Some(old) = self.fds.insert(*t, fd) {
                            unsafe { libc::close(old) };
                        }
                    } else if fd >= 0 {
                        unsafe { libc::close(fd) };
                    }
                }
                Op::Pread(fd, len, off) => {
                    if let Some(fd) = self.fd(*fd) {
                        unsafe { libc::pread(fd, buf, (*len).min(cap), *off) };
                    }
                }
                Op::Read(fd, len) => {
                    if let Some(fd) = self.fds.get(fd) {
                        unsafe { libc::read(*fd, buf, (*len).min(cap)) };
                    }
                }
                Op::Getdents(fd, len) => {
                    if let Some(fd) = self.fds.get(fd) {
                        unsafe { libc::syscall(libc::SYS_getdents64, *fd, buf, (*len).min(cap)) };
                    }
                }
                Op::Close(fd) => {
                    if let Some(fd) = self.fds.remove(fd) {
                        unsafe { libc::close(fd) };
                    }
                }
                Op::Stat(dir, path) => {
                    let dirfd = self.dir(*dir);
                    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
                    unsafe { libc::fstatat(dirfd, cstr(path).as_ptr(), st.as_mut_ptr(), 0) };
                }
                Op::Fstat(fd) => {
                    if let Some(fd) = self.fd(*fd) {
                        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
                        unsafe { libc::fstat(fd, st.as_mut_ptr()) };
                    }
                }
                Op::Statfs(path) => {
                    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
                    unsafe { libc::statfs(cstr(path).as_ptr(), st.as_mut_ptr()) };
                }
                Op::LinkDump(mask) => {
                    if let Some(sock) = self.route.as_mut() {
                        let mask = mask.to_ne_bytes();
                        let _ = sock.dump(RTM_GETLINK, &[0u8; 16], &[(IFLA_EXT_MASK, &mask)]);
                    }
                }
                Op::UdpDiag(family) => {
                    if let Some(sock) = self.diag.as_mut() {
                        let mut req = [0u8; 56];
                        req[0] = *family;
                        req[1] = libc::IPPROTO_UDP as u8;
                        req[4..8].copy_from_slice(&u32::MAX.to_ne_bytes());
                        let _ = sock.dump(SOCK_DIAG_BY_FAMILY, &req, &[]);
                    }
                }
                Op::Rlimit => {
                    let mut r = libc::rlimit {
                        rlim_cur: 0,
                        rlim_max: 0,
                    };
                    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
                }
                Op::Uname => {
                    let mut u = std::mem::MaybeUninit::<libc::utsname>::uninit();
                    unsafe { libc::uname(u.as_mut_ptr()) };
                }
            }
        }
        self.ops = ops;
    }
}

/// User and system CPU time of this process, in seconds.
fn cpu() -> (f64, f64) {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills one rusage through a valid pointer.
    let ru = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr());
        ru.assume_init()
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime), secs(ru.ru_stime))
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(trace), Some(fdmap)) = (args.first(), args.get(1)) else {
        eprintln!("usage: floor TRACE FDMAP [RUNS]");
        std::process::exit(2);
    };
    let ops = parse_trace(&std::fs::read_to_string(trace)?);
    let kept_paths = parse_fd_map(&std::fs::read_to_string(fdmap)?);
    let mut r = Replayer {
        ops,
        kept_paths,
        fds: HashMap::new(),
        buf: vec![0; 1 << 20],
        route: Socket::open(NETLINK_ROUTE).ok(),
        diag: Socket::open(NETLINK_SOCK_DIAG).ok(),
    };
    eprintln!("floor: {} calls per replay", r.ops.len());
    match args.get(2).and_then(|n| n.parse::<u32>().ok()) {
        Some(runs) => {
            r.run();
            let (u0, s0) = cpu();
            for _ in 0..runs {
                r.run();
            }
            let (u1, s1) = cpu();
            let per = |a: f64, b: f64| (b - a) / f64::from(runs.max(1)) * 1000.0;
            println!(
                "user {:.3} ms, system {:.3} ms per replay",
                per(u0, u1),
                per(s0, s1)
            );
        }
        None => {
            let stdin = std::io::stdin();
            let mut out = std::io::stdout().lock();
            for line in stdin.lock().lines() {
                line?;
                r.run();
                out.write_all(b"ok\n")?;
                out.flush()?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as strace 6.1 wrote them for a nodex scrape (`strace -f -qq -s 64`).
    const TRACE: &str = r#"32014 openat(AT_FDCWD, "/sys/fs/bcache", O_RDONLY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY) = -1 ENOENT (No such file or directory)
32014 pread64(12, "IP address       HW type     Flags       HW address            M"..., 4096, 0) = 156
32014 getdents64(85, 0xb013070 /* 3 entries */, 32768) = 80
32014 statx(AT_FDCWD, "/sys/devices/system/cpu/cpu0/topology", AT_STATX_SYNC_AS_STAT, STATX_ALL, {stx_mask=STATX_BASIC_STATS|STATX_MNT_ID, stx_attributes=0, stx_mode=S_IFDIR|0755, stx_size=0, ...}) = 0
32014 newfstatat(85, "", {st_mode=S_IFDIR|0755, st_size=0, ...}, AT_EMPTY_PATH) = 0
32014 statfs("/", {f_type=EXT2_SUPER_MAGIC, f_bsize=4096, f_blocks=66053021, f_bfree=53722675, f_bavail=11491126, f_files=16777216, f_ffree=16222496, f_fsid={val=[0x34da047e, 0x5d4c05ec]}, f_namelen=255, f_frsize=4096, f_flags=ST_VALID|ST_RELATIME}) = 0
31994 prlimit64(0, RLIMIT_NOFILE, NULL, {rlim_cur=20000, rlim_max=20000}) = 0
12693 openat(AT_FDCWD, "/proc/net/rpc/nfsd", O_RDONLY|O_CLOEXEC <unfinished ...>
12626 <... epoll_wait resumed>[], 1024, 11) = 0
12693 <... openat resumed>)             = 7
12693 close(7)                          = 0
32014 sendto(33, [{nlmsg_len=40, nlmsg_type=RTM_GETLINK, nlmsg_flags=NLM_F_REQUEST|NLM_F_DUMP, nlmsg_seq=5, nlmsg_pid=0}, {ifi_family=AF_UNSPEC, ifi_type=ARPHRD_NETROM, ifi_index=0, ifi_flags=0, ifi_change=0}, [{nla_len=8, nla_type=IFLA_EXT_MASK}, RTEXT_FILTER_SKIP_STATS]], 40, 0, NULL, 0) = 40
32014 sendto(82, [{nlmsg_len=72, nlmsg_type=SOCK_DIAG_BY_FAMILY, nlmsg_flags=NLM_F_REQUEST|NLM_F_DUMP, nlmsg_seq=9, nlmsg_pid=0}, {sdiag_family=AF_INET6, sdiag_protocol=IPPROTO_UDP, idiag_ext=0}], 72, 0, NULL, 0) = 72
"#;

    #[test]
    fn parses_a_recorded_scrape() {
        assert_eq!(
            parse_trace(TRACE),
            vec![
                Op::Open(
                    None,
                    "/sys/fs/bcache".into(),
                    libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_DIRECTORY,
                    None
                ),
                Op::Pread(12, 4096, 0),
                Op::Getdents(85, 32768),
                Op::Stat(None, "/sys/devices/system/cpu/cpu0/topology".into()),
                Op::Fstat(85),
                Op::Statfs("/".into()),
                Op::Rlimit,
                Op::Open(
                    None,
                    "/proc/net/rpc/nfsd".into(),
                    libc::O_RDONLY | libc::O_CLOEXEC,
                    Some(7)
                ),
                Op::Close(7),
                Op::LinkDump(1 << 3),
                Op::UdpDiag(libc::AF_INET6 as u8),
            ]
        );
    }

    #[test]
    fn kept_descriptors_of_proc_pid_become_proc_self() {
        let map = parse_fd_map(
            "total 0\n\
             lr-x------ 1 root root 64 Dec  1 21:59 0 -> /dev/null\n\
             lr-x------ 1 root root 64 Dec  1 21:59 12 -> /proc/31992/net/arp\n\
             lrwx------ 1 root root 64 Dec  1 21:59 33 -> socket:[81234]\n",
        );
        assert_eq!(map.get(&12).map(String::as_str), Some("/proc/self/net/arp"));
        assert_eq!(map.get(&0).map(String::as_str), Some("/dev/null"));
        assert!(!map.contains_key(&33));
    }
}
