//! buddyinfo (off by default): `node_buddyinfo_blocks{node,size,zone}` from `/proc/buddyinfo`.

use std::collections::BTreeMap;

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::stateless_collector;
use crate::util::{lossy, parse_f64, parse_file};

stateless_collector!("buddyinfo", false, "/proc/buddyinfo", collect);

/// Free-block counts per order, keyed by `(node, zone)`.
pub type BuddyInfo = BTreeMap<(String, String), Vec<f64>>;

/// Parses `/proc/buddyinfo` (`Node 0, zone   Normal  31887 18635 ...`). Every line must have
/// the same number of orders.
pub fn parse(bytes: &[u8]) -> Result<BuddyInfo, ParseError> {
    let text = lossy(bytes);
    let mut out = BuddyInfo::new();
    let mut buckets: Option<usize> = None;
    for line in crate::util::lines(&text) {
        let parts: Vec<&str> = line.split_ascii_whitespace().collect();
        let [_, node, _, zone, counts @ ..] = parts.as_slice() else {
            return Err(ParseError::new(
                "invalid number of fields when parsing buddyinfo",
            ));
        };
        match buckets {
            None => buckets = Some(counts.len()),
            Some(n) if n != counts.len() => {
                return Err(ParseError::new(format!(
                    "mismatch in number of buddyinfo buckets, previous count {n}, new count {}",
                    counts.len()
                )))
            }
            Some(_) => {}
        }
        let sizes = counts
            .iter()
            .map(|c| parse_f64(c))
            .collect::<Result<Vec<_>, _>>()?;
        let key = (
            node.trim_end_matches(',').to_string(),
            zone.trim_end_matches(',').to_string(),
        );
        out.insert(key, sizes);
    }
    Ok(out)
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let info = parse_file(&settings.roots.proc("buddyinfo"), parse)?;
    sink.gauge(
        "node_buddyinfo_blocks",
        "Count of free blocks according to size.",
    );
    for ((node, zone), sizes) in &info {
        for (size, value) in sizes.iter().enumerate() {
            let size = size.to_string();
            sink.sample(&[("node", node), ("size", &size), ("zone", zone)], *value);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_sample() {
        let text = b"Node 0, zone      DMA      0      0      0      0      0      0      0      0      1      1      3 \nNode 0, zone   Normal  31887  18635   6734      6      4     49     44     18      5      1      5 \n";
        let info = parse(text).unwrap();
        assert_eq!(info.len(), 2);
        let normal = &info[&("0".to_string(), "Normal".to_string())];
        assert_eq!(normal.len(), 11);
        assert_eq!(normal[0], 31887.0);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(b"").unwrap().is_empty());
        assert!(parse(b"Node 0, zone").is_err());
        assert!(parse(b"Node 0, zone DMA 1 2\nNode 0, zone DMA32 1\n").is_err());
        assert!(parse(b"Node 0, zone DMA x").is_err());
        assert!(parse(&[0xff, 0xfe]).is_err());
    }
}
