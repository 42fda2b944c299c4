//! machine: cAdvisor's `machine_cpu_{cores,physical_cores,sockets}`, `machine_memory_bytes` and
//! `machine_swap_bytes` from `/proc/cpuinfo` and `/proc/meminfo`, labelled with `boot_id`,
//! `machine_id` and `system_uuid`. Served with the container groups, so like them it reports
//! `NoData` where no cgroup file system is mounted.

use std::collections::BTreeSet;

use super::cgroup::parse::{cpu_list, cpuinfo, meminfo};
use super::container_group;
use super::walk::Snapshot;
use crate::collector::Settings;
use crate::error::CollectError;
use crate::expfmt::MetricSink;
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

container_group!(
    "machine",
    "/proc/cpuinfo, /proc/meminfo, /proc/sys/kernel/random/boot_id, /etc/machine-id, /sys/class/dmi/id/product_uuid, /sys/devices/system/cpu (without core ids)",
    emit,
    &[]
);

fn emit(settings: &Settings, snap: &Snapshot, sink: &mut MetricSink) -> Result<(), CollectError> {
    let roots = &settings.roots;
    let cpu = parse_file(&roots.proc("cpuinfo"), cpuinfo)?;
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

    /// A sysfs cpu tree of an arm64 host with two clusters whose `core_id`s restart at 0 and
    /// one CPU offline, removed when dropped.
    struct SysTree(std::path::PathBuf);

    impl Drop for SysTree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn sys_tree() -> SysTree {
        let root = std::env::temp_dir().join(format!("nodex-machine-{}", std::process::id()));
        let tree = SysTree(root);
        let cpu = tree.0.join("sys/devices/system/cpu");
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
        let roots = Roots::fixture(&tree.0);
        // cpu4 is offline; (core_id, package) pairs 0_0, 1_0, 0_1, 1_1.
        assert_eq!(sysfs_unique_cpu_property(&roots, "core_id"), 4);
        assert_eq!(sysfs_unique_cpu_property(&roots, "physical_package_id"), 2);
        std::fs::remove_file(tree.0.join("sys/devices/system/cpu/online")).expect("rm");
        assert_eq!(sysfs_unique_cpu_property(&roots, "core_id"), 5);
        let empty = Roots::fixture(&tree.0.join("nowhere"));
        assert_eq!(sysfs_unique_cpu_property(&empty, "core_id"), 0);
    }
}
