//! bonding: `node_bonding_slaves{master}` and `node_bonding_active{master}` from
//! `/sys/class/net/bonding_masters`, each master's `bonding/slaves` and every slave's
//! `bonding_slave/mii_status` (a slave is active when its MII status is `up`).

use std::io::ErrorKind;
use std::path::Path;

use crate::collector::Settings;
use crate::error::CollectError;
use crate::expfmt::MetricSink;
use crate::stateless_collector;
use crate::util::read_text;

stateless_collector!(
    "bonding",
    true,
    "/sys/class/net/bonding_masters, /sys/class/net/<master>/bonding/slaves, .../lower_<slave>/bonding_slave/mii_status",
    collect
);

/// Splits a sysfs list file (`bonding_masters`, `bonding/slaves`) into its names.
pub fn parse_names(text: &str) -> Vec<&str> {
    text.split_whitespace().collect()
}

/// Counts (configured, active) slaves of one master below `class_net`.
fn master_counts(class_net: &Path, master: &str) -> Result<(u64, u64), CollectError> {
    let slaves = read_text(&class_net.join(master).join("bonding/slaves"))?;
    let (mut configured, mut active) = (0, 0);
    for slave in parse_names(&slaves) {
        let lower = class_net
            .join(master)
            .join(format!("lower_{slave}/bonding_slave/mii_status"));
        let state = match read_text(&lower) {
            Err(e) if e.is_not_found() => {
                // Some older kernels use the slave_ prefix.
                let old = class_net
                    .join(master)
                    .join(format!("slave_{slave}/bonding_slave/mii_status"));
                read_text(&old)?
            }
            other => other?,
        };
        configured += 1;
        if state.trim() == "up" {
            active += 1;
        }
    }
    Ok((configured, active))
}

fn not_found_is_no_data(err: CollectError) -> CollectError {
    match err {
        CollectError::Io {
            ref source,
            ref path,
        } if source.kind() == ErrorKind::NotFound => {
            CollectError::NoData(format!("{} does not exist", path.display()))
        }
        other => other,
    }
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let class_net = settings.roots.sys("class/net");
    let masters = read_text(&class_net.join("bonding_masters")).map_err(not_found_is_no_data)?;
    let mut counts = Vec::new();
    // node_exporter reads every master before emitting anything.
    for master in parse_names(&masters) {
        let (configured, active) =
            master_counts(&class_net, master).map_err(not_found_is_no_data)?;
        counts.push((master, configured, active));
    }
    sink.gauge(
        "node_bonding_slaves",
        "Number of configured slaves per bonding interface.",
    );
    for (master, configured, _) in &counts {
        sink.sample(&[("master", master)], *configured as f64);
    }
    sink.gauge(
        "node_bonding_active",
        "Number of active slaves per bonding interface.",
    );
    for (master, _, active) in &counts {
        sink.sample(&[("master", master)], *active as f64);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_names() {
        assert_eq!(parse_names("bond0 bond1\n"), vec!["bond0", "bond1"]);
        assert!(parse_names("").is_empty());
        assert!(parse_names("\n").is_empty());
    }

    #[test]
    fn absent_subsystem_is_no_data() {
        let (sink, result) = crate::testing::collect_on_empty_root(INFO).unwrap();
        assert!(result.unwrap_err().is_no_data());
        assert!(sink.is_empty());
    }
}
