//! Every collector nodex knows, in one list. Adding a collector is one line here plus its module.

use crate::collector::CollectorInfo;
use crate::options::FlagSpec;
use crate::{container, host};

/// All registered collectors, sorted by name.
pub fn all() -> Vec<CollectorInfo> {
    let mut list = vec![
        container::cpu::INFO,
        container::diskio::INFO,
        container::machine::INFO,
        container::logs::INFO,
        container::memory::INFO,
        container::network::INFO,
        container::oom::INFO,
        container::pressure::INFO,
        container::process::INFO,
        container::spec::INFO,
        container::storage::INFO,
        host::arp::INFO,
        host::bcache::INFO,
        host::bcachefs::INFO,
        host::bonding::INFO,
        host::btrfs::INFO,
        host::buddyinfo::INFO,
        host::cgroups::INFO,
        host::conntrack::INFO,
        host::cpu::INFO,
        host::cpu_vulnerabilities::INFO,
        host::cpufreq::INFO,
        host::diskstats::INFO,
        host::dmi::INFO,
        host::dmmultipath::INFO,
        host::drbd::INFO,
        host::drm::INFO,
        host::edac::INFO,
        host::entropy::INFO,
        host::ethtool::INFO,
        host::fibrechannel::INFO,
        host::filefd::INFO,
        host::filesystem::INFO,
        host::hwmon::INFO,
        host::infiniband::INFO,
        host::interrupts::INFO,
        host::ipvs::INFO,
        host::kernel_hung::INFO,
        host::ksmd::INFO,
        host::lnstat::INFO,
        host::loadavg::INFO,
        host::logind::INFO,
        host::mdadm::INFO,
        host::meminfo::INFO,
        host::meminfo_numa::INFO,
        host::mountstats::INFO,
        host::netclass::INFO,
        host::netdev::INFO,
        host::netstat::INFO,
        host::network_route::INFO,
        host::nfs::INFO,
        host::nfsd::INFO,
        host::ntp::INFO,
        host::nvme::INFO,
        host::nvmesubsystem::INFO,
        host::os::INFO,
        host::pcidevice::INFO,
        host::perf::INFO,
        host::powersupplyclass::INFO,
        host::pressure::INFO,
        host::processes::INFO,
        host::qdisc::INFO,
        host::rapl::INFO,
        host::runit::INFO,
        host::schedstat::INFO,
        host::selinux::INFO,
        host::slabinfo::INFO,
        host::sockstat::INFO,
        host::softirqs::INFO,
        host::softnet::INFO,
        host::stat::INFO,
        host::supervisord::INFO,
        host::swap::INFO,
        host::sysctl::INFO,
        host::systemd::INFO,
        host::tapestats::INFO,
        host::tcpstat::INFO,
        host::textfile::INFO,
        host::thermal_zone::INFO,
        host::time::INFO,
        host::timex::INFO,
        host::udp_queues::INFO,
        host::uname::INFO,
        host::vmstat::INFO,
        host::watchdog::INFO,
        host::wifi::INFO,
        host::xfrm::INFO,
        host::xfs::INFO,
        host::zfs::INFO,
        host::zoneinfo::INFO,
    ];
    list.sort_by_key(|c| c.name);
    list
}

/// Looks a collector up by name.
pub fn find(name: &str) -> Option<CollectorInfo> {
    all().into_iter().find(|c| c.name == name)
}

/// The spec of the flag named `name` (without dashes), among every registered collector's.
pub fn flag(name: &str) -> Option<FlagSpec> {
    all()
        .iter()
        .flat_map(|info| info.flags)
        .find(|spec| spec.name == name)
        .copied()
}

/// The README's collector table: name, default, sources, and the families each collector's
/// golden holds: the host fixture tree's (`<golden_dir>/<name>.prom`) or, for the container
/// groups, those of the cgroup trees (`<golden_dir>/cgroup-*/<name>.prom`), naming the trees.
pub fn markdown_table(golden_dir: &std::path::Path) -> String {
    let mut out = String::from("| collector | default | reads | families |\n|---|---|---|---|\n");
    let layouts = cgroup_layouts(golden_dir);
    for info in all() {
        let file = format!("{}.prom", info.name);
        let host = golden_families(&golden_dir.join(&file));
        let families = if host.is_empty() {
            cgroup_families(golden_dir, &layouts, &file)
        } else {
            host.iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            info.name,
            if info.default_enabled { "on" } else { "off" },
            info.sources,
            if families.is_empty() {
                "none on the fixture tree"
            } else {
                &families
            }
        ));
    }
    out
}

/// The cgroup trees with goldens (`cgroup-v1`, `cgroup-v2`...), sorted.
fn cgroup_layouts(golden_dir: &std::path::Path) -> Vec<String> {
    let mut layouts: Vec<String> = std::fs::read_dir(golden_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.starts_with("cgroup-"))
        .collect();
    layouts.sort();
    layouts
}

/// The families of a golden file, in order, without the scrape's own.
fn golden_families(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| !name.starts_with("node_scrape_collector_"))
        .map(str::to_string)
        .collect()
}

/// The families `file` holds across the cgroup trees' goldens, each followed by the trees it
/// appears in when that is not all of the trees with families.
fn cgroup_families(golden_dir: &std::path::Path, layouts: &[String], file: &str) -> String {
    let mut families: Vec<(String, Vec<&str>)> = Vec::new();
    let mut with_families = Vec::new();
    for layout in layouts {
        let found = golden_families(&golden_dir.join(layout).join(file));
        if !found.is_empty() {
            with_families.push(layout.as_str());
        }
        for family in found {
            match families.iter_mut().find(|(f, _)| *f == family) {
                Some((_, trees)) => trees.push(layout),
                None => families.push((family, vec![layout])),
            }
        }
    }
    if families.is_empty() {
        return String::new();
    }
    let listed: Vec<String> = families
        .iter()
        .map(|(family, trees)| {
            if trees.len() == with_families.len() {
                format!("`{family}`")
            } else {
                format!("`{family}` ({})", trees.join(", "))
            }
        })
        .collect();
    format!(
        "on the {} trees: {}",
        with_families.join(", "),
        listed.join(" ")
    )
}

/// Builds the named collectors with `settings`, runs each once and renders what they wrote as
/// one text exposition, as a scrape of just those collectors would; the first collector that
/// is not registered, does not build or fails gives the error.
pub fn scrape_text(
    settings: &std::sync::Arc<crate::collector::Settings>,
    names: &[&str],
) -> Result<String, String> {
    let mut sinks = Vec::new();
    for name in names {
        let info = find(name).ok_or_else(|| format!("{name} not registered"))?;
        let collector = (info.build)(settings).map_err(|e| format!("{name}: {e}"))?;
        let mut sink = crate::expfmt::MetricSink::new();
        collector
            .collect(&mut sink)
            .map_err(|e| format!("{name}: {e}"))?;
        sinks.push(sink);
    }
    crate::testing::render_sinks(&sinks.iter().collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use crate::{MetricSink, Options, Roots, Settings};

    /// A flag a collector reads must be declared in some registered collector's `flags`, or the
    /// command line cannot set it. Every collector is built and run once on an empty root with
    /// options that record the names read.
    #[test]
    fn every_flag_read_is_declared() {
        let declared: BTreeSet<&str> = super::all()
            .iter()
            .flat_map(|info| info.flags)
            .map(|spec| spec.name)
            .collect();
        let options = Options::default();
        let roots = Roots::fixture(std::path::Path::new("/nonexistent/nodex"));
        let settings = Arc::new(Settings::new(roots, options.clone()));
        for info in super::all() {
            if let Ok(collector) = (info.build)(&settings) {
                let _ = collector.collect(&mut MetricSink::new());
            }
        }
        let read = options.read.lock().expect("not poisoned").clone();
        let undeclared: Vec<&str> = read.difference(&declared).copied().collect();
        assert!(
            undeclared.is_empty(),
            "read but not declared: {undeclared:?}"
        );
        // The recording works: the vmstat collector reads its field filter when it is built.
        assert!(read.contains(crate::host::vmstat::FIELDS.name()));
    }

    /// A family on every cgroup tree with families is listed bare, one on some trees names them.
    #[test]
    fn cgroup_families_name_their_trees() {
        let dir = tempfile::tempdir().expect("temp dir");
        let golden = |layout: &str, families: &[&str]| {
            let path = dir.path().join(layout);
            std::fs::create_dir_all(&path).expect("layout dir");
            let text: String = families
                .iter()
                .map(|f| format!("# TYPE {f} gauge\n{f} 1\n"))
                .collect();
            std::fs::write(path.join("g.prom"), text).expect("golden");
        };
        golden("cgroup-v1", &["a", "b"]);
        golden("cgroup-v2", &["a", "c"]);
        golden("cgroup-v3", &[]);
        let layouts = super::cgroup_layouts(dir.path());
        assert_eq!(layouts, ["cgroup-v1", "cgroup-v2", "cgroup-v3"]);
        assert_eq!(
            super::cgroup_families(dir.path(), &layouts, "g.prom"),
            "on the cgroup-v1, cgroup-v2 trees: `a` `b` (cgroup-v1) `c` (cgroup-v2)"
        );
        assert_eq!(
            super::cgroup_families(dir.path(), &layouts, "none.prom"),
            ""
        );
    }

    #[test]
    fn names_are_unique() {
        let all = super::all();
        for pair in all.windows(2) {
            assert_ne!(pair[0].name, pair[1].name, "collector registered twice");
        }
    }
}
