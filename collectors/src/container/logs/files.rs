//! Which files of a directory are a container's logs, by name only (pure).
//!
//! - The kubelet (`pkg/kubelet/logs/container_log_manager.go`, kubernetes/kubernetes) writes
//!   `<pod-log-dir>/<ns>_<pod>_<uid>/<container>/<restart>.log`; on rotation it renames the
//!   current file to `<restart>.log.<YYYYMMDD-hhmmss>` (`timestampFormat = "20060102-150405"`),
//!   gzips older rotated files to `<name>.gz` through a `<name>.gz.tmp` file (`compressSuffix`,
//!   `tmpSuffix`) and has the runtime reopen `<restart>.log`. Each restart starts a new
//!   `<restart>.log`; older ones stay for `kubectl logs --previous`.
//! - Docker's json-file driver (`daemon/logger/jsonfilelog`, `daemon/logger/loggerutils/logfile.go`,
//!   moby/moby) writes `<docker-root>/containers/<id>/<id>-json.log`; rotation shifts
//!   `<name>.<n>` to `<name>.<n+1>`, renames the current file to `<name>.1` and, with
//!   `compress=true`, gzips rotated files to `<name>.<n>.gz`.

/// The part a file plays in a container's logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Written to now (kubelet: every `<restart>.log`, the newest being written).
    Current,
    /// Renamed by a rotation, still plain text.
    Rotated,
    /// A rotated file after gzip.
    Compressed,
}

/// Where a container's log files live and how they are named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// A kubelet container log directory.
    Kubelet,
    /// A Docker json-file container directory of the container with this full id.
    Docker(String),
}

impl Layout {
    /// The role of file `name` in this layout; `None` for a file that is not a log file
    /// (a kubelet `.tmp`, Docker's `config.v2.json`, ...).
    pub fn classify(&self, name: &str) -> Option<Role> {
        match self {
            Layout::Kubelet => kubelet(name),
            Layout::Docker(id) => docker(name, id),
        }
    }
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `YYYYMMDD-hhmmss`.
fn kubelet_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 15
        && b[8] == b'-'
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[9..].iter().all(u8::is_ascii_digit)
}

fn kubelet(name: &str) -> Option<Role> {
    let (restart, rest) = name.split_once(".log")?;
    if !digits(restart) {
        return None;
    }
    if rest.is_empty() {
        return Some(Role::Current);
    }
    let rest = rest.strip_prefix('.')?;
    match rest.strip_suffix(".gz") {
        Some(ts) if kubelet_timestamp(ts) => Some(Role::Compressed),
        None if kubelet_timestamp(rest) => Some(Role::Rotated),
        _ => None,
    }
}

fn docker(name: &str, id: &str) -> Option<Role> {
    let rest = name.strip_prefix(id)?.strip_prefix("-json.log")?;
    if rest.is_empty() {
        return Some(Role::Current);
    }
    let rest = rest.strip_prefix('.')?;
    match rest.strip_suffix(".gz") {
        Some(n) if digits(n) => Some(Role::Compressed),
        None if digits(rest) => Some(Role::Rotated),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_names() {
        let k = Layout::Kubelet;
        assert_eq!(k.classify("0.log"), Some(Role::Current));
        assert_eq!(k.classify("12.log"), Some(Role::Current));
        assert_eq!(k.classify("0.log.20261201-223000"), Some(Role::Rotated));
        assert_eq!(
            k.classify("0.log.20261201-223000.gz"),
            Some(Role::Compressed)
        );
        for not in [
            "0.log.20261201-223000.gz.tmp",
            "0.log.tmp",
            "x.log",
            ".log",
            "0.log.2026",
            "0.logx",
            "0.log.20261201x223000",
        ] {
            assert_eq!(k.classify(not), None, "{not}");
        }
    }

    #[test]
    fn docker_names() {
        let id = "a".repeat(64);
        let d = Layout::Docker(id.clone());
        assert_eq!(d.classify(&format!("{id}-json.log")), Some(Role::Current));
        assert_eq!(d.classify(&format!("{id}-json.log.1")), Some(Role::Rotated));
        assert_eq!(
            d.classify(&format!("{id}-json.log.3.gz")),
            Some(Role::Compressed)
        );
        for not in [
            "config.v2.json".to_string(),
            "hostconfig.json".to_string(),
            format!("{id}-json.log.x"),
            format!("{id}-json.log."),
            format!("{}-json.log", "b".repeat(64)),
        ] {
            assert_eq!(d.classify(&not), None, "{not}");
        }
    }
}
