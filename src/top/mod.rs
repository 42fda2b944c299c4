//! `nodex top`: `kubectl top` for one node, with requests, limits, throttling, OOM kills and
//! restarts, read from the cgroups (local mode, through the same container collectors and
//! `--path.*` roots as the exporter) or from a running nodex / the kubelet's
//! `/metrics/cadvisor` (`--url`). Two reads an interval apart give the rates.
//!
//! Over 500 lines only with its unit tests (412 lines of code before them).

pub mod convert;
pub mod expo;
pub mod model;
pub mod output;
mod tui;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Arg, ArgAction};
use nodex_collectors::expfmt::{render, Format, MetricSink};
use nodex_collectors::{registry, Collector, Roots, Settings};

use crate::cli;
use model::{Node, Row, Snapshot};
use output::Column;

/// The collectors local mode runs.
const COLLECTORS: &[&str] = &[
    "container_cpu",
    "container_diskio",
    "container_logs",
    "container_memory",
    "container_network",
    "container_oom",
    "container_process",
    "container_spec",
    "machine",
];

/// What `nodex top` was asked for.
#[derive(Debug, Clone)]
pub struct TopArgs {
    /// Time between reads.
    pub interval: Duration,
    /// Print one table and exit.
    pub once: bool,
    /// Sort column.
    pub sort_by: Column,
    /// `--output json`.
    pub json: bool,
    /// One row per pod.
    pub by_pod: bool,
    /// Initial filter.
    pub filter: String,
    /// Read this URL instead of the local cgroups.
    pub url: Option<String>,
}

/// `nodex top ...`: `args` is the whole command line (program name, then `top`).
pub fn main(args: Vec<OsString>) -> ExitCode {
    let rest = args.into_iter().skip(1);
    // The exporter's flags are all accepted (a shared command line works for both), but only
    // the roots and the container collectors' flags matter here, so the rest stay out of --help.
    let cmd = cli::command()
        .mut_args(|a| {
            let id = a.get_id().as_str();
            let shown = id.starts_with("path.")
                || id.starts_with("collector.container.")
                || id.starts_with("collector.container_logs.");
            a.hide(!shown)
        })
        .name("nodex top")
        .bin_name("nodex top")
        .about("Live view of the node's containers and pods, with requests and limits.")
        .arg(
            Arg::new("interval")
                .long("interval")
                .default_value("2s")
                .help("Time between reads (Go duration)."),
        )
        .arg(
            Arg::new("once")
                .long("once")
                .action(ArgAction::SetTrue)
                .help("Print one table and exit."),
        )
        .arg(
            Arg::new("sort-by")
                .long("sort-by")
                .default_value("cpu")
                .value_parser(output::COLUMNS.map(Column::key))
                .help("Sort column."),
        )
        .arg(
            Arg::new("output")
                .long("output")
                .short('o')
                .default_value("table")
                .value_parser(["table", "json"])
                .help("Output of --once."),
        )
        .arg(
            Arg::new("group")
                .long("group")
                .default_value("container")
                .value_parser(["container", "pod"])
                .help("One row per container, or per pod."),
        )
        .arg(Arg::new("filter").long("filter").default_value("").help(
            "Show rows whose namespace, pod or container contains this (ns/name: in namespace ns).",
        ))
        .arg(Arg::new("url").long("url").help(
            "Read this metrics URL (http://host:9100/metrics) instead of the local cgroups.",
        ));
    let m = match cmd.try_get_matches_from(rest) {
        Ok(m) => m,
        Err(e) => e.exit(),
    };
    let config = match cli::from_matches(&m) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nodex top: error: {e}");
            return ExitCode::from(2);
        }
    };
    let text = |k: &str| m.get_one::<String>(k).cloned().unwrap_or_default();
    let Some(interval) =
        nodex_collectors::options::parse_go_duration(&text("interval")).filter(|d| !d.is_zero())
    else {
        eprintln!(
            "nodex top: error: invalid duration {:?} for --interval",
            text("interval")
        );
        return ExitCode::from(2);
    };
    let args = TopArgs {
        interval,
        once: m.get_flag("once"),
        sort_by: Column::from_key(&text("sort-by")).unwrap_or(Column::Cpu),
        json: text("output") == "json",
        by_pod: text("group") == "pod",
        filter: text("filter"),
        url: m.get_one::<String>("url").cloned(),
    };
    let mut source = match &args.url {
        Some(url) => Source::Url(url.clone()),
        None => match Source::local(config.roots.clone(), config.options.clone()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("nodex top: error: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let result = if args.once {
        once(&mut source, &args)
    } else {
        tui::run(&mut source, &args)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nodex top: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn once(source: &mut Source, args: &TopArgs) -> Result<(), String> {
    let first = source.read()?;
    std::thread::sleep(args.interval);
    let second = source.read()?;
    let (node, rows) = view(
        &first,
        &second,
        &source.restarts(),
        args,
        args.sort_by,
        false,
        &args.filter,
    );
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let text = if args.json {
        let doc = serde_json::json!({ "node": node, "rows": rows });
        serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())? + "\n"
    } else {
        output::table(&node, &rows)
    };
    out.write_all(text.as_bytes()).map_err(|e| e.to_string())
}

/// The rows to show: computed, grouped, filtered and sorted.
pub fn view(
    prev: &Snapshot,
    cur: &Snapshot,
    restarts: &BTreeMap<(String, String, String), u64>,
    args: &TopArgs,
    sort_by: Column,
    reverse: bool,
    filter: &str,
) -> (Node, Vec<Row>) {
    let (node, rows) = model::rows(prev, cur, restarts);
    let mut rows = if args.by_pod {
        model::group_by_pod(&rows)
    } else {
        rows
    };
    rows.retain(|r| output::matches(r, filter));
    output::sort(&mut rows, sort_by, reverse);
    (node, rows)
}

/// Where the samples come from.
pub enum Source {
    /// The container collectors over the local roots.
    Local {
        /// Roots (for the kubelet's log directory).
        roots: Roots,
        /// Shared collector settings (one cgroup walk per read).
        settings: Arc<Settings>,
        /// The collectors.
        collectors: Vec<Box<dyn Collector>>,
        /// Whether the hierarchy is cgroup v2.
        v2: bool,
    },
    /// A metrics URL.
    Url(String),
}

impl Source {
    /// Builds the container collectors over `roots`.
    pub fn local(roots: Roots, options: nodex_collectors::Options) -> Result<Source, String> {
        let v2 = roots.sysfs.join("fs/cgroup/cgroup.controllers").exists();
        let settings = Arc::new(Settings::new(roots.clone(), options));
        let mut collectors = Vec::new();
        for name in COLLECTORS {
            let info = registry::find(name).ok_or_else(|| format!("no collector {name}"))?;
            collectors.push((info.build)(&settings).map_err(|e| format!("collector {name}: {e}"))?);
        }
        Ok(Source::Local {
            roots,
            settings,
            collectors,
            v2,
        })
    }

    /// The exposition text of one read.
    pub fn fetch(&self) -> Result<String, String> {
        match self {
            Source::Local {
                settings,
                collectors,
                ..
            } => {
                settings.begin_scrape();
                let mut sinks = Vec::new();
                for c in collectors {
                    let mut sink = MetricSink::new();
                    // A failing group leaves its columns empty, as a failed scrape would.
                    if c.collect(&mut sink).is_ok() {
                        sinks.push(sink);
                    }
                }
                let refs: Vec<&MetricSink> = sinks.iter().collect();
                let mut out = Vec::new();
                render(&refs, Format::Text, &mut out).map_err(|e| e.to_string())?;
                String::from_utf8(out).map_err(|e| e.to_string())
            }
            Source::Url(url) => http_get(url),
        }
    }

    /// One snapshot.
    pub fn read(&self) -> Result<Snapshot, String> {
        let started = Instant::now();
        let text = self.fetch()?;
        // Counters are read somewhere within the fetch: its midpoint halves the timing error.
        let at = started + started.elapsed() / 2;
        let samples = expo::parse(&text).map_err(|e| format!("{}: {e}", self.describe()))?;
        let v2 = match self {
            Source::Local { v2, .. } => Some(*v2),
            Source::Url(_) => None,
        };
        Ok(Snapshot::from_samples(&samples, at, v2))
    }

    /// Restart counts from the kubelet's log files (local mode only).
    pub fn restarts(&self) -> BTreeMap<(String, String, String), u64> {
        match self {
            Source::Local { settings, .. } => restarts(
                &settings.roots.root(
                    settings
                        .options
                        .get(&nodex_collectors::container::flags::POD_LOG_DIR),
                ),
            ),
            Source::Url(_) => BTreeMap::new(),
        }
    }

    /// What is read, for messages and the title.
    pub fn describe(&self) -> String {
        match self {
            Source::Local { roots, .. } => format!("cgroups under {}", roots.sysfs.display()),
            Source::Url(u) => u.clone(),
        }
    }
}

/// Restart counts from `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log`, the
/// kubelet's layout (`BuildContainerLogsDirectory` and `buildContainerLogsPath` in
/// kubernetes `pkg/kubelet/kuberuntime/helpers.go`): the highest `<restart>` is the restart
/// count. Unreadable directories count as unknown.
pub fn restarts(dir: &Path) -> BTreeMap<(String, String, String), u64> {
    let mut out = BTreeMap::new();
    let Ok(pods) = std::fs::read_dir(dir) else {
        return out;
    };
    for pod in pods.flatten() {
        let name = pod.file_name().to_string_lossy().into_owned();
        let mut parts = name.splitn(3, '_');
        let (Some(ns), Some(pod_name), Some(_uid)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Ok(containers) = std::fs::read_dir(pod.path()) else {
            continue;
        };
        for c in containers.flatten() {
            let Ok(logs) = std::fs::read_dir(c.path()) else {
                continue;
            };
            let max = logs
                .flatten()
                .filter_map(|l| {
                    l.file_name()
                        .to_str()?
                        .strip_suffix(".log")?
                        .parse::<u64>()
                        .ok()
                })
                .max();
            if let Some(n) = max {
                out.insert(
                    (
                        ns.to_string(),
                        pod_name.to_string(),
                        c.file_name().to_string_lossy().into_owned(),
                    ),
                    n,
                );
            }
        }
    }
    out
}

/// A plain-HTTP GET (HTTP/1.0, so the body is neither chunked nor compressed).
fn http_get(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/metrics"),
    };
    let addr_text = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let timeout = Duration::from_secs(10);
    let addr = addr_text
        .to_socket_addrs()
        .map_err(|e| format!("{url}: {e}"))?
        .next()
        .ok_or_else(|| format!("{url}: no address"))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("{url}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| format!("{url}: {e}"))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nAccept: text/plain\r\nUser-Agent: nodex-top\r\n\r\n"
    )
    .map_err(|e| format!("{url}: {e}"))?;
    let mut body = Vec::new();
    stream
        .read_to_end(&mut body)
        .map_err(|e| format!("{url}: {e}"))?;
    split_response(&body).map_err(|e| format!("{url}: {e}"))
}

/// Status line, headers and body of an HTTP/1.0 response; anything but 200 is an error.
fn split_response(raw: &[u8]) -> Result<String, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("HTTP status {status:?}"));
    }
    String::from_utf8(raw[end + 4..].to_vec()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_from_kubelet_log_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = dir
            .path()
            .join("shop_web-0_1b2c3d4e-0000-4000-8000-123456789abc/app");
        std::fs::create_dir_all(&c).expect("mkdir");
        for f in [
            "0.log",
            "2.log",
            "1.log",
            "2.log.20260101-000000.gz",
            "x.log",
        ] {
            std::fs::write(c.join(f), "").expect("write");
        }
        std::fs::create_dir_all(dir.path().join("not-a-pod/app")).expect("mkdir");
        let got = restarts(dir.path());
        assert_eq!(
            got,
            BTreeMap::from([(("shop".into(), "web-0".into(), "app".into()), 2)])
        );
        assert!(restarts(&dir.path().join("missing")).is_empty());
    }

    #[test]
    fn http_responses() {
        assert_eq!(
            split_response(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nm 1\n"),
            Ok("m 1\n".into())
        );
        assert!(split_response(b"HTTP/1.1 401 Unauthorized\r\n\r\n").is_err());
        assert!(split_response(b"garbage").is_err());
    }

    fn fixture(version: &str) -> Source {
        let base = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(version);
        let roots = Roots {
            procfs: base.join("proc"),
            sysfs: base.join("sys"),
            rootfs: base.join("root"),
            udev_data: base.join("udev"),
        };
        Source::local(roots, nodex_collectors::Options::default()).expect("builds")
    }

    #[test]
    fn kubelet_cgroup_fixtures_show_pods_and_limits() {
        // (tree, namespace, pod, container, request, limit): the fixtures' cgroup values
        // (v1 shares 102 and 256, v2 weight 4, quota 50000 / period 100000, BestEffort's 2).
        type Case<'a> = (&'a str, &'a str, &'a str, &'a str, f64, Option<f64>);
        let cases: &[Case] = &[
            ("cgroup-v1", "shop", "web-0", "app", 100.0, Some(500.0)),
            ("cgroup-v2", "shop", "web-0", "app", 100.0, Some(500.0)),
            ("cgroup-v2", "data", "db-0", "postgres", 100.0, None),
            (
                "cgroup-v1-systemd",
                "shop",
                "cart-7d9f8b6c5-x2kqp",
                "cart",
                250.0,
                Some(500.0),
            ),
            (
                "cgroup-v1-systemd",
                "batch",
                "report-28391520-zq4mt",
                "report",
                2.0,
                None,
            ),
        ];
        for &(version, ns, pod, container, request, limit) in cases {
            let src = fixture(version);
            let a = src.read().expect("reads");
            let b = src.read().expect("reads");
            let args = TopArgs {
                interval: Duration::from_secs(1),
                once: true,
                sort_by: Column::Pod,
                json: false,
                by_pod: false,
                filter: String::new(),
                url: None,
            };
            let (node, rows) = view(&a, &b, &src.restarts(), &args, Column::Pod, false, "");
            assert!(
                node.cpu_count.is_some_and(|n| n > 0.0),
                "{version}: {node:?}"
            );
            let row = rows
                .iter()
                .find(|r| r.namespace == ns && r.pod == pod && r.container == container)
                .unwrap_or_else(|| panic!("{version}: no {ns}/{pod}/{container} in {rows:#?}"));
            assert_eq!(
                row.cpu_request_millis,
                Some(request),
                "{version} {container}"
            );
            assert_eq!(row.cpu_limit_millis, limit, "{version} {container}");
            assert!(row.memory_working_set_bytes.is_some(), "{version}");
            assert!(
                rows.iter()
                    .all(|r| !r.container.is_empty() && r.container != "POD"),
                "{version}: sandboxes are not rows: {rows:#?}"
            );
        }
    }

    #[test]
    fn local_mode_reads_the_log_write_rate() {
        // A copy of the v2 tree, with a kubelet log directory for shop/web-0/app written to
        // between two reads: the rate times the interval is what was appended.
        let tmp = tempfile::tempdir().expect("tempdir");
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cgroup-v2");
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(&base)
            .arg(tmp.path().join("t"))
            .status()
            .expect("cp runs");
        assert!(status.success());
        let t = tmp.path().join("t");
        let roots = Roots {
            procfs: t.join("proc"),
            sysfs: t.join("sys"),
            rootfs: t.join("root"),
            udev_data: t.join("udev"),
        };
        let src = Source::local(roots, nodex_collectors::Options::default()).expect("builds");
        let first = src.read().expect("reads");
        let app = first
            .containers
            .values()
            .find(|c| c.namespace == "shop" && c.pod == "web-0" && c.container == "app")
            .expect("shop/web-0/app");
        // The kubelet's pod directory: <ns>_<pod>_<uid>, the uid as in the systemd slice
        // name `kubepods-burstable-pod<uid with _ for ->.slice`.
        let uid = app
            .id
            .split('/')
            .find_map(|seg| seg.strip_suffix(".slice")?.split_once("-pod"))
            .map(|(_, u)| u.replace('_', "-"))
            .expect("pod uid in the cgroup path");
        let dir = t.join(format!("root/var/log/pods/shop_web-0_{uid}/app"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let log = dir.join("0.log");
        std::fs::write(&log, vec![b'a'; 100]).expect("write");
        let a = src.read().expect("reads");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .expect("open");
        std::io::Write::write_all(&mut f, &[b'b'; 5000]).expect("append");
        drop(f);
        let b = src.read().expect("reads");
        let (_, rows) = model::rows(&a, &b, &BTreeMap::new());
        let row = rows
            .iter()
            .find(|r| r.namespace == "shop" && r.pod == "web-0" && r.container == "app")
            .expect("row");
        let secs = b.at.saturating_duration_since(a.at).as_secs_f64();
        let written = row.log_write_bytes_per_second.expect("a log rate") * secs;
        assert!((written - 5000.0).abs() < 1e-6, "{written}");
        // Containers without a log directory have no rate.
        assert!(rows
            .iter()
            .filter(|r| r.container != "app")
            .all(|r| r.log_write_bytes_per_second.is_none()));
    }
}
