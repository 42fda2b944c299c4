//! powersupplyclass: batteries, AC adapters and USB supplies from `/sys/class/power_supply`.

use crate::roots::JoinExt;
use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;

use regex::Regex;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::{MetricSink, MetricType};
use crate::options::Flag;
use crate::util::list_dir;

/// `--collector.powersupply.ignored-supplies`.
pub const IGNORED_FLAG: Flag<Option<Regex>> = Flag::new(
    "collector.powersupply.ignored-supplies",
    "Regexp of power supplies to ignore for powersupplyclass collector.",
    "^$",
);

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "powersupplyclass",
    default_enabled: true,
    sources: "/sys/class/power_supply",
    flags: &[IGNORED_FLAG.spec],
    build,
};

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(PowerSupplyCollector {
        settings: Arc::clone(settings),
        ignored: settings.options.get(&IGNORED_FLAG)?,
    }))
}

/// Divisor applied to a numeric attribute before export.
#[derive(Clone, Copy)]
enum Scale {
    One,
    Micro,
    Tenth,
}

/// Numeric attributes: file name, exported name suffix and unit scaling.
const NUMERIC: [(&str, &str, Scale); 49] = [
    ("authentic", "authentic", Scale::One),
    ("calibrate", "calibrate", Scale::One),
    ("capacity", "capacity", Scale::One),
    ("capacity_alert_max", "capacity_alert_max", Scale::One),
    ("capacity_alert_min", "capacity_alert_min", Scale::One),
    ("cycle_count", "cyclecount", Scale::One),
    ("online", "online", Scale::One),
    ("present", "present", Scale::One),
    ("time_to_empty_now", "time_to_empty_seconds", Scale::One),
    ("time_to_full_now", "time_to_full_seconds", Scale::One),
    ("current_boot", "current_boot", Scale::Micro),
    ("current_max", "current_max", Scale::Micro),
    ("current_now", "current_ampere", Scale::Micro),
    ("energy_empty", "energy_empty", Scale::Micro),
    ("energy_empty_design", "energy_empty_design", Scale::Micro),
    ("energy_full", "energy_full", Scale::Micro),
    ("energy_full_design", "energy_full_design", Scale::Micro),
    ("energy_now", "energy_watthour", Scale::Micro),
    ("voltage_boot", "voltage_boot", Scale::Micro),
    ("voltage_max", "voltage_max", Scale::Micro),
    ("voltage_max_design", "voltage_max_design", Scale::Micro),
    ("voltage_min", "voltage_min", Scale::Micro),
    ("voltage_min_design", "voltage_min_design", Scale::Micro),
    ("voltage_now", "voltage_volt", Scale::Micro),
    ("voltage_ocv", "voltage_ocv", Scale::Micro),
    ("charge_control_limit", "charge_control_limit", Scale::Micro),
    (
        "charge_control_limit_max",
        "charge_control_limit_max",
        Scale::Micro,
    ),
    ("charge_counter", "charge_counter", Scale::Micro),
    ("charge_empty", "charge_empty", Scale::Micro),
    ("charge_empty_design", "charge_empty_design", Scale::Micro),
    ("charge_full", "charge_full", Scale::Micro),
    ("charge_full_design", "charge_full_design", Scale::Micro),
    ("charge_now", "charge_ampere", Scale::Micro),
    ("charge_term_current", "charge_term_current", Scale::Micro),
    (
        "constant_charge_current",
        "constant_charge_current",
        Scale::Micro,
    ),
    (
        "constant_charge_current_max",
        "constant_charge_current_max",
        Scale::Micro,
    ),
    (
        "constant_charge_voltage",
        "constant_charge_voltage",
        Scale::Micro,
    ),
    (
        "constant_charge_voltage_max",
        "constant_charge_voltage_max",
        Scale::Micro,
    ),
    ("precharge_current", "precharge_current", Scale::Micro),
    ("input_current_limit", "input_current_limit", Scale::Micro),
    ("power_now", "power_watt", Scale::Micro),
    ("temp", "temp_celsius", Scale::Tenth),
    ("temp_alert_max", "temp_alert_max_celsius", Scale::Tenth),
    ("temp_alert_min", "temp_alert_min_celsius", Scale::Tenth),
    ("temp_ambient", "temp_ambient_celsius", Scale::Tenth),
    ("temp_ambient_max", "temp_ambient_max_celsius", Scale::Tenth),
    ("temp_ambient_min", "temp_ambient_min_celsius", Scale::Tenth),
    ("temp_max", "temp_max_celsius", Scale::Tenth),
    ("temp_min", "temp_min_celsius", Scale::Tenth),
];

/// Numeric attributes procfs parses (and so validates) but node_exporter does not export.
const PARSED_ONLY: [&str; 7] = [
    "charge_avg",
    "current_avg",
    "energy_avg",
    "power_avg",
    "time_to_empty_avg",
    "time_to_full_avg",
    "voltage_avg",
];

/// Text attributes that become `node_power_supply_info` labels (file name = label name).
const TEXT: [&str; 11] = [
    "capacity_level",
    "charge_type",
    "health",
    "manufacturer",
    "model_name",
    "serial_number",
    "status",
    "technology",
    "type",
    "usb_type",
    "scope",
];

/// Parses an integer as Go's `strconv.ParseInt(s, 0, 64)`: optional sign, then a `0x`, `0o`,
/// `0b` or leading-`0` (octal) prefix selects the base; `_` separators are allowed after one.
pub fn parse_go_int(text: &str) -> Result<i64, ParseError> {
    let bad = || ParseError::new(format!("invalid integer {text:?}"));
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest.to_string())
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest.to_string())
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest.to_string())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string())
    } else {
        (10, lower.clone())
    };
    if radix == 10 && body.contains('_') {
        return Err(bad());
    }
    let body = body.replace('_', "");
    if body.is_empty() || body.starts_with(['+', '-']) {
        return Err(bad());
    }
    let magnitude = i128::from_str_radix(&body, radix).map_err(|_| bad())?;
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value).map_err(|_| bad())
}

/// One supply's attributes: numeric values by file name and text values by file name.
#[derive(Debug, Default, PartialEq)]
pub struct PowerSupply {
    /// Parsed numeric attributes.
    pub numbers: BTreeMap<String, i64>,
    /// Non-empty text attributes.
    pub texts: BTreeMap<String, String>,
}

impl PowerSupply {
    /// Adds one attribute file's (trimmed) content, parsing it when the attribute is numeric.
    pub fn add(&mut self, file: &str, value: &str) -> Result<(), ParseError> {
        let numeric = NUMERIC.iter().any(|(f, _, _)| *f == file) || PARSED_ONLY.contains(&file);
        if numeric {
            let n = parse_go_int(value).map_err(|e| ParseError::new(format!("{file}: {e}")))?;
            self.numbers.insert(file.to_string(), n);
        } else if TEXT.contains(&file) {
            self.texts.insert(file.to_string(), value.to_string());
        }
        Ok(())
    }
}

/// Errors procfs treats as "attribute not available" (ENOENT, EOPNOTSUPP, ENODEV, EINVAL).
fn unavailable(e: &std::io::Error) -> bool {
    e.kind() == ErrorKind::NotFound
        || matches!(
            e.raw_os_error(),
            Some(libc::EOPNOTSUPP) | Some(libc::ENODEV) | Some(libc::EINVAL)
        )
}

fn read_supply(dir: &Path) -> Result<PowerSupply, CollectError> {
    let entries = std::fs::read_dir(dir).map_err(|e| CollectError::io(dir, e))?;
    let mut supply = PowerSupply::default();
    for entry in entries.flatten() {
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        if !is_file {
            continue;
        }
        let path = entry.path();
        let bytes = match crate::util::read_bytes(&path) {
            Ok(b) => b,
            Err(e) if unavailable(&e) => continue,
            Err(e) => return Err(CollectError::io(&path, e)),
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        supply
            .add(&name, String::from_utf8_lossy(&bytes).trim())
            .map_err(|e| CollectError::parse(&path, e))?;
    }
    Ok(supply)
}

/// Writes the families of one supply.
pub fn write_supply(sink: &mut MetricSink, name: &str, supply: &PowerSupply) {
    for (file, suffix, scale) in NUMERIC {
        let Some(&raw) = supply.numbers.get(file) else {
            continue;
        };
        let value = match scale {
            Scale::One => raw as f64,
            Scale::Micro => raw as f64 / 1e6,
            Scale::Tenth => raw as f64 / 10.0,
        };
        sink.family(
            &format!("node_power_supply_{suffix}"),
            &format!("{suffix} value of /sys/class/power_supply/<power_supply>."),
            MetricType::Gauge,
        )
        .sample(&[("power_supply", name)], value);
    }
    let mut labels: Vec<(&str, &str)> = vec![("power_supply", name)];
    for file in TEXT {
        if let Some(v) = supply.texts.get(file).filter(|v| !v.is_empty()) {
            labels.push((file, v));
        }
    }
    sink.family(
        "node_power_supply_info",
        "info of /sys/class/power_supply/<power_supply>.",
        MetricType::Gauge,
    )
    .sample(&labels, 1.0);
}

struct PowerSupplyCollector {
    settings: Arc<Settings>,
    ignored: Option<Regex>,
}

impl Collector for PowerSupplyCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let base = self.settings.roots.sys("class/power_supply");
        let mut supplies = Vec::new();
        for name in list_dir(&base)? {
            let supply = read_supply(&base.join_exact(&name))?;
            supplies.push((name, supply));
        }
        for (name, supply) in &supplies {
            if self.ignored.as_ref().is_some_and(|r| r.is_match(name)) {
                continue;
            }
            write_supply(sink, name, supply);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_integers() {
        assert_eq!(parse_go_int("12400000").unwrap(), 12_400_000);
        assert_eq!(parse_go_int("-1").unwrap(), -1);
        assert_eq!(parse_go_int("0").unwrap(), 0);
        assert_eq!(parse_go_int("0x1f").unwrap(), 31);
        assert_eq!(parse_go_int("010").unwrap(), 8);
        assert_eq!(parse_go_int("0b101").unwrap(), 5);
        assert_eq!(parse_go_int("0x_1f").unwrap(), 31);
        assert!(parse_go_int("1_000").is_err());
        assert!(parse_go_int("").is_err());
        assert!(parse_go_int("-").is_err());
        assert!(parse_go_int("Unknown").is_err());
        assert!(parse_go_int("09").is_err());
        assert!(parse_go_int("99999999999999999999").is_err());
        assert!(parse_go_int("\u{fffd}").is_err());
    }

    #[test]
    fn attributes() {
        let mut ps = PowerSupply::default();
        ps.add("capacity", "81").unwrap();
        ps.add("status", "Discharging").unwrap();
        ps.add("uevent", "POWER_SUPPLY_NAME=BAT0").unwrap();
        ps.add("current_avg", "5").unwrap();
        assert!(ps.add("voltage_now", "n/a").is_err());
        assert_eq!(ps.numbers["capacity"], 81);
        assert_eq!(ps.texts["status"], "Discharging");
        assert_eq!(ps.texts.len(), 1);

        let mut sink = MetricSink::new();
        write_supply(&mut sink, "BAT0", &ps);
        assert_eq!(sink.sample_count(), 2);
    }
}
