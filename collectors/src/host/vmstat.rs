//! vmstat: `node_vmstat_<field>` (untyped) from `/proc/vmstat`, for the fields matching
//! `--collector.vmstat.fields`.

use std::sync::Arc;

use regex::Regex;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::options::Flag;
use crate::util::{parse_f64, read, sanitize_metric_name, FieldNames};

/// `--collector.vmstat.fields`.
pub const FIELDS: Flag<Option<Regex>> = Flag::new(
    "collector.vmstat.fields",
    "Regexp of fields to return for vmstat collector.",
    "^(oom_kill|pgpg|pswp|pg.*fault).*",
);

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "vmstat",
    default_enabled: true,
    sources: "/proc/vmstat",
    flags: &[FIELDS.spec],
    build,
};

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    let fields = settings.options.get(&FIELDS)?;
    Ok(Box::new(VmstatCollector {
        settings: Arc::clone(settings),
        names: FieldNames::new(fields),
    }))
}

struct VmstatCollector {
    settings: Arc<Settings>,
    /// The field filter and the names kept fields are exported under.
    names: FieldNames,
}

/// Parses `/proc/vmstat` into (field, value) pairs. Every value must be a number, as
/// node_exporter parses each one before filtering.
pub fn parse(bytes: &[u8]) -> Result<Vec<(&str, f64)>, ParseError> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| ParseError::new("/proc/vmstat is not UTF-8"))?;
    // About one field per 20 bytes (`nr_free_pages 139434`): sized once rather than grown
    // eight times.
    let mut fields = Vec::with_capacity(bytes.len() / 16);
    for line in crate::util::lines(text) {
        let mut parts = line.split_ascii_whitespace();
        let Some(name) = parts.next() else {
            continue;
        };
        let value = parts
            .next()
            .ok_or_else(|| ParseError::new(format!("vmstat field {name:?} has no value")))?;
        fields.push((name, parse_f64(value)?));
    }
    Ok(fields)
}

impl Collector for VmstatCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let path = self.settings.roots.proc("vmstat");
        let bytes = read(&path)?;
        let mut names = self.names.lock();
        let fields = parse(&bytes).map_err(|e| CollectError::parse(&path, e))?;
        for (position, (name, value)) in fields.into_iter().enumerate() {
            names.with(
                position,
                name,
                |name| {
                    let metric = format!("node_vmstat_{}", sanitize_metric_name(name));
                    (metric, format!("/proc/vmstat information field {name}."))
                },
                |metric, help| {
                    sink.untyped(metric, help).sample(&[], value);
                },
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_sample() {
        let fields = parse(b"nr_free_pages 139434\npgfault 82751224\noom_kill 0\n").unwrap();
        assert_eq!(fields.len(), 3);
        assert_eq!(fields[1], ("pgfault", 82751224.0));
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(b"").unwrap().is_empty());
        assert!(parse(b"pgfault\n").is_err());
        assert!(parse(b"pgfault x\n").is_err());
        assert!(parse(&[0xff, b' ', 0xfe]).is_err());
    }
}
