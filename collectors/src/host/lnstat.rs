//! lnstat (off by default): `node_lnstat_<counter>_total{cpu,subsystem}` from the per-CPU
//! hexadecimal tables in `/proc/net/stat/*`.

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::stateless_collector;
use crate::util::{list_dir, lossy, parse_file, sanitize_metric_name};

stateless_collector!("lnstat", false, "/proc/net/stat/*", collect);

/// A table: the header names and, per CPU line, one value per header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    /// Column names from the first line.
    pub headers: Vec<String>,
    /// One row per CPU.
    pub rows: Vec<Vec<u64>>,
}

/// Parses one `/proc/net/stat/<file>`: a header line, then one line of hex counters per CPU.
pub fn parse(bytes: &[u8]) -> Result<Table, ParseError> {
    let text = lossy(bytes);
    let mut lines = crate::util::lines(&text);
    let headers: Vec<String> = lines
        .next()
        .map(|h| h.split_ascii_whitespace().map(String::from).collect())
        .unwrap_or_default();
    let mut rows = Vec::new();
    for line in lines {
        let row = line
            .split_ascii_whitespace()
            .map(|v| {
                u64::from_str_radix(v, 16)
                    .map_err(|_| ParseError::new(format!("invalid hex counter {v:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if row.len() > headers.len() {
            return Err(ParseError::new(format!(
                "{} values for {} headers",
                row.len(),
                headers.len()
            )));
        }
        rows.push(row);
    }
    Ok(Table { headers, rows })
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let dir = settings.roots.proc("net/stat");
    let files = match list_dir(&dir) {
        Ok(files) => files,
        Err(e) if e.is_no_data() => return Ok(()),
        Err(e) => return Err(e),
    };
    for file in files {
        let table = parse_file(&dir.join(&file), parse)?;
        for (i, header) in table.headers.iter().enumerate() {
            // Like procfs, a short line gives its values to the first headers only, so a
            // column's CPU number is its position among the lines that have it.
            let column: Vec<u64> = table
                .rows
                .iter()
                .filter_map(|row| row.get(i))
                .copied()
                .collect();
            if column.is_empty() {
                continue;
            }
            let name = format!("node_lnstat_{}_total", sanitize_metric_name(header));
            sink.counter(&name, "linux network cache stats");
            for (cpu, value) in column.iter().enumerate() {
                sink.sample(
                    &[("cpu", &cpu.to_string()), ("subsystem", &file)],
                    *value as f64,
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_sample() {
        let text =
            b"entries  allocs   destroys\n00000003 00000002 00000000\n00000003 0000000c 00000000\n";
        let t = parse(text).unwrap();
        assert_eq!(t.headers, vec!["entries", "allocs", "destroys"]);
        assert_eq!(t.rows, vec![vec![3, 2, 0], vec![3, 12, 0]]);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(parse(b"").unwrap(), Table::default());
        assert!(parse(b"entries\n00000003 00000001\n").is_err());
        assert!(parse(b"entries\nzz\n").is_err());
        assert!(parse(&[b'a', b'\n', 0xff, 0xfe]).is_err());
    }
}
