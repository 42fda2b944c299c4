//! zoneinfo (off by default): `node_zoneinfo_*{node,zone}` from `/proc/zoneinfo`, the fields
//! procfs' `Zoneinfo` knows plus `node_zoneinfo_protection_<i>`.

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::{MetricSink, MetricType};
use crate::stateless_collector;
use crate::util::{lossy, parse_file, parse_i64_prefixed};

stateless_collector!("zoneinfo", false, "/proc/zoneinfo", collect);

/// A zoneinfo key, its metric-name suffix, HELP text and whether it is a counter.
struct Field {
    key: &'static str,
    name: &'static str,
    help: &'static str,
    counter: bool,
}

const fn gauge(key: &'static str, name: &'static str, help: &'static str) -> Field {
    Field {
        key,
        name,
        help,
        counter: false,
    }
}

const fn counter(key: &'static str, name: &'static str, help: &'static str) -> Field {
    Field {
        key,
        name,
        help,
        counter: true,
    }
}

/// The fields in procfs' `Zoneinfo` struct order.
const FIELDS: &[Field] = &[
    gauge(
        "nr_free_pages",
        "nr_free_pages",
        "Total number of free pages in the zone",
    ),
    gauge("min", "min_pages", "Zone watermark pages_min"),
    gauge("low", "low_pages", "Zone watermark pages_low"),
    gauge("high", "high_pages", "Zone watermark pages_high"),
    gauge(
        "scanned",
        "scanned_pages",
        "Pages scanned since last reclaim",
    ),
    gauge(
        "spanned",
        "spanned_pages",
        "Total pages spanned by the zone, including holes",
    ),
    gauge(
        "present",
        "present_pages",
        "Physical pages existing within the zone",
    ),
    gauge(
        "managed",
        "managed_pages",
        "Present pages managed by the buddy system",
    ),
    gauge(
        "nr_active_anon",
        "nr_active_anon_pages",
        "Number of anonymous pages recently more used",
    ),
    gauge(
        "nr_inactive_anon",
        "nr_inactive_anon_pages",
        "Number of anonymous pages recently less used",
    ),
    gauge(
        "nr_isolated_anon",
        "nr_isolated_anon_pages",
        "Temporary isolated pages from anon lru",
    ),
    gauge(
        "nr_anon_pages",
        "nr_anon_pages",
        "Number of anonymous pages currently used by the system",
    ),
    gauge(
        "nr_anon_transparent_hugepages",
        "nr_anon_transparent_hugepages",
        "Number of anonymous transparent huge pages currently used by the system",
    ),
    gauge(
        "nr_active_file",
        "nr_active_file_pages",
        "Number of active pages with file-backing",
    ),
    gauge(
        "nr_inactive_file",
        "nr_inactive_file_pages",
        "Number of inactive pages with file-backing",
    ),
    gauge(
        "nr_isolated_file",
        "nr_isolated_file_pages",
        "Temporary isolated pages from file lru",
    ),
    gauge("nr_file_pages", "nr_file_pages", "Number of file pages"),
    gauge(
        "nr_slab_reclaimable",
        "nr_slab_reclaimable_pages",
        "Number of reclaimable slab pages",
    ),
    gauge(
        "nr_slab_unreclaimable",
        "nr_slab_unreclaimable_pages",
        "Number of unreclaimable slab pages",
    ),
    gauge(
        "nr_mlock_stack",
        "nr_mlock_stack_pages",
        "mlock()ed pages found and moved off LRU",
    ),
    gauge(
        "nr_kernel_stack",
        "nr_kernel_stacks",
        "Number of kernel stacks",
    ),
    gauge("nr_mapped", "nr_mapped_pages", "Number of mapped pages"),
    gauge("nr_dirty", "nr_dirty_pages", "Number of dirty pages"),
    gauge(
        "nr_writeback",
        "nr_writeback_pages",
        "Number of writeback pages",
    ),
    gauge(
        "nr_unevictable",
        "nr_unevictable_pages",
        "Number of unevictable pages",
    ),
    gauge(
        "nr_shmem",
        "nr_shmem_pages",
        "Number of shmem pages (included tmpfs/GEM pages)",
    ),
    counter(
        "nr_dirtied",
        "nr_dirtied_total",
        "Page dirtyings since bootup",
    ),
    counter(
        "nr_written",
        "nr_written_total",
        "Page writings since bootup",
    ),
    counter("numa_hit", "numa_hit_total", "Allocated in intended node"),
    counter(
        "numa_miss",
        "numa_miss_total",
        "Allocated in non intended node",
    ),
    counter(
        "numa_foreign",
        "numa_foreign_total",
        "Was intended here, hit elsewhere",
    ),
    counter(
        "numa_interleave",
        "numa_interleave_total",
        "Interleaver preferred this zone",
    ),
    counter(
        "numa_local",
        "numa_local_total",
        "Allocation from local node",
    ),
    counter(
        "numa_other",
        "numa_other_total",
        "Allocation from other node",
    ),
];

/// One `Node N, zone X` block: values by index into the field table, and the protection array.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Zone {
    /// NUMA node number (empty if the block had no header).
    pub node: String,
    /// Zone name.
    pub zone: String,
    /// One optional value per known field, in table order.
    pub values: Vec<Option<i64>>,
    /// `protection: (a, b, ...)`, empty if absent or unparsable.
    pub protection: Vec<i64>,
}

/// `Node 0, zone      DMA` → `("0", "DMA")`, matching procfs' `(\d+), zone\s+(\w+)`.
fn node_zone(line: &str) -> Option<(String, String)> {
    let at = line.find(", zone")?;
    let node: String = line[..at]
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let rest = &line[at + ", zone".len()..];
    if node.is_empty() || !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let zone: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!zone.is_empty()).then_some((node, zone))
}

fn parse_protection(line: &str) -> Option<Vec<i64>> {
    let (_, values) = line.split_once(':')?;
    let values = values.replacen('(', "", 1).replacen(')', "", 1);
    values
        .trim()
        .split(", ")
        .map(|v| v.parse::<i64>().ok())
        .collect()
}

fn parse_block(block: &str) -> Zone {
    let mut zone = Zone {
        values: vec![None; FIELDS.len()],
        ..Zone::default()
    };
    for line in block.split('\n') {
        if let Some((node, name)) = node_zone(line) {
            zone.node = node;
            zone.zone = name;
            continue;
        }
        let parts: Vec<&str> = line.split_ascii_whitespace().collect();
        let [key, value, ..] = parts.as_slice() else {
            continue;
        };
        if *key == "protection:" {
            if let Some(p) = parse_protection(line) {
                zone.protection = p;
            }
        } else if let Some(i) = FIELDS.iter().position(|f| f.key == *key) {
            // procfs' ValueParser.PInt64: Go's ParseInt(s, 0, 64); a bad value leaves the field out.
            zone.values[i] = parse_i64_prefixed(value).ok();
        }
    }
    zone
}

/// Parses `/proc/zoneinfo` into its zones; unknown keys and unparsable values are skipped, as
/// procfs does.
pub fn parse(bytes: &[u8]) -> Result<Vec<Zone>, ParseError> {
    let text = lossy(bytes);
    Ok(text.split("\nNode").map(parse_block).collect())
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let zones = parse_file(&settings.roots.proc("zoneinfo"), parse)?;
    for zone in &zones {
        let labels = [("node", zone.node.as_str()), ("zone", zone.zone.as_str())];
        for (field, value) in FIELDS.iter().zip(&zone.values) {
            let Some(value) = value else { continue };
            let kind = if field.counter {
                MetricType::Counter
            } else {
                MetricType::Gauge
            };
            let name = format!("node_zoneinfo_{}", field.name);
            sink.family(&name, field.help, kind)
                .sample(&labels, *value as f64);
        }
        for (i, value) in zone.protection.iter().enumerate() {
            let name = format!("node_zoneinfo_protection_{i}");
            let help = format!("Protection array {i}. field");
            sink.gauge(&name, &help).sample(&labels, *value as f64);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Node 0, zone      DMA\n  per-node stats\n      nr_inactive_anon 72355\n      nr_dirtied   1235044\n  pages free     3840\n        min      35\n        high     51\n        protection: (0, 3018, 7114, 7114, 7114)\n      nr_free_pages 3840\n      numa_hit     0\n  pagesets\n    cpu: 0\n              count:    0\n              high:     0\nNode 0, zone    DMA32\n  pages free     772808\n        min      7153\n        managed  bogus\n";

    fn value(zone: &Zone, key: &str) -> Option<i64> {
        let i = FIELDS.iter().position(|f| f.key == key).unwrap();
        zone.values[i]
    }

    #[test]
    fn parses_real_sample() {
        let zones = parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(zones.len(), 2);
        let dma = &zones[0];
        assert_eq!((dma.node.as_str(), dma.zone.as_str()), ("0", "DMA"));
        assert_eq!(value(dma, "nr_inactive_anon"), Some(72355));
        assert_eq!(value(dma, "high"), Some(51));
        assert_eq!(value(dma, "nr_free_pages"), Some(3840));
        assert_eq!(value(dma, "low"), None);
        assert_eq!(dma.protection, vec![0, 3018, 7114, 7114, 7114]);
        let dma32 = &zones[1];
        assert_eq!(dma32.zone, "DMA32");
        assert_eq!(value(dma32, "min"), Some(7153));
        assert_eq!(value(dma32, "managed"), None);
        assert!(dma32.protection.is_empty());
    }

    #[test]
    fn values_parse_as_go_base_zero() {
        // procfs' ValueParser: strconv.ParseInt(s, 0, 64).
        let zones = parse(b"Node 0, zone DMA\n        min      010\n        low 0x10\n").unwrap();
        assert_eq!(value(&zones[0], "min"), Some(8));
        assert_eq!(value(&zones[0], "low"), Some(16));
    }

    #[test]
    fn empty_truncated_garbage() {
        let zones = parse(b"").unwrap();
        assert_eq!(zones.len(), 1);
        assert!(zones[0].values.iter().all(Option::is_none));
        let zones = parse(b"Node 0, zone DMA\n  min").unwrap();
        assert!(zones[0].values.iter().all(Option::is_none));
        assert!(parse(&[0xff, 0xfe, b'\n']).unwrap()[0].zone.is_empty());
        assert_eq!(node_zone("Node 0, zone"), None);
    }
}
