//! machine: cAdvisor's `machine_cpu_{cores,physical_cores,sockets}`, `machine_memory_bytes` and
//! `machine_swap_bytes` from `/proc/cpuinfo` and `/proc/meminfo`, labelled with `boot_id`,
//! `machine_id` and `system_uuid`. Served with the container groups, so like them it reports
//! `NoData` where no cgroup file system is mounted.

use super::container_group;
use super::parse::{cpuinfo, meminfo};
use super::walk::Snapshot;
use crate::collector::Settings;
use crate::error::CollectError;
use crate::expfmt::MetricSink;
use crate::util::{parse_file, read_optional};

container_group!(
    "machine",
    "/proc/cpuinfo, /proc/meminfo, /proc/sys/kernel/random/boot_id, /etc/machine-id, /sys/class/dmi/id/product_uuid",
    emit,
    &[]
);

fn emit(settings: &Settings, snap: &Snapshot, sink: &mut MetricSink) -> Result<(), CollectError> {
    let roots = &settings.roots;
    let cpu = parse_file(&roots.proc("cpuinfo"), cpuinfo)?;
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
            cpu.physical_cores,
        ),
        ("machine_cpu_sockets", "Number of CPU sockets.", cpu.sockets),
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
