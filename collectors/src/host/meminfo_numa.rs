//! meminfo_numa (off by default): `node_memory_numa_<field>{node}` from
//! `/sys/devices/system/node/node*/meminfo` (gauges, kB × 1024) and `numastat`
//! (`node_memory_numa_<field>_total{node}` counters).

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::{MetricSink, MetricType};
use crate::roots::JoinExt;
use crate::stateless_collector;
use crate::util::{list_dir, lossy, parse_f64, parse_file};

stateless_collector!(
    "meminfo_numa",
    false,
    "/sys/devices/system/node/node*/{meminfo,numastat}",
    collect
);

/// One value of a node: metric-name fragment, node number and value.
#[derive(Debug, Clone, PartialEq)]
pub struct NumaValue {
    /// Field name as node_exporter builds it (`Active_anon`, `numa_hit_total`).
    pub name: String,
    /// The NUMA node number.
    pub node: String,
    /// The value (bytes for kB fields).
    pub value: f64,
}

/// `Active(anon)` → `Active_anon`, as node_exporter's `\((.*)\)` → `_${1}` replacement.
fn rename(field: &str) -> String {
    match (field.find('('), field.rfind(')')) {
        (Some(open), Some(close)) if open < close => format!(
            "{}_{}{}",
            &field[..open],
            &field[open + 1..close],
            &field[close + 1..]
        ),
        _ => field.to_string(),
    }
}

/// Parses a node's `meminfo` (`Node 0 MemTotal:  7169824 kB`).
pub fn parse_meminfo(bytes: &[u8]) -> Result<Vec<NumaValue>, ParseError> {
    let text = lossy(bytes);
    let mut out = Vec::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.is_empty() {
            continue;
        }
        let (Some(node), Some(field), Some(value)) = (parts.get(1), parts.get(2), parts.get(3))
        else {
            return Err(ParseError::new(format!("invalid line in meminfo: {line}")));
        };
        let mut value = parse_f64(value)?;
        match parts.get(4) {
            None => {}
            Some(&"kB") if parts.len() == 5 => value *= 1024.0,
            Some(_) => return Err(ParseError::new(format!("invalid line in meminfo: {line}"))),
        }
        out.push(NumaValue {
            name: rename(field.trim_end_matches(':')),
            node: (*node).to_string(),
            value,
        });
    }
    Ok(out)
}

/// Parses a node's `numastat` (`numa_hit 13224052`); names get a `_total` suffix.
pub fn parse_numastat(bytes: &[u8], node: &str) -> Result<Vec<NumaValue>, ParseError> {
    let text = lossy(bytes);
    let mut out = Vec::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            [] => continue,
            [name, value] => out.push(NumaValue {
                name: format!("{name}_total"),
                node: node.to_string(),
                value: parse_f64(value)?,
            }),
            _ => {
                return Err(ParseError::new(format!(
                    "line scan did not return 2 fields: {line}"
                )))
            }
        }
    }
    Ok(out)
}

fn emit(sink: &mut MetricSink, values: &[NumaValue], kind: MetricType) {
    for v in values {
        let name = format!("node_memory_numa_{}", v.name);
        let help = format!("Memory information field {}.", v.name);
        sink.family(&name, &help, kind)
            .sample(&[("node", &v.node)], v.value);
    }
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let base = settings.roots.sys("devices/system/node");
    // node_exporter lists the nodes with `filepath.Glob`, which ignores errors reading the
    // directory: an absent or unreadable one is no nodes, and the collector succeeds empty.
    let nodes = match list_dir(&base) {
        Ok(names) => names,
        Err(e) => {
            tracing::debug!(err = %e, "no NUMA nodes");
            return Ok(());
        }
    };
    for name in nodes {
        let Some(number) = name.strip_prefix("node") else {
            continue;
        };
        if !number.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        let number: String = number.chars().take_while(char::is_ascii_digit).collect();
        let dir = base.join_exact(&name);
        let meminfo = parse_file(&dir.join_exact("meminfo"), parse_meminfo)?;
        emit(sink, &meminfo, MetricType::Gauge);
        let numastat = parse_file(&dir.join_exact("numastat"), |b| parse_numastat(b, &number))?;
        emit(sink, &numastat, MetricType::Counter);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_meminfo() {
        let text = b"Node 0 MemTotal:        7169824 kB\nNode 0 Active(anon):       1640 kB\nNode 0 HugePages_Total:     0\n";
        let v = parse_meminfo(text).unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].name, "MemTotal");
        assert_eq!(v[0].value, 7169824.0 * 1024.0);
        assert_eq!(v[1].name, "Active_anon");
        assert_eq!(v[2].name, "HugePages_Total");
        assert_eq!(v[2].value, 0.0);
        assert_eq!(v[2].node, "0");
    }

    #[test]
    fn parses_real_numastat() {
        let v = parse_numastat(b"numa_hit 13224052\ninterleave_hit 1138\n", "0").unwrap();
        assert_eq!(v[0].name, "numa_hit_total");
        assert_eq!(v[1].value, 1138.0);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse_meminfo(b"").unwrap().is_empty());
        assert!(parse_meminfo(b"Node 0 MemTotal:").is_err());
        assert!(parse_meminfo(b"Node 0 MemTotal: 12 MB").is_err());
        assert!(parse_meminfo(&[0xff, 0xfe, b' ', b'1']).is_err());
        assert!(parse_numastat(b"numa_hit", "0").is_err());
        assert!(parse_numastat(b"numa_hit x", "0").is_err());
    }

    /// `filepath.Glob` ignores an error reading the directory: here `sys/devices/system/node` is a regular
    /// file, so listing it fails with ENOTDIR, and node_exporter succeeds with no nodes.
    #[test]
    fn unlistable_directory_is_empty_as_go_glob() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("sys/devices/system/node");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "").unwrap();
        let (sink, result) = crate::testing::collect_on_root(INFO, root.path()).unwrap();
        assert!(result.is_ok(), "{result:?}");
        assert!(!crate::testing::render_text(&sink).contains("node_memory_numa"));
    }
}
