//! Collector flags. Each collector declares its `--collector.<name>.<option>` flags in its
//! `CollectorInfo::flags`, with node_exporter's defaults; the binary turns every declared flag
//! into a command-line option, and collectors read the values back by name when they are
//! built (compiling regexes then, so a bad pattern stops start-up with the flag's name).

use std::collections::HashMap;
use std::time::Duration;

use regex::Regex;

/// The kind of value a flag takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagKind {
    /// `--flag` / `--no-flag` (also `--flag=true|false`).
    Bool,
    /// One value: `--flag=value`.
    Value,
    /// Repeatable: every `--flag=value` adds one.
    List,
}

/// A collector flag: its full name without the leading dashes, help, kind and default.
#[derive(Clone, Copy, Debug)]
pub struct FlagSpec {
    /// Full name, e.g. `collector.filesystem.mount-timeout`.
    pub name: &'static str,
    /// Help text shown by `--help`.
    pub help: &'static str,
    /// Value kind.
    pub kind: FlagKind,
    /// Default value (`"true"`/`"false"` for booleans, `""` for none).
    pub default: &'static str,
    /// Old names node_exporter still accepts (hidden).
    pub aliases: &'static [&'static str],
}

/// The values of every collector flag: defaults from the declared specs, overridden by the
/// command line. Collectors read them by flag name.
#[derive(Clone, Debug, Default)]
pub struct Options {
    values: HashMap<String, Vec<String>>,
    defaults: HashMap<&'static str, &'static str>,
}

impl Options {
    /// Options holding the declared default of every registered collector's flags.
    pub fn with_defaults() -> Self {
        let mut options = Options::default();
        for info in crate::registry::all() {
            for spec in info.flags {
                options.defaults.insert(spec.name, spec.default);
            }
        }
        options
    }

    /// Sets a flag to one value (replacing any other).
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.values.insert(name.to_string(), vec![value.into()]);
        self
    }

    /// Sets all values of a repeatable flag.
    pub fn set_list(&mut self, name: &str, values: Vec<String>) -> &mut Self {
        self.values.insert(name.to_string(), values);
        self
    }

    /// The value of a single-valued flag (its default if unset; `""` if unknown).
    pub fn value(&self, name: &str) -> String {
        match self.values.get(name).and_then(|v| v.last()) {
            Some(v) => v.clone(),
            None => self.defaults.get(name).copied().unwrap_or("").to_string(),
        }
    }

    /// The values of a repeatable flag (the default, if non-empty, when unset).
    pub fn list(&self, name: &str) -> Vec<String> {
        match self.values.get(name) {
            Some(v) => v.clone(),
            None => {
                let d = self.defaults.get(name).copied().unwrap_or("");
                if d.is_empty() {
                    Vec::new()
                } else {
                    vec![d.to_string()]
                }
            }
        }
    }

    /// A boolean flag.
    pub fn bool(&self, name: &str) -> bool {
        self.value(name) == "true"
    }

    /// A regex flag; an empty value means "no pattern". The error names the flag.
    pub fn regex(&self, name: &str) -> Result<Option<Regex>, String> {
        let pattern = self.value(name);
        if pattern.is_empty() {
            return Ok(None);
        }
        Regex::new(&pattern)
            .map(Some)
            .map_err(|e| format!("invalid regular expression for --{name}: {e}"))
    }

    /// A duration flag in Go's syntax (`5s`, `500ms`, `1m30s`).
    pub fn duration(&self, name: &str) -> Result<Duration, String> {
        let text = self.value(name);
        parse_go_duration(&text).ok_or_else(|| format!("invalid duration {text:?} for --{name}"))
    }

    /// A non-negative integer flag.
    pub fn usize(&self, name: &str) -> Result<usize, String> {
        let text = self.value(name);
        text.parse()
            .map_err(|_| format!("invalid number {text:?} for --{name}"))
    }
}

/// Parses a Go `time.Duration` string such as `5s`, `1.5m`, `100ms` or `1h2m3s`.
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    Some(Duration::from_secs_f64(total))
}

/// An include/exclude device filter as node_exporter's `newDeviceFilter`: a name is kept when it
/// matches the include pattern (if any) and does not match the exclude pattern (if any).
pub fn device_allowed(name: &str, include: Option<&Regex>, exclude: Option<&Regex>) -> bool {
    include.is_none_or(|r| r.is_match(name)) && !exclude.is_some_and(|r| r.is_match(name))
}

/// Reads an include/exclude pair of regex flags that node_exporter declares mutually exclusive.
pub fn include_exclude(
    options: &Options,
    include: &str,
    exclude: &str,
) -> Result<(Option<Regex>, Option<Regex>), String> {
    let inc = options.regex(include)?;
    let exc = options.regex(exclude)?;
    if inc.is_some()
        && exc.is_some()
        && options.values.contains_key(include)
        && options.values.contains_key(exclude)
    {
        return Err(format!(
            "--{include} and --{exclude} are mutually exclusive"
        ));
    }
    Ok((inc, exc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("5"), None);
        assert_eq!(parse_go_duration("abc"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn values_and_defaults() {
        let mut o = Options::default();
        o.defaults.insert("a", "x");
        o.defaults.insert("b", "true");
        assert_eq!(o.value("a"), "x");
        assert!(o.bool("b"));
        o.set("b", "false");
        assert!(!o.bool("b"));
        o.set("r", "(");
        assert!(o.regex("r").unwrap_err().contains("--r"));
        assert!(o.regex("unset").unwrap().is_none());
    }

    #[test]
    fn device_filter() {
        let inc = Regex::new("^eth").unwrap();
        assert!(device_allowed("eth0", Some(&inc), None));
        assert!(!device_allowed("lo", Some(&inc), None));
        assert!(!device_allowed("eth0", None, Some(&inc)));
        assert!(device_allowed("lo", None, None));
    }
}
