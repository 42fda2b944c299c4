//! `process_*` metrics about nodex itself, as client_golang's process collector writes them.
//!
//! These read the process's own `/proc/self`, not the configured `--path.procfs`: they describe
//! this process in whatever pid namespace it runs, which is what the Go client does too.

use std::path::Path;

use nodex_collectors::{MetricSink, MetricType};

const SELF_DIR: &str = "/proc/self";

/// Values parsed from `/proc/self/stat`.
#[derive(Debug, PartialEq)]
pub struct SelfStat {
    /// User plus system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    /// Start time after boot, in clock ticks.
    pub start_ticks: u64,
    /// Virtual memory size in bytes.
    pub vsize: u64,
    /// Resident set size in pages.
    pub rss_pages: u64,
}

/// Parses `/proc/<pid>/stat`; the command name may hold spaces and parentheses, so fields are
/// counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<SelfStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    // After the comm: state is field 3 of the man page, so man field N is f[N - 3].
    let num = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    Some(SelfStat {
        cpu_ticks: num(14)? + num(15)?,
        start_ticks: num(22)?,
        vsize: num(23)?,
        rss_pages: num(24)?,
    })
}

/// The soft limit of a `/proc/<pid>/limits` row (`None` when absent; `u64::MAX` when unlimited).
pub fn parse_limit(text: &str, row: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(row))?;
    let soft = line[row.len()..].split_ascii_whitespace().next()?;
    if soft == "unlimited" {
        Some(u64::MAX)
    } else {
        soft.parse().ok()
    }
}

/// Boot time never changes; read it once rather than parse `/proc/stat` every scrape.
fn boot_time() -> Option<u64> {
    static BOOT_TIME: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *BOOT_TIME.get_or_init(|| {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        stat.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse().ok())
    })
}

/// Appends the process families; families whose source cannot be read are left out.
pub fn write_process_metrics(sink: &mut MetricSink) {
    let dir = Path::new(SELF_DIR);
    let ticks = clock_ticks();
    // Through the collectors' descriptor cache: /proc/self/stat and limits stay ours for the
    // life of the process, so their descriptors are kept like any procfs file.
    let read = |name: &str| {
        nodex_collectors::util::read_bytes(dir.join(name))
            .ok()
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    };
    if let Some(stat) = read("stat").as_deref().and_then(parse_stat) {
        sink.single(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            MetricType::Counter,
            stat.cpu_ticks as f64 / ticks,
        );
        sink.single(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            MetricType::Gauge,
            stat.vsize as f64,
        );
        sink.single(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            MetricType::Gauge,
            (stat.rss_pages * rustix::param::page_size() as u64) as f64,
        );
        if let Some(btime) = boot_time() {
            sink.single(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                MetricType::Gauge,
                btime as f64 + stat.start_ticks as f64 / ticks,
            );
        }
    }
    if let Some(fds) = open_fds(&dir.join("fd")) {
        sink.single(
            "process_open_fds",
            "Number of open file descriptors.",
            MetricType::Gauge,
            fds as f64,
        );
    }
    if let Some(limits) = read("limits") {
        if let Some(max_fds) = parse_limit(&limits, "Max open files") {
            sink.single(
                "process_max_fds",
                "Maximum number of open file descriptors.",
                MetricType::Gauge,
                max_fds as f64,
            );
        }
        if let Some(max_vm) = parse_limit(&limits, "Max address space") {
            sink.single(
                "process_virtual_memory_max_bytes",
                "Maximum amount of virtual memory available in bytes.",
                MetricType::Gauge,
                max_vm as f64,
            );
        }
    }
}

/// The number of open descriptors: since Linux 6.2 the size `stat` gives for `/proc/<pid>/fd`
/// (one call), else the number of its entries. A process serving HTTP has at least one open
/// descriptor, so a size of 0 means an older kernel.
fn open_fds(fd_dir: &Path) -> Option<u64> {
    match std::fs::metadata(fd_dir) {
        Ok(meta) if meta.len() > 0 => Some(meta.len()),
        _ => std::fs::read_dir(fd_dir).ok().map(|fds| fds.count() as u64),
    }
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions; it returns -1 on error, handled below.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_comm() {
        let line = "1234 (no de) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 5 0 4200 123456789 512 18446744073709551615";
        let s = parse_stat(line).unwrap();
        assert_eq!(
            s,
            SelfStat {
                cpu_ticks: 10,
                start_ticks: 4200,
                vsize: 123456789,
                rss_pages: 512
            }
        );
        assert!(parse_stat("").is_none());
        assert!(parse_stat("1 (x) S 1 2").is_none());
    }

    #[test]
    fn parses_limits() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max open files            1024                 524288               files     \n\
                    Max address space         unlimited            unlimited            bytes     \n";
        assert_eq!(parse_limit(text, "Max open files"), Some(1024));
        assert_eq!(parse_limit(text, "Max address space"), Some(u64::MAX));
        assert_eq!(parse_limit(text, "Max nothing"), None);
    }

    #[test]
    fn counts_open_descriptors_of_a_process() {
        use std::process::{Command, Stdio};
        // `spawn` returns once the child has exec'd; from then on its descriptors (0, 1, 2 and
        // whatever the test harness let it inherit) stay put while it sleeps.
        let mut child = Command::new("sleep")
            .arg("60")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let dir = format!("/proc/{}/fd", child.id());
        let count = open_fds(Path::new(&dir));
        let listed = std::fs::read_dir(&dir).unwrap().count() as u64;
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(listed >= 3);
        assert_eq!(count, Some(listed));
    }

    #[test]
    fn writes_own_process_metrics() {
        let mut sink = MetricSink::new();
        write_process_metrics(&mut sink);
        assert!(
            sink.sample_count() >= 6,
            "expected the process families from /proc/self"
        );
    }
}
