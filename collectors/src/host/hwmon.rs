//! hwmon: hardware sensors (temperatures, voltages, fans, power...) from `/sys/class/hwmon`,
//! named and scaled as node_exporter's `hwmon_linux.go` does.

use crate::roots::JoinExt;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use regex::Regex;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::CollectError;
use crate::expfmt::{MetricSink, MetricType};
use crate::options::{device_allowed, include_exclude, Flag};
use crate::util::list_dir;

/// `--collector.hwmon.chip-include`.
pub const CHIP_INCLUDE: Flag<Option<Regex>> = Flag::new(
    "collector.hwmon.chip-include",
    "Regexp of hwmon chip to include (mutually exclusive to device-exclude).",
    "",
);
/// `--collector.hwmon.chip-exclude`.
pub const CHIP_EXCLUDE: Flag<Option<Regex>> = Flag::new(
    "collector.hwmon.chip-exclude",
    "Regexp of hwmon chip to exclude (mutually exclusive to device-include).",
    "",
);
/// `--collector.hwmon.sensor-include`.
pub const SENSOR_INCLUDE: Flag<Option<Regex>> = Flag::new(
    "collector.hwmon.sensor-include",
    "Regexp of hwmon sensor to include (mutually exclusive to sensor-exclude).",
    "",
);
/// `--collector.hwmon.sensor-exclude`.
pub const SENSOR_EXCLUDE: Flag<Option<Regex>> = Flag::new(
    "collector.hwmon.sensor-exclude",
    "Regexp of hwmon sensor to exclude (mutually exclusive to sensor-include).",
    "",
);

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "hwmon",
    default_enabled: true,
    sources: "/sys/class/hwmon",
    flags: &[
        CHIP_INCLUDE.spec,
        CHIP_EXCLUDE.spec,
        SENSOR_INCLUDE.spec,
        SENSOR_EXCLUDE.spec,
    ],
    build,
};

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    let (chip_include, chip_exclude) =
        include_exclude(&settings.options, &CHIP_INCLUDE, &CHIP_EXCLUDE)?;
    let (sensor_include, sensor_exclude) =
        include_exclude(&settings.options, &SENSOR_INCLUDE, &SENSOR_EXCLUDE)?;
    Ok(Box::new(HwmonCollector {
        settings: Arc::clone(settings),
        chip_include,
        chip_exclude,
        sensor_include,
        sensor_exclude,
    }))
}

/// Sensor types node_exporter reads; other files are ignored.
const SENSOR_TYPES: [&str; 14] = [
    "vrm",
    "beep_enable",
    "update_interval",
    "in",
    "cpu",
    "fan",
    "pwm",
    "temp",
    "curr",
    "power",
    "energy",
    "humidity",
    "intrusion",
    "freq",
];

/// Sensor attribute values by sensor (`temp1`) and property (`input`, `crit_alarm`, `""`).
pub type SensorData = BTreeMap<String, BTreeMap<String, String>>;

/// node_exporter's `cleanMetricName`: lower-case, every character outside `[a-z0-9:_]`
/// becomes `_`, and leading/trailing `_` are trimmed.
pub fn clean_name(name: &str) -> String {
    let replaced: String = name
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == ':' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    replaced.trim_matches('_').to_string()
}

/// Splits a sensor file name into type, number and property, as the regex
/// `^(?P<type>[^0-9]+)(?P<id>[0-9]*)?(_(?P<property>.+))?$`: `temp1_crit_alarm` is
/// `("temp", 1, "crit_alarm")`, `pwm1` is `("pwm", 1, "")`, `beep_enable` is
/// `("beep_enable", 0, "")`.
pub fn explode_sensor_filename(name: &str) -> Option<(&str, u64, &str)> {
    let type_end = name
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(name.len());
    if type_end == 0 {
        return None;
    }
    let rest = &name[type_end..];
    let id_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (id, rest) = rest.split_at(id_end);
    let property = match rest.strip_prefix('_') {
        None if rest.is_empty() => "",
        Some(p) if !p.is_empty() => p,
        _ => return None,
    };
    let number = if id.is_empty() { 0 } else { id.parse().ok()? };
    Some((&name[..type_end], number, property))
}

/// Reads at most 128 bytes with a single read, as node_exporter does: some broken drivers
/// return EAGAIN forever, and a single read fails fast instead of polling.
fn read_value(path: &Path) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut buf = [0u8; 128];
    let n = file.read(&mut buf).ok()?;
    let text = String::from_utf8_lossy(buf.get(..n)?);
    Some(text.trim_matches('\n').to_string())
}

/// Adds the sensor files of `dir` to `data`.
fn collect_sensor_data(dir: &Path, data: &mut SensorData) -> Result<(), CollectError> {
    let entries = std::fs::read_dir(dir).map_err(|e| CollectError::io(dir, e))?;
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some((kind, number, property)) = explode_sensor_filename(&file) else {
            continue;
        };
        if !SENSOR_TYPES.contains(&kind) {
            continue;
        }
        if let Some(value) = read_value(&dir.join_exact(&file)) {
            data.entry(format!("{kind}{number}"))
                .or_default()
                .insert(property.to_string(), value);
        }
    }
    Ok(())
}

/// The stable chip name: `<bus>_<device>` from the resolved `device` link, else the `name`
/// file, else the hwmon directory's own name.
fn chip_name(dir: &Path) -> Result<String, CollectError> {
    if let Ok(device) = std::fs::canonicalize(dir.join_exact("device")) {
        let dev_name = device.file_name().map(|n| clean_name(&n.to_string_lossy()));
        let dev_type = device
            .parent()
            .and_then(Path::file_name)
            .map(|n| clean_name(&n.to_string_lossy()));
        match (dev_type, dev_name) {
            (Some(t), Some(n)) if !t.is_empty() && !n.is_empty() => return Ok(format!("{t}_{n}")),
            (_, Some(n)) if !n.is_empty() => return Ok(n),
            _ => {}
        }
    }
    if let Some(name) = human_chip_name(dir) {
        return Ok(name);
    }
    let real = std::fs::canonicalize(dir).map_err(|e| CollectError::io(dir, e))?;
    real.file_name()
        .map(|n| clean_name(&n.to_string_lossy()))
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            CollectError::Other(format!(
                "Could not derive a monitoring name for {}",
                dir.display()
            ))
        })
}

/// The cleaned content of the `name` file, if any.
fn human_chip_name(dir: &Path) -> Option<String> {
    let raw = crate::util::read_bytes(dir.join_exact("name")).ok()?;
    Some(clean_name(&String::from_utf8_lossy(&raw))).filter(|n| !n.is_empty())
}

/// One exported sample: family, help, type, value and the `sensor` label value.
type Sample = (String, String, MetricType, f64, String);

/// The samples of one sensor, named, scaled and described as node_exporter does (except
/// `node_hwmon_sensor_label`, which the caller writes).
pub fn sensor_samples(sensor: &str, props: &BTreeMap<String, String>) -> Vec<Sample> {
    let gauge = MetricType::Gauge;
    let kind = explode_sensor_filename(sensor).map_or("", |(k, _, _)| k);
    let own = |name: &str, help: &str, value: f64| {
        vec![(
            name.to_string(),
            help.to_string(),
            gauge,
            value,
            sensor.to_string(),
        )]
    };
    let whole = props.get("").map(String::as_str).unwrap_or("");
    match kind {
        "beep_enable" => {
            let value = if whole == "1" { 1.0 } else { 0.0 };
            return own("node_hwmon_beep_enabled", "Hardware beep enabled", value);
        }
        "vrm" => {
            return whole.parse::<f64>().map_or(Vec::new(), |v| {
                own(
                    "node_hwmon_voltage_regulator_version",
                    "Hardware voltage regulator",
                    v,
                )
            })
        }
        "update_interval" => {
            return whole.parse::<f64>().map_or(Vec::new(), |v| {
                own(
                    "node_hwmon_update_interval_seconds",
                    "Hardware monitor update interval",
                    v * 0.001,
                )
            })
        }
        _ => {}
    }
    let mut out = Vec::new();
    for (element, value) in props {
        if element == "label" {
            continue;
        }
        if let Some(sample) = element_sample(kind, sensor, element, value, props) {
            out.push(sample);
        }
    }
    out
}

fn element_sample(
    kind: &str,
    sensor: &str,
    element: &str,
    value: &str,
    props: &BTreeMap<String, String>,
) -> Option<Sample> {
    use MetricType::{Counter, Gauge};
    let mut name = format!("node_hwmon_{kind}");
    if element == "input" {
        if props.contains_key("") {
            name.push_str("_input");
        }
    } else if !element.is_empty() {
        name.push('_');
        name.push_str(&clean_name(element));
    }
    let v: f64 = value.parse().ok()?;
    let s =
        |n: String, help: String, t: MetricType, v: f64| Some((n, help, t, v, sensor.to_string()));
    match (kind, element) {
        (_, "fault" | "alarm") => s(name, format!("Hardware sensor {element} status ({kind})"), Gauge, v),
        (_, "beep") => s(name + "_enabled", "Hardware monitor sensor has beeping enabled".into(), Gauge, v),
        ("in" | "cpu", _) => s(name + "_volts", format!("Hardware monitor for voltage ({element})"), Gauge, v * 0.001),
        ("temp", e) if e != "type" => {
            let e = if e.is_empty() { "input" } else { e };
            s(name + "_celsius", format!("Hardware monitor for temperature ({e})"), Gauge, v * 0.001)
        }
        ("curr", _) => s(name + "_amps", format!("Hardware monitor for current ({element})"), Gauge, v * 0.001),
        ("energy", _) => s(
            name + "_joule_total",
            format!("Hardware monitor for joules used so far ({element})"),
            Counter,
            v / 1e6,
        ),
        ("power", "accuracy") => s(name, "Hardware monitor power meter accuracy, as a ratio".into(), Gauge, v / 1e6),
        ("power", "average_interval" | "average_interval_min" | "average_interval_max") => s(
            name + "_seconds",
            format!("Hardware monitor power usage update interval ({element})"),
            Gauge,
            v * 0.001,
        ),
        ("power", _) => s(name + "_watt", format!("Hardware monitor for power usage in watts ({element})"), Gauge, v / 1e6),
        // The kernel reports humidity in milli-percent (Documentation/hwmon/sysfs-interface.rst:
        // "Unit: milli-percent (per cent mille, pcm)"), so 100000 is a ratio of 1;
        // node_exporter divides by 1e6 and serves a tenth of the ratio its HELP promises.
        ("humidity", _) => s(
            name,
            format!("Hardware monitor for humidity, as a ratio (multiply with 100.0 to get the humidity as a percentage) ({element})"),
            Gauge,
            v / 1e5,
        ),
        ("fan", "input" | "min" | "max" | "target") => s(
            name + "_rpm",
            format!("Hardware monitor for fan revolutions per minute ({element})"),
            Gauge,
            v,
        ),
        ("freq", "input") => {
            // Only labelled frequencies are exported, with the label as the sensor name.
            let label = clean_name(props.get("label")?);
            Some((
                name + "_freq_mhz",
                "Hardware monitor for GPU frequency in MHz".into(),
                Gauge,
                v / 1e6,
                label,
            ))
        }
        _ => s(name, format!("Hardware monitor {kind} element {element}"), Gauge, v),
    }
}

struct HwmonCollector {
    settings: Arc<Settings>,
    chip_include: Option<Regex>,
    chip_exclude: Option<Regex>,
    sensor_include: Option<Regex>,
    sensor_exclude: Option<Regex>,
}

impl HwmonCollector {
    fn update_chip(&self, dir: &Path, sink: &mut MetricSink) -> Result<(), CollectError> {
        let chip = chip_name(dir)?;
        if !device_allowed(
            &chip,
            self.chip_include.as_ref(),
            self.chip_exclude.as_ref(),
        ) {
            return Ok(());
        }
        let mut data = SensorData::new();
        collect_sensor_data(dir, &mut data)?;
        let device = dir.join_exact("device");
        if device.exists() {
            collect_sensor_data(&device, &mut data)?;
        }
        if let Some(human) = human_chip_name(dir) {
            sink.family(
                "node_hwmon_chip_names",
                "Annotation metric for human-readable chip names",
                MetricType::Gauge,
            )
            .sample(&[("chip", &chip), ("chip_name", &human)], 1.0);
        }
        for (sensor, props) in &data {
            let key = format!("{chip};{sensor}");
            if !device_allowed(
                &key,
                self.sensor_include.as_ref(),
                self.sensor_exclude.as_ref(),
            ) {
                continue;
            }
            if let Some(label) = props.get("label") {
                sink.family(
                    "node_hwmon_sensor_label",
                    "Label for given chip and sensor",
                    MetricType::Gauge,
                )
                .sample(
                    &[("chip", &chip), ("label", label), ("sensor", sensor)],
                    1.0,
                );
            }
            for (name, help, kind, value, sensor_label) in sensor_samples(sensor, props) {
                sink.family(&name, &help, kind)
                    .sample(&[("chip", &chip), ("sensor", &sensor_label)], value);
            }
        }
        Ok(())
    }
}

impl Collector for HwmonCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let base = self.settings.roots.sys("class/hwmon");
        let mut last_err = None;
        for name in list_dir(&base)? {
            let dir = base.join_exact(&name);
            // metadata() follows the class symlink into devices/.
            if !std::fs::metadata(&dir).is_ok_and(|m| m.is_dir()) {
                continue;
            }
            if let Err(e) = self.update_chip(&dir, sink) {
                last_err = Some(e);
            }
        }
        last_err.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn explodes_file_names() {
        assert_eq!(
            explode_sensor_filename("temp1_input"),
            Some(("temp", 1, "input"))
        );
        assert_eq!(
            explode_sensor_filename("temp12_crit_alarm"),
            Some(("temp", 12, "crit_alarm"))
        );
        assert_eq!(explode_sensor_filename("pwm1"), Some(("pwm", 1, "")));
        assert_eq!(
            explode_sensor_filename("beep_enable"),
            Some(("beep_enable", 0, ""))
        );
        assert_eq!(
            explode_sensor_filename("in0_input"),
            Some(("in", 0, "input"))
        );
        assert_eq!(
            explode_sensor_filename("temp01_max"),
            Some(("temp", 1, "max"))
        );
        assert_eq!(explode_sensor_filename("1temp"), None);
        assert_eq!(explode_sensor_filename("temp1_"), None);
        assert_eq!(explode_sensor_filename("temp1x"), None);
        assert_eq!(explode_sensor_filename(""), None);
    }

    #[test]
    fn cleans_names() {
        assert_eq!(clean_name("coretemp\n"), "coretemp");
        assert_eq!(clean_name("Package id 0"), "package_id_0");
        assert_eq!(clean_name("platform"), "platform");
        assert_eq!(clean_name("0000:00:18.3"), "0000:00:18_3");
        assert_eq!(clean_name("__\u{fffd}__"), "");
    }

    #[test]
    fn temperature_names_and_units() {
        let p = props(&[
            ("input", "42000"),
            ("crit", "100000"),
            ("crit_alarm", "0"),
            ("label", "Core 0"),
            ("type", "3"),
        ]);
        let s = sensor_samples("temp2", &p);
        let names: Vec<(&str, f64)> = s.iter().map(|x| (x.0.as_str(), x.3)).collect();
        assert_eq!(
            names,
            vec![
                ("node_hwmon_temp_crit_celsius", 100.0),
                ("node_hwmon_temp_crit_alarm_celsius", 0.0),
                ("node_hwmon_temp_celsius", 42.0),
                ("node_hwmon_temp_type", 3.0),
            ]
        );
        assert_eq!(s[2].1, "Hardware monitor for temperature (input)");
    }

    /// 45300 pcm (milli-percent, Documentation/hwmon/sysfs-interface.rst) is 45.3%, a ratio
    /// of 0.453.
    #[test]
    fn humidity_is_milli_percent() {
        let s = sensor_samples("humidity1", &props(&[("input", "45300")]));
        assert_eq!((s[0].0.as_str(), s[0].3), ("node_hwmon_humidity", 0.453));
    }

    #[test]
    fn special_sensor_types() {
        let s = sensor_samples("beep_enable0", &props(&[("", "1")]));
        assert_eq!((s[0].0.as_str(), s[0].3), ("node_hwmon_beep_enabled", 1.0));
        let s = sensor_samples("update_interval0", &props(&[("", "1000")]));
        assert_eq!(s[0].3, 1.0);
        assert!(sensor_samples("vrm0", &props(&[("", "x")])).is_empty());
        let s = sensor_samples(
            "fan1",
            &props(&[("input", "1200"), ("pulses", "2"), ("alarm", "0")]),
        );
        let names: Vec<&str> = s.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "node_hwmon_fan_alarm",
                "node_hwmon_fan_rpm",
                "node_hwmon_fan_pulses"
            ]
        );
        let s = sensor_samples(
            "pwm1",
            &props(&[("", "128"), ("enable", "2"), ("input", "5")]),
        );
        let names: Vec<&str> = s.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "node_hwmon_pwm",
                "node_hwmon_pwm_enable",
                "node_hwmon_pwm_input"
            ]
        );
        let s = sensor_samples(
            "power1",
            &props(&[
                ("average", "12500000"),
                ("average_interval", "1000"),
                ("accuracy", "950000"),
            ]),
        );
        let got: Vec<(&str, f64)> = s.iter().map(|x| (x.0.as_str(), x.3)).collect();
        assert_eq!(
            got,
            vec![
                ("node_hwmon_power_accuracy", 0.95),
                ("node_hwmon_power_average_watt", 12.5),
                ("node_hwmon_power_average_interval_seconds", 1.0),
            ]
        );
        let s = sensor_samples(
            "freq1",
            &props(&[("input", "350000000"), ("label", "sclk")]),
        );
        assert_eq!(
            (s[0].0.as_str(), s[0].3, s[0].4.as_str()),
            ("node_hwmon_freq_freq_mhz", 350.0, "sclk")
        );
        assert!(sensor_samples("freq1", &props(&[("input", "1")])).is_empty());
        assert!(sensor_samples("in0", &props(&[("input", "n/a")])).is_empty());
    }
}
