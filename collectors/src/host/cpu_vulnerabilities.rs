//! cpu_vulnerabilities (off by default): `node_cpu_vulnerabilities_info{codename,mitigation,state}`
//! from `/sys/devices/system/cpu/vulnerabilities/*`.

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::stateless_collector;
use crate::util::{list_dir, lossy, parse_file};

stateless_collector!(
    "cpu_vulnerabilities",
    false,
    "/sys/devices/system/cpu/vulnerabilities/*",
    collect
);

/// The state and mitigation text of one vulnerability file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vulnerability {
    /// `Not affected`, `Vulnerable`, `Mitigation` or `Unknown`.
    pub state: &'static str,
    /// What follows the state and `": "` (empty for `Not affected`).
    pub mitigation: String,
}

/// Parses one vulnerability file as procfs' `parseVulnerability`.
pub fn parse(bytes: &[u8]) -> Result<Vulnerability, ParseError> {
    let text = lossy(bytes);
    let text = text.trim();
    if text == "Not affected" {
        return Ok(Vulnerability {
            state: "Not affected",
            mitigation: String::new(),
        });
    }
    for state in ["Vulnerable", "Mitigation", "Unknown"] {
        if let Some(rest) = text.strip_prefix(state) {
            return Ok(Vulnerability {
                state,
                mitigation: rest.strip_prefix(": ").unwrap_or(rest).to_string(),
            });
        }
    }
    Err(ParseError::new(format!(
        "unknown vulnerability state: {text:?}"
    )))
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let dir = settings.roots.sys("devices/system/cpu/vulnerabilities");
    let names = match list_dir(&dir) {
        Ok(names) => names,
        Err(e) if e.is_no_data() => return Ok(()),
        Err(e) => return Err(e),
    };
    if names.is_empty() {
        return Ok(());
    }
    sink.gauge(
        "node_cpu_vulnerabilities_info",
        "Details of each CPU vulnerability reported by sysfs. The value of the series is an int encoded state of the vulnerability. The same state is stored as a string in the label",
    );
    for name in names {
        let v = parse_file(&dir.join(&name), parse)?;
        sink.sample(
            &[
                ("codename", &name),
                ("mitigation", &v.mitigation),
                ("state", v.state),
            ],
            1.0,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_states() {
        assert_eq!(parse(b"Not affected\n").unwrap().state, "Not affected");
        let v = parse(b"Mitigation: Safe RET\n").unwrap();
        assert_eq!((v.state, v.mitigation.as_str()), ("Mitigation", "Safe RET"));
        let v = parse(b"Vulnerable\n").unwrap();
        assert_eq!((v.state, v.mitigation.as_str()), ("Vulnerable", ""));
        let v = parse(b"Unknown: No mitigations\n").unwrap();
        assert_eq!(
            (v.state, v.mitigation.as_str()),
            ("Unknown", "No mitigations")
        );
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(b"").is_err());
        assert!(parse(b"Mostly fine").is_err());
        assert!(parse(&[0xff, 0xfe]).is_err());
    }
}
