//! Collector flags as typed constants. Each collector declares its `--collector.<name>.<option>`
//! flags next to its code as [`Flag`] constants (name, help, node_exporter's default, and the
//! type the value is read as) and lists their specs in its `CollectorInfo::flags`; the binary
//! turns every listed spec into a command-line option, and a collector reads a value back
//! through its constant (`options.get(&FIELDS)`), so a misspelt flag name cannot compile. The
//! default comes from the constant itself: this module needs no registry and imports nothing
//! from the crate (it is a leaf of the module graph, `tests/module_graph.rs`).

use std::collections::HashMap;
use std::marker::PhantomData;
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

/// A flag whose value is read as a `T`: one of `bool`, `String`, `Vec<String>` (repeatable),
/// `Option<Regex>` (empty means none), `Duration` (Go syntax) or an integer.
#[derive(Debug)]
pub struct Flag<T> {
    /// What the command line and the docs need.
    pub spec: FlagSpec,
    value: PhantomData<fn() -> T>,
}

impl<T: FlagValue> Flag<T> {
    /// A flag with no aliases; its kind follows from `T`.
    pub const fn new(name: &'static str, help: &'static str, default: &'static str) -> Self {
        Flag {
            spec: FlagSpec {
                name,
                help,
                kind: T::KIND,
                default,
                aliases: &[],
            },
            value: PhantomData,
        }
    }

    /// The same flag, also accepted under old `aliases` (hidden from `--help`).
    pub const fn with_aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.spec.aliases = aliases;
        self
    }

    /// The full name, for error messages (`--{name}`).
    pub const fn name(&self) -> &'static str {
        self.spec.name
    }
}

/// A type a flag's text is read as. `Read` is `Self` where reading cannot fail, else a
/// `Result` whose error names the flag.
pub trait FlagValue: Sized {
    /// The command-line kind of flags of this type.
    const KIND: FlagKind;
    /// What [`Options::get`] returns.
    type Read;
    /// Reads the flag `name` from its values (the last one counts for single-valued flags).
    fn read(name: &str, values: &[&str]) -> Self::Read;
}

fn last<'a>(values: &[&'a str]) -> &'a str {
    values.last().copied().unwrap_or("")
}

impl FlagValue for bool {
    const KIND: FlagKind = FlagKind::Bool;
    type Read = bool;
    fn read(_: &str, values: &[&str]) -> bool {
        last(values) == "true"
    }
}

impl FlagValue for String {
    const KIND: FlagKind = FlagKind::Value;
    type Read = String;
    fn read(_: &str, values: &[&str]) -> String {
        last(values).to_string()
    }
}

impl FlagValue for Vec<String> {
    const KIND: FlagKind = FlagKind::List;
    type Read = Vec<String>;
    fn read(_: &str, values: &[&str]) -> Vec<String> {
        values.iter().map(|v| v.to_string()).collect()
    }
}

impl FlagValue for Option<Regex> {
    const KIND: FlagKind = FlagKind::Value;
    type Read = Result<Option<Regex>, String>;
    fn read(name: &str, values: &[&str]) -> Self::Read {
        let pattern = last(values);
        if pattern.is_empty() {
            return Ok(None);
        }
        Regex::new(pattern)
            .map(Some)
            .map_err(|e| format!("invalid regular expression for --{name}: {e}"))
    }
}

impl FlagValue for Duration {
    const KIND: FlagKind = FlagKind::Value;
    type Read = Result<Duration, String>;
    fn read(name: &str, values: &[&str]) -> Self::Read {
        let text = last(values);
        parse_go_duration(text).ok_or_else(|| format!("invalid duration {text:?} for --{name}"))
    }
}

/// Integer flags.
macro_rules! number_flag {
    ($($t:ty),*) => {$(
        impl FlagValue for $t {
            const KIND: FlagKind = FlagKind::Value;
            type Read = Result<$t, String>;
            fn read(name: &str, values: &[&str]) -> Self::Read {
                let text = last(values);
                text.parse()
                    .map_err(|_| format!("invalid number {text:?} for --{name}"))
            }
        }
    )*};
}
number_flag!(i64, u16, u32, u64, usize);

/// The values of the collector flags set on the command line; any other flag reads as its
/// declared default.
#[derive(Clone, Debug, Default)]
pub struct Options {
    values: HashMap<&'static str, Vec<String>>,
    /// Every flag name read, so a test can check each is declared by a registered collector.
    #[cfg(test)]
    pub(crate) read: std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<&'static str>>>,
}

impl Options {
    /// Sets a flag to one value (replacing any other), as `--name=value` would.
    pub fn set<T>(&mut self, flag: &Flag<T>, value: impl Into<String>) -> &mut Self {
        self.set_spec(&flag.spec, vec![value.into()])
    }

    /// Sets all values of a repeatable flag.
    pub fn set_list(&mut self, flag: &Flag<Vec<String>>, values: Vec<String>) -> &mut Self {
        self.set_spec(&flag.spec, values)
    }

    /// Sets the values of the flag `spec` describes (for the command line, which only sees
    /// specs).
    pub fn set_spec(&mut self, spec: &FlagSpec, values: Vec<String>) -> &mut Self {
        self.values.insert(spec.name, values);
        self
    }

    /// The flag's value: what the command line set, else its default.
    pub fn get<T: FlagValue>(&self, flag: &Flag<T>) -> T::Read {
        #[cfg(test)]
        self.read
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(flag.spec.name);
        let values: Vec<&str> = match self.values.get(flag.spec.name) {
            Some(set) => set.iter().map(String::as_str).collect(),
            None if flag.spec.default.is_empty() => Vec::new(),
            None => vec![flag.spec.default],
        };
        T::read(flag.spec.name, &values)
    }

    /// The flag's text as given (its default when unset), whatever type it is read as.
    pub fn text<T>(&self, flag: &Flag<T>) -> String {
        match self.values.get(flag.spec.name).and_then(|v| v.last()) {
            Some(value) => value.clone(),
            None => flag.spec.default.to_string(),
        }
    }

    /// Whether the command line set the flag (even to its default).
    pub fn is_set<T>(&self, flag: &Flag<T>) -> bool {
        self.values.contains_key(flag.spec.name)
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
    include: &Flag<Option<Regex>>,
    exclude: &Flag<Option<Regex>>,
) -> Result<(Option<Regex>, Option<Regex>), String> {
    let inc = options.get(include)?;
    let exc = options.get(exclude)?;
    if inc.is_some() && exc.is_some() && options.is_set(include) && options.is_set(exclude) {
        return Err(format!(
            "--{} and --{} are mutually exclusive",
            include.name(),
            exclude.name()
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

    const TEXT: Flag<String> = Flag::new("collector.t.text", "", "x");
    const ON: Flag<bool> = Flag::new("collector.t.on", "", "true");
    const PATTERN: Flag<Option<Regex>> = Flag::new("collector.t.pattern", "", "");
    const MANY: Flag<Vec<String>> = Flag::new("collector.t.many", "", "d");
    const WAIT: Flag<Duration> = Flag::new("collector.t.wait", "", "5s");
    const COUNT: Flag<usize> = Flag::new("collector.t.count", "", "4");

    #[test]
    fn values_and_defaults() {
        let mut o = Options::default();
        assert_eq!(o.get(&TEXT), "x");
        assert!(o.get(&ON));
        assert_eq!(o.get(&MANY), vec!["d"]);
        assert_eq!(o.get(&WAIT), Ok(Duration::from_secs(5)));
        assert_eq!(o.get(&COUNT), Ok(4));
        assert!(o.get(&PATTERN).unwrap().is_none());
        o.set(&ON, "false").set(&TEXT, "y").set(&COUNT, "-1");
        o.set_list(&MANY, vec!["a".into(), "b".into()]);
        assert!(!o.get(&ON));
        o.set(&ON, "yes");
        assert!(
            !o.get(&ON),
            "only the command line's normalised true is true"
        );
        assert_eq!(o.get(&TEXT), "y");
        assert_eq!(o.get(&MANY), vec!["a", "b"]);
        assert!(o.get(&COUNT).unwrap_err().contains("--collector.t.count"));
        o.set(&PATTERN, "(");
        assert!(o
            .get(&PATTERN)
            .unwrap_err()
            .contains("--collector.t.pattern"));
        o.set(&WAIT, "5");
        assert!(o.get(&WAIT).unwrap_err().contains("--collector.t.wait"));
    }

    #[test]
    fn kinds_follow_types() {
        assert_eq!(ON.spec.kind, FlagKind::Bool);
        assert_eq!(TEXT.spec.kind, FlagKind::Value);
        assert_eq!(MANY.spec.kind, FlagKind::List);
        assert_eq!(PATTERN.with_aliases(&["old"]).spec.aliases, &["old"]);
    }

    #[test]
    fn include_exclude_are_exclusive_when_both_set() {
        const EXC: Flag<Option<Regex>> = Flag::new("collector.t.exclude", "", "^lo$");
        let mut o = Options::default();
        o.set(&PATTERN, "^eth");
        assert!(include_exclude(&o, &PATTERN, &EXC).is_ok());
        o.set(&EXC, "^lo$");
        let e = include_exclude(&o, &PATTERN, &EXC).unwrap_err();
        assert!(e.contains("mutually exclusive"), "{e}");
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
