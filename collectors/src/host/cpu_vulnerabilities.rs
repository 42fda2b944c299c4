//! cpu_vulnerabilities (off by default): `node_cpu_vulnerabilities_info{codename,mitigation,state}`
//! from `/sys/devices/system/cpu/vulnerabilities/*`.

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::roots::JoinExt;
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
    /// `not affected`, `vulnerable`, `mitigation` or `unknown`: procfs'
    /// `VulnerabilityHumanEncoding`, lower case since procfs PR #532.
    pub state: &'static str,
    /// The words after the first one for a recognised state, the whole text otherwise.
    pub mitigation: String,
}

/// Parses one vulnerability file as procfs' `parseVulnerability` (sysfs/vulnerability.go):
/// the state is the case-insensitive prefix (`Not affected`, `Vulnerable`, `Mitigation`,
/// `Unknown`) and the mitigation the remaining white-space separated words; text with none
/// of these prefixes (`KVM: Mitigation: VMX disabled` in `itlb_multihit`) is state
/// `unknown` with the whole text as mitigation, never an error (procfs PR #568).
pub fn parse(bytes: &[u8]) -> Result<Vulnerability, ParseError> {
    let text = lossy(bytes);
    let text = text.trim();
    let lower = text.to_lowercase();
    let rest = || {
        text.split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let v = if lower.starts_with("not affected") {
        Vulnerability {
            state: "not affected",
            mitigation: String::new(),
        }
    } else if let Some(state) = ["vulnerable", "mitigation", "unknown"]
        .into_iter()
        .find(|s| lower.starts_with(s))
    {
        Vulnerability {
            state,
            mitigation: rest(),
        }
    } else {
        Vulnerability {
            state: "unknown",
            mitigation: text.to_string(),
        }
    };
    Ok(v)
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
        let v = parse_file(&dir.join_exact(&name), parse)?;
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
        assert_eq!(parse(b"Not affected\n").unwrap().state, "not affected");
        let v = parse(b"Mitigation: Safe RET\n").unwrap();
        assert_eq!((v.state, v.mitigation.as_str()), ("mitigation", "Safe RET"));
        let v = parse(b"Vulnerable\n").unwrap();
        assert_eq!((v.state, v.mitigation.as_str()), ("vulnerable", ""));
        let v = parse(b"Vulnerable; SMT vulnerable\n").unwrap();
        assert_eq!(
            (v.state, v.mitigation.as_str()),
            ("vulnerable", "SMT vulnerable")
        );
        let v = parse(b"Unknown: No mitigations\n").unwrap();
        assert_eq!(
            (v.state, v.mitigation.as_str()),
            ("unknown", "No mitigations")
        );
    }

    /// Kernel texts without a state prefix (arch/x86/kernel/cpu/bugs.c, itlb_multihit_show_state)
    /// are kept whole with state `unknown`, as procfs does since PR #568, instead of failing
    /// the collector.
    #[test]
    fn unprefixed_text_is_unknown() {
        let v = parse(b"KVM: Mitigation: VMX disabled\n").unwrap();
        assert_eq!(
            (v.state, v.mitigation.as_str()),
            ("unknown", "KVM: Mitigation: VMX disabled")
        );
        let v = parse(b"").unwrap();
        assert_eq!((v.state, v.mitigation.as_str()), ("unknown", ""));
        assert_eq!(parse(&[0xff, 0xfe]).unwrap().state, "unknown");
    }
}
