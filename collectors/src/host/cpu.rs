//! cpu: `node_cpu_seconds_total{cpu,mode}` and `node_cpu_guest_seconds_total{cpu,mode}` from
//! `/proc/stat`, kept monotonic per CPU as node_exporter's `updateCPUStats`; thermal throttle
//! counters and isolated CPUs from `/sys/devices/system/cpu`; with `--collector.cpu.info`,
//! `node_cpu_info`, `node_cpu_frequency_hertz` and the flag/bug info families from
//! `/proc/cpuinfo`.

use crate::roots::JoinExt;
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use regex::Regex;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::host::stat::{self, CpuTimes};
use crate::options::{Flag, FlagSpec};
use crate::procfs::cpuinfo::parse_cpuinfo;
use crate::util::{list_dir, lossy, parse_file, parse_u64, read_trimmed};

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "cpu",
    default_enabled: true,
    sources: "/proc/stat, /proc/cpuinfo, /sys/devices/system/cpu",
    flags: FLAGS,
    build,
};

/// `--collector.cpu.guest`.
pub const GUEST: Flag<bool> = Flag::new(
    "collector.cpu.guest",
    "Enables metric node_cpu_guest_seconds_total",
    "true",
);

/// `--collector.cpu.info`.
pub const INFO_FLAG: Flag<bool> =
    Flag::new("collector.cpu.info", "Enables metric cpu_info", "false");

/// `--collector.cpu.info.flags-include`.
pub const INFO_FLAGS_INCLUDE: Flag<Option<Regex>> = Flag::new(
    "collector.cpu.info.flags-include",
    "Filter the `flags` field in cpuInfo with a value that must be a regular expression",
    "",
);

/// `--collector.cpu.info.bugs-include`.
pub const INFO_BUGS_INCLUDE: Flag<Option<Regex>> = Flag::new(
    "collector.cpu.info.bugs-include",
    "Filter the `bugs` field in cpuInfo with a value that must be a regular expression",
    "",
);

const FLAGS: &[FlagSpec] = &[
    GUEST.spec,
    INFO_FLAG.spec,
    INFO_FLAGS_INCLUDE.spec,
    INFO_BUGS_INCLUDE.spec,
];

/// An idle time this many seconds below the cached one means the CPU was hot-plugged.
const JUMP_BACK_SECONDS: f64 = 3.0;

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    let options = &settings.options;
    let flags_include = options.get(&INFO_FLAGS_INCLUDE)?;
    let bugs_include = options.get(&INFO_BUGS_INCLUDE)?;
    // Setting either filter turns the info families on, as in node_exporter.
    let info = options.get(&INFO_FLAG) || flags_include.is_some() || bugs_include.is_some();
    let isolated = read_isolated(&settings.roots.sys("devices/system/cpu/isolated"))?;
    Ok(Box::new(CpuCollector {
        settings: Arc::clone(settings),
        guest: options.get(&GUEST),
        info,
        flags_include,
        bugs_include,
        isolated,
        cache: Mutex::new(BTreeMap::new()),
    }))
}

/// Reads the isolated CPU list once at start-up; an absent file means no isolation metrics.
fn read_isolated(path: &Path) -> Result<Option<Vec<u16>>, String> {
    match crate::util::read_bytes(path) {
        Ok(bytes) => parse_cpu_list(&lossy(&bytes))
            .map(Some)
            .map_err(|e| format!("unable to get isolated cpus from {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!(
            "unable to get isolated cpus from {}: {e}",
            path.display()
        )),
    }
}

struct CpuCollector {
    settings: Arc<Settings>,
    guest: bool,
    info: bool,
    flags_include: Option<Regex>,
    bugs_include: Option<Regex>,
    isolated: Option<Vec<u16>>,
    cache: Mutex<BTreeMap<u32, CpuTimes>>,
}

impl Collector for CpuCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        if self.info {
            self.collect_info(sink)?;
        }
        self.collect_stat(sink)?;
        if let Some(isolated) = &self.isolated {
            sink.gauge(
                "node_cpu_isolated",
                "Whether each core is isolated, information from /sys/devices/system/cpu/isolated.",
            );
            for cpu in isolated {
                sink.sample(&[("cpu", &cpu.to_string())], 1.0);
            }
        }
        self.collect_throttles(sink);
        Ok(())
    }
}

impl CpuCollector {
    fn collect_stat(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let stat = parse_file(&self.settings.roots.proc("stat"), stat::parse)?;
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        update_cache(&mut cache, &stat.cpus);
        sink.counter(
            "node_cpu_seconds_total",
            "Seconds the CPUs spent in each mode.",
        );
        for (id, t) in cache.iter() {
            let cpu = id.to_string();
            for (mode, value) in [
                ("user", t.user),
                ("nice", t.nice),
                ("system", t.system),
                ("idle", t.idle),
                ("iowait", t.iowait),
                ("irq", t.irq),
                ("softirq", t.softirq),
                ("steal", t.steal),
            ] {
                sink.sample(&[("cpu", &cpu), ("mode", mode)], value);
            }
        }
        if self.guest {
            // Guest time is also included in user and nice; exported again on its own.
            sink.counter(
                "node_cpu_guest_seconds_total",
                "Seconds the CPUs spent in guests (VMs) for each mode.",
            );
            for (id, t) in cache.iter() {
                let cpu = id.to_string();
                sink.sample(&[("cpu", &cpu), ("mode", "user")], t.guest);
                sink.sample(&[("cpu", &cpu), ("mode", "nice")], t.guest_nice);
            }
        }
        Ok(())
    }

    fn collect_info(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let cpus = parse_file(&self.settings.roots.proc("cpuinfo"), parse_cpuinfo)?;
        sink.gauge("node_cpu_info", "CPU information from /proc/cpuinfo.");
        for c in &cpus {
            sink.sample(
                &[
                    ("package", &c.physical_id),
                    ("core", &c.core_id),
                    ("cpu", &c.processor.to_string()),
                    ("vendor", &c.vendor_id),
                    ("family", &c.cpu_family),
                    ("model", &c.model),
                    ("model_name", &c.model_name),
                    ("microcode", &c.microcode),
                    ("stepping", &c.stepping),
                    ("cachesize", &c.cache_size),
                ],
                1.0,
            );
        }
        sink.gauge(
            "node_cpu_frequency_hertz",
            "CPU frequency in hertz from /proc/cpuinfo.",
        );
        for c in &cpus {
            sink.sample(
                &[
                    ("package", &c.physical_id),
                    ("core", &c.core_id),
                    ("cpu", &c.processor.to_string()),
                ],
                c.mhz * 1e6,
            );
        }
        if let Some(first) = cpus.first() {
            field_info(
                sink,
                "node_cpu_flag_info",
                "The `flags` field of CPU information from /proc/cpuinfo taken from the first core.",
                "flag",
                &first.flags,
                self.flags_include.as_ref(),
            );
            field_info(
                sink,
                "node_cpu_bug_info",
                "The `bugs` field of CPU information from /proc/cpuinfo taken from the first core.",
                "bug",
                &first.bugs,
                self.bugs_include.as_ref(),
            );
        }
        Ok(())
    }

    /// Core and package throttle counts; each core and package is read from its first CPU.
    fn collect_throttles(&self, sink: &mut MetricSink) {
        let base = self.settings.roots.sys("devices/system/cpu");
        // Like Go's filepath.Glob, an unreadable directory simply matches nothing.
        let names = list_dir(&base).unwrap_or_default();
        let mut packages: BTreeMap<u64, u64> = BTreeMap::new();
        let mut cores: BTreeMap<(u64, u64), u64> = BTreeMap::new();
        for name in names.iter().filter(|n| is_cpu_dir(n)) {
            let dir = base.join_exact(name);
            let (Some(package), Some(core)) = (
                read_uint(&dir.join_exact("topology/physical_package_id")),
                read_uint(&dir.join_exact("topology/core_id")),
            ) else {
                continue;
            };
            read_once(
                &mut cores,
                (package, core),
                &dir.join_exact("thermal_throttle/core_throttle_count"),
            );
            read_once(
                &mut packages,
                package,
                &dir.join_exact("thermal_throttle/package_throttle_count"),
            );
        }
        if !packages.is_empty() {
            sink.counter(
                "node_cpu_package_throttles_total",
                "Number of times this CPU package has been throttled.",
            );
            for (package, count) in &packages {
                sink.sample(&[("package", &package.to_string())], *count as f64);
            }
        }
        if !cores.is_empty() {
            sink.counter(
                "node_cpu_core_throttles_total",
                "Number of times this CPU core has been throttled.",
            );
            for ((package, core), count) in &cores {
                sink.sample(
                    &[
                        ("package", &package.to_string()),
                        ("core", &core.to_string()),
                    ],
                    *count as f64,
                );
            }
        }
    }
}

/// node_exporter's glob `cpu[0-9]*`.
fn is_cpu_dir(name: &str) -> bool {
    name.strip_prefix("cpu")
        .and_then(|rest| rest.bytes().next())
        .is_some_and(|b| b.is_ascii_digit())
}

/// Reads a count for `key` unless one was already read; a failed read leaves the slot empty
/// so the next CPU of the same core or package is tried.
fn read_once<K: Ord>(counts: &mut BTreeMap<K, u64>, key: K, path: &Path) {
    if let Entry::Vacant(slot) = counts.entry(key) {
        if let Some(count) = read_uint(path) {
            slot.insert(count);
        }
    }
}

fn read_uint(path: &Path) -> Option<u64> {
    read_trimmed(path).ok().and_then(|s| parse_u64(&s).ok())
}

fn field_info(
    sink: &mut MetricSink,
    name: &str,
    help: &str,
    label: &str,
    values: &[String],
    filter: Option<&Regex>,
) {
    let Some(filter) = filter else {
        return;
    };
    sink.gauge(name, help);
    for value in values.iter().filter(|v| filter.is_match(v)) {
        sink.sample(&[(label, value)], 1.0);
    }
}

/// Merges a fresh `/proc/stat` reading into the per-CPU cache as node_exporter's
/// `updateCPUStats`: an idle time ≥ 3 s below the cached one resets that CPU (hotplug); a
/// field that went backwards keeps its cached value; CPUs no longer listed are dropped.
pub fn update_cache(cache: &mut BTreeMap<u32, CpuTimes>, fresh: &BTreeMap<u32, CpuTimes>) {
    for (id, new) in fresh {
        let mut cached = cache.get(id).copied().unwrap_or_default();
        if cached.idle - new.idle >= JUMP_BACK_SECONDS {
            tracing::debug!(cpu = id, old = cached.idle, new = new.idle,
                "CPU Idle counter jumped backwards more than 3 seconds, possible hotplug event, resetting CPU stats");
            cached = CpuTimes::default();
        }
        for (old, new) in [
            (&mut cached.idle, new.idle),
            (&mut cached.user, new.user),
            (&mut cached.nice, new.nice),
            (&mut cached.system, new.system),
            (&mut cached.iowait, new.iowait),
            (&mut cached.irq, new.irq),
            (&mut cached.softirq, new.softirq),
            (&mut cached.steal, new.steal),
            (&mut cached.guest, new.guest),
            (&mut cached.guest_nice, new.guest_nice),
        ] {
            if new >= *old {
                *old = new;
            } else {
                tracing::debug!(cpu = id, old = *old, new, "CPU counter jumped backwards");
            }
        }
        cache.insert(*id, cached);
    }
    cache.retain(|id, _| fresh.contains_key(id));
}

/// Parses a kernel CPU list such as `0-2,5` (procfs' `parseCPURange`). A list naming more
/// than 65536 CPUs in all is an error: repeated `0-65535` parts would otherwise make a small
/// file allocate gigabytes.
pub fn parse_cpu_list(text: &str) -> Result<Vec<u16>, ParseError> {
    let mut cpus = Vec::new();
    for part in text.trim_end_matches('\n').split(',') {
        if part.is_empty() {
            continue;
        }
        let number = |s: &str| {
            s.parse::<u16>()
                .map_err(|_| ParseError::new(format!("cpu range is not valid: {part:?}")))
        };
        match part.split_once('-') {
            Some((start, end)) => {
                if end.contains('-') {
                    return Err(ParseError::new(format!("cpu range is not valid: {part:?}")));
                }
                let (start, end) = (number(start)?, number(end)?);
                if cpus.len() + usize::from(end.saturating_sub(start)) >= 1 << 16 {
                    return Err(ParseError::new(format!("cpu list too long at {part:?}")));
                }
                cpus.extend(start..=end);
            }
            None if cpus.len() >= 1 << 16 => {
                return Err(ParseError::new("cpu list too long"));
            }
            None => cpus.push(number(part)?),
        }
    }
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Options;
    use crate::roots::Roots;

    fn times(idle: f64, user: f64) -> CpuTimes {
        CpuTimes {
            idle,
            user,
            ..CpuTimes::default()
        }
    }

    #[test]
    fn backwards_jitter_keeps_cached_values() {
        let mut cache = BTreeMap::new();
        update_cache(&mut cache, &BTreeMap::from([(0, times(100.0, 50.0))]));
        update_cache(&mut cache, &BTreeMap::from([(0, times(99.0, 49.5))]));
        assert_eq!(cache[&0], times(100.0, 50.0));
        update_cache(&mut cache, &BTreeMap::from([(0, times(101.0, 49.9))]));
        assert_eq!(cache[&0], times(101.0, 50.0));
    }

    #[test]
    fn hotplug_resets_the_cpu() {
        let mut cache = BTreeMap::new();
        update_cache(
            &mut cache,
            &BTreeMap::from([(0, times(100.0, 50.0)), (1, times(100.0, 50.0))]),
        );
        update_cache(
            &mut cache,
            &BTreeMap::from([(0, times(97.0, 1.0)), (1, times(97.5, 1.0))]),
        );
        assert_eq!(cache[&0], times(97.0, 1.0));
        assert_eq!(cache[&1], times(100.0, 50.0));
    }

    #[test]
    fn offline_cpus_are_dropped() {
        let mut cache = BTreeMap::new();
        update_cache(
            &mut cache,
            &BTreeMap::from([(0, times(1.0, 1.0)), (1, times(1.0, 1.0))]),
        );
        update_cache(&mut cache, &BTreeMap::from([(0, times(2.0, 2.0))]));
        assert_eq!(cache.keys().copied().collect::<Vec<_>>(), vec![0]);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-2,5\n").unwrap(), vec![0, 1, 2, 5]);
        assert_eq!(parse_cpu_list("\n").unwrap(), Vec::<u16>::new());
        assert_eq!(parse_cpu_list("").unwrap(), Vec::<u16>::new());
        assert!(parse_cpu_list("1-2-3").is_err());
        assert!(parse_cpu_list("a").is_err());
        assert!(parse_cpu_list("\u{fffd}").is_err());
        // Same class as cpufreq's fuzz finding: repeated full ranges made a small input
        // allocate without bound.
        assert!(parse_cpu_list(&"0-65535,".repeat(8)).is_err());
        assert_eq!(parse_cpu_list("0-65535").map(|v| v.len()), Ok(65536));
    }

    fn fixture_settings(options: Options) -> Arc<Settings> {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/host");
        Arc::new(Settings::new(Roots::fixture(&base), options))
    }

    fn render(settings: &Arc<Settings>) -> String {
        let collector = build(settings).unwrap();
        let mut sink = MetricSink::new();
        collector.collect(&mut sink).unwrap();
        let mut out = Vec::new();
        crate::expfmt::render(&[&sink], crate::expfmt::Format::Text, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn info_families_on_the_fixture_tree() {
        let mut options = Options::default();
        options.set(&INFO_FLAGS_INCLUDE, "^(fpu|sse2)$");
        options.set(&INFO_BUGS_INCLUDE, "spectre");
        let text = render(&fixture_settings(options));
        assert!(text.contains("node_cpu_info{cachesize=\"512 KB\",core=\"0\",cpu=\"0\",family=\"25\",microcode=\"0x1000065\",model=\"1\",model_name=\"AMD EPYC 7B13\",package=\"0\",stepping=\"1\",vendor=\"AuthenticAMD\"} 1\n"), "{text}");
        assert!(
            text.contains(
                "node_cpu_frequency_hertz{core=\"1\",cpu=\"1\",package=\"0\"} 2.994374e+09\n"
            ),
            "{text}"
        );
        assert!(text.contains("node_cpu_flag_info{flag=\"fpu\"} 1\n"));
        assert!(text.contains("node_cpu_flag_info{flag=\"sse2\"} 1\n"));
        assert!(!text.contains("flag=\"vme\""));
        assert!(text.contains("node_cpu_bug_info{bug=\"spectre_v1\"} 1\n"));
        assert!(!text.contains("bug=\"sysret_ss_attrs\""));
    }

    #[test]
    fn info_without_filters_has_no_flag_families() {
        let mut options = Options::default();
        options.set(&INFO_FLAG, "true");
        options.set(&GUEST, "false");
        let text = render(&fixture_settings(options));
        assert!(text.contains("node_cpu_info{"));
        assert!(!text.contains("node_cpu_flag_info"));
        assert!(!text.contains("node_cpu_guest_seconds_total"));
    }

    #[test]
    fn bad_filter_names_the_flag() {
        let mut options = Options::default();
        options.set(&INFO_FLAGS_INCLUDE, "(");
        let err = build(&fixture_settings(options)).err().unwrap();
        assert!(err.contains("collector.cpu.info.flags-include"));
    }
}
