//! Every collector nodex knows, in one list. Adding a collector is one line here plus its module.

use crate::collector::CollectorInfo;
use crate::host;

/// All registered collectors, sorted by name.
pub fn all() -> Vec<CollectorInfo> {
    let mut list = vec![
        host::arp::INFO,
        host::bonding::INFO,
        host::conntrack::INFO,
        host::cpu::INFO,
        host::diskstats::INFO,
        host::entropy::INFO,
        host::filefd::INFO,
        host::filesystem::INFO,
        host::kernel_hung::INFO,
        host::loadavg::INFO,
        host::mdadm::INFO,
        host::meminfo::INFO,
        host::netclass::INFO,
        host::netdev::INFO,
        host::netstat::INFO,
        host::pressure::INFO,
        host::schedstat::INFO,
        host::sockstat::INFO,
        host::softnet::INFO,
        host::stat::INFO,
        host::udp_queues::INFO,
        host::vmstat::INFO,
    ];
    let mut list = vec![host::loadavg::INFO];
    list.push(host::interrupts::INFO);
    list.push(host::processes::INFO);
    list.push(host::softirqs::INFO);
    list.push(host::tcpstat::INFO);
    list.push(host::buddyinfo::INFO);
    list.push(host::meminfo_numa::INFO);
    list.push(host::slabinfo::INFO);
    list.push(host::zoneinfo::INFO);
    list.push(host::cgroups::INFO);
    list.push(host::cpu_vulnerabilities::INFO);
    list.push(host::drbd::INFO);
    list.push(host::ksmd::INFO);
    list.push(host::lnstat::INFO);
    list.push(host::swap::INFO);
    list.push(host::sysctl::INFO);
    list.sort_by_key(|c| c.name);
    list
}

/// Looks a collector up by name.
pub fn find(name: &str) -> Option<CollectorInfo> {
    all().into_iter().find(|c| c.name == name)
}

/// The README's collector table: name, default, sources, and the families each collector's
/// golden file (`<golden_dir>/<name>.prom`) holds.
pub fn markdown_table(golden_dir: &std::path::Path) -> String {
    let mut out = String::from("| collector | default | reads | families |\n|---|---|---|---|\n");
    for info in all() {
        let golden = std::fs::read_to_string(golden_dir.join(format!("{}.prom", info.name)))
            .unwrap_or_default();
        let families: Vec<String> = golden
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|name| !name.starts_with("node_scrape_collector_"))
            .map(|name| format!("`{name}`"))
            .collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            info.name,
            if info.default_enabled { "on" } else { "off" },
            info.sources,
            if families.is_empty() {
                "none on the fixture tree".to_string()
            } else {
                families.join(" ")
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_unique() {
        let all = super::all();
        for pair in all.windows(2) {
            assert_ne!(pair[0].name, pair[1].name, "collector registered twice");
        }
    }
}
