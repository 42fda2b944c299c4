//! perf: `node_perf_*_total{cpu}` counters from `perf_event_open(2)`, one counting event per
//! CPU and event (pid −1, so every process on that CPU), as node_exporter's
//! `hodgesds/perf-utils` profilers: `disabled | exclude_hv | inherit`, read format
//! `TOTAL_TIME_ENABLED | TOTAL_TIME_RUNNING`, values exported unscaled.
//!
//! The events are opened and enabled when the collector is built. An event the kernel refuses
//! is left out without an error, as upstream (perf-utils' `HasProfilers` is always true, so
//! node_exporter never fails on it): on a machine without a hardware PMU (most VMs, e.g.
//! Firecracker) the hardware and cache families are simply absent and the software counters
//! are served with `node_scrape_collector_success 1`, exactly what node_exporter 1.5 does on
//! this VM. A tracepoint that cannot be found or opened does stop start-up, as upstream's
//! group profiler error does.
//! node_exporter 1.5 has only `--collector.perf.cpus` and `--collector.perf.tracepoint`, and no
//! stalled-cycles or data-TLB families.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::options::Flag;
use crate::util::u64_at;

/// `--collector.perf.cpus`.
pub const CPUS: Flag<String> = Flag::new(
    "collector.perf.cpus",
    "List of CPUs from which perf metrics should be collected",
    "",
);

/// `--collector.perf.tracepoint`.
pub const TRACEPOINT: Flag<Vec<String>> = Flag::new(
    "collector.perf.tracepoint",
    "perf tracepoint that should be collected",
    "",
);

/// `--collector.perf.disable-hardware-profilers`.
pub const DISABLE_HARDWARE_PROFILERS: Flag<bool> = Flag::new(
    "collector.perf.disable-hardware-profilers",
    "disable perf hardware profilers",
    "false",
);

/// `--collector.perf.hardware-profilers`.
pub const HARDWARE_PROFILERS: Flag<Vec<String>> = Flag::new(
    "collector.perf.hardware-profilers",
    "perf hardware profilers that should be collected",
    "",
);

/// `--collector.perf.disable-software-profilers`.
pub const DISABLE_SOFTWARE_PROFILERS: Flag<bool> = Flag::new(
    "collector.perf.disable-software-profilers",
    "disable perf software profilers",
    "false",
);

/// `--collector.perf.software-profilers`.
pub const SOFTWARE_PROFILERS: Flag<Vec<String>> = Flag::new(
    "collector.perf.software-profilers",
    "perf software profilers that should be collected",
    "",
);

/// `--collector.perf.disable-cache-profilers`.
pub const DISABLE_CACHE_PROFILERS: Flag<bool> = Flag::new(
    "collector.perf.disable-cache-profilers",
    "disable perf cache profilers",
    "false",
);

/// `--collector.perf.cache-profilers`.
pub const CACHE_PROFILERS: Flag<Vec<String>> = Flag::new(
    "collector.perf.cache-profilers",
    "perf cache profilers that should be collected",
    "",
);

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "perf",
    default_enabled: false,
    sources: "perf_event_open(2) per CPU, tracepoint ids from <sysfs>/kernel/tracing/events; hardware and cache events need a PMU (none in Firecracker VMs: those families are absent); live only",
    flags: &[
        CPUS.spec,
        TRACEPOINT.spec,
        DISABLE_HARDWARE_PROFILERS.spec,
        HARDWARE_PROFILERS.spec,
        DISABLE_SOFTWARE_PROFILERS.spec,
        SOFTWARE_PROFILERS.spec,
        DISABLE_CACHE_PROFILERS.spec,
        CACHE_PROFILERS.spec,
    ],
    build,
};

const PERF_TYPE_HARDWARE: u32 = 0;
const PERF_TYPE_SOFTWARE: u32 = 1;
const PERF_TYPE_TRACEPOINT: u32 = 2;
const PERF_TYPE_HW_CACHE: u32 = 3;

/// One event node_exporter exports: its flag name, perf type and config, family and help.
#[derive(Debug, Clone, Copy)]
pub struct EventSpec {
    /// The name `--collector.perf.*-profilers` takes.
    pub flag_name: &'static str,
    /// `perf_event_attr.type`.
    pub kind: u32,
    /// `perf_event_attr.config`.
    pub config: u64,
    /// Family name without `node_perf_`.
    pub family: &'static str,
    /// Help text.
    pub help: &'static str,
}

const fn ev(
    flag_name: &'static str,
    kind: u32,
    config: u64,
    family: &'static str,
    help: &'static str,
) -> EventSpec {
    EventSpec {
        flag_name,
        kind,
        config,
        family,
        help,
    }
}

/// `PERF_TYPE_HW_CACHE` config: cache id | op << 8 | result << 16.
const fn cache(id: u64, op: u64, result: u64) -> u64 {
    id | (op << 8) | (result << 16)
}
const L1D: u64 = 0;
const L1I: u64 = 1;
const LL: u64 = 2;
const DTLB: u64 = 3;
const ITLB: u64 = 4;
const BPU: u64 = 5;
const READ: u64 = 0;
const WRITE: u64 = 1;
const ACCESS: u64 = 0;
const MISS: u64 = 1;

/// The hardware events (perf-utils' set minus bus cycles, which node_exporter never exports).
pub const HARDWARE: &[EventSpec] = &[
    ev(
        "CpuCycles",
        PERF_TYPE_HARDWARE,
        0,
        "cpucycles_total",
        "Number of CPU cycles (frequency scaled)",
    ),
    ev(
        "CpuInstr",
        PERF_TYPE_HARDWARE,
        1,
        "instructions_total",
        "Number of CPU instructions",
    ),
    ev(
        "CacheRef",
        PERF_TYPE_HARDWARE,
        2,
        "cache_refs_total",
        "Number of cache references (non frequency scaled)",
    ),
    ev(
        "CacheMisses",
        PERF_TYPE_HARDWARE,
        3,
        "cache_misses_total",
        "Number of cache misses",
    ),
    ev(
        "BranchInstr",
        PERF_TYPE_HARDWARE,
        4,
        "branch_instructions_total",
        "Number of CPU branch instructions",
    ),
    ev(
        "BranchMisses",
        PERF_TYPE_HARDWARE,
        5,
        "branch_misses_total",
        "Number of CPU branch misses",
    ),
    ev(
        "StalledCyclesFrontend",
        PERF_TYPE_HARDWARE,
        7,
        "stalled_cycles_frontend_total",
        "Number of stalled frontend CPU cycles",
    ),
    ev(
        "StalledCyclesBackend",
        PERF_TYPE_HARDWARE,
        8,
        "stalled_cycles_backend_total",
        "Number of stalled backend CPU cycles",
    ),
    ev(
        "RefCpuCycles",
        PERF_TYPE_HARDWARE,
        9,
        "ref_cpucycles_total",
        "Number of CPU cycles",
    ),
];

/// The software events node_exporter exports.
pub const SOFTWARE: &[EventSpec] = &[
    ev(
        "PageFault",
        PERF_TYPE_SOFTWARE,
        2,
        "page_faults_total",
        "Number of page faults",
    ),
    ev(
        "ContextSwitch",
        PERF_TYPE_SOFTWARE,
        3,
        "context_switches_total",
        "Number of context switches",
    ),
    ev(
        "CpuMigration",
        PERF_TYPE_SOFTWARE,
        4,
        "cpu_migrations_total",
        "Number of CPU process migrations",
    ),
    ev(
        "MinorFault",
        PERF_TYPE_SOFTWARE,
        5,
        "minor_faults_total",
        "Number of minor page faults",
    ),
    ev(
        "MajorFault",
        PERF_TYPE_SOFTWARE,
        6,
        "major_faults_total",
        "Number of major page faults",
    ),
];

/// The cache events node_exporter opens by default (all it exports).
pub const CACHE: &[EventSpec] = &[
    ev(
        "L1DataReadHit",
        PERF_TYPE_HW_CACHE,
        cache(L1D, READ, ACCESS),
        "cache_l1d_read_hits_total",
        "Number L1 data cache read hits",
    ),
    ev(
        "L1DataReadMiss",
        PERF_TYPE_HW_CACHE,
        cache(L1D, READ, MISS),
        "cache_l1d_read_misses_total",
        "Number L1 data cache read misses",
    ),
    ev(
        "L1DataWriteHit",
        PERF_TYPE_HW_CACHE,
        cache(L1D, WRITE, ACCESS),
        "cache_l1d_write_hits_total",
        "Number L1 data cache write hits",
    ),
    ev(
        "L1InstrReadMiss",
        PERF_TYPE_HW_CACHE,
        cache(L1I, READ, MISS),
        "cache_l1_instr_read_misses_total",
        "Number instruction L1 instruction read misses",
    ),
    ev(
        "InstrTLBReadHit",
        PERF_TYPE_HW_CACHE,
        cache(ITLB, READ, ACCESS),
        "cache_tlb_instr_read_hits_total",
        "Number instruction TLB read hits",
    ),
    ev(
        "InstrTLBReadMiss",
        PERF_TYPE_HW_CACHE,
        cache(ITLB, READ, MISS),
        "cache_tlb_instr_read_misses_total",
        "Number instruction TLB read misses",
    ),
    ev(
        "DataTLBReadHit",
        PERF_TYPE_HW_CACHE,
        cache(DTLB, READ, ACCESS),
        "cache_tlb_data_read_hits_total",
        "Number of data TLB read hits",
    ),
    ev(
        "DataTLBReadMiss",
        PERF_TYPE_HW_CACHE,
        cache(DTLB, READ, MISS),
        "cache_tlb_data_read_misses_total",
        "Number of data TLB read misses",
    ),
    ev(
        "DataTLBWriteHit",
        PERF_TYPE_HW_CACHE,
        cache(DTLB, WRITE, ACCESS),
        "cache_tlb_data_write_hits_total",
        "Number of data TLB write hits",
    ),
    ev(
        "DataTLBWriteMiss",
        PERF_TYPE_HW_CACHE,
        cache(DTLB, WRITE, MISS),
        "cache_tlb_data_write_misses_total",
        "Number of data TLB write misses",
    ),
    ev(
        "LLReadHit",
        PERF_TYPE_HW_CACHE,
        cache(LL, READ, ACCESS),
        "cache_ll_read_hits_total",
        "Number last level read hits",
    ),
    ev(
        "LLReadMiss",
        PERF_TYPE_HW_CACHE,
        cache(LL, READ, MISS),
        "cache_ll_read_misses_total",
        "Number last level read misses",
    ),
    ev(
        "LLWriteHit",
        PERF_TYPE_HW_CACHE,
        cache(LL, WRITE, ACCESS),
        "cache_ll_write_hits_total",
        "Number last level write hits",
    ),
    ev(
        "LLWriteMiss",
        PERF_TYPE_HW_CACHE,
        cache(LL, WRITE, MISS),
        "cache_ll_write_misses_total",
        "Number last level write misses",
    ),
    ev(
        "BPUReadHit",
        PERF_TYPE_HW_CACHE,
        cache(BPU, READ, ACCESS),
        "cache_bpu_read_hits_total",
        "Number BPU read hits",
    ),
    ev(
        "BPUReadMiss",
        PERF_TYPE_HW_CACHE,
        cache(BPU, READ, MISS),
        "cache_bpu_read_misses_total",
        "Number BPU read misses",
    ),
];

/// The most CPUs `--collector.perf.cpus` may name: Linux's `NR_CPUS` is at most 8192, so a
/// larger list is a mistake, not a machine.
const MAX_CPUS: usize = 1 << 16;

/// node_exporter's `perfCPUFlagToCPUs`: comma-separated CPUs and ranges, a range optionally
/// with a stride (`1-10:5` is 1, 6). A list naming more than 65536 CPUs is an error
/// (`0-99999999999` would otherwise ask for 800 GB).
pub fn parse_cpus(flag: &str) -> Result<Vec<usize>, ParseError> {
    let num = |s: &str| {
        s.parse::<usize>()
            .map_err(|_| ParseError::new(format!("strconv.Atoi: parsing {s:?}: invalid syntax")))
    };
    let mut cpus = Vec::new();
    for subset in flag.split(',') {
        let too_many = || ParseError::new(format!("{flag:?} names more than {MAX_CPUS} CPUs"));
        if !subset.contains('-') {
            if cpus.len() >= MAX_CPUS {
                return Err(too_many());
            }
            cpus.push(num(subset)?);
            continue;
        }
        let (range, stride) = match subset.split(':').collect::<Vec<_>>().as_slice() {
            [range, stride] => (*range, num(stride)?),
            [range, ..] => (*range, 1),
            [] => (subset, 1),
        };
        let bounds: Vec<&str> = range.split('-').collect();
        let [start, end] = bounds.as_slice() else {
            return Err(ParseError::new(format!("invalid flag value {flag:?}")));
        };
        if stride == 0 {
            return Err(ParseError::new(format!("invalid stride in {flag:?}")));
        }
        let (start, end) = (num(start)?, num(end)?);
        let count = if end < start {
            0
        } else {
            ((end - start) / stride).saturating_add(1)
        };
        if count > MAX_CPUS - cpus.len() {
            return Err(too_many());
        }
        cpus.extend((start..=end).step_by(stride));
    }
    Ok(cpus)
}

/// node_exporter's `perfTracepointFlagToTracepoints`: each value is `subsystem:event`.
pub fn parse_tracepoints(values: &[String]) -> Result<Vec<(String, String)>, ParseError> {
    values
        .iter()
        .map(|v| match v.split(':').collect::<Vec<_>>().as_slice() {
            [subsystem, event] => Ok((subsystem.to_string(), event.to_string())),
            _ => Err(ParseError::new(format!("invalid tracepoint config {v}"))),
        })
        .collect()
}

/// The cache events to open: the default set, or only those named by
/// `--collector.perf.cache-profilers` (unknown names ignored, as upstream).
pub fn select_cache(names: &[String]) -> Vec<EventSpec> {
    if names.is_empty() {
        return CACHE.to_vec();
    }
    CACHE
        .iter()
        .filter(|e| names.iter().any(|n| n == e.flag_name))
        .copied()
        .collect()
}

/// Parses what `read(2)` returns for a counting event with read format
/// `TOTAL_TIME_ENABLED | TOTAL_TIME_RUNNING`: (value, time enabled, time running).
pub fn parse_read(buf: &[u8]) -> Result<(u64, u64, u64), ParseError> {
    Ok((u64_at(buf, 0)?, u64_at(buf, 8)?, u64_at(buf, 16)?))
}

/// Builds `struct perf_event_attr` (the 64-byte `PERF_ATTR_SIZE_VER0` layout, which every
/// kernel accepts) as perf-utils' `NewProfiler` does.
pub fn event_attr(kind: u32, config: u64) -> [u8; 64] {
    const PERF_FORMAT_TOTAL_TIME_ENABLED: u64 = 1;
    const PERF_FORMAT_TOTAL_TIME_RUNNING: u64 = 2;
    const PERF_SAMPLE_IDENTIFIER: u64 = 1 << 16;
    const DISABLED: u64 = 1;
    const INHERIT: u64 = 1 << 1;
    const EXCLUDE_HV: u64 = 1 << 6;
    let mut attr = [0u8; 64];
    attr[0..4].copy_from_slice(&kind.to_ne_bytes());
    attr[4..8].copy_from_slice(&64u32.to_ne_bytes());
    attr[8..16].copy_from_slice(&config.to_ne_bytes());
    attr[24..32].copy_from_slice(&PERF_SAMPLE_IDENTIFIER.to_ne_bytes());
    attr[32..40].copy_from_slice(
        &(PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING).to_ne_bytes(),
    );
    attr[40..48].copy_from_slice(&(DISABLED | INHERIT | EXCLUDE_HV).to_ne_bytes());
    attr
}

/// Opens and enables one counting event on `cpu` for every process.
fn open_event(kind: u32, config: u64, cpu: usize) -> io::Result<OwnedFd> {
    const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;
    const PERF_EVENT_IOC_ENABLE: libc::c_ulong = 0x2400;
    let attr = event_attr(kind, config);
    // SAFETY: `attr` is a valid perf_event_attr of the size it declares; the result is checked.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr.as_ptr(),
            -1 as libc::pid_t,
            cpu as libc::c_int,
            -1 as libc::c_int,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // SAFETY: PERF_EVENT_IOC_ENABLE takes no pointer argument.
    if unsafe { libc::ioctl(fd.as_raw_fd(), PERF_EVENT_IOC_ENABLE as _, 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

fn read_event(fd: &OwnedFd) -> io::Result<u64> {
    let mut buf = [0u8; 24];
    // SAFETY: `buf` is writable for its length.
    let n = unsafe {
        libc::read(
            fd.as_raw_fd(),
            buf.as_mut_ptr() as *mut libc::c_void,
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    parse_read(&buf[..n as usize])
        .map(|(value, _, _)| value)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// An open event: its family, help and descriptor.
struct Counter {
    family: String,
    help: String,
    fd: OwnedFd,
}

/// One group (hardware, software, cache or tracepoints) on one CPU.
struct Group {
    cpu: usize,
    counters: Vec<Counter>,
}

/// Opens the events of a group on `cpu`. Events the kernel refuses are left out (logged at
/// debug level); with `required` (tracepoints) any refusal is an error.
fn open_group(
    what: &str,
    events: &[(String, String, u32, u64)],
    cpu: usize,
    required: bool,
) -> Result<Group, String> {
    let mut counters = Vec::new();
    let mut errors = Vec::new();
    for (family, help, kind, config) in events {
        match open_event(*kind, *config, cpu) {
            Ok(fd) => counters.push(Counter {
                family: family.clone(),
                help: help.clone(),
                fd,
            }),
            Err(e) => errors.push(format!("{family}: {e}")),
        }
    }
    if !errors.is_empty() {
        if required {
            return Err(format!(
                "failed to set up perf {what} profiler on cpu {cpu}: {}",
                errors.join("; ")
            ));
        }
        tracing::debug!(cpu, what, errors = %errors.join("; "), "perf events unavailable");
    }
    Ok(Group { cpu, counters })
}

fn specs(events: &[EventSpec]) -> Vec<(String, String, u32, u64)> {
    events
        .iter()
        .map(|e| {
            (
                format!("node_perf_{}", e.family),
                e.help.to_string(),
                e.kind,
                e.config,
            )
        })
        .collect()
}

/// The CPUs this process may run on (Go's `runtime.NumCPU`, counted as 0..n).
fn online_cpus() -> usize {
    // SAFETY: a zeroed cpu_set_t is valid; sched_getaffinity fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t of the given size.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
    }
    // SAFETY: `set` was filled in by the kernel.
    (unsafe { libc::CPU_COUNT(&set) }) as usize
}

/// Finds a tracepoint's id under the sysfs root (tracefs, or tracefs below debugfs).
fn tracepoint_id(settings: &Settings, subsystem: &str, event: &str) -> Result<u64, String> {
    let rel = format!("events/{subsystem}/{event}/id");
    let candidates = [
        settings.roots.sys(format!("kernel/tracing/{rel}")),
        settings.roots.sys(format!("kernel/debug/tracing/{rel}")),
    ];
    for path in &candidates {
        if let Ok(text) = std::fs::read_to_string(path) {
            return text
                .trim()
                .parse()
                .map_err(|_| format!("invalid tracepoint id in {}", path.display()));
        }
    }
    Err(format!(
        "tracepoint {subsystem}:{event} not found under tracefs"
    ))
}

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    let options = &settings.options;
    let cpus_flag = options.get(&CPUS);
    let cpus = if cpus_flag.is_empty() {
        (0..online_cpus()).collect()
    } else {
        parse_cpus(&cpus_flag).map_err(|e| e.to_string())?
    };
    let mut groups = Vec::new();
    let tracepoints = parse_tracepoints(&options.get(&TRACEPOINT)).map_err(|e| e.to_string())?;
    if !tracepoints.is_empty() {
        let mut events = Vec::new();
        for (subsystem, event) in &tracepoints {
            let id = tracepoint_id(settings, subsystem, event)?;
            events.push((
                format!("node_perf_{subsystem}_{event}"),
                format!("Perf tracepoint {subsystem}:{event}"),
                PERF_TYPE_TRACEPOINT,
                id,
            ));
        }
        for &cpu in &cpus {
            groups.push(open_group("tracepoint", &events, cpu, true)?);
        }
    }
    // The hardware and software profiler flags add to perf-utils' "all" masks upstream, so
    // they select nothing less; the cache flag replaces the default set.
    let hardware = specs(HARDWARE);
    let software = specs(SOFTWARE);
    let cache = specs(&select_cache(&options.get(&CACHE_PROFILERS)));
    for &cpu in &cpus {
        if !options.get(&DISABLE_HARDWARE_PROFILERS) {
            groups.push(open_group("hardware", &hardware, cpu, false)?);
        }
        if !options.get(&DISABLE_SOFTWARE_PROFILERS) {
            groups.push(open_group("software", &software, cpu, false)?);
        }
        if !options.get(&DISABLE_CACHE_PROFILERS) {
            groups.push(open_group("cache", &cache, cpu, false)?);
        }
    }
    Ok(Box::new(PerfCollector { groups }))
}

struct PerfCollector {
    groups: Vec<Group>,
}

impl Collector for PerfCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        for group in &self.groups {
            let cpu = group.cpu.to_string();
            let mut errors = Vec::new();
            let mut read = Vec::new();
            for counter in &group.counters {
                match read_event(&counter.fd) {
                    Ok(v) => read.push((counter, v)),
                    Err(e) => errors.push(format!("{}: {e}", counter.family)),
                }
            }
            // perf-utils fails a profile only when every one of its events failed.
            if read.is_empty() && !errors.is_empty() {
                return Err(CollectError::Other(format!(
                    "reading perf counters on cpu {cpu}: {}",
                    errors.join("; ")
                )));
            }
            for (counter, value) in read {
                sink.counter(&counter.family, &counter.help);
                sink.sample(&[("cpu", &cpu)], value as f64);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpus("0").unwrap(), vec![0]);
        assert_eq!(parse_cpus("0,2").unwrap(), vec![0, 2]);
        assert_eq!(parse_cpus("1-3").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_cpus("1-10:5").unwrap(), vec![1, 6]);
        assert_eq!(parse_cpus("0,4-6:2").unwrap(), vec![0, 4, 6]);
        assert!(parse_cpus("").is_err());
        assert!(parse_cpus("a").is_err());
        assert!(parse_cpus("1-2-3").is_err());
        assert!(parse_cpus("1-3:x").is_err());
        assert!(parse_cpus("1-3:0").is_err());
    }

    #[test]
    fn cpu_lists_too_large() {
        // Found by fuzzing: this asked for 800 GB.
        assert!(parse_cpus("0-99999999999").is_err());
        assert!(parse_cpus("0-18446744073709551615:1").is_err());
        assert_eq!(parse_cpus("0-65535").map(|v| v.len()), Ok(65536));
        assert!(parse_cpus("0-65535,0").is_err());
        assert!(parse_cpus("0-65535:2,0-65535:2,0").is_err());
        assert_eq!(
            parse_cpus("0-99999999999:2000000000").map(|v| v.len()),
            Ok(50)
        );
    }

    #[test]
    fn tracepoints() {
        let ok = parse_tracepoints(&["sched:sched_switch".to_string()]).unwrap();
        assert_eq!(ok, vec![("sched".to_string(), "sched_switch".to_string())]);
        assert!(parse_tracepoints(&["sched".to_string()]).is_err());
        assert!(parse_tracepoints(&["a:b:c".to_string()]).is_err());
    }

    #[test]
    fn read_values() {
        let mut buf = Vec::new();
        for v in [42u64, 1000, 900] {
            buf.extend_from_slice(&v.to_ne_bytes());
        }
        assert_eq!(parse_read(&buf).unwrap(), (42, 1000, 900));
        assert!(parse_read(&buf[..16]).is_err());
        assert!(parse_read(&[]).is_err());
    }

    #[test]
    fn attr_layout() {
        let attr = event_attr(PERF_TYPE_SOFTWARE, 3);
        assert_eq!(u32::from_ne_bytes(attr[0..4].try_into().unwrap()), 1);
        assert_eq!(u32::from_ne_bytes(attr[4..8].try_into().unwrap()), 64);
        assert_eq!(u64::from_ne_bytes(attr[8..16].try_into().unwrap()), 3);
        assert_eq!(
            u64::from_ne_bytes(attr[40..48].try_into().unwrap()),
            0b100_0011
        );
    }

    #[test]
    fn cache_selection() {
        assert_eq!(select_cache(&[]).len(), 16);
        let picked = select_cache(&["LLReadMiss".into(), "Nope".into()]);
        assert_eq!(picked.len(), 1);
        assert_eq!(picked[0].family, "cache_ll_read_misses_total");
        assert_eq!(CACHE[3].config, 1 | (1 << 16));
    }
}
