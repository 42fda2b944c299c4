//! cpufreq: CPU frequency and scaling governor per CPU from
//! `/sys/devices/system/cpu/cpu*/cpufreq` (values in kHz, exported in Hz).

use crate::roots::JoinExt;
use std::io::ErrorKind;
use std::path::Path;

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::{MetricSink, MetricType};
use crate::stateless_collector;
use crate::util::{list_dir, parse_u64, read_text};

stateless_collector!(
    "cpufreq",
    true,
    "/sys/devices/system/cpu/cpu*/cpufreq",
    collect
);

/// The numeric cpufreq attributes node_exporter exports, their family and help.
const FREQ_FILES: [(&str, &str, &str); 7] = [
    (
        "cpuinfo_cur_freq",
        "node_cpu_frequency_hertz",
        "Current CPU thread frequency in hertz.",
    ),
    (
        "cpuinfo_avg_freq",
        "node_cpu_frequency_avg_hertz",
        "Average CPU thread frequency in hertz.",
    ),
    (
        "cpuinfo_min_freq",
        "node_cpu_frequency_min_hertz",
        "Minimum CPU thread frequency in hertz.",
    ),
    (
        "cpuinfo_max_freq",
        "node_cpu_frequency_max_hertz",
        "Maximum CPU thread frequency in hertz.",
    ),
    (
        "scaling_cur_freq",
        "node_cpu_scaling_frequency_hertz",
        "Current scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_min_freq",
        "node_cpu_scaling_frequency_min_hertz",
        "Minimum scaled CPU thread frequency in hertz.",
    ),
    (
        "scaling_max_freq",
        "node_cpu_scaling_frequency_max_hertz",
        "Maximum scaled CPU thread frequency in hertz.",
    ),
];

/// Text attributes that procfs requires in every cpufreq directory.
const REQUIRED_TEXT_FILES: [&str; 5] = [
    "scaling_available_governors",
    "scaling_driver",
    "scaling_governor",
    "related_cpus",
    "scaling_setspeed",
];

/// The most CPUs a CPU list may name: Linux's `NR_CPUS` is at most 8192 on every
/// architecture, so a larger list is garbage, not a machine.
const MAX_CPUS: usize = 1 << 16;

/// Parses a kernel CPU list such as `0-3,8,10-11` (empty input is an empty list). A list
/// naming more than 65536 CPUs is an error (`0-4294967295` would otherwise ask for 16 GiB).
pub fn parse_cpu_range(text: &str) -> Result<Vec<u32>, ParseError> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let number = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| ParseError::new(format!("invalid cpu range {part:?}")))
        };
        match part.split_once('-') {
            Some((start, end)) => {
                let (start, end) = (number(start)?, number(end)?);
                if cpus.len() + end.saturating_sub(start) as usize >= MAX_CPUS {
                    return Err(ParseError::new(format!("cpu range {part:?} is too large")));
                }
                cpus.extend(start..=end);
            }
            None if cpus.len() >= MAX_CPUS => {
                return Err(ParseError::new("cpu list is too long"));
            }
            None => cpus.push(number(part)?),
        }
    }
    Ok(cpus)
}

/// Parses a kHz attribute into Hz.
pub fn parse_khz(text: &str) -> Result<f64, ParseError> {
    Ok(parse_u64(text)? as f64 * 1000.0)
}

/// The governor samples: one per available governor, 1 for the active one. None when no
/// governor is set.
pub fn governor_states<'a>(available: &'a str, current: &str) -> Vec<(&'a str, f64)> {
    if current.is_empty() {
        return Vec::new();
    }
    available
        .split(' ')
        .map(|g| (g, if g == current { 1.0 } else { 0.0 }))
        .collect()
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let base = settings.roots.sys("devices/system/cpu");
    let offline_path = base.join_exact("offline");
    let offline = parse_cpu_range(&read_text(&offline_path)?)
        .map_err(|e| CollectError::parse(&offline_path, e))?;
    // The cpu collector exports node_cpu_frequency_hertz itself with --collector.cpu.info.
    let skip_current = settings.options.get(&crate::host::cpu::INFO_FLAG);
    for name in list_dir(&base)? {
        let Some(number) = name
            .strip_prefix("cpu")
            .filter(|n| n.starts_with(|c: char| c.is_ascii_digit()))
        else {
            continue;
        };
        let id: u32 = number
            .parse()
            .map_err(|_| CollectError::Other(format!("invalid cpu directory {name}")))?;
        if offline.contains(&id) {
            continue;
        }
        let dir = base.join_exact(&name).join_exact("cpufreq");
        if !dir.exists() {
            continue;
        }
        collect_cpu(&dir, number, skip_current, sink)?;
    }
    Ok(())
}

fn collect_cpu(
    dir: &Path,
    cpu: &str,
    skip_current: bool,
    sink: &mut MetricSink,
) -> Result<(), CollectError> {
    let mut values = Vec::new();
    for (file, name, help) in FREQ_FILES {
        let path = dir.join_exact(file);
        match crate::util::read_bytes(&path) {
            Ok(bytes) => {
                let hz = parse_khz(&String::from_utf8_lossy(&bytes))
                    .map_err(|e| CollectError::parse(&path, e))?;
                values.push((name, help, hz));
            }
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::PermissionDenied) => {}
            Err(e) => return Err(CollectError::io(&path, e)),
        }
    }
    let mut available = String::new();
    let mut governor = String::new();
    for file in REQUIRED_TEXT_FILES {
        let text = read_text(&dir.join_exact(file))?.trim().to_string();
        match file {
            "scaling_available_governors" => available = text,
            "scaling_governor" => governor = text,
            _ => {}
        }
    }
    for (name, help, hz) in values {
        if skip_current && name == "node_cpu_frequency_hertz" {
            continue;
        }
        sink.family(name, help, MetricType::Gauge)
            .sample(&[("cpu", cpu)], hz);
    }
    let states = governor_states(&available, &governor);
    if !states.is_empty() {
        sink.family(
            "node_cpu_scaling_governor",
            "Current enabled CPU frequency governor.",
            MetricType::Gauge,
        );
        for (governor, value) in states {
            sink.sample(&[("cpu", cpu), ("governor", governor)], value);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ranges() {
        assert_eq!(parse_cpu_range("\n").unwrap(), Vec::<u32>::new());
        assert_eq!(parse_cpu_range("1").unwrap(), vec![1]);
        assert_eq!(
            parse_cpu_range("0-2,5,7-8\n").unwrap(),
            vec![0, 1, 2, 5, 7, 8]
        );
        assert!(parse_cpu_range("1-").is_err());
        assert!(parse_cpu_range("a").is_err());
        assert!(parse_cpu_range("\u{fffd}").is_err());
    }

    /// Fuzz finding: one huge range made the parser allocate 16 GB, and the process abort.
    #[test]
    fn cpu_range_too_large() {
        assert!(parse_cpu_range("0-4294967295").is_err());
        assert!(parse_cpu_range("0-65535,0-1").is_err());
        assert_eq!(parse_cpu_range("0-65535").unwrap().len(), 65536);
        assert_eq!(parse_cpu_range("5-3").unwrap(), Vec::<u32>::new());
    }

    #[test]
    fn khz_to_hz() {
        assert_eq!(parse_khz("2100000\n").unwrap(), 2.1e9);
        assert!(parse_khz("").is_err());
        assert!(parse_khz("-1").is_err());
        assert!(parse_khz("<unknown>").is_err());
    }

    #[test]
    fn governors() {
        assert_eq!(
            governor_states("performance powersave", "powersave"),
            vec![("performance", 0.0), ("powersave", 1.0)]
        );
        assert!(governor_states("performance", "").is_empty());
    }
}
