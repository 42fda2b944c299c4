//! The parser table behind the `parsers` fuzz target and the `seed` corpus builder.
//!
//! Input layout: the first byte picks the parser (`PARSERS[byte % PARSERS.len()]`), the rest is
//! the file content handed to it. A parser that takes two inputs (a file and a name, two
//! files) gets them split at the first NUL byte.
//!
//! Invariants checked on every input, beside "no panic, no abort, no runaway allocation":
//! - every parser result is written (in its `Debug` form) as a label value through
//!   [`MetricSink`] and [`render`]; the text output must parse back with the textfile parser
//!   and give back exactly the same label values, and the OpenMetrics output must be UTF-8
//!   ending in `# EOF`;
//! - the collectors' own writers (`mdadm`, `diskstats`, `filesystem`) write parsed values
//!   through the same sink, so their output must parse back too;
//! - a textfile that parses is rewritten through the sink, rendered, and must parse again;
//! - name sanitisers give valid metric names.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::hint::black_box;

use nodex_collectors::container::cgroup::{self, parse as cg};
use nodex_collectors::container::{layout, logs, machine, network, runtime, storage};
use nodex_collectors::expfmt::{render, Format};
use nodex_collectors::host::textfile::{self, Value};
use nodex_collectors::host::*;
use nodex_collectors::procfs;
use nodex_collectors::{dbus, netlink, options, util, MetricSink, MetricType};

/// One fuzzed function.
pub struct Parser {
    /// Short name (shown by the seed builder).
    pub name: &'static str,
    /// Fixture files (path suffixes under `tests/fixtures`) whose content seeds this parser.
    pub seeds: &'static [&'static str],
    /// Runs the parser on one input and records what must render.
    pub run: fn(&[u8], &mut Checks),
}

/// What one input produced, checked once the parser returned.
#[derive(Default)]
pub struct Checks {
    sink: MetricSink,
    expected: Vec<String>,
}

impl Checks {
    /// Records a parser result: its `Debug` form becomes a label value that must survive
    /// rendering and re-parsing unchanged.
    pub fn result<T: Debug>(&mut self, value: &T) {
        let text = format!("{value:?}");
        let index = self.expected.len().to_string();
        self.sink
            .gauge("fuzz_result", "Debug form of a \"parser\" result.\\")
            .sample(&[("i", &index), ("v", &text)], 1.0);
        self.expected.push(text);
    }

    /// The sink the collectors' own writers write to.
    pub fn sink(&mut self) -> &mut MetricSink {
        &mut self.sink
    }

    /// Renders everything recorded and checks it.
    pub fn finish(self) {
        let text = render_text(&self.sink);
        let families = textfile::parse_text(&text).unwrap_or_else(|e| {
            panic!(
                "rendered exposition does not parse: {e}\n{}",
                String::from_utf8_lossy(&text)
            )
        });
        let mut got: Vec<String> = families
            .iter()
            .filter(|f| f.name == "fuzz_result")
            .flat_map(|f| &f.series)
            .filter_map(|s| s.labels.iter().find(|(n, _)| n == "v"))
            .map(|(_, v)| v.clone())
            .collect();
        let mut want = self.expected;
        got.sort();
        want.sort();
        assert_eq!(got, want, "label values changed through render + parse");

        let mut om = Vec::new();
        if let Err(e) = render(&[&self.sink], Format::OpenMetrics, &mut om) {
            panic!("OpenMetrics render into a Vec failed: {e}");
        }
        assert!(std::str::from_utf8(&om).is_ok(), "OpenMetrics not UTF-8");
        assert!(om.ends_with(b"# EOF\n"), "OpenMetrics without # EOF");
    }
}

fn render_text(sink: &MetricSink) -> Vec<u8> {
    let mut text = Vec::new();
    if let Err(e) = render(&[sink], Format::Text, &mut text) {
        panic!("text render into a Vec failed: {e}");
    }
    text
}

/// Runs the parser the first byte selects on the rest of `data`, then checks its output.
pub fn fuzz_one(data: &[u8]) {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let parser = &PARSERS[selector as usize % PARSERS.len()];
    let mut checks = Checks::default();
    (parser.run)(input, &mut checks);
    checks.finish();
}

fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// Splits a two-part input at the first NUL byte (the second part is empty without one).
fn two(bytes: &[u8]) -> (&[u8], &[u8]) {
    match bytes.iter().position(|&b| b == 0) {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &[]),
    }
}

/// `key=value` lines, as hwmon's per-sensor properties.
fn props(bytes: &[u8]) -> BTreeMap<String, String> {
    text(bytes)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn valid_name(name: &str) {
    assert!(
        name.is_empty() || textfile::valid_metric_name(&format!("x{name}")),
        "sanitised name {name:?} is not a valid metric name"
    );
}

/// True for a family the textfile collector drops as colliding with a summary or histogram
/// of the same file (`x_sum`/`x_count` beside a summary or histogram `x`, `x_bucket` beside a
/// histogram `x`): a sample of such a name seen before `x`'s `# TYPE` line makes a family of
/// its own, as in Go's parser, and rendered beside `x` it would name `x`'s own series.
fn collides(f: &textfile::Family, all: &[textfile::Family]) -> bool {
    [("_sum", false), ("_count", false), ("_bucket", true)]
        .iter()
        .any(|(suffix, histogram_only)| {
            f.name.strip_suffix(suffix).is_some_and(|base| {
                all.iter().any(|x| {
                    x.name == base
                        && (x.kind == MetricType::Histogram
                            || (!histogram_only && x.kind == MetricType::Summary))
                })
            })
        })
}

/// Rewrites parsed textfile families through the sink (as the collector's writer does: one
/// family per name, bounds as labels, `_sum`/`_count` suffixes, colliding names dropped) and
/// checks the result parses again.
fn textfile_roundtrip(families: &[textfile::Family]) {
    let mut sink = MetricSink::new();
    for f in families.iter().filter(|f| !collides(f, families)) {
        sink.family(&f.name, f.help.as_deref().unwrap_or("from fuzz"), f.kind);
        for s in &f.series {
            let labels: Vec<(&str, &str)> = s
                .labels
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            match &s.value {
                Value::Simple(v) => {
                    match s.timestamp_ms {
                        Some(ts) => sink.sample_at(&labels, *v, ts),
                        None => sink.sample(&labels, *v),
                    };
                }
                Value::Summary {
                    quantiles: pairs,
                    sum,
                    count,
                }
                | Value::Histogram {
                    buckets: pairs,
                    sum,
                    count,
                } => {
                    let (key, suffix) = if f.kind == MetricType::Summary {
                        ("quantile", "")
                    } else {
                        ("le", "_bucket")
                    };
                    for (bound, v) in pairs {
                        let bound = nodex_collectors::expfmt::format_float(*bound);
                        let mut with: Vec<(&str, &str)> = labels.clone();
                        with.push((key, &bound));
                        sink.sample_suffixed(suffix, &with, *v);
                    }
                    sink.sample_suffixed("_sum", &labels, *sum);
                    sink.sample_suffixed("_count", &labels, *count);
                }
            }
        }
    }
    let text = render_text(&sink);
    if let Err(e) = textfile::parse_text(&text) {
        panic!(
            "re-rendered textfile does not parse: {e}\n{}",
            String::from_utf8_lossy(&text)
        );
    }
}

/// Text of a kernel file, or the error the collectors give for bytes that are not UTF-8.
fn utf8(d: &[u8]) -> Result<&str, nodex_collectors::ParseError> {
    std::str::from_utf8(d).map_err(|_| nodex_collectors::ParseError::new("not UTF-8"))
}

/// `/proc/net/netstat` or `/proc/net/snmp` whole, through the netstat collector's pure pieces
/// (its caches aside): every field with its value parsed.
fn netstat_paired(d: &[u8]) -> Result<Vec<(&str, &str, f64)>, nodex_collectors::ParseError> {
    let mut fields = Vec::new();
    for (names_line, values_line) in netstat::pairs(d)? {
        let mut names = names_line.split_ascii_whitespace();
        let Some(proto) = names.next() else {
            continue;
        };
        netstat::walk_pair(names_line, proto, names, values_line, |_, name, value| {
            fields.push((proto, name, util::parse_f64(value)?));
            Ok(())
        })?;
    }
    Ok(fields)
}

/// `/proc/net/snmp6` whole through [`netstat::split_snmp6`].
fn snmp6(d: &[u8]) -> Result<Vec<(&str, f64)>, nodex_collectors::ParseError> {
    let mut fields = Vec::new();
    for line in util::lines(utf8(d)?) {
        if let Some((key, value)) = netstat::split_snmp6(line) {
            fields.push((key, util::parse_f64(value)?));
        }
    }
    Ok(fields)
}

/// `/proc/vmstat` whole through [`vmstat::split_line`].
fn vmstat_fields(d: &[u8]) -> Result<Vec<(&str, f64)>, nodex_collectors::ParseError> {
    let mut fields = Vec::new();
    for line in util::lines(utf8(d)?) {
        if let Some((name, value)) = vmstat::split_line(line)? {
            fields.push((name, util::parse_f64(value)?));
        }
    }
    Ok(fields)
}

macro_rules! parser {
    ($name:expr, [$($seed:expr),* $(,)?], |$d:ident, $c:ident| $body:expr) => {
        Parser {
            name: $name,
            seeds: &[$($seed),*],
            run: |$d: &[u8], $c: &mut Checks| {
                let _ = black_box(&$c);
                $body;
            },
        }
    };
    ($name:expr, [$($seed:expr),* $(,)?], |$d:ident| $body:expr) => {
        parser!($name, [$($seed),*], |$d, c| c.result(&$body))
    };
}

/// Every fuzzed function, in a fixed order (the corpus's first bytes index this table:
/// append new entries at the end so existing corpus files keep their meaning).
pub static PARSERS: &[Parser] = &[
    parser!("arp", ["proc/net/arp"], |d| arp::parse(d)),
    parser!("bcache.dehumanize", [], |d| bcache::dehumanize(&text(d))),
    parser!("bcache.dehumanize_signed", [], |d| {
        bcache::dehumanize_signed(&text(d))
    }),
    parser!(
        "bcache.writeback_rate_debug",
        ["writeback_rate_debug"],
        |d| { bcache::parse_writeback_rate_debug(d) }
    ),
    parser!("bcache.priority_stats", ["priority_stats"], |d| {
        bcache::parse_priority_stats(d)
    }),
    parser!("bcachefs.human_bytes", [], |d| bcachefs::parse_human_bytes(
        &text(d)
    )),
    parser!("bcachefs.compression", ["compression_stats"], |d| {
        bcachefs::parse_compression(d)
    }),
    parser!("bcachefs.errors", ["bcachefs/errors"], |d| {
        bcachefs::parse_errors(d)
    }),
    parser!("bcachefs.counter", [], |d| bcachefs::parse_counter(d)),
    parser!("bcachefs.btree_writes", ["btree_write_stats"], |d| {
        bcachefs::parse_btree_writes(d)
    }),
    parser!(
        "bcachefs.io_done",
        ["io_done"],
        |d| bcachefs::parse_io_done(d)
    ),
    parser!("bcachefs.io_errors", ["io_errors"], |d| {
        bcachefs::parse_io_errors(d)
    }),
    parser!("bonding.names", ["bonding_masters"], |d| {
        bonding::parse_names(&text(d)).len()
    }),
    parser!("btrfs.commit_stats", ["commit_stats"], |d| {
        btrfs::parse_commit_stats(d)
    }),
    parser!("btrfs.allocation_ratio", [], |d| {
        let (mode, n) = two(d);
        btrfs::allocation_ratio(&text(mode), n.len())
    }),
    parser!("buddyinfo", ["proc/buddyinfo"], |d| buddyinfo::parse(d)),
    parser!("cgroups", ["proc/cgroups"], |d| cgroups::parse(d)),
    parser!("conntrack.stat", ["stat/nf_conntrack"], |d| {
        conntrack::parse_stat(d)
    }),
    parser!("cpu.cpu_list", ["thread_siblings_list"], |d| {
        cpu::parse_cpu_list(&text(d))
    }),
    parser!("procfs.cpuinfo", ["proc/cpuinfo"], |d| {
        procfs::cpuinfo::parse_cpuinfo(d)
    }),
    parser!("cpu_vulnerabilities", ["vulnerabilities/spectre_v2"], |d| {
        cpu_vulnerabilities::parse(d)
    }),
    parser!("cpufreq.cpu_range", ["related_cpus"], |d| {
        cpufreq::parse_cpu_range(&text(d))
    }),
    parser!("cpufreq.khz", ["scaling_cur_freq"], |d| cpufreq::parse_khz(
        &text(d)
    )),
    parser!("cpufreq.governor_states", [], |d| {
        let (available, current) = two(d);
        let available = text(available);
        cpufreq::governor_states(&available, &text(current)).len()
    }),
    parser!("diskstats", ["proc/diskstats"], |d, c| {
        let (stats, udev) = two(d);
        let udev = diskstats::parse_udev(udev);
        c.result(&udev);
        if let Ok(stats) = diskstats::parse_diskstats(stats) {
            for stat in &stats {
                diskstats::emit_device(c.sink(), stat, &udev, 1);
            }
        }
    }),
    parser!("diskstats.udev", ["udev/b8:0"], |d| diskstats::parse_udev(
        d
    )),
    parser!("dmi.label_value", ["product_name"], |d| dmi::label_value(d)),
    parser!("dmmultipath.number", [], |d| dmmultipath::parse_number(d)),
    parser!("drbd", ["proc/drbd"], |d| drbd::parse(d)),
    parser!("edac", [], |d, c| {
        c.result(&edac::parse_count(d));
        c.result(&edac::dimm_label(d));
        let t = text(d);
        c.result(&edac::numbered(&t, "csrow"));
        c.result(&edac::channel_number(&t));
    }),
    parser!("entropy", ["random/entropy_avail"], |d| entropy::parse(d)),
    parser!("fibrechannel", [], |d, c| {
        c.result(&fibrechannel::parse_statistic(d));
        let (name, raw) = two(d);
        c.result(&fibrechannel::attribute_value(&text(name), &text(raw)));
    }),
    parser!("filefd", ["fs/file-nr"], |d| filefd::parse(d)),
    parser!("filesystem.mountinfo", ["proc/1/mountinfo"], |d, c| {
        if let Ok(mounts) = filesystem::parse_mountinfo(d) {
            c.result(&mounts);
            filesystem::emit(c.sink(), &mounts, &HashMap::new());
        }
    }),
    parser!("hwmon", [], |d, c| {
        let (sensor, properties) = two(d);
        let sensor = text(sensor);
        valid_name(&hwmon::clean_name(&sensor));
        c.result(&hwmon::explode_sensor_filename(&sensor));
        c.result(&hwmon::sensor_samples(&sensor, &props(properties)));
    }),
    parser!("infiniband", ["infiniband"], |d, c| {
        c.result(&infiniband::parse_state(d));
        c.result(&infiniband::parse_rate(d));
        c.result(&infiniband::parse_counter(d));
    }),
    parser!("interrupts", ["proc/interrupts"], |d| interrupts::parse(d)),
    parser!("ipvs.labels", [], |d| ipvs::parse_labels(&text(d))),
    parser!("ipvs.stats", ["net/ip_vs_stats"], |d| ipvs::parse_stats(d)),
    parser!("ipvs.backends", ["net/ip_vs"], |d| ipvs::parse_backends(d)),
    parser!("kernel_hung", ["hung_task_detect_count"], |d| {
        kernel_hung::parse(d)
    }),
    parser!("ksmd", [], |d| ksmd::parse(d)),
    parser!("lnstat", ["stat/rt_cache", "stat/arp_cache"], |d| {
        lnstat::parse(d)
    }),
    parser!("loadavg", ["proc/loadavg"], |d| loadavg::parse(d)),
    parser!("mdadm", ["proc/mdstat"], |d, c| {
        if let Ok(stats) = mdadm::parse_mdstat(d) {
            c.result(&stats);
            mdadm::emit_mdstat(c.sink(), &stats);
        }
    }),
    parser!("meminfo", ["proc/meminfo"], |d| meminfo::parse(d)),
    parser!("meminfo_numa.meminfo", ["node0/meminfo"], |d| {
        meminfo_numa::parse_meminfo(d)
    }),
    parser!("meminfo_numa.numastat", ["node0/numastat"], |d| {
        meminfo_numa::parse_numastat(d, "0")
    }),
    parser!("netclass.int", [], |d| {
        let v = netclass::parse_int(&text(d));
        (v, netclass::admin_state(v))
    }),
    parser!("netdev", ["proc/net/dev"], |d| netdev::parse(d)),
    parser!("netdev.prefix_len", [], |d| netdev::prefix_len(d)),
    parser!(
        "netstat.paired",
        ["proc/net/netstat", "proc/net/snmp"],
        |d| { netstat_paired(d) }
    ),
    parser!("netstat.snmp6", ["proc/net/snmp6"], |d| { snmp6(d) }),
    parser!("nfs", ["net/rpc/nfs"], |d, c| {
        c.result(&nfs::parse(d));
        if let Ok(lines) = nfs::split_lines(d) {
            for (_, values) in &lines {
                c.result(&nfs::network(values));
                c.result(&nfs::fixed::<3>("x", values));
            }
        }
    }),
    parser!("nfsd", ["net/rpc/nfsd"], |d| nfsd::parse(d)),
    parser!("nvme", [], |d, c| {
        c.result(&nvme::parse_number(d));
        c.result(&nvme::namespace_id(&text(d)));
    }),
    parser!("os.os_release", ["usr/lib/os-release"], |d, c| {
        let release = os::parse_os_release(d);
        if let Ok(release) = &release {
            let mut sorted: Vec<_> = release.iter().collect();
            sorted.sort();
            c.result(&sorted);
            if let Some(v) = release.get("VERSION_ID") {
                c.result(&os::major_minor(v));
            }
        }
    }),
    parser!("os.date", [], |d| os::parse_date(&text(d))),
    parser!("powersupplyclass.go_int", [], |d| {
        powersupplyclass::parse_go_int(&text(d))
    }),
    parser!("pressure", ["proc/pressure/cpu", "proc/pressure/io"], |d| {
        pressure::parse(d)
    }),
    parser!("processes.stat", ["proc/10/stat", "task/21/stat"], |d| {
        processes::parse_stat(d)
    }),
    parser!("rapl", ["energy_uj"], |d, c| {
        c.result(&rapl::parse_microjoules(d));
        c.result(&rapl::index_and_name(&HashMap::new(), &text(d)));
    }),
    parser!("schedstat", ["proc/schedstat"], |d| schedstat::parse(d)),
    parser!("selinux", ["etc/selinux/config"], |d, c| {
        c.result(&selinux::parse_config_mode(d));
        c.result(&selinux::parse_avc_stats(d));
        c.result(&selinux::parse_avc_hash_stats(d));
    }),
    parser!("slabinfo", ["proc/slabinfo"], |d| slabinfo::parse(d)),
    parser!("sockstat", ["net/sockstat", "net/sockstat6"], |d| {
        sockstat::parse(d)
    }),
    parser!("softirqs", ["proc/softirqs"], |d| softirqs::parse(d)),
    parser!("softnet", ["net/softnet_stat"], |d| softnet::parse(d)),
    parser!("stat", ["proc/stat"], |d| stat::parse(d)),
    parser!("swap", ["proc/swaps"], |d| swap::parse(d)),
    parser!(
        "sysctl",
        ["ipv4/tcp_rmem", "kernel/core_pattern"],
        |d, c| {
            c.result(&sysctl::parse_strings(d));
            c.result(&sysctl::parse_ints(d));
            let sanitized = sysctl::sanitize(&text(d));
            valid_name(&sanitized);
        }
    ),
    parser!("tcpstat", ["proc/net/tcp", "proc/net/tcp6"], |d| {
        tcpstat::parse(d)
    }),
    parser!(
        "textfile",
        [
            "textfile/good.prom",
            "textfile/more.prom",
            "timestamped.prom"
        ],
        |d, c| {
            if let Ok(families) = textfile::parse_text(d) {
                textfile_roundtrip(&families);
                c.result(&families);
            }
        }
    ),
    parser!("textfile.names", [], |d, c| {
        let t = text(d);
        c.result(&textfile::valid_metric_name(&t));
        c.result(&textfile::valid_label_name(&t));
        c.result(&textfile::clean_path(&t));
    }),
    parser!("thermal_zone", ["thermal_zone0/temp"], |d, c| {
        let t = text(d);
        c.result(&thermal_zone::parse_temp(&t));
        c.result(&thermal_zone::is_disabled(&t));
    }),
    parser!("time.clocksource", [], |d| {
        let (available, current) = two(d);
        time::parse_clocksource(&text(available), &text(current))
    }),
    parser!("udp_queues", ["proc/net/udp", "proc/net/udp6"], |d| {
        udp_queues::parse(d)
    }),
    parser!("vmstat", ["proc/vmstat"], |d| vmstat_fields(d)),
    parser!("watchdog", [], |d| watchdog::parse_number(d)),
    parser!("xfs", ["xfs/stat", "stats/stats"], |d| xfs::parse(d)),
    parser!("zfs.kstat", ["zfs/arcstats", "zfs/zil"], |d| {
        zfs::parse_kstat(d)
    }),
    parser!("zfs.pool_io", ["pool1/io"], |d| zfs::parse_pool_io(d)),
    parser!("zfs.objset", ["pool1/objset-1"], |d| zfs::parse_objset(d)),
    parser!("zfs.state", ["pool1/state"], |d| zfs::parse_state(d)),
    parser!("zoneinfo", ["proc/zoneinfo"], |d| zoneinfo::parse(d)),
    parser!(
        "container.flat_keyed",
        ["memory.stat", "cpu.stat", "memory.events"],
        |d| { cg::flat_keyed_lookup(d, ["user", "system", "total_rss"]) }
    ),
    parser!(
        "container.limit",
        ["memory.max", "pids.max", "cpu.cfs_quota_us"],
        |d| { cg::limit(d) }
    ),
    parser!(
        "container.single",
        ["memory.current", "cpuacct.usage"],
        |d| cg::single(d)
    ),
    parser!("container.cpu_max", ["cpu.max"], |d| cg::cpu_max(d)),
    parser!("container.io_stat", ["io.stat"], |d| cg::io_stat(d)),
    parser!("container.blkio", ["io_service_bytes_recursive"], |d| {
        cg::blkio(d)
    }),
    parser!(
        "container.pressure",
        ["cpu.pressure", "memory.pressure"],
        |d| { cg::pressure(d) }
    ),
    parser!("container.cgroup_mounts", ["proc/1/mountinfo"], |d| {
        cg::cgroup_mounts(d)
    }),
    parser!("container.net_dev", ["proc/net/dev"], |d| network::net_dev(
        d
    )),
    parser!("container.meminfo", ["proc/meminfo"], |d| machine::meminfo(
        d
    )),
    parser!("container.cpuinfo", ["proc/cpuinfo"], |d| {
        procfs::cpuinfo::parse_cpuinfo(d).and_then(|c| machine::cpu_topology(&c))
    }),
    parser!("container.pids", ["cgroup.procs"], |d| cg::pids(d)),
    parser!("container.docker", ["config.v2.json"], |d| {
        let (config, host) = two(d);
        let mode = runtime::parse_docker_network_mode(host).unwrap_or_default();
        runtime::parse_docker(config, &mode)
    }),
    parser!("container.docker_network_mode", ["hostconfig.json"], |d| {
        runtime::parse_docker_network_mode(d)
    }),
    parser!("container.oci", ["userdata/config.json", "k8s.io/"], |d| {
        runtime::parse_oci(d, "0123456789ab")
    }),
    parser!("container.names", [], |d, c| {
        let t = text(d);
        c.result(&runtime::parse_rfc3339_utc(&t));
        c.result(&runtime::parse_pod_log_dir(&t));
        c.result(&runtime::parse_container_log_name(&t));
        c.result(&layout::pod_uid(&t));
        c.result(&layout::parse(&t));
        c.result(&network::interface_reported(&t));
        c.result(&cgroup::weight_to_shares(t.len() as u64 * 97));
    }),
    parser!("util.numbers", [], |d, c| {
        let t = text(d);
        c.result(&util::parse_f64(&t));
        c.result(&util::parse_u64(&t));
        c.result(&util::parse_i64(&t));
        c.result(&util::parse_u64_prefixed(&t));
        c.result(&util::parse_i64_prefixed(&t));
        c.result(&options::parse_go_duration(&t));
        valid_name(&util::sanitize_metric_name(&t));
    }),
    parser!("xfrm", ["net/xfrm_stat"], |d| xfrm::parse(d)),
    parser!("drm", [], |d, c| {
        let t = text(d);
        c.result(&drm::is_amdgpu(&t));
        c.result(&drm::parse_attribute(&t));
    }),
    parser!("mountstats", ["self/mountstats"], |d| mountstats::parse(d)),
    parser!("runit.status", ["supervise/status"], |d| {
        runit::parse_status(d)
    }),
    parser!(
        "supervisord.response",
        ["supervisord-getAllProcessInfo.xml"],
        |d, c| {
            let value = supervisord::parse_response(d);
            c.result(&value);
            if let Ok(value) = &value {
                c.result(&supervisord::processes(value));
            }
        }
    ),
    parser!("supervisord.http", [], |d, c| {
        c.result(&supervisord::http_body(d));
        c.result(&supervisord::parse_url(&text(d)));
    }),
    parser!("ntp", [], |d, c| {
        let packet = ntp::Packet::decode(d);
        c.result(&packet);
        if let Ok(packet) = &packet {
            // The request's transmit time, origin and destination times from the tail.
            let tail = |at: usize| {
                d.get(48 + at..56 + at)
                    .and_then(|b| b.try_into().ok())
                    .map_or(0, u64::from_be_bytes)
            };
            let (sent, org, dst) = (tail(0), tail(8), tail(16));
            let org = ntp::ntp_to_unix_nanos(org);
            let dst = ntp::ntp_to_unix_nanos(dst);
            c.result(&ntp::unix_nanos_to_ntp(org));
            let response = ntp::interpret(packet, sent, org, dst);
            c.result(&response);
            if let Ok(response) = &response {
                c.result(&ntp::validate(response));
            }
        }
    }),
    parser!("nvmesubsystem", ["nvme2/state"], |d, c| {
        let t = text(d);
        c.result(&nvmesubsystem::normalize_state(&t));
        c.result(&nvmesubsystem::is_controller(&t));
        c.result(&nvmesubsystem::is_namespace(&t));
    }),
    parser!("pcidevice", ["current_link_speed"], |d, c| {
        let t = text(d);
        let location = pcidevice::parse_location(&t);
        c.result(&location);
        if let Ok(location) = &location {
            c.result(&location.strings());
        }
        c.result(&pcidevice::parse_int_base0(&t));
        c.result(&pcidevice::parse_link_speed(&t));
    }),
    parser!("pcidevice.ids", ["pci.ids"], |d, c| {
        let (ids, query) = two(d);
        let ids = pcidevice::PciIds::parse(&text(ids));
        let query = text(query);
        let mut q = query.split_whitespace();
        let mut next = || q.next().unwrap_or("0x1234").to_string();
        let (vendor, device, sub_vendor, sub_device) = (next(), next(), next(), next());
        c.result(&ids.vendor(&vendor));
        c.result(&ids.device(&vendor, &device));
        c.result(&ids.subsystem(&vendor, &device, &sub_vendor, &sub_device));
        c.result(&ids.class(&next()));
    }),
    parser!("btrfs.ioctl", [], |d, c| {
        let fs = d.get(..btrfs::FS_INFO_SIZE).unwrap_or(d);
        let fs = btrfs::decode_fs_info(fs);
        c.result(&fs);
        if let Ok(fs) = &fs {
            c.result(&btrfs::fsid_hex(&fs.fsid));
            c.result(&btrfs::uuid_string(&fs.fsid));
        }
        let info = d.get(..btrfs::DEV_INFO_SIZE).unwrap_or(d);
        let stats = d.get(btrfs::DEV_INFO_SIZE..).unwrap_or(&[]);
        let stats = stats.get(..btrfs::DEV_STATS_SIZE).unwrap_or(stats);
        c.result(&btrfs::decode_device(info, stats));
    }),
    parser!("dbus.signature", [], |d, c| {
        let sig = text(d);
        let types = dbus::wire::parse_signature(&sig);
        if let Ok(types) = &types {
            let mut printed = String::new();
            types.iter().for_each(|t| t.write_signature(&mut printed));
            assert_eq!(printed, sig, "signature does not print back");
        }
        c.result(&types);
        c.result(&dbus::wire::valid_object_path(&sig));
        c.result(&dbus::parse_address(&sig));
    }),
    parser!("dbus.values", [], |d, c| {
        let (sig, bytes) = two(d);
        let values = dbus::wire::decode_values(&text(sig), bytes);
        if let Ok(values) = &values {
            let mut encoded = Vec::new();
            values
                .iter()
                .for_each(|v| dbus::wire::encode_value(&mut encoded, v));
            let sig = dbus::wire::signature_of(values);
            let again = dbus::wire::decode_values(&sig, &encoded);
            assert_eq!(
                format!("{again:?}"),
                format!("{:?}", Ok::<_, ()>(values)),
                "decoded values do not re-encode to the same values"
            );
            c.result(&systemd::parse_units(values));
            c.result(&logind::parse_seats(values));
            c.result(&logind::parse_sessions(values));
        }
        c.result(&values);
    }),
    parser!("dbus.message", [], |d, c| {
        if let Some(start) = d.get(..16).and_then(|s| <&[u8; 16]>::try_from(s).ok()) {
            c.result(&dbus::wire::message_length(start));
        }
        let message = dbus::wire::decode_message(d);
        if let Ok(m) = &message {
            let again = dbus::wire::decode_message(&dbus::wire::encode_message(m, m.serial));
            assert_eq!(
                format!("{again:?}"),
                format!("{:?}", Ok::<_, ()>(m)),
                "decoded message does not re-encode to the same message"
            );
        }
        c.result(&message);
    }),
    parser!("systemd.version", [], |d, c| {
        c.result(&systemd::parse_version(&text(d)));
    }),
    parser!(
        "netlink.messages",
        ["netlink/link.bin", "netlink/genl-nlctrl.bin"],
        |d, c| {
            let messages = netlink::parse_messages(d);
            c.result(&messages);
            for m in messages.iter().flatten() {
                c.result(&netlink::parse_error(m.payload));
                c.result(&netlink::parse_attrs(m.payload));
                if let Some(attrs) = m.payload.get(4..) {
                    for a in netlink::parse_attrs(attrs).iter().flatten() {
                        c.result(&netlink::c_string(a.value));
                        c.result(&netlink::parse_attrs(a.value));
                    }
                }
            }
            let replies = [d.to_vec()];
            c.result(&netlink::parse_link_names(&replies));
            c.result(&netlink::parse_genl_family_id(&replies));
            c.result(&udp_queues::parse_diag(&replies));
            c.result(&tcpstat::parse_diag(&replies));
        }
    ),
    parser!("qdisc.dump", ["netlink/qdisc.bin"], |d, c| {
        let dump = qdisc::parse_dump(d);
        c.result(&dump);
        if let Ok(qdiscs) = &dump {
            qdisc::emit(qdiscs, None, None, c.sink());
        }
    }),
    parser!("qdisc.fixture", ["qdisc/results.json"], |d, c| {
        let qdiscs = qdisc::parse_fixture(d);
        c.result(&qdiscs);
        if let Ok(qdiscs) = &qdiscs {
            qdisc::emit(qdiscs, None, None, c.sink());
        }
    }),
    parser!("network_route.dump", ["netlink/route.bin"], |d, c| {
        let (dump, links) = two(d);
        let routes = network_route::parse_dump(dump);
        c.result(&routes);
        let links = netlink::parse_link_names(&[links.to_vec()]).unwrap_or_default();
        if let Ok(routes) = &routes {
            for r in routes {
                c.result(&network_route::dest_label(r));
                c.result(&network_route::protocol_name(r.protocol));
            }
            network_route::emit(routes, &links, c.sink());
        }
    }),
    parser!(
        "wifi.json",
        [
            "wifi/interfaces.json",
            "wlan0/bss.json",
            "wlan0/stationinfo.json"
        ],
        |d, c| {
            c.result(&wifi::parse_interfaces_json(d));
            c.result(&wifi::parse_bss_json(d));
            let stations = wifi::parse_stations_json(d);
            c.result(&stations);
            for st in stations.iter().flatten() {
                wifi::emit_station("wlan0", st, c.sink());
            }
        }
    ),
    parser!("wifi.netlink", [], |d, c| {
        c.result(&wifi::parse_interface(d));
        c.result(&wifi::parse_ssid(d));
        c.result(&wifi::parse_scan_result(d));
        let station = wifi::parse_station(d);
        c.result(&station);
        if let Ok(st) = &station {
            wifi::emit_station("wlan0", st, c.sink());
        }
        c.result(&wifi::mac_string(d));
        c.result(&wifi::status_mode(d.len() as i64 - 3));
    }),
    parser!("ethtool", [], |d, c| {
        let n = d.first().map_or(0, |&b| usize::from(b));
        let data = d.get(1..).unwrap_or(&[]);
        let drvinfo = ethtool::parse_drvinfo(data);
        c.result(&drvinfo);
        let link = ethtool::parse_link_settings(data);
        c.result(&link);
        if let Ok(link) = &link {
            ethtool::emit_link("eth0", link, c.sink());
        }
        let (names, values) = two(data);
        let names = ethtool::parse_strings(names, n);
        c.result(&names);
        let values = ethtool::parse_stats(values, n);
        c.result(&values);
        if let (Ok(names), Ok(values)) = (&names, &values) {
            let series = ethtool::stat_series(names, values, &ALL);
            c.result(&series);
        }
        let sanitized = ethtool::sanitize(&text(data));
        valid_name(&sanitized);
        let fq = ethtool::fq_name(&sanitized);
        assert!(
            textfile::valid_metric_name(&fq),
            "ethtool name {fq:?} is not a valid metric name"
        );
    }),
    parser!("perf", [], |d, c| {
        let t = text(d);
        c.result(&perf::parse_cpus(&t));
        let values: Vec<String> = t.lines().map(str::to_string).collect();
        c.result(&perf::parse_tracepoints(&values));
        c.result(&perf::select_cache(&values));
        c.result(&perf::parse_read(d));
    }),
    parser!("container.max_open_files", ["limits"], |d| {
        cg::max_open_files_soft(d)
    }),
    parser!("mdadm.sync_completed", ["md/sync_completed"], |d| {
        mdadm::parse_sync_completed(&text(d))
    }),
    parser!("cpu.cpuinfo_arm", ["proc/cpuinfo"], |d| {
        procfs::cpuinfo::parse_cpuinfo_arm(d)
    }),
    parser!("sysctl.strings", [], |d| sysctl::parse_strings(d)),
    parser!("sysctl.ints", [], |d| sysctl::parse_ints(d)),
    parser!("tapestats.is_tape_device", [], |d| {
        tapestats::is_tape_device(&text(d))
    }),
    parser!("container.cpu_list", [], |d| cg::cpu_list(d)),
    parser!("procfs.psi", ["proc/pressure/io", "cpu.pressure"], |d| {
        procfs::psi::parse(d)
    }),
    parser!("procfs.unescape_octal", [], |d| {
        procfs::mountinfo::unescape_octal(d)
    }),
    parser!("container.storage_layer_records", [], |d, c| {
        let t = text(d);
        c.result(&storage::layers::parse_mount_id(d));
        c.result(&storage::layers::overlay_upperdir(&t));
        c.result(&storage::layers::containerd_rootfs_id(
            "/run/containerd",
            &t,
        ));
        c.result(&storage::layers::parse_crio_containers(d));
    }),
    parser!("container.storage_mounts", ["proc/1/mountinfo"], |d, c| {
        if let Ok(mounts) = filesystem::parse_mountinfo(d) {
            c.result(&storage::layers::mount_layers(
                &mounts,
                &["/run/containerd".to_string()],
            ));
            c.result(&storage::partitions(&mounts, &["/var/lib/docker".into()]));
        }
    }),
    parser!("container.storage_quota_structs", [], |d, c| {
        c.result(&storage::quota::parse_fsxattr(d));
        c.result(&storage::quota::parse_dqblk(d));
    }),
    parser!("container.log_positions", [], |d, c| {
        c.result(&logs::positions::fluentd(d));
        c.result(&logs::positions::promtail(d));
        c.result(&logs::positions::vector(d));
    }),
    parser!("container.log_lines", [], |d, c| {
        let (head, rest) = two(d);
        let mut cri = logs::lines::Counter::default();
        let mut json = logs::lines::Counter::default();
        for part in [head, rest] {
            cri.feed(logs::lines::Format::Cri, part);
            json.feed(logs::lines::Format::DockerJson, part);
        }
        c.result(&(cri.lines, cri.bytes, json.lines, json.bytes));
        let t = text(d);
        for line in t.lines() {
            c.result(&logs::files::Layout::Kubelet.classify(line));
            c.result(&logs::files::Layout::Docker("a".repeat(64)).classify(line));
        }
    }),
];

static ALL: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new("").expect("static regex"));

/// Seeds built in code for the parsers of binary protocols without captured fixtures (D-Bus
/// messages and values written with nodex's own encoder, an NTP reply).
pub fn built_seeds(name: &str) -> Vec<Vec<u8>> {
    use dbus::wire::{encode_message, encode_value, signature_of, Message, MessageKind, Type};
    use dbus::Value;
    let s = |t: &str| Value::Str(t.to_string());
    let o = |t: &str| Value::ObjectPath(t.to_string());
    let unit = Value::Struct(vec![
        s("sshd.service"),
        s("OpenSSH"),
        s("loaded"),
        s("active"),
        s("running"),
        s(""),
        o("/org/freedesktop/systemd1/unit/sshd_2eservice"),
        Value::U32(0),
        s(""),
        o("/"),
    ]);
    let units = vec![Value::Array(unit.type_of(), vec![unit])];
    let seat = Value::Struct(vec![s("seat0"), o("/org/freedesktop/login1/seat/seat0")]);
    let seats = vec![Value::Array(seat.type_of(), vec![seat])];
    let session = Value::Struct(vec![
        s("3"),
        Value::U32(1000),
        s("alice"),
        s("seat0"),
        o("/org/freedesktop/login1/session/_33"),
    ]);
    let sessions = vec![Value::Array(session.type_of(), vec![session])];
    let props = vec![Value::Array(
        Type::DictEntry(Box::new(Type::Str), Box::new(Type::Variant)),
        vec![Value::DictEntry(
            Box::new(s("Type")),
            Box::new(Value::Variant(Box::new(Value::U64(7)))),
        )],
    )];
    let values = |body: &[Value]| {
        let mut out = signature_of(body).into_bytes();
        out.push(0);
        body.iter().for_each(|v| encode_value(&mut out, v));
        out
    };
    match name {
        "dbus.signature" => vec![
            b"a(ssssssouso)a{sv}".to_vec(),
            b"unix:path=/run/dbus/system_bus_socket".to_vec(),
        ],
        "dbus.values" => vec![
            values(&units),
            values(&seats),
            values(&sessions),
            values(&props),
        ],
        "dbus.message" => {
            let call = Message::method_call(
                Some("org.freedesktop.systemd1"),
                "/org/freedesktop/systemd1",
                "org.freedesktop.DBus.Properties",
                "Get",
                vec![s("org.freedesktop.systemd1.Manager"), s("Version")],
            );
            let reply = Message {
                kind: MessageKind::MethodReturn,
                reply_serial: Some(2),
                body: units,
                ..Message::method_call(None, "/", "i", "m", Vec::new())
            };
            let error = Message {
                kind: MessageKind::Error,
                error_name: Some("org.freedesktop.DBus.Error.UnknownMethod".to_string()),
                reply_serial: Some(3),
                body: vec![s("no such method")],
                path: None,
                interface: None,
                member: None,
                ..Message::method_call(None, "/", "i", "m", Vec::new())
            };
            vec![
                encode_message(&call, 2),
                encode_message(&reply, 9),
                encode_message(&error, 10),
            ]
        }
        "ntp" => {
            let reply = ntp::Packet {
                leap: 0,
                version: 4,
                mode: 4,
                stratum: 2,
                root_delay: 0x0000_0800,
                root_dispersion: 0x0000_1000,
                reference: 0xe9a0_0000_0000_0000,
                origin: 0xe9a0_0001_0000_0000,
                receive: 0xe9a0_0001_1000_0000,
                transmit: 0xe9a0_0001_2000_0000,
            };
            let mut out = reply.encode().to_vec();
            for t in [
                0xe9a0_0001_0000_0000u64,
                0xe9a0_0001_0000_0000,
                0xe9a0_0001_3000_0000,
            ] {
                out.extend_from_slice(&t.to_be_bytes());
            }
            vec![out]
        }
        "container.log_positions" => vec![
            b"/var/log/pods/a_b_c/d/0.log\t0000000000000a2f\t00000000000f4241\n".to_vec(),
            b"positions:\n    /var/log/pods/a_b_c/d/0.log: \"1234\"\n".to_vec(),
            b"positions:\n  ? path: /x.log\n    labels: '{}'\n  : \"7\"\n".to_vec(),
            br#"{"version":"1","checkpoints":[{"fingerprint":{"dev_inode":[1,2]},"position":3,"modified":"2026-12-01T22:00:00Z"}]}"#.to_vec(),
        ],
        "container.log_lines" => vec![
            b"2016-10-06T00:17:09.669794202Z stdout F log content 1\n2016-10-06T00:17:10Z stderr P part\n".to_vec(),
            b"{\"log\":\"hi\\n\",\"stream\":\"stderr\",\"time\":\"2026-12-01T22:00:00.1Z\"}\n".to_vec(),
        ],
        _ => Vec::new(),
    }
}
