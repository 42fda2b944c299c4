//! watchdog: hardware watchdogs from `/sys/class/watchdog/<name>` (node_exporter's
//! `watchdog.go` over procfs' `class_watchdog.go`): the numeric attributes as gauges and the
//! textual ones as `node_watchdog_info`.

use crate::roots::JoinExt;
use std::path::Path;

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::stateless_collector;
use crate::util::{list_dir, lossy, no_data_if, parse_i64_prefixed, read, MISSING_OR_DENIED};

stateless_collector!("watchdog", true, "/sys/class/watchdog", collect);

/// Numeric attributes: file, metric name (after `node_watchdog_`).
const NUMBERS: &[(&str, &str)] = &[
    ("bootstatus", "bootstatus"),
    ("fw_version", "fw_version"),
    ("nowayout", "nowayout"),
    ("timeleft", "timeleft_seconds"),
    ("timeout", "timeout_seconds"),
    ("pretimeout", "pretimeout_seconds"),
    ("access_cs0", "access_cs0"),
];

/// Textual attributes, which become `node_watchdog_info` labels of the same name.
const TEXTS: &[&str] = &[
    "options",
    "identity",
    "state",
    "status",
    "pretimeout_governor",
];

/// Parses a numeric watchdog attribute (decimal, or `0x` hexadecimal as `bootstatus` may be).
pub fn parse_number(bytes: &[u8]) -> Result<i64, ParseError> {
    parse_i64_prefixed(lossy(bytes).trim())
}

struct Watchdog {
    name: String,
    numbers: Vec<(&'static (&'static str, &'static str), i64)>,
    texts: Vec<(&'static str, String)>,
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let class = settings.roots.sys("class/watchdog");
    let watchdogs = read_watchdogs(&class).map_err(no_data_if(MISSING_OR_DENIED))?;
    for wd in &watchdogs {
        emit(wd, sink);
    }
    Ok(())
}

fn read_watchdogs(class: &Path) -> Result<Vec<Watchdog>, CollectError> {
    list_dir(class)?
        .into_iter()
        .map(|name| read_watchdog(&class.join_exact(&name), name))
        .collect()
}

/// Reads an attribute; `None` when the driver does not provide it.
fn attribute(path: &Path) -> Result<Option<String>, CollectError> {
    match read(path) {
        Ok(bytes) => Ok(Some(lossy(&bytes).trim().to_string())),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

fn read_watchdog(dir: &Path, name: String) -> Result<Watchdog, CollectError> {
    let mut numbers = Vec::new();
    for spec in NUMBERS {
        let path = dir.join_exact(spec.0);
        if let Some(text) = attribute(&path)? {
            let value = parse_number(text.as_bytes()).map_err(|e| CollectError::parse(&path, e))?;
            numbers.push((spec, value));
        }
    }
    let mut texts = Vec::new();
    for file in TEXTS {
        texts.push((*file, attribute(&dir.join_exact(file))?.unwrap_or_default()));
    }
    Ok(Watchdog {
        name,
        numbers,
        texts,
    })
}

fn emit(wd: &Watchdog, sink: &mut MetricSink) {
    for ((file, metric), value) in &wd.numbers {
        sink.gauge(
            &format!("node_watchdog_{metric}"),
            &format!("Value of /sys/class/watchdog/<watchdog>/{file}"),
        )
        .sample(&[("name", &wd.name)], *value as f64);
    }
    let mut labels = vec![("name", wd.name.as_str())];
    labels.extend(wd.texts.iter().map(|(k, v)| (*k, v.as_str())));
    sink.gauge(
        "node_watchdog_info",
        "Info of /sys/class/watchdog/<watchdog>",
    )
    .sample(&labels, 1.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numbers() {
        assert_eq!(parse_number(b"30\n").unwrap(), 30);
        assert_eq!(parse_number(b"0x20\n").unwrap(), 32);
        assert_eq!(parse_number(b"-1\n").unwrap(), -1);
        assert!(parse_number(b"").is_err());
        assert!(parse_number(b"thirty").is_err());
        assert!(parse_number(&[0xff]).is_err());
    }

    #[test]
    fn absent_subsystem_is_no_data() {
        assert!(crate::testing::run_on_empty_root(INFO)
            .unwrap_err()
            .is_no_data());
    }
}
