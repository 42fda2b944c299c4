//! vmstat: `node_vmstat_<field>` (untyped) from `/proc/vmstat`, for the fields matching
//! `--collector.vmstat.fields`.

use std::sync::{Arc, Mutex};

use regex::Regex;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::options::Flag;
use crate::util::{check_f64, parse_f64, read, sanitize_metric_name, FieldNames, KnownLines};

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
        known: Mutex::default(),
    }))
}

struct VmstatCollector {
    settings: Arc<Settings>,
    /// The field filter and the names kept fields are exported under.
    names: FieldNames,
    /// The fields of the last read.
    known: Mutex<KnownLines>,
}

/// Splits a `/proc/vmstat` line into field name and value; `None` for a blank line.
pub fn split_line(line: &str) -> Result<Option<(&str, &str)>, ParseError> {
    let mut parts = line.split_ascii_whitespace();
    let Some(name) = parts.next() else {
        return Ok(None);
    };
    let value = parts
        .next()
        .ok_or_else(|| ParseError::new(format!("vmstat field {name:?} has no value")))?;
    Ok(Some((name, value)))
}

impl Collector for VmstatCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let path = self.settings.roots.proc("vmstat");
        let bytes = read(&path)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            CollectError::parse(&path, ParseError::new("/proc/vmstat is not UTF-8"))
        })?;
        let mut names = self.names.lock();
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        // Every value must be a number, as node_exporter parses each one before filtering:
        // kept ones are converted, the rest checked, and kept ones emitted once all passed.
        let mut kept: Vec<(usize, f64)> = Vec::with_capacity(32);
        let mut position = 0;
        for line in crate::util::lines(text) {
            let (index, value) = match known.get(position, line) {
                Some((name, index, rest)) => {
                    let value = rest.split_ascii_whitespace().next();
                    let value = value.ok_or_else(|| {
                        let e = ParseError::new(format!("vmstat field {name:?} has no value"));
                        CollectError::parse(&path, e)
                    })?;
                    (index, value)
                }
                _ => {
                    let Some((name, value)) =
                        split_line(line).map_err(|e| CollectError::parse(&path, e))?
                    else {
                        continue;
                    };
                    let index = names.kept_parts(position, &[name], |name| {
                        let metric = format!("node_vmstat_{}", sanitize_metric_name(name));
                        (metric, format!("/proc/vmstat information field {name}."))
                    });
                    known.set(position, name, index);
                    (index, value)
                }
            };
            position += 1;
            match index {
                Some(index) => kept.push((
                    index,
                    parse_f64(value).map_err(|e| CollectError::parse(&path, e))?,
                )),
                None => check_f64(value).map_err(|e| CollectError::parse(&path, e))?,
            }
        }
        for (index, value) in kept {
            if let Some((metric, help)) = names.named(index) {
                sink.untyped(metric, help).sample(&[], value);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field of a walk, its value parsed.
    fn parse(bytes: &[u8]) -> Result<Vec<(&str, f64)>, ParseError> {
        let text = std::str::from_utf8(bytes).map_err(|_| ParseError::new("not UTF-8"))?;
        let mut fields = Vec::new();
        for line in crate::util::lines(text) {
            if let Some((name, value)) = split_line(line)? {
                fields.push((name, parse_f64(value)?));
            }
        }
        Ok(fields)
    }

    /// A dropped field is not emitted, but a bad value in it still fails the scrape, with
    /// nothing emitted.
    #[test]
    fn dropped_fields_are_checked_not_emitted() {
        let run = |vmstat: &str| {
            let base = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(base.path().join("proc")).unwrap();
            std::fs::write(base.path().join("proc/vmstat"), vmstat).unwrap();
            crate::testing::collect_on_root(INFO, base.path()).unwrap()
        };
        let (sink, result) = run("nr_free_pages 139434\npgfault 8\n");
        result.unwrap();
        let text = crate::testing::render_text(&sink);
        assert!(text.contains("node_vmstat_pgfault 8\n"), "{text}");
        assert!(!text.contains("nr_free_pages"), "{text}");
        let (sink, result) = run("nr_free_pages x\npgfault 8\n");
        assert!(result.unwrap_err().to_string().contains("invalid number"));
        assert!(sink.is_empty());
    }

    /// A field known from the last read is not split into a name again: each read gives what
    /// a fresh collector gives, errors included, whatever changed since the last.
    #[test]
    fn known_fields_give_what_fresh_reads_give() {
        let base = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(base.path().join("proc")).unwrap();
        let reads = [
            "nr_free 1\npgfault 8\noom_kill 0\n",
            "nr_free x\npgfault 8\noom_kill 0\n",
            "nr_free 1\npgfault\noom_kill 0\n",
            "nr_free 1\npgfault 9 extra\n\noom_kill 0\n",
            "nr_free 1\npgfaults 9\noom_kill 0\n",
            " nr_free 1\npgfault\t10\noom_kill 0\n",
            "pgfault 11\n",
        ];
        let errors = crate::testing::kept_matches_fresh(INFO, base.path(), reads, |vmstat| {
            std::fs::write(base.path().join("proc/vmstat"), vmstat).unwrap();
        });
        assert_eq!(errors, 2);
    }

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
