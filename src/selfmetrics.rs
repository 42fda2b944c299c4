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
    // Through the collectors' descriptor cache: /proc/self/stat stays ours for the life of the
    // process, so its descriptor is kept like any procfs file.
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
    // getrlimit gives the soft limits /proc/self/limits prints, without formatting and parsing
    // a page of text; RLIM_INFINITY ("unlimited") is u64::MAX either way.
    let soft = |resource| {
        rustix::process::getrlimit(resource)
            .current
            .unwrap_or(u64::MAX)
    };
    sink.single(
        "process_max_fds",
        "Maximum number of open file descriptors.",
        MetricType::Gauge,
        soft(rustix::process::Resource::Nofile) as f64,
    );
    sink.single(
        "process_virtual_memory_max_bytes",
        "Maximum amount of virtual memory available in bytes.",
        MetricType::Gauge,
        soft(rustix::process::Resource::As) as f64,
    );
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
        let mut out = Vec::new();
        nodex_collectors::expfmt::render(
            &[&sink],
            nodex_collectors::expfmt::Format::Text,
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        // The limits agree with the soft column of /proc/self/limits.
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        for (row, family) in [
            ("Max open files", "process_max_fds"),
            ("Max address space", "process_virtual_memory_max_bytes"),
        ] {
            let line = limits.lines().find(|l| l.starts_with(row)).unwrap();
            let soft = line[row.len()..].split_ascii_whitespace().next().unwrap();
            let expected = match soft {
                "unlimited" => u64::MAX as f64,
                n => n.parse::<u64>().unwrap() as f64,
            };
            let written = text
                .lines()
                .find_map(|l| l.strip_prefix(family)?.strip_prefix(' '))
                .unwrap();
            assert_eq!(written.parse::<f64>().unwrap(), expected, "{family}");
        }
    }
}
