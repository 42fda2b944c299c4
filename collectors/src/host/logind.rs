//! logind: `node_logind_sessions{seat,remote,type,class}` from systemd-logind over D-Bus.
//!
//! As node_exporter: the seats of `ListSeats` plus the empty seat (remote sessions such as
//! SSH), and for every combination of seat, remote (`true`/`false`), type and class from
//! node_exporter's fixed value sets a count of the sessions of `ListSessions`; unknown types and
//! classes count as `other`, and a session whose properties cannot be read is left out. The
//! whole collector runs under `--collector.logind.dbus-timeout` (nodex only).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::dbus::{system_bus_address, Connection, DbusError, Value};
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::options::Flag;

const DEST: &str = "org.freedesktop.login1";
const PATH: &str = "/org/freedesktop/login1";
const MANAGER: &str = "org.freedesktop.login1.Manager";
const SESSION: &str = "org.freedesktop.login1.Session";
/// `--collector.logind.dbus-timeout`.
pub const TIMEOUT: Flag<Duration> = Flag::new(
    "collector.logind.dbus-timeout",
    "nodex only: longest the logind collector waits for D-Bus per scrape; past it the collector fails instead of stalling the scrape.",
    "5s",
);

/// node_exporter's label value sets (taken from logind as of systemd v229); `other` stands for
/// any value not listed.
const REMOTE_VALUES: [&str; 2] = ["true", "false"];
const TYPE_VALUES: [&str; 7] = [
    "other",
    "unspecified",
    "tty",
    "x11",
    "wayland",
    "mir",
    "web",
];
const CLASS_VALUES: [&str; 5] = ["other", "user", "greeter", "lock-screen", "background"];

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "logind",
    default_enabled: false,
    sources: "systemd-logind over D-Bus: $DBUS_SYSTEM_BUS_ADDRESS, else run/dbus/system_bus_socket below --path.rootfs",
    flags: &[TIMEOUT.spec],
    build,
};

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(LogindCollector {
        settings: Arc::clone(settings),
        timeout: crate::dbus::positive(settings.options.get(&TIMEOUT)?, TIMEOUT.name())?,
    }))
}

struct LogindCollector {
    settings: Arc<Settings>,
    timeout: Duration,
}

/// One entry of `ListSessions` (`a(susso)`): the seat and the session's object path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionEntry {
    /// Seat id, empty for sessions without a seat.
    pub seat: String,
    /// The session's object path.
    pub path: String,
}

/// The seat ids of a `ListSeats` reply (`a(so)`).
pub fn parse_seats(body: &[Value]) -> Result<Vec<String>, ParseError> {
    entries(body, 2, "ListSeats", "a(so)")?
        .map(|fields| text(&fields[0], "ListSeats"))
        .collect()
}

/// The entries of a `ListSessions` reply (`a(susso)`).
pub fn parse_sessions(body: &[Value]) -> Result<Vec<SessionEntry>, ParseError> {
    entries(body, 5, "ListSessions", "a(susso)")?
        .map(|fields| {
            Ok(SessionEntry {
                seat: text(&fields[3], "ListSessions")?,
                path: text(&fields[4], "ListSessions")?,
            })
        })
        .collect()
}

fn entries<'a>(
    body: &'a [Value],
    width: usize,
    method: &'static str,
    signature: &'static str,
) -> Result<impl Iterator<Item = &'a [Value]>, ParseError> {
    let items = body
        .first()
        .and_then(Value::as_array)
        .ok_or_else(|| ParseError::new(format!("{method} did not return an array")))?;
    let rows: Option<Vec<&[Value]>> = items
        .iter()
        .map(|item| item.as_struct().filter(|f| f.len() == width))
        .collect();
    rows.map(Vec::into_iter)
        .ok_or_else(|| ParseError::new(format!("{method} entry is not {signature}")))
}

fn text(value: &Value, method: &str) -> Result<String, ParseError> {
    value
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| ParseError::new(format!("{method} entry field is not a string")))
}

/// `value` if it is one of `known`, else `other`.
fn known_or_other(value: &str, known: &'static [&'static str]) -> &'static str {
    known
        .iter()
        .find(|k| **k == value)
        .copied()
        .unwrap_or("other")
}

/// A session's labels: seat, remote, type, class.
type SessionKey = (String, &'static str, &'static str, &'static str);

/// Counts of sessions per label set, to the series node_exporter writes: every combination of
/// the value sets and `seats`, zero where no session matches.
pub fn write_sessions(
    seats: &[String],
    sessions: &HashMap<SessionKey, f64>,
    sink: &mut MetricSink,
) {
    sink.gauge(
        "node_logind_sessions",
        "Number of sessions registered in logind.",
    );
    for remote in REMOTE_VALUES {
        for session_type in TYPE_VALUES {
            for class in CLASS_VALUES {
                for seat in seats {
                    let key = (seat.clone(), remote, session_type, class);
                    let count = sessions.get(&key).copied().unwrap_or(0.0);
                    sink.sample(
                        &[
                            ("seat", seat),
                            ("remote", remote),
                            ("type", session_type),
                            ("class", class),
                        ],
                        count,
                    );
                }
            }
        }
    }
}

/// A session's labels, or `None` when logind refuses one of its properties (node_exporter then
/// leaves the session out). Bus failures are errors.
fn session_key(
    conn: &mut Connection,
    session: &SessionEntry,
) -> Result<Option<SessionKey>, DbusError> {
    let mut get = |name: &str| match conn.get_property(DEST, &session.path, SESSION, name) {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.is_remote() => Ok(None),
        Err(e) => Err(e),
    };
    let Some(remote) = get("Remote")?.and_then(|v| v.as_bool()) else {
        return Ok(None);
    };
    let Some(session_type) = get("Type")?.and_then(|v| v.as_str().map(str::to_string)) else {
        return Ok(None);
    };
    let Some(class) = get("Class")?.and_then(|v| v.as_str().map(str::to_string)) else {
        return Ok(None);
    };
    Ok(Some((
        session.seat.clone(),
        if remote { "true" } else { "false" },
        known_or_other(&session_type, &TYPE_VALUES),
        known_or_other(&class, &CLASS_VALUES),
    )))
}

impl Collector for LogindCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let deadline = Instant::now() + self.timeout;
        let address = system_bus_address(&self.settings.roots)
            .map_err(|e| CollectError::Other(format!("unable to connect to dbus: {e}")))?;
        let mut conn = Connection::open(&address, deadline, true)
            .map_err(|e| CollectError::Other(format!("unable to connect to dbus: {e}")))?;
        let bus = |what: &str, e: DbusError| CollectError::Other(format!("{what}: {e}"));

        let body = conn
            .call(Some(DEST), PATH, MANAGER, "ListSeats", vec![])
            .map_err(|e| bus("unable to get seats", e))?;
        let mut seats = parse_seats(&body)
            .map_err(|e| CollectError::Other(format!("unable to get seats: {e}")))?;
        // Always the empty seat too, which remote sessions such as SSH have.
        seats.push(String::new());

        let body = conn
            .call(Some(DEST), PATH, MANAGER, "ListSessions", vec![])
            .map_err(|e| bus("unable to get sessions", e))?;
        let list = parse_sessions(&body)
            .map_err(|e| CollectError::Other(format!("unable to get sessions: {e}")))?;

        let mut sessions: HashMap<SessionKey, f64> = HashMap::new();
        for session in &list {
            if let Some(key) =
                session_key(&mut conn, session).map_err(|e| bus("unable to get session", e))?
            {
                *sessions.entry(key).or_insert(0.0) += 1.0;
            }
        }
        write_sessions(&seats, &sessions, sink);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expfmt::{render, Format};

    fn session(id: &str, seat: &str) -> Value {
        Value::Struct(vec![
            Value::Str(id.into()),
            Value::U32(1000),
            Value::Str("alice".into()),
            Value::Str(seat.into()),
            Value::ObjectPath(format!("/org/freedesktop/login1/session/_3{id}")),
        ])
    }

    #[test]
    fn seats_and_sessions() {
        let seat = Value::Struct(vec![
            Value::Str("seat0".into()),
            Value::ObjectPath("/org/freedesktop/login1/seat/seat0".into()),
        ]);
        let seats = parse_seats(&[Value::Array(seat.type_of(), vec![seat])]).unwrap();
        assert_eq!(seats, ["seat0"]);

        let s = session("1", "seat0");
        let list = parse_sessions(&[Value::Array(s.type_of(), vec![s, session("2", "")])]).unwrap();
        assert_eq!(
            list,
            [
                SessionEntry {
                    seat: "seat0".into(),
                    path: "/org/freedesktop/login1/session/_31".into()
                },
                SessionEntry {
                    seat: String::new(),
                    path: "/org/freedesktop/login1/session/_32".into()
                },
            ]
        );
    }

    #[test]
    fn malformed_replies_are_errors() {
        assert!(parse_seats(&[]).is_err());
        assert!(parse_sessions(&[Value::U32(1)]).is_err());
        let s = session("1", "seat0");
        // A session list read as seats: entries of the wrong width.
        assert!(parse_seats(&[Value::Array(s.type_of(), vec![s])]).is_err());
        let wrong = Value::Struct((0..5).map(Value::U32).collect());
        assert!(parse_sessions(&[Value::Array(wrong.type_of(), vec![wrong])]).is_err());
    }

    #[test]
    fn unknown_values_are_other() {
        assert_eq!(known_or_other("wayland", &TYPE_VALUES), "wayland");
        assert_eq!(known_or_other("user-early", &CLASS_VALUES), "other");
        assert_eq!(known_or_other("", &TYPE_VALUES), "other");
    }

    #[test]
    fn every_combination_is_written() {
        let seats = vec!["seat0".to_string(), String::new()];
        let mut sessions = HashMap::new();
        sessions.insert((String::new(), "true", "tty", "user"), 2.0);
        let mut sink = MetricSink::new();
        write_sessions(&seats, &sessions, &mut sink);
        assert_eq!(sink.sample_count(), 2 * 7 * 5 * 2);
        let mut out = Vec::new();
        render(&[&sink], Format::Text, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(
            "node_logind_sessions{class=\"user\",remote=\"true\",seat=\"\",type=\"tty\"} 2\n"
        ));
        assert!(text.contains(
            "node_logind_sessions{class=\"user\",remote=\"true\",seat=\"seat0\",type=\"tty\"} 0\n"
        ));
    }

    #[test]
    fn no_bus_fails_softly() {
        let (sink, result) =
            crate::testing::collect_on_empty_root(INFO).expect("builds on an empty root");
        let err = result.expect_err("no bus");
        assert!(
            err.to_string().contains("unable to connect to dbus"),
            "{err}"
        );
        assert!(sink.is_empty());
    }
}
