//! machine: cAdvisor's `machine_cpu_{cores,physical_cores,sockets}`, `machine_memory_bytes` and
//! `machine_swap_bytes` from `/proc/cpuinfo` and `/proc/meminfo`, labelled with `boot_id`,
//! `machine_id` and `system_uuid`. Served with the container groups, so like them it reports
//! `NoData` where no cgroup file system is mounted.

use std::collections::BTreeSet;

use super::cgroup::parse::cpu_list;
use super::container_group;
use super::walk::Snapshot;
use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::procfs::cpuinfo::{parse_cpuinfo, CpuInfo};
use crate::roots::Roots;
use crate::util::{parse_file, read_optional};

/// cAdvisor's sysfs fallback for cpuinfo without `core id`/`physical id` (arm64;
/// utils/sysfs/sysfs.go `GetUniqueCPUPropertyCount`): the number of distinct
/// `<property>_<physical_package_id>` over the online `cpuN` directories of
/// `<sysfs>/devices/system/cpu`, an unreadable value counting as `0`; all CPUs count when
/// `online` is missing.
pub fn sysfs_unique_cpu_property(roots: &Roots, property: &str) -> u64 {
    let base = roots.sys("devices/system/cpu");
    let online = std::fs::read(base.join("online"))
        .ok()
        .and_then(|b| cpu_list(&b).ok());
    let Ok(entries) = std::fs::read_dir(&base) else {
        return 0;
    };
    let mut uniques = BTreeSet::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(id) = name
            .to_str()
            .and_then(|n| n.strip_prefix("cpu"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if online.as_ref().is_some_and(|list| !list.contains(&id)) {
            continue;
        }
        let topology = entry.path().join("topology");
        let value =
            |file: &str| read_optional(&topology.join(file)).unwrap_or_else(|| "0".to_string());
        uniques.insert(format!(
            "{}_{}",
            value(property),
            value("physical_package_id")
        ));
    }
    uniques.len() as u64
}

/// The `/proc/meminfo` values cAdvisor's machine info reads, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemInfo {
    /// `MemTotal`.
    pub mem_total: u64,
    /// `SwapTotal`.
    pub swap_total: u64,
    /// `SwapFree`.
    pub swap_free: u64,
}

/// `MemTotal` (required), `SwapTotal` and `SwapFree` of `/proc/meminfo`
/// ([`crate::procfs::meminfo::parse`]).
pub fn meminfo(bytes: &[u8]) -> Result<MemInfo, ParseError> {
    let mut m = MemInfo::default();
    let mut found = false;
    crate::procfs::meminfo::parse(bytes, |key, v| match key {
        "MemTotal" => {
            m.mem_total = v.bytes;
            found = true;
        }
        "SwapTotal" => m.swap_total = v.bytes,
        "SwapFree" => m.swap_free = v.bytes,
        _ => {}
    })?;
    if !found {
        return Err(ParseError::new("no MemTotal"));
    }
    Ok(m)
}

/// CPU topology counts of `/proc/cpuinfo`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTopology {
    /// Logical CPUs (`processor` entries).
    pub cores: u64,
    /// Distinct `core id` values; 0 if the file has none (arm64).
    pub physical_cores: u64,
    /// Distinct `physical id` values; 0 if the file has none (arm64).
    pub sockets: u64,
}

/// Counts logical CPUs, physical cores and sockets of parsed `/proc/cpuinfo` entries
/// ([`parse_cpuinfo`]). Physical cores are the distinct `core id` values, as cAdvisor's
/// `GetPhysicalCores` counts them (machine/machine.go `getUniqueMatchesCount`): core ids
/// repeat on every socket, so a two-socket host reports one socket's cores, as the kubelet's
/// `machine_cpu_physical_cores`. Without `core id`/`physical id` lines the count is 0 and the
/// caller asks sysfs, as cAdvisor.
pub fn cpu_topology(cpus: &[CpuInfo]) -> Result<CpuTopology, ParseError> {
    if cpus.is_empty() {
        return Err(ParseError::new("no processor entries"));
    }
    let distinct = |field: fn(&CpuInfo) -> &str| {
        let values: BTreeSet<&str> = cpus.iter().map(field).filter(|v| !v.is_empty()).collect();
        values.len() as u64
    };
    Ok(CpuTopology {
        cores: cpus.len() as u64,
        physical_cores: distinct(|c| c.core_id.as_str()),
        sockets: distinct(|c| c.physical_id.as_str()),
    })
}

container_group!(
    "machine",
    "/proc/cpuinfo, /proc/meminfo, /proc/sys/kernel/random/boot_id, /etc/machine-id, /sys/class/dmi/id/product_uuid, /sys/devices/system/cpu (without core ids)",
    emit,
    &[]
);

fn emit(settings: &Settings, snap: &Snapshot, sink: &mut MetricSink) -> Result<(), CollectError> {
    let roots = &settings.roots;
    let cpu = parse_file(&roots.proc("cpuinfo"), |b| cpu_topology(&parse_cpuinfo(b)?))?;
    let physical_cores = match cpu.physical_cores {
        0 => sysfs_unique_cpu_property(roots, "core_id"),
        n => n,
    };
    let sockets = match cpu.sockets {
        0 => sysfs_unique_cpu_property(roots, "physical_package_id"),
        n => n,
    };
    let mem = parse_file(&roots.proc("meminfo"), meminfo)?;
    let boot_id = read_optional(&roots.proc("sys/kernel/random/boot_id")).unwrap_or_default();
    let machine_id = read_optional(&roots.root("/etc/machine-id"))
        .or_else(|| read_optional(&roots.root("/var/lib/dbus/machine-id")))
        .unwrap_or_default();
    let system_uuid = read_optional(&roots.sys("class/dmi/id/product_uuid")).unwrap_or_default();
    let labels = [
        ("boot_id", boot_id.as_str()),
        ("machine_id", machine_id.as_str()),
        ("system_uuid", system_uuid.as_str()),
    ];
    let rows = [
        (
            "machine_cpu_cores",
            "Number of logical CPU cores.",
            cpu.cores,
        ),
        (
            "machine_cpu_physical_cores",
            "Number of physical CPU cores.",
            physical_cores,
        ),
        ("machine_cpu_sockets", "Number of CPU sockets.", sockets),
        (
            "machine_memory_bytes",
            "Amount of memory installed on the machine.",
            mem.mem_total,
        ),
        (
            "machine_swap_bytes",
            "Amount of swap memory available on the machine.",
            mem.swap_total,
        ),
    ];
    for (name, help, value) in rows {
        sink.gauge(name, help);
        if snap.config.timestamps {
            sink.sample_at(&labels, value as f64, snap.time_ms);
        } else {
            sink.sample(&labels, value as f64);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GARBAGE: &[u8] = &[0xff, 0xfe, 0x00, 0x12];

    fn topology(bytes: &[u8]) -> Result<CpuTopology, ParseError> {
        cpu_topology(&crate::procfs::cpuinfo::parse_cpuinfo_x86(bytes)?)
    }

    #[test]
    fn meminfo_and_cpuinfo() {
        let m = meminfo(b"MemTotal:        4013668 kB\nMemFree: 1 kB\nSwapTotal:       1048572 kB\nSwapFree:        1048572 kB\n").unwrap();
        assert_eq!(m.mem_total, 4013668 * 1024);
        assert_eq!(m.swap_total, 1048572 * 1024);
        assert!(meminfo(b"").is_err());
        assert!(meminfo(b"MemTotal: x kB").is_err());
        assert!(meminfo(GARBAGE).is_err());
        let c = topology(b"processor\t: 0\nphysical id\t: 0\ncore id\t\t: 0\n\nprocessor\t: 1\nphysical id\t: 0\ncore id\t\t: 1\n\nprocessor\t: 2\nphysical id\t: 0\ncore id\t\t: 1\n").unwrap();
        assert_eq!((c.cores, c.physical_cores, c.sockets), (3, 2, 1));
        // Two sockets of two cores each, core ids repeating per socket (x86 cpuinfo layout):
        // cAdvisor counts distinct core ids.
        let two_sockets = b"processor\t: 0\nphysical id\t: 0\ncore id\t\t: 0\n\nprocessor\t: 1\nphysical id\t: 0\ncore id\t\t: 1\n\nprocessor\t: 2\nphysical id\t: 1\ncore id\t\t: 0\n\nprocessor\t: 3\nphysical id\t: 1\ncore id\t\t: 1\n";
        let c = topology(two_sockets).unwrap();
        assert_eq!((c.cores, c.physical_cores, c.sockets), (4, 2, 2));
        let arm = topology(b"processor : 0\nBogoMIPS : 50\n\nprocessor : 1\n").unwrap();
        assert_eq!((arm.cores, arm.physical_cores, arm.sockets), (2, 0, 0));
        assert!(topology(b"").is_err());
        assert!(topology(GARBAGE).is_err());
    }

    /// A sysfs cpu tree of an arm64 host with two clusters whose `core_id`s restart at 0 and
    /// one CPU offline, removed when dropped.
    fn sys_tree() -> tempfile::TempDir {
        let tree = tempfile::tempdir().expect("tempdir");
        let cpu = tree.path().join("sys/devices/system/cpu");
        for (n, core, package) in [(0, 0, 0), (1, 1, 0), (2, 0, 1), (3, 1, 1), (4, 2, 1)] {
            let topology = cpu.join(format!("cpu{n}/topology"));
            std::fs::create_dir_all(&topology).expect("mkdir");
            std::fs::write(topology.join("core_id"), format!("{core}\n")).expect("write");
            std::fs::write(topology.join("physical_package_id"), format!("{package}\n"))
                .expect("write");
        }
        std::fs::create_dir_all(cpu.join("cpufreq")).expect("mkdir");
        std::fs::write(cpu.join("online"), "0-3\n").expect("write");
        tree
    }

    #[test]
    fn sysfs_fallback_counts_core_and_package_pairs_of_online_cpus() {
        let tree = sys_tree();
        let roots = Roots::fixture(tree.path());
        // cpu4 is offline; (core_id, package) pairs 0_0, 1_0, 0_1, 1_1.
        assert_eq!(sysfs_unique_cpu_property(&roots, "core_id"), 4);
        assert_eq!(sysfs_unique_cpu_property(&roots, "physical_package_id"), 2);
        std::fs::remove_file(tree.path().join("sys/devices/system/cpu/online")).expect("rm");
        assert_eq!(sysfs_unique_cpu_property(&roots, "core_id"), 5);
        let empty = Roots::fixture(&tree.path().join("nowhere"));
        assert_eq!(sysfs_unique_cpu_property(&empty, "core_id"), 0);
    }
}
