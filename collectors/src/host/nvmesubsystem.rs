//! nvmesubsystem: NVMe(-oF) subsystem path health from `/sys/class/nvme-subsystem`
//! (`node_nvmesubsystem_*`), read as procfs' `NVMeSubsystemClass`.

use std::path::Path;

use crate::collector::Settings;
use crate::error::CollectError;
use crate::expfmt::MetricSink;
use crate::stateless_collector;
use crate::util::{no_data_if, read_trimmed, MISSING_OR_DENIED};

stateless_collector!("nvmesubsystem", false, "/sys/class/nvme-subsystem", collect);

/// The states `path_state` reports, in node_exporter's order.
const STATES: [&str; 5] = ["live", "connecting", "resetting", "dead", "unknown"];

/// node_exporter's `normalizeControllerState`: known kernel states pass through, anything else
/// is `unknown`. (`deleting`, `deleting (no IO)` and `new` pass through too, so none of the
/// five `path_state` series is 1 for them.)
pub fn normalize_state(raw: &str) -> &str {
    match raw {
        "live" | "connecting" | "resetting" | "dead" | "deleting" | "deleting (no IO)" | "new" => {
            raw
        }
        _ => "unknown",
    }
}

/// `nvme<digits>`: a controller entry of a subsystem directory.
pub fn is_controller(name: &str) -> bool {
    name.strip_prefix("nvme")
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// `nvme<digits>n<digits>`: a namespace block device of a subsystem directory.
pub fn is_namespace(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("nvme") else {
        return false;
    };
    let Some((ctrl, ns)) = rest.split_once('n') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(ctrl) && digits(ns)
}

struct Controller {
    name: String,
    state: String,
    transport: String,
}

struct Subsystem {
    name: String,
    nqn: String,
    model: String,
    serial: String,
    iopolicy: String,
    controllers: Vec<Controller>,
    namespaces: Vec<String>,
}

fn read_subsystem(dir: &Path, name: &str) -> Result<Subsystem, CollectError> {
    let attr = |file: &str| read_trimmed(&dir.join(file));
    let mut subsystem = Subsystem {
        name: name.to_string(),
        nqn: attr("subsysnqn")?,
        model: attr("model")?,
        serial: attr("serial")?,
        iopolicy: attr("iopolicy")?,
        controllers: Vec::new(),
        namespaces: Vec::new(),
    };
    for entry in crate::util::list_dir(dir)? {
        if is_controller(&entry) {
            let ctrl = dir.join(&entry);
            let state = read_trimmed(&ctrl.join("state"))?;
            let transport = read_trimmed(&ctrl.join("transport"))?;
            // procfs requires the address too, though node_exporter does not export it.
            read_trimmed(&ctrl.join("address"))?;
            subsystem.controllers.push(Controller {
                name: entry,
                state,
                transport,
            });
        } else if is_namespace(&entry) {
            subsystem.namespaces.push(entry);
        }
    }
    Ok(subsystem)
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let class = settings.roots.sys("class/nvme-subsystem");
    let mut subsystems = Vec::new();
    for name in crate::util::list_dir(&class).map_err(no_data_if(MISSING_OR_DENIED))? {
        if name.starts_with("nvme-subsys") {
            subsystems.push(
                read_subsystem(&class.join(&name), &name).map_err(no_data_if(MISSING_OR_DENIED))?,
            );
        }
    }
    sink.gauge(
        "node_nvmesubsystem_info",
        "Non-numeric information about an NVMe subsystem.",
    );
    for s in &subsystems {
        sink.sample(
            &[
                ("subsystem", &s.name),
                ("nqn", &s.nqn),
                ("model", &s.model),
                ("serial", &s.serial),
                ("iopolicy", &s.iopolicy),
            ],
            1.0,
        );
    }
    sink.gauge(
        "node_nvmesubsystem_namespace_info",
        "Maps an NVMe namespace block device to its subsystem.",
    );
    for s in &subsystems {
        for ns in &s.namespaces {
            sink.sample(&[("subsystem", &s.name), ("device", ns)], 1.0);
        }
    }
    sink.gauge(
        "node_nvmesubsystem_path_state",
        "Current NVMe controller path state (1 for the current state, 0 for all others).",
    );
    for s in &subsystems {
        for c in &s.controllers {
            let current = normalize_state(&c.state);
            for state in STATES {
                sink.sample(
                    &[
                        ("subsystem", &s.name),
                        ("controller", &c.name),
                        ("transport", &c.transport),
                        ("state", state),
                    ],
                    f64::from(u8::from(state == current)),
                );
            }
        }
    }
    sink.gauge(
        "node_nvmesubsystem_paths",
        "Number of controller paths for an NVMe subsystem.",
    );
    for s in &subsystems {
        sink.sample(&[("subsystem", &s.name)], s.controllers.len() as f64);
    }
    sink.gauge(
        "node_nvmesubsystem_paths_live",
        "Number of controller paths in live state for an NVMe subsystem.",
    );
    for s in &subsystems {
        let live = s
            .controllers
            .iter()
            .filter(|c| normalize_state(&c.state) == "live")
            .count();
        sink.sample(&[("subsystem", &s.name)], live as f64);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_states() {
        assert_eq!(normalize_state("live"), "live");
        assert_eq!(normalize_state("deleting (no IO)"), "deleting (no IO)");
        assert_eq!(normalize_state(""), "unknown");
        assert_eq!(normalize_state("\u{fffd}garbage"), "unknown");
    }

    #[test]
    fn classifies_entries() {
        assert!(is_controller("nvme0"));
        assert!(is_controller("nvme12"));
        assert!(!is_controller("nvme"));
        assert!(!is_controller("nvme0n1"));
        assert!(is_namespace("nvme0n1"));
        assert!(is_namespace("nvme3n12"));
        assert!(!is_namespace("nvme0c0n1"));
        assert!(!is_namespace("nvme0n"));
        assert!(!is_namespace("subsysnqn"));
    }

    #[test]
    fn missing_class_directory_is_no_data() {
        let (sink, result) = crate::testing::collect_on_empty_root(INFO).unwrap();
        assert!(result.is_err_and(|e| e.is_no_data()));
        assert!(sink.is_empty());
    }

    #[test]
    fn missing_attribute_is_no_data_and_emits_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let subsys = dir.path().join("sys/class/nvme-subsystem/nvme-subsys0");
        std::fs::create_dir_all(&subsys).unwrap();
        std::fs::write(subsys.join("subsysnqn"), "nqn.x\n").unwrap();
        let settings = Settings::new(crate::Roots::fixture(dir.path()), Default::default());
        let mut sink = MetricSink::new();
        let result = collect(&settings, &mut sink);
        assert!(result.is_err_and(|e| e.is_no_data()));
        assert!(sink.is_empty());
    }
}
