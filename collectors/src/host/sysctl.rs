//! sysctl (off by default): the sysctls named by `--collector.sysctl.include` (numeric,
//! `node_sysctl_<name>`) and `--collector.sysctl.include-info` (`node_sysctl_info`), read from
//! `/proc/sys/<a>/<b>/<c>` for `a.b.c`.
//!
//! An include is `name` or `name:key1,key2,...`; with keys, each value of a multi-value sysctl
//! becomes its own `node_sysctl_<name>_<key>` family.

use std::sync::{Arc, LazyLock};

use regex::Regex;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::{MetricSink, MetricType};
use crate::options::Flag;
use crate::util::{lossy, parse_file, parse_i64_prefixed};

/// `--collector.sysctl.include`.
pub const INCLUDE: Flag<Vec<String>> = Flag::new(
    "collector.sysctl.include",
    "Select sysctl metrics to include",
    "",
);
/// `--collector.sysctl.include-info`.
pub const INCLUDE_INFO: Flag<Vec<String>> = Flag::new(
    "collector.sysctl.include-info",
    "Select sysctl metrics to include as info metrics",
    "",
);

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "sysctl",
    default_enabled: false,
    sources: "/proc/sys/*",
    flags: &[INCLUDE.spec, INCLUDE_INFO.spec],
    build: |settings| {
        let mut sysctls: Vec<Sysctl> = settings
            .options
            .get(&INCLUDE)
            .iter()
            .map(|s| Sysctl::new(s, true))
            .collect();
        sysctls.extend(
            settings
                .options
                .get(&INCLUDE_INFO)
                .iter()
                .map(|s| Sysctl::new(s, false)),
        );
        Ok(Box::new(SysctlCollector {
            settings: Arc::clone(settings),
            sysctls,
        }))
    },
};

/// One requested sysctl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysctl {
    /// Numeric (`include`) or info (`include-info`).
    pub numeric: bool,
    /// Dotted name, e.g. `net.ipv4.ip_local_port_range`.
    pub name: String,
    /// Per-value names given after `:`.
    pub keys: Vec<String>,
}

impl Sysctl {
    /// Parses a flag value `name[:key1,key2,...]`.
    pub fn new(include: &str, numeric: bool) -> Self {
        let (name, keys) = match include.split_once(':') {
            Some((name, keys)) => (name, keys.split(',').map(String::from).collect()),
            None => (include, Vec::new()),
        };
        Sysctl {
            numeric,
            name: name.to_string(),
            keys,
        }
    }

    fn metric_name(&self) -> String {
        format!("node_sysctl_{}", sanitize(&self.name))
    }
}

/// node_exporter's `SanitizeMetricName`: each run of invalid characters, with the underscores
/// around it, becomes one `_` (`net.ipv4._x` → `net_ipv4_x`).
pub fn sanitize(name: &str) -> String {
    static INVALID: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"_*[^0-9A-Za-z_]+_*").unwrap_or_else(|e| unreachable!("constant regex: {e}"))
    });
    INVALID.replace_all(name, "_").into_owned()
}

/// Splits a sysctl file into its white-space separated values.
pub fn parse_strings(bytes: &[u8]) -> Result<Vec<String>, ParseError> {
    Ok(lossy(bytes).split_whitespace().map(String::from).collect())
}

/// Parses a sysctl file as integers, each as procfs' `SysctlInts` does with its `ValueParser`:
/// Go's `strconv.ParseInt(s, 0, 64)`, so `0x`/`0o`/`0b` and a leading `0` (octal) pick the base
/// (<https://github.com/prometheus/procfs/blob/master/proc_sys.go>,
/// <https://github.com/prometheus/procfs/blob/master/internal/util/valueparser.go>).
pub fn parse_ints(bytes: &[u8]) -> Result<Vec<i64>, ParseError> {
    lossy(bytes)
        .split_whitespace()
        .enumerate()
        .map(|(i, f)| {
            parse_i64_prefixed(f)
                .map_err(|_| ParseError::new(format!("field {i} is not a valid int: {f:?}")))
        })
        .collect()
}

struct SysctlCollector {
    settings: Arc<Settings>,
    sysctls: Vec<Sysctl>,
}

const INFO_NAME: &str = "node_sysctl_info";
const INFO_HELP: &str = "sysctl info";

impl SysctlCollector {
    fn numeric(
        &self,
        s: &Sysctl,
        path: &std::path::Path,
        sink: &mut MetricSink,
    ) -> Result<(), CollectError> {
        let values = parse_file(path, parse_ints)?;
        check_count(s, values.len())?;
        let name = s.metric_name();
        let help = format!("sysctl {}", s.name);
        match (values.as_slice(), s.keys.is_empty()) {
            ([single], _) => {
                sink.single(&name, &help, MetricType::Untyped, *single as f64);
            }
            (_, true) => {
                sink.untyped(&name, &help);
                for (i, v) in values.iter().enumerate() {
                    sink.sample(&[("index", &i.to_string())], *v as f64);
                }
            }
            (_, false) => {
                for (i, (v, key)) in values.iter().zip(&s.keys).enumerate() {
                    let help = format!("sysctl {}, field {i}", s.name);
                    sink.single(
                        &format!("{name}_{key}"),
                        &help,
                        MetricType::Untyped,
                        *v as f64,
                    );
                }
            }
        }
        Ok(())
    }

    fn info(
        &self,
        s: &Sysctl,
        path: &std::path::Path,
        sink: &mut MetricSink,
    ) -> Result<(), CollectError> {
        let values = parse_file(path, parse_strings)?;
        check_count(s, values.len())?;
        if values.len() > 1 && !s.keys.is_empty() {
            return Err(CollectError::Other(
                "mapped sysctl string values not supported".into(),
            ));
        }
        sink.gauge(INFO_NAME, INFO_HELP);
        for (i, v) in values.iter().enumerate() {
            sink.sample(
                &[("index", &i.to_string()), ("name", &s.name), ("value", v)],
                1.0,
            );
        }
        Ok(())
    }
}

/// node_exporter's checks of the value count against the keys given in the flag.
fn check_count(s: &Sysctl, count: usize) -> Result<(), CollectError> {
    match count {
        0 => Err(CollectError::Other(format!(
            "sysctl {} has no values",
            s.name
        ))),
        1 if !s.keys.is_empty() => Err(CollectError::Other(format!(
            "sysctl {} has only one value, but expected {:?}",
            s.name, s.keys
        ))),
        n if n > 1 && !s.keys.is_empty() && n != s.keys.len() => Err(CollectError::Other(format!(
            "sysctl {} has {n} keys but only {} defined in flag",
            s.name,
            s.keys.len()
        ))),
        _ => Ok(()),
    }
}

impl Collector for SysctlCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        for s in &self.sysctls {
            let path = self
                .settings
                .roots
                .proc("sys")
                .join(s.name.replace('.', "/"));
            if s.numeric {
                self.numeric(s, &path, sink)?;
            } else {
                self.info(s, &path, sink)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expfmt::{render, Format};
    use crate::{Options, Roots};
    use std::path::Path;

    #[test]
    fn parses_flags_and_values() {
        let s = Sysctl::new("net.ipv4.ip_local_port_range:low,high", true);
        assert_eq!(s.name, "net.ipv4.ip_local_port_range");
        assert_eq!(s.keys, vec!["low", "high"]);
        assert_eq!(s.metric_name(), "node_sysctl_net_ipv4_ip_local_port_range");
        assert_eq!(sanitize("a._.b-c__x"), "a__b_c__x");
        assert_eq!(
            sanitize("net.ipv4.conf.br-1a.rp_filter"),
            "net_ipv4_conf_br_1a_rp_filter"
        );
        assert_eq!(parse_ints(b"32768\t60999\n").unwrap(), vec![32768, 60999]);
        assert!(parse_ints(b"").unwrap().is_empty());
        assert!(parse_ints(b"12 x").is_err());
        // Go's base-0 ParseInt, as procfs' ValueParser: prefixes and a leading 0 pick the base.
        assert_eq!(
            parse_ints(b"0x1f 017 0b11 -5 0\n").unwrap(),
            vec![31, 15, 3, -5, 0]
        );
        assert!(parse_ints(&[0xff, 0xfe]).is_err());
        assert_eq!(parse_strings(b"core\n").unwrap(), vec!["core"]);
    }

    fn run(includes: &[&str], infos: &[&str]) -> (String, bool) {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/host");
        let mut options = Options::default();
        options.set_list(&INCLUDE, includes.iter().map(|s| s.to_string()).collect());
        options.set_list(&INCLUDE_INFO, infos.iter().map(|s| s.to_string()).collect());
        let settings = Arc::new(Settings::new(Roots::fixture(&base), options));
        let collector = (INFO.build)(&settings).unwrap();
        let mut sink = MetricSink::new();
        let ok = collector.collect(&mut sink).is_ok();
        let mut out = Vec::new();
        render(&[&sink], Format::Text, &mut out).unwrap();
        (String::from_utf8(out).unwrap(), ok)
    }

    #[test]
    fn collects_fixture_sysctls() {
        let (text, ok) = run(
            &[
                "vm.swappiness",
                "net.ipv4.tcp_rmem",
                "net.ipv4.ip_local_port_range:low,high",
            ],
            &["kernel.core_pattern"],
        );
        assert!(ok);
        for line in [
            "# TYPE node_sysctl_vm_swappiness untyped",
            "node_sysctl_vm_swappiness 60",
            "node_sysctl_net_ipv4_tcp_rmem{index=\"2\"} 3.3554432e+07",
            "# HELP node_sysctl_net_ipv4_ip_local_port_range_high sysctl net.ipv4.ip_local_port_range, field 1",
            "node_sysctl_net_ipv4_ip_local_port_range_low 32768",
            "node_sysctl_info{index=\"0\",name=\"kernel.core_pattern\",value=\"core\"} 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn reports_bad_sysctls() {
        assert!(!run(&["vm.swappiness:a,b"], &[]).1);
        assert!(!run(&["net.ipv4.tcp_rmem:a,b"], &[]).1);
        assert!(!run(&["kernel.core_pattern"], &[]).1);
        assert!(!run(&["vm.does_not_exist"], &[]).1);
    }
}
