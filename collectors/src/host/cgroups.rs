//! cgroups (off by default): `node_cgroups_cgroups{subsys_name}` and
//! `node_cgroups_enabled{subsys_name}` from `/proc/cgroups`.

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::stateless_collector;
use crate::util::{lossy, parse_file, parse_i64};

stateless_collector!("cgroups", false, "/proc/cgroups", collect);

/// One controller line of `/proc/cgroups`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Controller name.
    pub subsys_name: String,
    /// Number of cgroups of the controller.
    pub cgroups: i64,
    /// 1 when the controller is enabled.
    pub enabled: i64,
}

/// Parses `/proc/cgroups` (`#subsys_name hierarchy num_cgroups enabled`); comment lines are
/// skipped and every other line needs 4 integer-valued fields after the name.
pub fn parse(bytes: &[u8]) -> Result<Vec<Summary>, ParseError> {
    let text = lossy(bytes);
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [name, hierarchy, cgroups, enabled, ..] = fields.as_slice() else {
                return Err(ParseError::new(format!(
                    "4+ fields required in cgroup info string: {line}"
                )));
            };
            parse_i64(hierarchy)?;
            Ok(Summary {
                subsys_name: (*name).to_string(),
                cgroups: parse_i64(cgroups)?,
                enabled: parse_i64(enabled)?,
            })
        })
        .collect()
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let summaries = parse_file(&settings.roots.proc("cgroups"), parse)?;
    // node_exporter gives both families the same HELP text.
    const HELP: &str = "Current cgroup number of the subsystem.";
    for s in &summaries {
        let labels = [("subsys_name", s.subsys_name.as_str())];
        sink.gauge("node_cgroups_cgroups", HELP)
            .sample(&labels, s.cgroups as f64);
        sink.gauge("node_cgroups_enabled", HELP)
            .sample(&labels, s.enabled as f64);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_sample() {
        let text = b"#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t3\t1\t1\nmemory\t4\t24\t1\nrdma\t0\t1\t0\n";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[1].subsys_name, "memory");
        assert_eq!(s[1].cgroups, 24);
        assert_eq!(s[2].enabled, 0);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(b"").unwrap().is_empty());
        assert!(parse(b"cpuset\t3\t1").is_err());
        assert!(parse(b"cpuset\t3\tx\t1").is_err());
        assert!(parse(&[0xff, 0xfe]).is_err());
    }
}
