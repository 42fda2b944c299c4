//! systemd: unit states, the unit summary, the system state, the systemd version and
//! virtualization, and the optional per-unit families, from systemd's manager over D-Bus.
//!
//! As node_exporter: units come from `ListUnits` on the system bus (or systemd's private socket
//! with `--collector.systemd.private`); the summary counts every unit, the other families only
//! loaded units that match `unit-include` and not `unit-exclude` (both anchored). Per-unit
//! properties that systemd refuses are skipped. Unlike node_exporter the whole collector runs
//! under `--collector.systemd.dbus-timeout`: a bus that stops answering fails the collector
//! (success 0) instead of stalling the scrape.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use regex::Regex;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::dbus::{positive, system_bus_address, Address, Connection, DbusError, Value};
use crate::error::{CollectError, ParseError};
use crate::expfmt::{MetricSink, MetricType};
use crate::options::Flag;

/// The first systemd version with the `SystemState` manager property and timers'
/// `LastTriggerUSec` (node_exporter's `minSystemdVersionSystemState`).
const MIN_VERSION_SYSTEM_STATE: f64 = 212.0;

/// The unit states node_exporter reports a series for, in its order.
const UNIT_STATES: [&str; 5] = ["active", "activating", "deactivating", "inactive", "failed"];

const DEST: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

/// `--collector.systemd.unit-include`.
pub const INCLUDE: Flag<String> = Flag::new(
    "collector.systemd.unit-include",
    "Regexp of systemd units to include. Units must both match include and not match exclude to be included.",
    ".+",
)
.with_aliases(&["collector.systemd.unit-whitelist"]);
/// `--collector.systemd.unit-exclude`.
pub const EXCLUDE: Flag<String> = Flag::new(
    "collector.systemd.unit-exclude",
    "Regexp of systemd units to exclude. Units must both match include and not match exclude to be included.",
    ".+\\.(automount|device|mount|scope|slice)",
)
.with_aliases(&["collector.systemd.unit-blacklist"]);
/// `--collector.systemd.private`.
pub const PRIVATE: Flag<bool> = Flag::new(
    "collector.systemd.private",
    "Establish a private, direct connection to systemd without dbus (Strongly discouraged since it requires root. For testing purposes only).",
    "false",
);
/// `--collector.systemd.enable-task-metrics`.
pub const TASKS: Flag<bool> = Flag::new(
    "collector.systemd.enable-task-metrics",
    "Enables service unit tasks metrics unit_tasks_current and unit_tasks_max",
    "false",
);
/// `--collector.systemd.enable-restarts-metrics`.
pub const RESTARTS: Flag<bool> = Flag::new(
    "collector.systemd.enable-restarts-metrics",
    "Enables service unit metric service_restart_total",
    "false",
);
/// `--collector.systemd.enable-start-time-metrics`.
pub const START_TIME: Flag<bool> = Flag::new(
    "collector.systemd.enable-start-time-metrics",
    "Enables service unit metric unit_start_time_seconds",
    "false",
);
/// `--collector.systemd.dbus-timeout`.
pub const TIMEOUT: Flag<Duration> = Flag::new(
    "collector.systemd.dbus-timeout",
    "nodex only: longest the systemd collector waits for D-Bus per scrape; past it the collector fails instead of stalling the scrape.",
    "5s",
);

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "systemd",
    default_enabled: false,
    sources: "systemd manager over D-Bus: $DBUS_SYSTEM_BUS_ADDRESS, else run/dbus/system_bus_socket below --path.rootfs (run/systemd/private with --collector.systemd.private)",
    flags: &[
        INCLUDE.spec,
        EXCLUDE.spec,
        PRIVATE.spec,
        TASKS.spec,
        RESTARTS.spec,
        START_TIME.spec,
        TIMEOUT.spec,
    ],
    build,
};

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    let options = &settings.options;
    let anchored = |flag: &Flag<String>| {
        let pattern = options.get(flag);
        Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| format!("invalid regular expression for --{}: {e}", flag.name()))
    };
    Ok(Box::new(SystemdCollector {
        settings: Arc::clone(settings),
        include: anchored(&INCLUDE)?,
        exclude: anchored(&EXCLUDE)?,
        private: options.get(&PRIVATE),
        tasks: options.get(&TASKS),
        restarts: options.get(&RESTARTS),
        start_time: options.get(&START_TIME),
        timeout: positive(options.get(&TIMEOUT)?, TIMEOUT.name())?,
    }))
}

struct SystemdCollector {
    settings: Arc<Settings>,
    include: Regex,
    exclude: Regex,
    private: bool,
    tasks: bool,
    restarts: bool,
    start_time: bool,
    timeout: Duration,
}

/// One entry of `ListUnits` (`a(ssssssouso)`), the fields the collector uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    /// Unit name, e.g. `ssh.service`.
    pub name: String,
    /// `loaded`, `not-found`, `masked`...
    pub load_state: String,
    /// `active`, `inactive`, `failed`...
    pub active_state: String,
    /// The unit's object path.
    pub path: String,
}

/// Reads the body of a `ListUnits` reply.
pub fn parse_units(body: &[Value]) -> Result<Vec<Unit>, ParseError> {
    let entries = body
        .first()
        .and_then(Value::as_array)
        .ok_or_else(|| ParseError::new("ListUnits did not return an array"))?;
    entries
        .iter()
        .map(|entry| {
            let fields = entry
                .as_struct()
                .filter(|f| f.len() == 10)
                .ok_or_else(|| ParseError::new("ListUnits entry is not a(ssssssouso)"))?;
            let text = |i: usize| {
                fields[i]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| ParseError::new("ListUnits entry is not a(ssssssouso)"))
            };
            Ok(Unit {
                name: text(0)?,
                load_state: text(2)?,
                active_state: text(3)?,
                path: text(6)?,
            })
        })
        .collect()
}

/// node_exporter's reading of the `Version` property: the first `[0-9]{3,}(\.[0-9]+)?` as the
/// value (0 if none), the whole string as the label.
pub fn parse_version(version: &str) -> (f64, String) {
    let bytes = version.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits >= 3 {
            let mut end = i + digits;
            if bytes.get(end) == Some(&b'.') {
                let frac = bytes[end + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if frac > 0 {
                    end += 1 + frac;
                }
            }
            return match version[i..end].parse() {
                Ok(v) => (v, version.to_string()),
                Err(_) => (0.0, String::new()),
            };
        }
        i += digits.max(1);
    }
    (0.0, String::new())
}

/// Counts units per active state; the five known states are always present.
pub fn summarize(units: &[Unit]) -> BTreeMap<&str, f64> {
    let mut summary: BTreeMap<&str, f64> = UNIT_STATES.iter().map(|s| (*s, 0.0)).collect();
    for unit in units {
        *summary.entry(unit.active_state.as_str()).or_insert(0.0) += 1.0;
    }
    summary
}

impl SystemdCollector {
    fn wanted(&self, unit: &Unit) -> bool {
        self.include.is_match(&unit.name)
            && !self.exclude.is_match(&unit.name)
            && unit.load_state == "loaded"
    }

    fn connect(&self, deadline: Instant) -> Result<Connection, DbusError> {
        if self.private {
            let address = Address::Path(self.settings.roots.root("run/systemd/private"));
            Connection::open(&address, deadline, false)
        } else {
            let address = system_bus_address(&self.settings.roots).map_err(DbusError::Transport)?;
            Connection::open(&address, deadline, true)
        }
    }
}

/// A property of a unit: `Ok(None)` when systemd answers with an error (skipped, as
/// node_exporter does), `Err` when the bus itself failed.
fn unit_property(
    conn: &mut Connection,
    unit: &Unit,
    interface: &str,
    name: &str,
) -> Result<Option<Value>, DbusError> {
    match conn.get_property(DEST, &unit.path, interface, name) {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.is_remote() => {
            tracing::debug!(unit = %unit.name, property = name, err = %e, "couldn't get unit property");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// A manager property as text: `Ok(None)` on an error reply or a non-string value.
fn manager_text(conn: &mut Connection, name: &str) -> Result<Option<String>, DbusError> {
    match conn.get_property(DEST, MANAGER_PATH, MANAGER, name) {
        Ok(value) => Ok(value.as_str().map(str::to_string)),
        Err(e) if e.is_remote() => Ok(None),
        Err(e) => Err(e),
    }
}

fn bus_error(e: DbusError) -> CollectError {
    CollectError::Other(format!("systemd over D-Bus: {e}"))
}

impl Collector for SystemdCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let deadline = Instant::now() + self.timeout;
        let mut conn = self
            .connect(deadline)
            .map_err(|e| CollectError::Other(format!("couldn't get dbus connection: {e}")))?;
        self.collect_with(&mut conn, sink).map_err(bus_error)
    }
}

impl SystemdCollector {
    fn collect_with(&self, conn: &mut Connection, sink: &mut MetricSink) -> Result<(), DbusError> {
        let (version, version_label) = match manager_text(conn, "Version")? {
            Some(v) => parse_version(&v),
            None => (0.0, String::new()),
        };
        sink.gauge("node_systemd_version", "Detected systemd version")
            .sample(&[("version", &version_label)], version);
        let virtualization = match manager_text(conn, "Virtualization")? {
            Some(v) if v.is_empty() => "none".to_string(),
            Some(v) => v,
            None => "unknown".to_string(),
        };
        sink.gauge(
            "node_systemd_virtualization_info",
            "Detected virtualization technology",
        )
        .sample(&[("virtualization_type", &virtualization)], 1.0);

        let body = conn.call(Some(DEST), MANAGER_PATH, MANAGER, "ListUnits", vec![])?;
        let all_units = parse_units(&body)
            .map_err(|e| DbusError::Transport(format!("couldn't get units: {e}")))?;

        sink.gauge("node_systemd_units", "Summary of systemd unit states");
        for (state, count) in summarize(&all_units) {
            sink.sample(&[("state", state)], count);
        }

        let units: Vec<&Unit> = all_units.iter().filter(|u| self.wanted(u)).collect();
        self.unit_status(conn, &units, sink)?;
        if self.start_time {
            self.start_times(conn, &units, sink)?;
        }
        if self.tasks {
            self.task_counts(conn, &units, sink)?;
        }
        if version >= MIN_VERSION_SYSTEM_STATE {
            timers(conn, &units, sink)?;
        }
        sockets(conn, &units, sink)?;
        if version >= MIN_VERSION_SYSTEM_STATE {
            let state = conn
                .get_property(DEST, MANAGER_PATH, MANAGER, "SystemState")
                .map_err(|e| DbusError::Transport(format!("couldn't get system state: {e}")))?;
            let running = state.as_str() == Some("running");
            sink.single(
                "node_systemd_system_running",
                "Whether the system is operational (see 'systemctl is-system-running')",
                MetricType::Gauge,
                if running { 1.0 } else { 0.0 },
            );
        }
        Ok(())
    }

    fn unit_status(
        &self,
        conn: &mut Connection,
        units: &[&Unit],
        sink: &mut MetricSink,
    ) -> Result<(), DbusError> {
        let mut restarts = Vec::new();
        sink.gauge("node_systemd_unit_state", "Systemd unit");
        for unit in units {
            let type_interface = if unit.name.ends_with(".service") {
                Some("org.freedesktop.systemd1.Service")
            } else if unit.name.ends_with(".mount") {
                Some("org.freedesktop.systemd1.Mount")
            } else {
                None
            };
            let unit_type = match type_interface {
                Some(interface) => unit_property(conn, unit, interface, "Type")?
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                None => String::new(),
            };
            for state in UNIT_STATES {
                let value = if unit.active_state == state { 1.0 } else { 0.0 };
                sink.sample(
                    &[("name", &unit.name), ("state", state), ("type", &unit_type)],
                    value,
                );
            }
            if self.restarts && unit.name.ends_with(".service") {
                // NRestarts appeared in systemd 235.
                if let Some(n) =
                    unit_property(conn, unit, "org.freedesktop.systemd1.Service", "NRestarts")?
                        .and_then(|v| v.as_u32())
                {
                    restarts.push((unit.name.as_str(), n));
                }
            }
        }
        if self.restarts {
            sink.counter(
                "node_systemd_service_restart_total",
                "Service unit count of Restart triggers",
            );
            for (name, n) in restarts {
                sink.sample(&[("name", name)], f64::from(n));
            }
        }
        Ok(())
    }

    fn start_times(
        &self,
        conn: &mut Connection,
        units: &[&Unit],
        sink: &mut MetricSink,
    ) -> Result<(), DbusError> {
        let mut times = Vec::new();
        for unit in units {
            let usec = if unit.active_state != "active" {
                0
            } else {
                match unit_property(
                    conn,
                    unit,
                    "org.freedesktop.systemd1.Unit",
                    "ActiveEnterTimestamp",
                )?
                .and_then(|v| v.as_u64())
                {
                    Some(usec) => usec,
                    None => continue,
                }
            };
            times.push((unit.name.as_str(), usec as f64 / 1e6));
        }
        sink.gauge(
            "node_systemd_unit_start_time_seconds",
            "Start time of the unit since unix epoch in seconds.",
        );
        for (name, seconds) in times {
            sink.sample(&[("name", name)], seconds);
        }
        Ok(())
    }

    fn task_counts(
        &self,
        conn: &mut Connection,
        units: &[&Unit],
        sink: &mut MetricSink,
    ) -> Result<(), DbusError> {
        let (mut current, mut max) = (Vec::new(), Vec::new());
        for unit in units.iter().filter(|u| u.name.ends_with(".service")) {
            for (property, out) in [("TasksCurrent", &mut current), ("TasksMax", &mut max)] {
                // systemd reports "no limit" / "not counted" as the largest u64.
                if let Some(n) =
                    unit_property(conn, unit, "org.freedesktop.systemd1.Service", property)?
                        .and_then(|v| v.as_u64())
                        .filter(|&n| n != u64::MAX)
                {
                    out.push((unit.name.as_str(), n as f64));
                }
            }
        }
        sink.gauge(
            "node_systemd_unit_tasks_current",
            "Current number of tasks per Systemd unit",
        );
        for (name, n) in current {
            sink.sample(&[("name", name)], n);
        }
        sink.gauge(
            "node_systemd_unit_tasks_max",
            "Maximum number of tasks per Systemd unit",
        );
        for (name, n) in max {
            sink.sample(&[("name", name)], n);
        }
        Ok(())
    }
}

fn timers(conn: &mut Connection, units: &[&Unit], sink: &mut MetricSink) -> Result<(), DbusError> {
    let mut last = Vec::new();
    for unit in units.iter().filter(|u| u.name.ends_with(".timer")) {
        if let Some(usec) = unit_property(
            conn,
            unit,
            "org.freedesktop.systemd1.Timer",
            "LastTriggerUSec",
        )?
        .and_then(|v| v.as_u64())
        {
            last.push((unit.name.as_str(), usec as f64 / 1e6));
        }
    }
    sink.gauge(
        "node_systemd_timer_last_trigger_seconds",
        "Seconds since epoch of last trigger.",
    );
    for (name, seconds) in last {
        sink.sample(&[("name", name)], seconds);
    }
    Ok(())
}

fn sockets(conn: &mut Connection, units: &[&Unit], sink: &mut MetricSink) -> Result<(), DbusError> {
    const SOCKET: &str = "org.freedesktop.systemd1.Socket";
    let (mut accepted, mut current, mut refused) = (Vec::new(), Vec::new(), Vec::new());
    for unit in units.iter().filter(|u| u.name.ends_with(".socket")) {
        let name = unit.name.as_str();
        let Some(n) = unit_property(conn, unit, SOCKET, "NAccepted")?.and_then(|v| v.as_u32())
        else {
            continue;
        };
        accepted.push((name, n));
        let Some(n) = unit_property(conn, unit, SOCKET, "NConnections")?.and_then(|v| v.as_u32())
        else {
            continue;
        };
        current.push((name, n));
        // NRefused appeared in systemd 239.
        if let Some(n) = unit_property(conn, unit, SOCKET, "NRefused")?.and_then(|v| v.as_u32()) {
            refused.push((name, n));
        }
    }
    sink.counter(
        "node_systemd_socket_accepted_connections_total",
        "Total number of accepted socket connections",
    );
    for (name, n) in accepted {
        sink.sample(&[("name", name)], f64::from(n));
    }
    sink.gauge(
        "node_systemd_socket_current_connections",
        "Current number of socket connections",
    );
    for (name, n) in current {
        sink.sample(&[("name", name)], f64::from(n));
    }
    // A gauge despite its name, as node_exporter declares it.
    sink.gauge(
        "node_systemd_socket_refused_connections_total",
        "Total number of refused socket connections",
    );
    for (name, n) in refused {
        sink.sample(&[("name", name)], f64::from(n));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dbus::wire::Type;

    fn entry(name: &str, load: &str, active: &str) -> Value {
        let s = |t: &str| Value::Str(t.to_string());
        Value::Struct(vec![
            s(name),
            s("description"),
            s(load),
            s(active),
            s("running"),
            s(""),
            Value::ObjectPath("/org/freedesktop/systemd1/unit/x".into()),
            Value::U32(0),
            s(""),
            Value::ObjectPath("/".into()),
        ])
    }

    #[test]
    fn units_from_list_units() {
        let e = entry("a.service", "loaded", "active");
        let body = vec![Value::Array(
            e.type_of(),
            vec![e, entry("b.timer", "not-found", "inactive")],
        )];
        let units = parse_units(&body).unwrap();
        assert_eq!(units.len(), 2);
        assert_eq!(units[0].name, "a.service");
        assert_eq!(units[0].active_state, "active");
        assert_eq!(units[1].load_state, "not-found");
        assert_eq!(units[1].path, "/org/freedesktop/systemd1/unit/x");
        assert!(parse_units(&[Value::Array(e_type(), vec![])])
            .unwrap()
            .is_empty());
    }

    fn e_type() -> Type {
        entry("", "", "").type_of()
    }

    #[test]
    fn malformed_list_units_is_an_error() {
        assert!(parse_units(&[]).is_err());
        assert!(parse_units(&[Value::Str("x".into())]).is_err());
        let short = Value::Struct(vec![Value::Str("a".into())]);
        assert!(parse_units(&[Value::Array(short.type_of(), vec![short])]).is_err());
        let wrong = Value::Struct((0..10).map(Value::U32).collect());
        assert!(parse_units(&[Value::Array(wrong.type_of(), vec![wrong])]).is_err());
    }

    #[test]
    fn versions() {
        assert_eq!(
            parse_version("252.22-1~deb12u1"),
            (252.22, "252.22-1~deb12u1".into())
        );
        assert_eq!(parse_version("249"), (249.0, "249".into()));
        assert_eq!(
            parse_version("v245.4-4ubuntu3"),
            (245.4, "v245.4-4ubuntu3".into())
        );
        assert_eq!(
            parse_version("1.2 then 256."),
            (256.0, "1.2 then 256.".into())
        );
        assert_eq!(parse_version("12"), (0.0, String::new()));
        assert_eq!(parse_version(""), (0.0, String::new()));
    }

    #[test]
    fn summary_counts_every_state() {
        let unit = |state: &str| Unit {
            name: "x".into(),
            load_state: "loaded".into(),
            active_state: state.into(),
            path: "/".into(),
        };
        let units = [
            unit("active"),
            unit("active"),
            unit("failed"),
            unit("reloading"),
        ];
        let summary = summarize(&units);
        assert_eq!(summary["active"], 2.0);
        assert_eq!(summary["failed"], 1.0);
        assert_eq!(summary["inactive"], 0.0);
        assert_eq!(summary["reloading"], 1.0);
        assert_eq!(summary.len(), 6);
    }

    #[test]
    fn default_filter_drops_mounts_and_unloaded_units() {
        let settings = Arc::new(Settings::new(
            crate::Roots::default(),
            crate::Options::default(),
        ));
        let collector = SystemdCollector {
            settings: Arc::clone(&settings),
            include: Regex::new("^(?:.+)$").unwrap(),
            exclude: Regex::new("^(?:.+\\.(automount|device|mount|scope|slice))$").unwrap(),
            private: false,
            tasks: false,
            restarts: false,
            start_time: false,
            timeout: Duration::from_secs(1),
        };
        let unit = |name: &str, load: &str| Unit {
            name: name.into(),
            load_state: load.into(),
            active_state: "active".into(),
            path: "/".into(),
        };
        assert!(collector.wanted(&unit("ssh.service", "loaded")));
        assert!(!collector.wanted(&unit("ssh.service", "not-found")));
        assert!(!collector.wanted(&unit("home.mount", "loaded")));
        assert!(!collector.wanted(&unit("user.slice", "loaded")));
        // Anchored: a name that merely contains ".mount" is kept.
        assert!(collector.wanted(&unit("a.mount.service", "loaded")));
        assert!(build(&settings).is_ok());
    }

    #[test]
    fn zero_timeout_stops_start_up() {
        let mut options = crate::Options::default();
        options.set(&TIMEOUT, "0s");
        let settings = Arc::new(Settings::new(crate::Roots::default(), options));
        let err = build(&settings).err().expect("zero timeout refused");
        assert!(err.contains(TIMEOUT.name()), "{err}");
    }

    #[test]
    fn bad_pattern_stops_start_up() {
        let mut options = crate::Options::default();
        options.set(&INCLUDE, "(");
        let settings = Arc::new(Settings::new(crate::Roots::default(), options));
        let err = build(&settings).err().expect("invalid regex refused");
        assert!(err.contains(INCLUDE.name()), "{err}");
    }

    #[test]
    fn no_bus_fails_softly() {
        let (sink, result) =
            crate::testing::collect_on_empty_root(INFO).expect("builds on an empty root");
        // The bus socket is looked for below the (missing) rootfs.
        let err = result.expect_err("no bus");
        assert!(
            err.to_string().contains("couldn't get dbus connection"),
            "{err}"
        );
        assert!(sink.is_empty());
    }
}
