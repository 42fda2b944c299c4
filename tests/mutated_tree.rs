//! nodex, the real binary with every collector enabled, over copies of the fixture tree mutated
//! deterministically from a seed: truncated files, garbage bytes, huge and negative numbers,
//! missing and extra fields and lines, empty files, non-UTF-8 file names and symlink loops.
//! Every scrape must answer 200 with output `promtool check metrics` accepts and no duplicate
//! series, and every collector that succeeds on the pristine tree and reads none of the mutated
//! files must still succeed.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use common::{get, parse_exposition, repo, start_nodex, tree_args};
use nodex_test_support::copy_tree;

/// Which collectors read which part of the tree (path prefixes relative to the tree). A
/// mutated file may fail the collectors of its zone; no other collector.
const ZONES: &[(&str, &[&str])] = &[
    ("proc/loadavg", &["loadavg"]),
    ("proc/meminfo", &["meminfo", "machine"]),
    ("proc/stat", &["stat", "cpu"]),
    ("proc/cpuinfo", &["cpu", "machine"]),
    ("proc/vmstat", &["vmstat"]),
    ("proc/diskstats", &["diskstats"]),
    ("proc/pressure", &["pressure"]),
    ("proc/mdstat", &["mdadm"]),
    ("proc/interrupts", &["interrupts"]),
    ("proc/softirqs", &["softirqs"]),
    ("proc/schedstat", &["schedstat"]),
    ("proc/buddyinfo", &["buddyinfo"]),
    ("proc/zoneinfo", &["zoneinfo"]),
    ("proc/slabinfo", &["slabinfo"]),
    ("proc/swaps", &["swap"]),
    ("proc/cgroups", &["cgroups"]),
    ("proc/drbd", &["drbd"]),
    ("proc/spl", &["zfs"]),
    ("proc/1/mountinfo", &["filesystem"]),
    ("proc/10", &["processes"]),
    ("proc/20", &["processes"]),
    ("proc/30", &["processes"]),
    ("proc/40", &["processes"]),
    (
        "proc/net",
        &[
            "arp",
            "conntrack",
            "ipvs",
            "lnstat",
            "netdev",
            "netstat",
            "nfs",
            "nfsd",
            "sockstat",
            "softnet",
            "tcpstat",
            "udp_queues",
        ],
    ),
    (
        "proc/sys",
        &[
            "conntrack",
            "entropy",
            "filefd",
            "kernel_hung",
            "machine",
            "processes",
            "sysctl",
        ],
    ),
    ("textfile", &["textfile"]),
    ("udev", &["diskstats"]),
    ("sys/class/net", &["bonding", "netclass", "netdev"]),
    ("sys/class/hwmon", &["hwmon"]),
    ("sys/devices/platform", &["hwmon"]),
    ("sys/class/power_supply", &["powersupplyclass"]),
    ("sys/class/thermal", &["thermal_zone"]),
    ("sys/class/nvme", &["nvme"]),
    ("sys/class/watchdog", &["watchdog"]),
    ("sys/class/powercap", &["rapl"]),
    ("sys/class/infiniband", &["infiniband"]),
    ("sys/class/fc_host", &["fibrechannel"]),
    ("sys/class/scsi_tape", &["tapestats"]),
];

/// The zone (prefix and its collectors) a relative path belongs to.
fn zone_of(rel: &str) -> Option<&'static (&'static str, &'static [&'static str])> {
    ZONES.iter().find(|(prefix, _)| {
        rel == *prefix || rel.strip_prefix(prefix).is_some_and(|r| r.starts_with('/'))
    })
}

/// splitmix64: a small deterministic generator, so a seed always gives the same tree.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Regular files under `dir` (symlinks not followed), relative to `base`.
fn files(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            files(base, &entry.path(), out);
        } else if kind.is_file() {
            if let Ok(rel) = entry.path().strip_prefix(base) {
                out.push(rel.display().to_string());
            }
        }
    }
}

const NUMBERS: &[&str] = &[
    "18446744073709551617",
    "1e400",
    "-1e400",
    "-1",
    "-9223372036854775809",
    "NaN",
    "0x10",
    "99999999999999999999999999999999999999",
];

/// Mutates one file's bytes; returns what was done.
fn mutate(bytes: &mut Vec<u8>, rng: &mut Rng) -> String {
    let lines = |b: &[u8]| -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut start = 0;
        for (i, c) in b.iter().enumerate() {
            if *c == b'\n' {
                out.push((start, i));
                start = i + 1;
            }
        }
        if start < b.len() {
            out.push((start, b.len()));
        }
        out
    };
    match rng.below(7) {
        0 => {
            let at = rng.below(bytes.len());
            bytes.truncate(at);
            format!("truncated at {at}")
        }
        1 => {
            let n = 1 + rng.below(8);
            for _ in 0..n {
                if bytes.is_empty() {
                    break;
                }
                let at = rng.below(bytes.len());
                bytes[at] = [0xff, 0x00, 0xfe, b'{', b'"', b'\\', b' ', b'\n'][rng.below(8)];
            }
            format!("{n} garbage bytes")
        }
        2 => {
            let numbers: Vec<(usize, usize)> = {
                let mut out = Vec::new();
                let mut i = 0;
                while i < bytes.len() {
                    if bytes[i].is_ascii_digit() {
                        let start = i;
                        while i < bytes.len() && bytes[i].is_ascii_digit() {
                            i += 1;
                        }
                        out.push((start, i));
                    } else {
                        i += 1;
                    }
                }
                out
            };
            let replacement = NUMBERS[rng.below(NUMBERS.len())];
            let Some(&(start, end)) = numbers.get(rng.below(numbers.len())) else {
                bytes.extend_from_slice(replacement.as_bytes());
                return format!("appended {replacement}");
            };
            bytes.splice(start..end, replacement.bytes());
            format!("number at {start} -> {replacement}")
        }
        3 => {
            let all = lines(bytes);
            let Some(&(start, end)) = all.get(rng.below(all.len())) else {
                return "no line to delete".into();
            };
            bytes.drain(start..(end + 1).min(bytes.len()));
            format!("deleted line at {start}")
        }
        4 => {
            let all = lines(bytes);
            let Some(&(_, end)) = all.get(rng.below(all.len())) else {
                bytes.extend_from_slice(b"12345 extra");
                return "extra field in an empty file".into();
            };
            bytes.splice(end..end, b" 12345 extra".iter().copied());
            format!("extra field at {end}")
        }
        5 => {
            bytes.extend_from_slice(b"bogus_field: 1 2 3\n\xff\xfe bogus 7\n");
            "extra lines".into()
        }
        _ => {
            bytes.clear();
            "emptied".into()
        }
    }
}

/// Structural damage, each applied to half the seeds: non-UTF-8 names and symlink loops.
fn structural(base: &Path, rng: &mut Rng, zones: &mut BTreeSet<String>, log: &mut Vec<String>) {
    let name = |bytes: &[u8]| OsStr::from_bytes(bytes).to_os_string();
    if rng.below(2) == 0 {
        let path = base.join("textfile").join(name(b"bad-\xff\xfe.prom"));
        std::fs::write(path, "nodex_non_utf8_name 1\n").expect("non-UTF-8 textfile");
        zones.insert("textfile".into());
        log.push("textfile/bad-\\xff\\xfe.prom".into());
    }
    if rng.below(2) == 0 {
        let dir = base.join("sys/class/net").join(name(b"eth\xff"));
        std::fs::create_dir(&dir).expect("non-UTF-8 iface");
        std::fs::write(dir.join("operstate"), "up\n").expect("operstate");
        std::fs::write(dir.join("mtu"), "1500\n").expect("mtu");
        zones.insert("sys/class/net".into());
        log.push("sys/class/net/eth\\xff".into());
    }
    for (dir, link) in [
        ("sys/class/net", "loop9"),
        ("sys/class/hwmon", "hwmon9"),
        ("sys/class/thermal", "thermal_zone9"),
        ("sys/class/power_supply", "BAT9"),
    ] {
        if rng.below(2) == 0 {
            let path = base.join(dir).join(link);
            if std::os::unix::fs::symlink(link, &path).is_ok() {
                zones.insert(dir.into());
                log.push(format!("{dir}/{link} -> itself"));
            }
        }
    }
}

fn successes(text: &str) -> BTreeMap<String, f64> {
    parse_exposition(text)
        .get("node_scrape_collector_success")
        .map(|f| {
            f.samples
                .iter()
                .map(|s| (s.labels["collector"].clone(), s.value))
                .collect()
        })
        .unwrap_or_default()
}

fn serve_and_check(base: &Path, what: &str) -> BTreeMap<String, f64> {
    let args = tree_args(base);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let nodex = start_nodex(&refs);
    let mut last = BTreeMap::new();
    for _ in 0..2 {
        let resp = get(&nodex.url("/metrics"), &[]).expect("scrape");
        assert_eq!(resp.status, 200, "{what}: {}", resp.text());
        let text = resp.text();
        let complaints = common::promtool_check(&text);
        assert!(complaints.is_empty(), "{what}: promtool: {complaints}");
        common::assert_no_duplicate_series(&parse_exposition(&text));
        last = successes(&text);
    }
    last
}

#[test]
fn mutated_trees_are_served() {
    let fixture = repo().join("tests/fixtures/host");
    let dir = tempfile::tempdir().expect("tempdir");
    let pristine = dir.path().join("pristine");
    copy_tree(&fixture, &pristine);
    let baseline = serve_and_check(&pristine, "pristine tree");
    let mut candidates = Vec::new();
    files(&pristine, &pristine, &mut candidates);
    candidates.retain(|rel| zone_of(rel).is_some());
    assert!(candidates.len() > 100, "{} candidates", candidates.len());

    for seed in [1u64, 2, 3, 5, 8, 13, 21, 34] {
        let mut rng = Rng(seed);
        let base: PathBuf = dir.path().join(format!("seed-{seed}"));
        copy_tree(&fixture, &base);
        let mut zones = BTreeSet::new();
        let mut log = Vec::new();
        for _ in 0..10 {
            // A zone first, then one of its files: the many small sysfs files do not crowd out
            // the few procfs tables.
            let (prefix, _) = ZONES[rng.below(ZONES.len())];
            let in_zone: Vec<&String> = candidates
                .iter()
                .filter(|rel| zone_of(rel).is_some_and(|(p, _)| *p == prefix))
                .collect();
            let Some(rel) = in_zone.get(rng.below(in_zone.len())).copied() else {
                continue;
            };
            let path = base.join(rel);
            let mut bytes = std::fs::read(&path).expect("fixture file");
            let did = mutate(&mut bytes, &mut rng);
            std::fs::write(&path, &bytes).expect("write mutated");
            log.push(format!("{rel}: {did}"));
            zones.extend(zone_of(rel).map(|(prefix, _)| prefix.to_string()));
        }
        structural(&base, &mut rng, &mut zones, &mut log);
        let what = format!("seed {seed} ({})", log.join("; "));
        let got = serve_and_check(&base, &what);
        let allowed: BTreeSet<&str> = zones
            .iter()
            .filter_map(|z| zone_of(z))
            .flat_map(|(_, c)| c.iter().copied())
            .collect();
        for (collector, ok) in &baseline {
            if *ok == 1.0 && !allowed.contains(collector.as_str()) {
                assert_eq!(
                    got.get(collector),
                    Some(&1.0),
                    "{collector} failed though none of its files changed: {what}"
                );
            }
        }
        let failed: Vec<&String> = got
            .iter()
            .filter(|(_, v)| **v == 0.0)
            .map(|(k, _)| k)
            .collect();
        eprintln!("{what}\n  failing: {failed:?}");
    }
}
