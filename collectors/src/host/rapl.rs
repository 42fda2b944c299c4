//! rapl: RAPL energy counters from `/sys/class/powercap/<zone>/energy_uj` (node_exporter's
//! `rapl_linux.go` over procfs' `class_powercap.go`), one counter family per zone name, or one
//! family with a `rapl_zone` label under `--collector.rapl.enable-zone-label`.

use crate::roots::JoinExt;
use std::collections::HashMap;
use std::io::ErrorKind;
use std::path::Path;
use std::sync::Arc;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::options::Flag;
use crate::util::{
    list_dir, lossy, no_data_if, parse_file, parse_u64, read, sanitize_metric_name,
    MISSING_OR_DENIED,
};

/// `--collector.rapl.enable-zone-label`.
pub const ZONE_LABEL: Flag<bool> = Flag::new(
    "collector.rapl.enable-zone-label",
    "Enables RAPL zone labels",
    "false",
);

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "rapl",
    default_enabled: true,
    sources: "/sys/class/powercap/*/energy_uj",
    flags: &[ZONE_LABEL.spec],
    build,
};

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Rapl {
        settings: Arc::clone(settings),
        zone_label: settings.options.get(&ZONE_LABEL),
    }))
}

/// A powercap zone as procfs' `GetRaplZones` sees it.
#[derive(Debug, PartialEq, Eq)]
pub struct Zone {
    /// The name without its `-<n>` suffix (`package`, `core`, `dram`, ...).
    pub name: String,
    /// The `-<n>` suffix, or the count of earlier zones of the same name.
    pub index: i64,
    /// The zone's directory, as the `path` label.
    pub path: String,
}

/// Splits a zone name into procfs' (index, name): `package-0` is `(0, "package")`; a name
/// without a numeric suffix gets the number of zones of that name seen before.
pub fn index_and_name(seen: &HashMap<String, i64>, raw: &str) -> (i64, String) {
    let parts: Vec<&str> = raw.split('-').collect();
    if let [name, index] = parts.as_slice() {
        if let Ok(index) = index.parse::<i64>() {
            return (index, (*name).to_string());
        }
    }
    (seen.get(raw).copied().unwrap_or(0), raw.to_string())
}

/// Parses a microjoule counter (`energy_uj`, `max_energy_range_uj`).
pub fn parse_microjoules(bytes: &[u8]) -> Result<u64, ParseError> {
    parse_u64(&lossy(bytes))
}

struct Rapl {
    settings: Arc<Settings>,
    zone_label: bool,
}

impl Collector for Rapl {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let dir = self.settings.roots.sys("class/powercap");
        let zones = zones(&dir).map_err(no_data_if(MISSING_OR_DENIED))?;
        for zone in &zones {
            let path = Path::new(&zone.path).join_exact("energy_uj");
            // `energy_uj` is root-only since Linux 5.10: node_exporter's ErrNoData.
            let microjoules = parse_file(&path, parse_microjoules)
                .map_err(no_data_if(&[ErrorKind::PermissionDenied]))?;
            self.emit(zone, microjoules as f64 / 1_000_000.0, sink);
        }
        Ok(())
    }
}

impl Rapl {
    fn emit(&self, zone: &Zone, joules: f64, sink: &mut MetricSink) {
        let index = zone.index.to_string();
        if self.zone_label {
            sink.counter("node_rapl_joules_total", "Current RAPL value in joules")
                .sample(
                    &[
                        ("index", &index),
                        ("path", &zone.path),
                        ("rapl_zone", &zone.name),
                    ],
                    joules,
                );
        } else {
            sink.counter(
                &format!(
                    "node_rapl_{}_joules_total",
                    sanitize_metric_name(&zone.name)
                ),
                &format!("Current RAPL {} value in joules", zone.name),
            )
            .sample(&[("index", &index), ("path", &zone.path)], joules);
        }
    }
}

/// The zones of `dir`: every entry with a readable `name` file (others, like the
/// `intel-rapl` control type itself, are skipped), which must have `max_energy_range_uj`.
fn zones(dir: &Path) -> Result<Vec<Zone>, CollectError> {
    let mut seen = HashMap::new();
    let mut zones = Vec::new();
    for entry in list_dir(dir)? {
        let zone_dir = dir.join_exact(&entry);
        let Ok(raw_name) = read(&zone_dir.join_exact("name")) else {
            continue;
        };
        let (index, name) = index_and_name(&seen, lossy(&raw_name).trim());
        parse_file(
            &zone_dir.join_exact("max_energy_range_uj"),
            parse_microjoules,
        )?;
        seen.insert(name.clone(), index + 1);
        zones.push(Zone {
            name,
            index,
            path: zone_dir.display().to_string(),
        });
    }
    Ok(zones)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_names_and_indexes() {
        let mut seen = HashMap::new();
        assert_eq!(
            index_and_name(&seen, "package-0"),
            (0, "package".to_string())
        );
        assert_eq!(
            index_and_name(&seen, "package-1"),
            (1, "package".to_string())
        );
        assert_eq!(index_and_name(&seen, "dram"), (0, "dram".to_string()));
        seen.insert("dram".to_string(), 1);
        assert_eq!(index_and_name(&seen, "dram"), (1, "dram".to_string()));
        assert_eq!(
            index_and_name(&seen, "package-x"),
            (0, "package-x".to_string())
        );
        assert_eq!(index_and_name(&seen, "a-b-1"), (0, "a-b-1".to_string()));
        assert_eq!(index_and_name(&seen, ""), (0, String::new()));
    }

    #[test]
    fn parses_microjoules() {
        assert_eq!(
            parse_microjoules(b"262143328850\n").unwrap(),
            262_143_328_850
        );
        assert!(parse_microjoules(b"").is_err());
        assert!(parse_microjoules(b"1.5").is_err());
        assert!(parse_microjoules(&[0xff]).is_err());
    }

    #[test]
    fn absent_subsystem_is_no_data() {
        assert!(crate::testing::run_on_empty_root(INFO)
            .unwrap_err()
            .is_no_data());
    }
}
