//! The command line, with node_exporter's flag names and defaults.
//!
//! Besides the fixed flags, every registered collector gets `--collector.<name>` and
//! `--no-collector.<name>`, and every flag a collector declares (`--collector.<name>.<opt>`)
//! becomes an option here, so adding a collector never touches this file.

use std::time::Duration;

use clap::{parser::ValueSource, Arg, ArgAction, ArgMatches, Command};
use nodex_collectors::options::{parse_go_duration, FlagKind};
use nodex_collectors::{registry, CollectorInfo, Options, Roots};

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// `key=value` pairs, as Go's go-kit/slog logfmt.
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// Everything the process needs from its command line.
#[derive(Debug)]
pub struct Config {
    /// `--web.listen-address` values.
    pub listen_addresses: Vec<String>,
    /// `--web.config.file`: TLS and basic-auth configuration (exporter-toolkit YAML).
    pub web_config_file: Option<std::path::PathBuf>,
    /// `--web.systemd-socket`: serve on the sockets systemd passed in.
    pub systemd_socket: bool,
    /// `--web.telemetry-path`.
    pub telemetry_path: String,
    /// `--web.max-requests` (0 = unlimited).
    pub max_requests: usize,
    /// `--web.disable-exporter-metrics`.
    pub disable_exporter_metrics: bool,
    /// `--scrape.timeout`: the longest a scrape waits for its collectors.
    pub scrape_timeout: Duration,
    /// `--runtime.gomaxprocs`: worker threads of the HTTP runtime.
    pub worker_threads: usize,
    /// `--log.level`.
    pub log_level: tracing::Level,
    /// `--log.format`.
    pub log_format: LogFormat,
    /// File-system roots.
    pub roots: Roots,
    /// Collector flags.
    pub options: Options,
    /// Names of the enabled collectors, sorted.
    pub enabled: Vec<&'static str>,
}

fn bool_flag(cmd: Command, name: &str, help: String, hide: bool) -> Command {
    let no_name = format!("no-{name}");
    cmd.arg(
        Arg::new(name.to_string())
            .long(name.to_string())
            .help(help)
            .hide(hide)
            .num_args(0..=1)
            .require_equals(true)
            .default_missing_value("true")
            .value_parser(clap::builder::BoolishValueParser::new())
            .action(ArgAction::Set),
    )
    .arg(
        Arg::new(no_name.clone())
            .long(no_name)
            .hide(true)
            .action(ArgAction::SetTrue),
    )
}

/// Resolves a `--x` / `--no-x` pair: the later one on the command line wins; `None` if neither.
fn bool_value(m: &ArgMatches, name: &str) -> Option<bool> {
    let no = format!("no-{name}");
    let pos = m
        .get_one::<bool>(name)
        .filter(|_| m.value_source(name) == Some(ValueSource::CommandLine))
        .and_then(|v| m.index_of(name).map(|i| (i, *v)));
    let neg = if m.get_flag(&no) {
        m.index_of(&no).map(|i| (i, false))
    } else {
        None
    };
    match (pos, neg) {
        (Some(a), Some(b)) => Some(if a.0 > b.0 { a.1 } else { b.1 }),
        (Some(a), None) => Some(a.1),
        (None, Some(b)) => Some(b.1),
        (None, None) => None,
    }
}

/// Builds the clap command, including one toggle per collector and every collector flag.
pub fn command() -> Command {
    let mut cmd = Command::new("nodex")
        .about("Host (node_exporter) and container (cAdvisor) metrics for Prometheus, from one binary.")
        .version(env!("CARGO_PKG_VERSION"))
        .disable_version_flag(true)
        .arg(Arg::new("version").long("version").action(ArgAction::Version).help("Print version"))
        .arg(
            Arg::new("web.listen-address")
                .long("web.listen-address")
                .action(ArgAction::Append)
                .help("Addresses on which to expose metrics and web interface. Repeatable. [default: :9100]"),
        )
        .arg(
            Arg::new("web.config.file")
                .long("web.config.file")
                .default_value("")
                .help("Path to configuration file that can enable TLS or authentication (exporter-toolkit format)."),
        )
        .arg(
            Arg::new("web.telemetry-path")
                .long("web.telemetry-path")
                .default_value("/metrics")
                .help("Path under which to expose metrics."),
        )
        .arg(
            Arg::new("web.max-requests")
                .long("web.max-requests")
                .default_value("40")
                .value_parser(clap::value_parser!(usize))
                .help("Maximum number of parallel scrape requests. Use 0 to disable."),
        )
        .arg(
            Arg::new("scrape.timeout")
                .long("scrape.timeout")
                .default_value("9s")
                .help("Longest a scrape waits for collectors; a slower collector reports success 0. Lowered to the scraper's X-Prometheus-Scrape-Timeout-Seconds when that is shorter."),
        )
        .arg(
            Arg::new("runtime.gomaxprocs")
                .long("runtime.gomaxprocs")
                .default_value("1")
                .value_parser(clap::value_parser!(usize))
                .help("Worker threads serving HTTP (collectors run on their own blocking threads)."),
        )
        .arg(Arg::new("path.procfs").long("path.procfs").default_value("/proc").help("procfs mountpoint."))
        .arg(Arg::new("path.sysfs").long("path.sysfs").default_value("/sys").help("sysfs mountpoint."))
        .arg(Arg::new("path.rootfs").long("path.rootfs").default_value("/").help("rootfs mountpoint."))
        .arg(
            Arg::new("path.udev.data")
                .long("path.udev.data")
                .default_value("/run/udev/data")
                .help("udev data path."),
        )
        .arg(
            Arg::new("log.level")
                .long("log.level")
                .default_value("info")
                .value_parser(["debug", "info", "warn", "error"])
                .help("Only log messages with the given severity or above."),
        )
        .arg(
            Arg::new("log.format")
                .long("log.format")
                .default_value("logfmt")
                .value_parser(["logfmt", "json"])
                .help("Output format of log messages."),
        );
    cmd = bool_flag(
        cmd,
        "web.systemd-socket",
        "Use systemd socket activation listeners instead of port listeners.".into(),
        false,
    );
    cmd = bool_flag(
        cmd,
        "web.disable-exporter-metrics",
        "Exclude metrics about the exporter itself (process_*, promhttp_*).".into(),
        false,
    );
    cmd = bool_flag(
        cmd,
        "collector.disable-defaults",
        "Set all collectors to disabled by default.".into(),
        false,
    );
    for info in registry::all() {
        let name = format!("collector.{}", info.name);
        let state = if info.default_enabled {
            "enabled"
        } else {
            "disabled"
        };
        cmd = bool_flag(
            cmd,
            &name,
            format!("Enable the {} collector (default: {state}).", info.name),
            false,
        );
        for spec in info.flags {
            cmd = match spec.kind {
                FlagKind::Bool => bool_flag(
                    cmd,
                    spec.name,
                    format!("{} [default: {}]", spec.help, spec.default),
                    false,
                ),
                FlagKind::Value | FlagKind::List => {
                    let mut arg = Arg::new(spec.name)
                        .long(spec.name)
                        .help(spec.help)
                        .aliases(spec.aliases.iter().copied());
                    if !spec.default.is_empty() {
                        arg = arg.default_value(spec.default);
                    }
                    arg = arg.action(if spec.kind == FlagKind::List {
                        ArgAction::Append
                    } else {
                        ArgAction::Set
                    });
                    cmd.arg(arg)
                }
            };
        }
    }
    cmd
}

/// Parses `args` (including the program name). Usage errors are clap errors (exit status 2);
/// semantic errors (bad duration...) are returned as messages naming the flag.
pub fn parse<I, T>(args: I) -> Result<Config, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let m = command()
        .try_get_matches_from(args)
        .map_err(CliError::Usage)?;
    from_matches(&m)
}

/// Builds the configuration from matches of [`command`] (or a command extending it, such as
/// `nodex top`'s).
pub fn from_matches(m: &ArgMatches) -> Result<Config, CliError> {
    let m = m.clone();
    let text = |name: &str| m.get_one::<String>(name).cloned().unwrap_or_default();

    let mut options = Options::default();
    let collectors = registry::all();
    for spec in collectors.iter().flat_map(|info| info.flags) {
        match spec.kind {
            FlagKind::Bool => {
                if let Some(v) = bool_value(&m, spec.name) {
                    options.set_spec(spec, vec![v.to_string()]);
                }
            }
            FlagKind::Value => {
                if m.value_source(spec.name) == Some(ValueSource::CommandLine) {
                    options.set_spec(spec, vec![text(spec.name)]);
                }
            }
            FlagKind::List => {
                if m.value_source(spec.name) == Some(ValueSource::CommandLine) {
                    let values = m
                        .get_many::<String>(spec.name)
                        .map(|v| v.cloned().collect())
                        .unwrap_or_default();
                    options.set_spec(spec, values);
                }
            }
        }
    }

    let disable_defaults = bool_value(&m, "collector.disable-defaults").unwrap_or(false);
    let enabled = enabled_collectors(&collectors, disable_defaults, |name| {
        bool_value(&m, &format!("collector.{name}"))
    });

    let scrape_timeout_text = text("scrape.timeout");
    let scrape_timeout = parse_go_duration(&scrape_timeout_text)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            CliError::Invalid(format!(
                "invalid duration {scrape_timeout_text:?} for --scrape.timeout"
            ))
        })?;
    let log_level = match text("log.level").as_str() {
        "debug" => tracing::Level::DEBUG,
        "warn" => tracing::Level::WARN,
        "error" => tracing::Level::ERROR,
        _ => tracing::Level::INFO,
    };
    let log_format = if text("log.format") == "json" {
        LogFormat::Json
    } else {
        LogFormat::Logfmt
    };
    let telemetry_path = text("web.telemetry-path");
    if !telemetry_path.starts_with('/') {
        return Err(CliError::Invalid(format!(
            "--web.telemetry-path must start with '/', got {telemetry_path:?}"
        )));
    }
    let listen_addresses = m
        .get_many::<String>("web.listen-address")
        .map(|v| v.cloned().collect())
        .unwrap_or_else(|| vec![":9100".to_string()]);

    let web_config_file = Some(text("web.config.file"))
        .filter(|p| !p.is_empty())
        .map(Into::into);
    Ok(Config {
        listen_addresses,
        web_config_file,
        systemd_socket: bool_value(&m, "web.systemd-socket").unwrap_or(false),
        telemetry_path,
        max_requests: m
            .get_one::<usize>("web.max-requests")
            .copied()
            .unwrap_or(40),
        disable_exporter_metrics: bool_value(&m, "web.disable-exporter-metrics").unwrap_or(false),
        scrape_timeout,
        worker_threads: m
            .get_one::<usize>("runtime.gomaxprocs")
            .copied()
            .unwrap_or(1)
            .max(1),
        log_level,
        log_format,
        roots: Roots {
            procfs: text("path.procfs").into(),
            sysfs: text("path.sysfs").into(),
            rootfs: text("path.rootfs").into(),
            udev_data: text("path.udev.data").into(),
        },
        options,
        enabled,
    })
}

/// Applies node_exporter's rules: a collector is on if named explicitly, else by its default
/// unless `--collector.disable-defaults`.
fn enabled_collectors(
    collectors: &[CollectorInfo],
    disable_defaults: bool,
    explicit: impl Fn(&str) -> Option<bool>,
) -> Vec<&'static str> {
    collectors
        .iter()
        .filter(|c| explicit(c.name).unwrap_or(c.default_enabled && !disable_defaults))
        .map(|c| c.name)
        .collect()
}

/// A command-line problem.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// clap's own error (unknown flag, bad value, `--help`, `--version`).
    #[error(transparent)]
    Usage(clap::Error),
    /// A value clap accepted but nodex cannot use.
    #[error("{0}")]
    Invalid(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(args: &[&str]) -> Config {
        let mut all = vec!["nodex"];
        all.extend_from_slice(args);
        parse(all).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn defaults_follow_node_exporter() {
        let c = parse_ok(&[]);
        assert_eq!(c.listen_addresses, vec![":9100"]);
        assert_eq!(c.telemetry_path, "/metrics");
        assert_eq!(c.max_requests, 40);
        assert!(c.enabled.contains(&"loadavg"));
    }

    #[test]
    fn toggles_last_one_wins() {
        assert!(!parse_ok(&["--no-collector.loadavg"])
            .enabled
            .contains(&"loadavg"));
        assert!(parse_ok(&["--no-collector.loadavg", "--collector.loadavg"])
            .enabled
            .contains(&"loadavg"));
        assert!(
            !parse_ok(&["--collector.loadavg", "--no-collector.loadavg"])
                .enabled
                .contains(&"loadavg")
        );
        let only = parse_ok(&["--collector.disable-defaults", "--collector.loadavg"]);
        assert_eq!(only.enabled, vec!["loadavg"]);
        assert!(parse_ok(&["--collector.disable-defaults"])
            .enabled
            .is_empty());
    }

    #[test]
    fn repeatable_listen_address() {
        let c = parse_ok(&[
            "--web.listen-address=:1",
            "--web.listen-address",
            "127.0.0.1:2",
        ]);
        assert_eq!(c.listen_addresses, vec![":1", "127.0.0.1:2"]);
    }

    #[test]
    fn bad_flags_are_errors() {
        assert!(matches!(
            parse(["nodex", "--collector.nonexistent"]),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(
            parse(["nodex", "--bogus"]),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(
            parse(["nodex", "--web.max-requests=x"]),
            Err(CliError::Usage(_))
        ));
        let e = parse(["nodex", "--scrape.timeout=abc"]).unwrap_err();
        assert!(e.to_string().contains("--scrape.timeout"), "{e}");
    }
}
