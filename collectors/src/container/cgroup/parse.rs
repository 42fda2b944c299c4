//! Pure parsers for the cgroup (v1 and v2) files the reader reads, and the few procfs and
//! sysfs files only the container side reads (`cgroup.procs`, `/proc/<pid>/limits`, CPU lists).
//!
//! Every parser takes the bytes of one file and returns typed values or a [`ParseError`];
//! none does I/O. Values are kept as `u64` in the file's own unit; callers scale them.
//!
//! Over 500 lines on purpose: about 340 of parsers, each following runc's reading of its file,
//! and their unit tests beside them; the fuzz table and `tests/layout.rs` check this one file.

use crate::error::ParseError;
use crate::procfs::mountinfo;

fn text(bytes: &[u8]) -> Result<&str, ParseError> {
    std::str::from_utf8(bytes).map_err(|_| ParseError::new("not UTF-8"))
}

fn num(s: &str) -> Result<u64, ParseError> {
    s.parse::<u64>()
        .map_err(|_| ParseError::new(format!("invalid number {s:?}")))
}

/// A cgroup counter as runc's `fscommon.ParseUint` reads it (libcontainer/cgroups/fscommon/
/// utils.go, used by `ParseKeyValue` and `GetCgroupParamUint`): a negative integer is 0, "due to
/// kernel bugs, some of the memory cgroup stats can be negative", instead of failing the file.
pub fn cgroup_uint(s: &str) -> Result<u64, ParseError> {
    match s.parse::<u64>() {
        Ok(v) => Ok(v),
        Err(_) => match s.strip_prefix('-') {
            Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(0)
            }
            _ => Err(ParseError::new(format!("invalid number {s:?}"))),
        },
    }
}

/// Parses a flat-keyed file (`cpu.stat`, `memory.stat`, `memory.events`, `cpuacct.stat`,
/// `memory.oom_control`): one `key value` pair per line. Calls `f` for each pair. As runc's
/// `ParseKeyValue` loop, an empty file is valid (no pairs) and a negative value reads as 0.
pub fn flat_keyed(bytes: &[u8], mut f: impl FnMut(&str, u64)) -> Result<(), ParseError> {
    let text = text(bytes)?;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut fields = line.split_ascii_whitespace();
        match (fields.next(), fields.next(), fields.next()) {
            (Some(key), Some(value), None) => f(key, cgroup_uint(value)?),
            _ => return Err(ParseError::new(format!("malformed line {line:?}"))),
        }
    }
    Ok(())
}

/// Looks up some keys of a flat-keyed file; `out[i]` receives the value of `keys[i]`.
pub fn flat_keyed_lookup<const N: usize>(
    bytes: &[u8],
    keys: [&str; N],
) -> Result<[Option<u64>; N], ParseError> {
    let mut out = [None; N];
    flat_keyed(bytes, |k, v| {
        if let Some(i) = keys.iter().position(|want| *want == k) {
            out[i] = Some(v);
        }
    })?;
    Ok(out)
}

/// A one-value cgroup limit file (`memory.max`, `memory.limit_in_bytes`, `pids.max`,
/// `cpu.cfs_quota_us`): `max` is `None` (no limit); v1's `-1` is `None` too.
pub fn limit(bytes: &[u8]) -> Result<Option<u64>, ParseError> {
    let t = text(bytes)?.trim();
    match t {
        "max" | "-1" => Ok(None),
        "" => Err(ParseError::new("empty")),
        _ => num(t).map(Some),
    }
}

/// A one-value counter or gauge file (`cpuacct.usage`, `memory.current`, `pids.current`);
/// a negative value reads as 0, as runc's `GetCgroupParamUint`.
pub fn single(bytes: &[u8]) -> Result<u64, ParseError> {
    let t = text(bytes)?.trim();
    if t.is_empty() {
        return Err(ParseError::new("empty"));
    }
    cgroup_uint(t)
}

/// v2 `cpu.max`: `<quota|max> <period>`; returns (quota, `None` when `max`; period).
pub fn cpu_max(bytes: &[u8]) -> Result<(Option<u64>, u64), ParseError> {
    let t = text(bytes)?;
    let mut fields = t.split_ascii_whitespace();
    match (fields.next(), fields.next(), fields.next()) {
        (Some(quota), Some(period), None) => {
            let quota = if quota == "max" {
                None
            } else {
                Some(num(quota)?)
            };
            Ok((quota, num(period)?))
        }
        _ => Err(ParseError::new(format!("malformed cpu.max {t:?}"))),
    }
}

/// One device line of v2 `io.stat`; a counter is `None` when the line does not carry it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoStat {
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// Bytes read.
    pub rbytes: Option<u64>,
    /// Bytes written.
    pub wbytes: Option<u64>,
    /// Read operations.
    pub rios: Option<u64>,
    /// Write operations.
    pub wios: Option<u64>,
}

fn major_minor(s: &str) -> Result<(u32, u32), ParseError> {
    let (ma, mi) = s
        .split_once(':')
        .ok_or_else(|| ParseError::new(format!("invalid device {s:?}")))?;
    let parse = |x: &str| {
        x.parse::<u32>()
            .map_err(|_| ParseError::new(format!("invalid device {s:?}")))
    };
    Ok((parse(ma)?, parse(mi)?))
}

/// Parses v2 `io.stat` (`MAJ:MIN rbytes=.. wbytes=.. rios=.. wios=.. dbytes=.. dios=..`) as
/// runc's `statIo` (libcontainer/cgroups/fs2/io.go): a line with fewer than two fields, a
/// device key without exactly one `:` and a field without exactly one `=` are skipped; other
/// keys (`dbytes`, `dios`, `cost.*`) are ignored; a bad device number or counter fails the file.
/// An empty file is valid (no I/O yet).
pub fn io_stat(bytes: &[u8]) -> Result<Vec<IoStat>, ParseError> {
    let mut out = Vec::new();
    for line in text(bytes)?.lines() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let [dev, items @ ..] = fields.as_slice() else {
            continue;
        };
        if items.is_empty() || dev.split(':').count() != 2 {
            continue;
        }
        let (major, minor) = major_minor(dev)?;
        let mut s = IoStat {
            major,
            minor,
            ..IoStat::default()
        };
        for kv in items {
            let mut parts = kv.split('=');
            let (Some(k), Some(v), None) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let slot = match k {
                "rbytes" => &mut s.rbytes,
                "wbytes" => &mut s.wbytes,
                "rios" => &mut s.rios,
                "wios" => &mut s.wios,
                _ => continue,
            };
            *slot = Some(num(v)?);
        }
        out.push(s);
    }
    Ok(out)
}

/// One line of a v1 blkio file (`blkio.throttle.io_service_bytes_recursive`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlkioEntry {
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// `Read`, `Write`, `Sync`, `Async`, `Discard` or `Total`.
    pub op: String,
    /// The value (bytes or operations).
    pub value: u64,
}

/// Parses a v1 blkio `MAJ:MIN Op value` file as runc's `getBlkioStat`
/// (libcontainer/cgroups/fs/blkio.go): fields split at spaces and colons, a `Total N` line is
/// skipped, `MAJ:MIN value` (no operation, as `blkio.sectors`) has the operation `""`, and any
/// other short line or bad number fails the file.
pub fn blkio(bytes: &[u8]) -> Result<Vec<BlkioEntry>, ParseError> {
    let mut out = Vec::new();
    for line in text(bytes)?.lines() {
        let fields: Vec<&str> = line.split([' ', ':']).filter(|f| !f.is_empty()).collect();
        if fields.len() < 3 {
            if fields.len() == 2 && fields[0] == "Total" || fields.is_empty() {
                continue;
            }
            return Err(ParseError::new(format!("malformed line {line:?}")));
        }
        let dev = |x: &str| {
            x.parse::<u32>()
                .map_err(|_| ParseError::new(format!("invalid device in {line:?}")))
        };
        let (op, value) = if fields.len() == 4 {
            (fields[2], fields[3])
        } else {
            ("", fields[2])
        };
        out.push(BlkioEntry {
            major: dev(fields[0])?,
            minor: dev(fields[1])?,
            op: op.to_string(),
            value: num(value)?,
        });
    }
    Ok(out)
}

/// The PSI totals of a `*.pressure` file, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pressure {
    /// `some total=` (0 when the file has no `some` line).
    pub some: u64,
    /// `full total=`; `None` without a `full` line (the cpu file before kernel 5.13).
    pub full: Option<u64>,
}

/// Parses a PSI file (`procfs::psi`) with runc's rules (`statPSI`,
/// libcontainer/cgroups/fs2/psi.go): lines other than `some`/`full` are skipped, a missing
/// `total=` is 0, a field without `=` or a bad avg/total fails the file.
pub fn pressure(bytes: &[u8]) -> Result<Pressure, ParseError> {
    text(bytes)?; // the cgroup parsers here all refuse a file that is not UTF-8
    let psi = crate::procfs::psi::parse(bytes)?;
    let total = |line: crate::procfs::psi::PsiLine| match line.bare_field {
        Some(f) => Err(ParseError::new(format!("invalid psi data {f:?}"))),
        None => Ok(line.total.unwrap_or(0)),
    };
    Ok(Pressure {
        some: psi.some.map(total).transpose()?.unwrap_or(0),
        full: psi.full.map(total).transpose()?,
    })
}

/// A cgroup file-system mount from mountinfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupMount {
    /// Mount point as the mountinfo owner sees it (octal escapes decoded).
    pub mount_point: String,
    /// True for `cgroup2`.
    pub v2: bool,
    /// v1 controllers from the super options (`cpu`, `cpuacct`, `name=systemd`...); empty for v2.
    pub controllers: Vec<String>,
}

/// Parses mountinfo ([`mountinfo::parse`]) and returns its `cgroup` and `cgroup2` mounts in
/// order. An empty file or one that is not UTF-8 is an error.
pub fn cgroup_mounts(bytes: &[u8]) -> Result<Vec<CgroupMount>, ParseError> {
    if text(bytes)?.trim().is_empty() {
        return Err(ParseError::new("empty mountinfo"));
    }
    let mut out = Vec::new();
    for line in mountinfo::parse(bytes)? {
        let v2 = match line.fs_type {
            b"cgroup2" => true,
            b"cgroup" => false,
            _ => continue,
        };
        let controllers = if v2 {
            Vec::new()
        } else {
            text(line.super_options)?
                .split(',')
                .filter(|o| !matches!(*o, "rw" | "ro") && !o.starts_with("release_agent="))
                .map(str::to_string)
                .collect()
        };
        out.push(CgroupMount {
            mount_point: String::from_utf8_lossy(&mountinfo::unescape_octal(line.mount_point))
                .into_owned(),
            v2,
            controllers,
        });
    }
    Ok(out)
}

/// Parses a kernel CPU list (`/sys/devices/system/cpu/online`: `0-3,5,7-8`) into CPU numbers.
pub fn cpu_list(bytes: &[u8]) -> Result<Vec<u32>, ParseError> {
    let mut out = Vec::new();
    for part in text(bytes)?.trim().split(',').filter(|p| !p.is_empty()) {
        let n = |x: &str| {
            x.parse::<u32>()
                .map_err(|_| ParseError::new(format!("invalid cpu list entry {part:?}")))
        };
        match part.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (n(lo)?, n(hi)?);
                if lo > hi {
                    return Err(ParseError::new(format!("invalid cpu range {part:?}")));
                }
                out.extend(lo..=hi);
            }
            None => out.push(n(part)?),
        }
    }
    Ok(out)
}

/// Parses a `cgroup.procs` file into pids.
pub fn pids(bytes: &[u8]) -> Result<Vec<u32>, ParseError> {
    text(bytes)?
        .split_ascii_whitespace()
        .map(|p| {
            p.parse::<u32>()
                .map_err(|_| ParseError::new(format!("invalid pid {p:?}")))
        })
        .collect()
}

/// The soft "Max open files" limit of a `/proc/<pid>/limits` file, as cAdvisor reads it for
/// `container_ulimits_soft{ulimit="max_open_files"}`: `unlimited` is -1; the line must have
/// exactly soft, hard and unit after its name.
pub fn max_open_files_soft(bytes: &[u8]) -> Result<i64, ParseError> {
    const PREFIX: &str = "Max open files";
    let line = text(bytes)?
        .lines()
        .find_map(|l| l.strip_prefix(PREFIX))
        .ok_or_else(|| ParseError::new("no \"Max open files\" line"))?;
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    let [soft, hard, _unit] = fields[..] else {
        return Err(ParseError::new(format!(
            "unable to parse max open files line: {line:?}"
        )));
    };
    let ulimit = |v: &str| match v.parse::<i64>() {
        Ok(n) => Ok(n),
        Err(_) if v.eq_ignore_ascii_case("unlimited") => Ok(-1),
        Err(_) => Err(ParseError::new(format!("unable to parse limit: {v:?}"))),
    };
    ulimit(hard)?;
    ulimit(soft)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_open_files() {
        let limits =
            b"Limit                     Soft Limit           Hard Limit           Units     \n\
Max processes             96364                96364                processes \n\
Max open files            20000                1048576              files     \n";
        assert_eq!(max_open_files_soft(limits).unwrap(), 20000);
        let unlimited =
            b"Max open files            unlimited            unlimited            files\n";
        assert_eq!(max_open_files_soft(unlimited).unwrap(), -1);
        assert!(max_open_files_soft(b"").is_err());
        assert!(max_open_files_soft(b"Max open files            20000\n").is_err());
        assert!(max_open_files_soft(b"Max open files            x  y  files\n").is_err());
        assert!(max_open_files_soft(&[0xff, 0xfe]).is_err());
    }

    const GARBAGE: &[u8] = &[0xff, 0xfe, 0x00, 0x12];

    #[test]
    fn flat_keyed_real_and_bad() {
        let cpu = b"usage_usec 253083004\nuser_usec 191140967\nsystem_usec 61942037\nnice_usec 0\n";
        let [u, s, x] =
            flat_keyed_lookup(cpu, ["usage_usec", "system_usec", "nr_periods"]).unwrap();
        assert_eq!((u, s, x), (Some(253083004), Some(61942037), None));
        // runc's ParseKeyValue loop: an empty file has no pairs and is not an error.
        let mut pairs = 0;
        flat_keyed(b"", |_, _| pairs += 1).unwrap();
        assert_eq!(pairs, 0);
        assert!(flat_keyed(b"usage_usec", |_, _| {}).is_err());
        assert!(flat_keyed(b"user abc\n", |_, _| {}).is_err());
        assert!(flat_keyed(GARBAGE, |_, _| {}).is_err());
    }

    /// runc's fscommon.ParseUint (and its TestParseUint cases): a negative counter, which kernel
    /// bugs put in memory.stat, is 0; only a non-number fails the file.
    #[test]
    fn negative_counters_read_as_zero() {
        let stat = b"cache 4096\nrss -8192\ntotal_rss -18446744073709551617\nswap 0\n";
        let [cache, rss, total_rss] =
            flat_keyed_lookup(stat, ["cache", "rss", "total_rss"]).unwrap();
        assert_eq!((cache, rss, total_rss), (Some(4096), Some(0), Some(0)));
        assert_eq!(single(b"-1\n").unwrap(), 0);
        assert_eq!(cgroup_uint("18446744073709551615").unwrap(), u64::MAX);
        assert!(cgroup_uint("-").is_err());
        assert!(cgroup_uint("-1x").is_err());
        assert!(flat_keyed(b"rss -x\n", |_, _| {}).is_err());
    }

    #[test]
    fn limits() {
        assert_eq!(limit(b"max\n").unwrap(), None);
        assert_eq!(limit(b"-1\n").unwrap(), None);
        assert_eq!(limit(b"268435456\n").unwrap(), Some(268435456));
        assert_eq!(
            limit(b"9223372036854771712\n").unwrap(),
            Some(9223372036854771712)
        );
        assert!(limit(b"").is_err());
        assert!(limit(b"12ab").is_err());
        assert!(limit(GARBAGE).is_err());
        assert_eq!(single(b"42\n").unwrap(), 42);
        assert!(single(b"").is_err());
    }

    #[test]
    fn cpu_max_forms() {
        assert_eq!(cpu_max(b"max 100000\n").unwrap(), (None, 100000));
        assert_eq!(cpu_max(b"50000 100000\n").unwrap(), (Some(50000), 100000));
        assert!(cpu_max(b"").is_err());
        assert!(cpu_max(b"50000").is_err());
        assert!(cpu_max(b"x y").is_err());
        assert!(cpu_max(GARBAGE).is_err());
    }

    #[test]
    fn io_stat_lines() {
        let s = b"8:0 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0\n253:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0 cost.usage=1\n";
        let v = io_stat(s).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(
            v[0],
            IoStat {
                major: 8,
                minor: 0,
                rbytes: Some(1459200),
                wbytes: Some(314773504),
                rios: Some(192),
                wios: Some(353)
            }
        );
        assert!(io_stat(b"").unwrap().is_empty());
        assert!(io_stat(b"8:0 rbytes=x").is_err());
        assert!(io_stat(b"8:x rbytes=1").is_err());
        assert!(io_stat(GARBAGE).is_err());
    }

    /// runc's statIo skips what it cannot map instead of failing the file: a device key
    /// without one `:`, a line without fields, a field without one `=`.
    #[test]
    fn io_stat_skips_as_runc() {
        let s = b"8:0\n8 rbytes=1\n1:2:3 rbytes=1\n8:16 rbytes=512 wbytes rios=a=b wios=2\n";
        let v = io_stat(s).unwrap();
        assert_eq!(
            v,
            vec![IoStat {
                major: 8,
                minor: 16,
                rbytes: Some(512),
                wbytes: None,
                rios: None,
                wios: Some(2)
            }]
        );
    }

    #[test]
    fn blkio_lines() {
        let s = b"8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n8:0 Total 12288\nTotal 12288\n";
        let v = blkio(s).unwrap();
        assert_eq!(v.len(), 6);
        assert_eq!(v[1].op, "Write");
        assert_eq!(v[1].value, 8192);
        assert!(blkio(b"Total 0\n").unwrap().is_empty());
        assert!(blkio(b"").unwrap().is_empty());
        assert!(blkio(b"8:0 Read").is_err());
        assert!(blkio(b"8:0\n").is_err());
        assert!(blkio(GARBAGE).is_err());
        // runc's getBlkioStat: `MAJ:MIN value` has no operation; `Total` is not parsed.
        let sectors = blkio(b"8:0 6792\nTotal x\n").unwrap();
        assert_eq!((sectors[0].op.as_str(), sectors[0].value), ("", 6792));
    }

    #[test]
    fn pressure_files() {
        let s = b"some avg10=6.86 avg60=3.06 avg300=1.81 total=17054867\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(
            pressure(s).unwrap(),
            Pressure {
                some: 17054867,
                full: Some(0)
            }
        );
        let some_only = b"some avg10=0.00 avg60=0.00 avg300=0.00 total=5\n";
        assert_eq!(pressure(some_only).unwrap().full, None);
        assert!(pressure(b"some avg10=x total=1\n").is_err());
        assert!(pressure(b"some total\n").is_err());
        assert!(pressure(b"some total=-1\n").is_err());
        assert!(pressure(GARBAGE).is_err());
    }

    /// runc's statPSI: unknown lines are skipped, a missing `total=` or `some` line is 0.
    #[test]
    fn pressure_tolerates_as_runc() {
        let s = b"lost avg10=1 total=9\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n";
        assert_eq!(
            pressure(s).unwrap(),
            Pressure {
                some: 0,
                full: Some(7)
            }
        );
        assert_eq!(pressure(b"").unwrap(), Pressure::default());
        assert_eq!(pressure(b"some avg10=0.00\n").unwrap().some, 0);
    }

    #[test]
    fn mountinfo_cgroups() {
        let s = b"31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct\n\
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/x,name=systemd\n\
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
42 31 0:39 / /mnt/a\\040b rw - cgroup2 cgroup2 rw\n";
        let m = cgroup_mounts(s).unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(m[0].mount_point, "/sys/fs/cgroup/cpu,cpuacct");
        assert_eq!(m[0].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(m[1].controllers, vec!["xattr", "name=systemd"]);
        assert!(m[2].v2 && m[2].controllers.is_empty());
        assert_eq!(m[3].mount_point, "/mnt/a b");
        assert!(cgroup_mounts(b"").is_err());
        assert!(cgroup_mounts(b"32 31 0:29 / /x rw - cgroup").is_err());
        assert!(cgroup_mounts(b"garbage line here\n").is_err());
        assert!(cgroup_mounts(GARBAGE).is_err());
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(cpu_list(b"0-3,5,7-8\n").unwrap(), vec![0, 1, 2, 3, 5, 7, 8]);
        assert_eq!(cpu_list(b"0\n").unwrap(), vec![0]);
        assert!(cpu_list(b"\n").unwrap().is_empty());
        assert!(cpu_list(b"3-1").is_err());
        assert!(cpu_list(b"a").is_err());
        assert!(cpu_list(GARBAGE).is_err());
    }

    #[test]
    fn procs() {
        assert_eq!(pids(b"1\n23\n").unwrap(), vec![1, 23]);
        assert!(pids(b"").unwrap().is_empty());
        assert!(pids(b"1\nx\n").is_err());
        assert!(pids(GARBAGE).is_err());
    }
}
