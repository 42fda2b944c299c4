//! runit (deprecated in node_exporter): the state of each runit service from the 20-byte
//! `supervise/status` file of every service in `--collector.runit.servicedir`, decoded as
//! `github.com/soundcloud/go-runit` does. The service directory is read below `--path.rootfs`.
//! As in go-runit, `normal_state` is 0 only when `supervise/down` exists.

use std::sync::Arc;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::options::Flag;

/// `--collector.runit.servicedir`.
pub const SERVICEDIR_FLAG: Flag<String> = Flag::new(
    "collector.runit.servicedir",
    "Path to runit service directory.",
    "/etc/service",
);

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "runit",
    default_enabled: false,
    sources: "--collector.runit.servicedir/*/supervise/status (deprecated)",
    flags: &[SERVICEDIR_FLAG.spec],
    build,
};

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    tracing::warn!(
        collector = "runit",
        "This collector is deprecated and will be removed in the next major version release."
    );
    Ok(Box::new(RunitCollector {
        settings: Arc::clone(settings),
        servicedir: settings.options.get(&SERVICEDIR_FLAG),
    }))
}

struct RunitCollector {
    settings: Arc<Settings>,
    servicedir: String,
}

/// The decoded `supervise/status` record of one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Unix time of the last state change (the TAI64 label minus 2^62 + 10).
    pub timestamp: i64,
    /// Process id of the service (0 when down).
    pub pid: u32,
    /// 0 down, 1 run, 2 finish.
    pub state: u8,
    /// 1 if the service is wanted up (`u`), 0 otherwise.
    pub want: u8,
}

/// TAI64 label of the Unix epoch (2^62 + 10 leap seconds), as go-runit's `taiOffset`.
const TAI_OFFSET: i64 = 4_611_686_018_427_387_914;

/// Decodes runsv's 20-byte status record: a big-endian TAI64N stamp (seconds in bytes 0-7),
/// the little-endian pid in bytes 12-15, the wanted state at 17 and the run state at 19.
/// A shorter record is an error (go-runit would zero-fill it into a nonsense timestamp).
pub fn parse_status(bytes: &[u8]) -> Result<Status, ParseError> {
    let record: &[u8; 20] = bytes
        .get(..20)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            ParseError::new(format!(
                "runit status is {} bytes, expected 20",
                bytes.len()
            ))
        })?;
    let mut tai = [0u8; 8];
    tai.copy_from_slice(&record[0..8]);
    let mut pid = [0u8; 4];
    pid.copy_from_slice(&record[12..16]);
    Ok(Status {
        timestamp: i64::from_be_bytes(tai).wrapping_sub(TAI_OFFSET),
        pid: u32::from_le_bytes(pid),
        state: record[19],
        want: u8::from(record[17] == b'u'),
    })
}

impl Collector for RunitCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let dir = self.settings.roots.root(&self.servicedir);
        let entries = std::fs::read_dir(&dir).map_err(|e| CollectError::io(&dir, e))?;
        let mut services: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_type()
                    .map(|t| t.is_dir() || t.is_symlink())
                    .unwrap_or(false)
            })
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        services.sort();
        let mut rows = Vec::new();
        for name in services {
            let supervise = dir.join(&name).join("supervise");
            let status = match crate::util::read(&supervise.join("status")) {
                Ok(bytes) => parse_status(&bytes).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match status {
                Ok(status) => {
                    let normally_up = !supervise.join("down").exists();
                    rows.push((name, status, normally_up));
                }
                Err(err) => tracing::debug!(service = %name, %err, "Couldn't get status"),
            }
        }
        type Field = fn(&Status, bool) -> f64;
        let families: [(&str, &str, Field); 4] = [
            ("node_service_state", "State of runit service.", |s, _| {
                f64::from(s.state)
            }),
            (
                "node_service_desired_state",
                "Desired state of runit service.",
                |s, _| f64::from(s.want),
            ),
            (
                "node_service_state_last_change_timestamp_seconds",
                "Unix timestamp of the last runit service state change.",
                |s, _| s.timestamp as f64,
            ),
            (
                "node_service_normal_state",
                "Normal state of runit service.",
                |_, up| f64::from(u8::from(up)),
            ),
        ];
        for (family, help, value) in families {
            sink.gauge(family, help);
            for (name, status, up) in &rows {
                sink.sample(
                    &[("service", name), ("supervisor", "runit")],
                    value(status, *up),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(tai: i64, pid: u32, want: u8, state: u8) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend_from_slice(&tai.to_be_bytes());
        r.extend_from_slice(&[0; 4]);
        r.extend_from_slice(&pid.to_le_bytes());
        r.extend_from_slice(&[0, want, 0, state]);
        r
    }

    #[test]
    fn decodes_a_status_record() {
        let s = parse_status(&record(TAI_OFFSET + 1_700_000_000, 1234, b'u', 1)).unwrap();
        assert_eq!(
            s,
            Status {
                timestamp: 1_700_000_000,
                pid: 1234,
                state: 1,
                want: 1
            }
        );
        let down = parse_status(&record(TAI_OFFSET + 5, 0, b'd', 0)).unwrap();
        assert_eq!((down.want, down.state, down.timestamp), (0, 0, 5));
    }

    #[test]
    fn rejects_empty_and_truncated_records() {
        assert!(parse_status(b"").is_err());
        assert!(parse_status(&record(TAI_OFFSET, 1, b'u', 1)[..19]).is_err());
    }

    #[test]
    fn garbage_want_byte_means_not_wanted_up() {
        let s = parse_status(&[0xff; 20]).unwrap();
        assert_eq!(s.want, 0);
        assert_eq!(s.state, 0xff);
    }

    #[test]
    fn missing_service_directory_fails_the_collector() {
        let (sink, result) = crate::testing::collect_on_empty_root(INFO).unwrap();
        assert!(result.is_err());
        assert!(sink.is_empty());
    }
}
