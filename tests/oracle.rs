//! Live comparison with Debian's node_exporter 1.5 on this host, both with default collectors.
//!
//! node_exporter is scraped, then nodex, then node_exporter again. For every `node_*` family
//! node_exporter emits (minus the documented exceptions below): nodex emits it with the same
//! type and label names, has every series node_exporter has, constant values are equal, and each
//! counter read by nodex lies between node_exporter's two reads.

mod common;

use std::collections::BTreeMap;

use common::{scrape, start_node_exporter, start_nodex, Family};

/// Families not compared, each with the reason.
const NOT_COMPARED: &[(&str, &str)] = &[
    ("go_", "nodex has no Go runtime"),
    ("promhttp_", "handler counters of two different servers"),
    ("process_", "self-metrics of two different processes"),
    ("node_exporter_build_info", "label values name each build"),
    ("node_scrape_collector_", "timing, and per-collector success differs by design where a subsystem is absent"),
    (
        "node_systemd_",
        "Debian's 1.5 build enables the systemd collector by default; upstream (1.12) and nodex keep it off",
    ),
];

/// Labels node_exporter 1.12 added to a family since 1.5: nodex has them, 1.5 does not. Series
/// are matched on 1.5's labels.
const LABELS_ADDED_SINCE_1_5: &[(&str, &str, &str)] = &[
    (
        "node_filesystem_",
        "device_error",
        "added after 1.5: every filesystem series carries its stat error",
    ),
    (
        "node_disk_info",
        "rotational",
        "added after 1.5: the rotational flag from sysfs queue/rotational",
    ),
    (
        "node_network_info",
        "adminstate",
        "added after 1.5: the administrative state from the interface flags",
    ),
];

/// Series node_exporter 1.5 emits that 1.12's defaults exclude: (family prefix, label, value
/// prefix, reason).
const SERIES_DROPPED_SINCE_1_5: &[(&str, &str, &str, &str)] = &[(
    "node_disk_",
    "device",
    "zram",
    "1.12's default --collector.diskstats.device-exclude also excludes zram devices",
)];

/// meminfo: node_exporter 1.12 exports a fixed set of fields; 1.5 exported every field of
/// /proc/meminfo. nodex follows 1.12, so 1.5's other `node_memory_*` families are not expected.
const MEMINFO_1_12: &[&str] = &[
    "Active",
    "Active_anon",
    "Active_file",
    "AnonHugePages",
    "AnonPages",
    "Bounce",
    "Buffers",
    "Cached",
    "CmaFree",
    "CmaTotal",
    "CommitLimit",
    "Committed_AS",
    "DirectMap1G",
    "DirectMap2M",
    "DirectMap4k",
    "Dirty",
    "HardwareCorrupted",
    "Hugepagesize",
    "Inactive",
    "Inactive_anon",
    "Inactive_file",
    "KernelStack",
    "Mapped",
    "MemAvailable",
    "MemFree",
    "MemTotal",
    "Mlocked",
    "NFS_Unstable",
    "PageTables",
    "Percpu",
    "SReclaimable",
    "SUnreclaim",
    "Shmem",
    "ShmemHugePages",
    "ShmemPmdMapped",
    "Slab",
    "SwapCached",
    "SwapFree",
    "SwapTotal",
    "Unevictable",
    "VmallocChunk",
    "VmallocTotal",
    "VmallocUsed",
    "Writeback",
    "WritebackTmp",
    "Zswap",
    "Zswapped",
];

/// Gauges whose value cannot change between the three reads: must be equal.
const CONSTANT: &[&str] = &[
    "node_memory_MemTotal_bytes",
    "node_memory_SwapTotal_bytes",
    "node_memory_Hugepagesize_bytes",
    "node_memory_VmallocTotal_bytes",
    "node_boot_time_seconds",
    "node_filesystem_size_bytes",
    "node_filesystem_readonly",
    "node_filesystem_device_error",
    "node_network_mtu_bytes",
    "node_network_info",
    "node_network_iface_id",
    "node_network_iface_link",
    "node_network_protocol_type",
    "node_network_address_assign_type",
    "node_network_transmit_queue_length",
    "node_network_device_id",
    "node_network_flags",
    "node_uname_info",
    "node_os_info",
    "node_os_version",
    "node_entropy_pool_size_bits",
    "node_filefd_maximum",
    "node_nf_conntrack_entries_limit",
    "node_time_zone_offset_seconds",
    "node_timex_tick_seconds",
    "node_selinux_enabled",
    "node_textfile_scrape_error",
    "node_cpu_scaling_frequency_max_hertz",
    "node_cpu_scaling_frequency_min_hertz",
    "node_cooling_device_max_state",
    "node_time_clocksource_available_info",
    "node_time_clocksource_current_info",
];

/// Untyped or gauge families that only grow (or the clock): nodex's value lies between the reads.
const MONOTONIC_NON_COUNTERS: &[&str] = &["node_time_seconds"];

/// Untyped families that are gauges in nature (may go down between reads): presence only.
const FLUCTUATING_UNTYPED: &[&str] = &["node_netstat_Tcp_CurrEstab"];

fn skip_reason(name: &str) -> Option<&'static str> {
    if let Some((_, why)) = NOT_COMPARED
        .iter()
        .find(|(prefix, _)| name.starts_with(prefix))
    {
        return Some(why);
    }
    if let Some(field) = name.strip_prefix("node_memory_") {
        let field = field.strip_suffix("_bytes").unwrap_or(field);
        if !field.starts_with("HugePages_") && !MEMINFO_1_12.contains(&field) {
            return Some("meminfo field outside node_exporter 1.12's fixed set");
        }
    }
    None
}

fn between(low: f64, value: f64, high: f64) -> bool {
    let (lo, hi) = if low <= high {
        (low, high)
    } else {
        (high, low)
    };
    lo <= value && value <= hi
}

#[test]
fn nodex_matches_node_exporter_family_by_family() {
    let ne = start_node_exporter(&[]);
    let nodex = start_nodex(&[]);
    // Warm both up once (first reads allocate caches, cpu monotonic state).
    scrape(&ne.url("/metrics"));
    scrape(&nodex.url("/metrics"));

    let before = scrape(&ne.url("/metrics"));
    let ours = scrape(&nodex.url("/metrics"));
    let after = scrape(&ne.url("/metrics"));

    let mut problems = Vec::new();
    let mut compared = Vec::new();
    let mut skipped: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, theirs) in &before {
        if !name.starts_with("node_")
            && !name.starts_with("process_")
            && !name.starts_with("go_")
            && !name.starts_with("promhttp_")
        {
            continue;
        }
        if let Some(why) = skip_reason(name) {
            skipped.entry(why).or_default().push(name.clone());
            continue;
        }
        if theirs.samples.is_empty() {
            continue;
        }
        let Some(mine) = ours.get(name) else {
            problems.push(format!("{name}: missing from nodex"));
            continue;
        };
        compare_family(name, theirs, mine, after.get(name), &mut problems);
        compared.push(name.clone());
    }
    println!(
        "compared {} families with node_exporter 1.5:",
        compared.len()
    );
    for name in &compared {
        println!("  {name}");
    }
    for (why, names) in &skipped {
        println!("not compared ({why}): {}", names.join(", "));
    }
    for (family, label, why) in LABELS_ADDED_SINCE_1_5 {
        println!("difference kept from 1.12: {family}* has label {label} ({why})");
    }
    for (family, label, value, why) in SERIES_DROPPED_SINCE_1_5 {
        println!("difference kept from 1.12: {family}* without {label}={value}* ({why})");
    }
    assert!(
        compared.len() > 100,
        "too few families compared ({}): is node_exporter serving?",
        compared.len()
    );
    assert!(
        problems.is_empty(),
        "{} mismatches:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

fn added_labels(name: &str) -> Vec<&'static str> {
    LABELS_ADDED_SINCE_1_5
        .iter()
        .filter(|(prefix, _, _)| name.starts_with(prefix))
        .map(|(_, label, _)| *label)
        .collect()
}

fn dropped_since_1_5(name: &str, labels: &BTreeMap<String, String>) -> bool {
    SERIES_DROPPED_SINCE_1_5
        .iter()
        .any(|(prefix, label, value, _)| {
            name.starts_with(prefix) && labels.get(*label).is_some_and(|v| v.starts_with(value))
        })
}

/// nodex's sample whose labels, without the labels added since 1.5, equal node_exporter's.
fn find_matching<'a>(
    mine: &'a Family,
    labels: &BTreeMap<String, String>,
    added: &[&str],
) -> Option<&'a common::Sample> {
    mine.samples.iter().find(|s| {
        let mut stripped = s.labels.clone();
        stripped.retain(|k, _| !added.contains(&k.as_str()));
        &stripped == labels
    })
}

fn compare_family(
    name: &str,
    theirs: &Family,
    mine: &Family,
    after: Option<&Family>,
    problems: &mut Vec<String>,
) {
    let added = added_labels(name);
    if theirs.kind != mine.kind {
        problems.push(format!(
            "{name}: type {:?} in node_exporter, {:?} in nodex",
            theirs.kind, mine.kind
        ));
    }
    let mut my_names = mine.label_names();
    my_names.retain(|n| !added.contains(&n.as_str()));
    if theirs.label_names() != my_names {
        problems.push(format!(
            "{name}: label names {:?} in node_exporter, {:?} in nodex",
            theirs.label_names(),
            mine.label_names()
        ));
        return;
    }
    let counter = theirs.kind.as_deref() == Some("counter")
        || MONOTONIC_NON_COUNTERS.contains(&name)
        || (theirs.kind.as_deref() == Some("untyped") && !FLUCTUATING_UNTYPED.contains(&name));
    for sample in &theirs.samples {
        if dropped_since_1_5(name, &sample.labels) {
            continue;
        }
        let Some(my) = find_matching(mine, &sample.labels, &added) else {
            problems.push(format!(
                "{name}{:?}: series missing from nodex",
                sample.labels
            ));
            continue;
        };
        if CONSTANT.contains(&name) {
            if my.value != sample.value {
                problems.push(format!(
                    "{name}{:?}: node_exporter {} nodex {}",
                    sample.labels, sample.value, my.value
                ));
            }
        } else if counter {
            let Some(later) = after.and_then(|f| f.find(&sample.labels)) else {
                continue;
            };
            if !between(sample.value, my.value, later.value) {
                problems.push(format!(
                    "{name}{:?}: nodex {} not between node_exporter's {} and {}",
                    sample.labels, my.value, sample.value, later.value
                ));
            }
        }
    }
}
