//! os: `node_os_info`, `node_os_version` and `node_os_support_end_timestamp_seconds` from
//! `<rootfs>/etc/os-release`, falling back to `<rootfs>/usr/lib/os-release`.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::{MetricSink, MetricType};
use crate::util::{lossy, read};

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "os",
    default_enabled: true,
    sources: "/etc/os-release, /usr/lib/os-release",
    flags: &[],
    build: |settings| {
        Ok(Box::new(OsCollector {
            settings: Arc::clone(settings),
            parsed: Mutex::new(None),
        }))
    },
};

/// The file read last, what identified its content (device, inode, size, change time), and
/// its parsed keys.
type Parsed = (
    PathBuf,
    (u64, u64, u64, i64, i64),
    Arc<HashMap<String, String>>,
);

/// Like node_exporter, parses the file again only when its metadata says it changed.
struct OsCollector {
    settings: Arc<Settings>,
    parsed: Mutex<Option<Parsed>>,
}

const RELEASE_FILES: [&str; 2] = ["etc/os-release", "usr/lib/os-release"];

/// The `node_os_info` label names and the os-release keys they come from.
const INFO_LABELS: [(&str, &str); 12] = [
    ("build_id", "BUILD_ID"),
    ("id", "ID"),
    ("id_like", "ID_LIKE"),
    ("image_id", "IMAGE_ID"),
    ("image_version", "IMAGE_VERSION"),
    ("name", "NAME"),
    ("pretty_name", "PRETTY_NAME"),
    ("variant", "VARIANT"),
    ("variant_id", "VARIANT_ID"),
    ("version", "VERSION"),
    ("version_codename", "VERSION_CODENAME"),
    ("version_id", "VERSION_ID"),
];

/// Parses an os-release file (shell-like `KEY=value` lines with optional quoting).
pub fn parse_os_release(bytes: &[u8]) -> Result<HashMap<String, String>, ParseError> {
    let text = lossy(bytes);
    let mut env = HashMap::new();
    for (n, raw) in crate::util::lines(&text).enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| ParseError::new(format!("line {}: missing '='", n + 1)))?;
        let key = key.trim();
        let valid_key = key
            .chars()
            .enumerate()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
        if key.is_empty() || !valid_key {
            return Err(ParseError::new(format!(
                "line {}: invalid key {key:?}",
                n + 1
            )));
        }
        let value =
            parse_value(value).map_err(|e| ParseError::new(format!("line {}: {e}", n + 1)))?;
        env.insert(key.to_string(), value);
    }
    Ok(env)
}

/// Unquotes one value: `"..."` with backslash escapes, `'...'` literal, or bare with
/// backslash escapes; an unquoted `#` after white space starts a comment.
fn parse_value(value: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => loop {
                match chars.next() {
                    None => return Err("unterminated double quote".into()),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(e @ ('\\' | '"' | '$' | '`')) => out.push(e),
                        Some('\n') => {}
                        Some(other) => {
                            out.push('\\');
                            out.push(other);
                        }
                        None => return Err("unterminated double quote".into()),
                    },
                    Some(other) => out.push(other),
                }
            },
            '\'' => loop {
                match chars.next() {
                    None => return Err("unterminated single quote".into()),
                    Some('\'') => break,
                    Some(other) => out.push(other),
                }
            },
            '\\' => {
                if let Some(e) = chars.next() {
                    out.push(e);
                }
            }
            c if c.is_whitespace() => {
                let rest: String = chars.collect();
                let rest = rest.trim_start();
                if rest.is_empty() || rest.starts_with('#') {
                    break;
                }
                return Err("unquoted white space in value".into());
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// The `major[.minor]` prefix of `VERSION_ID` as a number (node_exporter's `^[0-9]+\.?[0-9]*`);
/// 0 when there is none.
pub fn major_minor(version_id: &str) -> f64 {
    let int_len = version_id
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(version_id.len());
    if int_len == 0 {
        return 0.0;
    }
    let mut end = int_len;
    if version_id[end..].starts_with('.') {
        end += 1;
        end += version_id[end..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(version_id.len() - end);
    }
    version_id[..end]
        .trim_end_matches('.')
        .parse()
        .unwrap_or(0.0)
}

/// Parses a `YYYY-MM-DD` date (UTC midnight) into Unix seconds.
pub fn parse_date(date: &str) -> Result<i64, ParseError> {
    let bad = || ParseError::new(format!("invalid SUPPORT_END date {date:?}"));
    let parts: Vec<&str> = date.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let y: i64 = y.parse().map_err(|_| bad())?;
    let m: i64 = m.parse().map_err(|_| bad())?;
    let d: i64 = d.parse().map_err(|_| bad())?;
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&m) || d < 1 || d > month_days[(m - 1) as usize] {
        return Err(bad());
    }
    Ok(days_from_civil(y, m, d) * 86_400)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl OsCollector {
    /// The keys of the first os-release file that exists, parsed again only if it changed.
    fn release(&self) -> Result<(PathBuf, Arc<HashMap<String, String>>), CollectError> {
        let mut parsed = self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        for rel in RELEASE_FILES {
            let path = self.settings.roots.root(rel);
            let meta = match std::fs::metadata(&path) {
                Ok(meta) => meta,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(CollectError::io(&path, e)),
            };
            let id = (
                meta.dev(),
                meta.ino(),
                meta.size(),
                meta.ctime(),
                meta.ctime_nsec(),
            );
            if let Some((p, i, env)) = parsed.as_ref() {
                if *p == path && *i == id {
                    return Ok((path, Arc::clone(env)));
                }
            }
            let bytes = read(&path)?;
            let env =
                Arc::new(parse_os_release(&bytes).map_err(|e| CollectError::parse(&path, e))?);
            *parsed = Some((path.clone(), id, Arc::clone(&env)));
            return Ok((path, env));
        }
        Err(CollectError::NoData("no os-release file found".into()))
    }
}

impl Collector for OsCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let (path, env) = self.release()?;
        write(sink, &path, &env)
    }
}

fn write(
    sink: &mut MetricSink,
    path: &std::path::Path,
    env: &HashMap<String, String>,
) -> Result<(), CollectError> {
    let get = |key: &str| env.get(key).map(String::as_str).unwrap_or("");
    let support_end = match get("SUPPORT_END") {
        "" => None,
        date => Some(parse_date(date).map_err(|e| CollectError::parse(path, e))?),
    };

    let labels: Vec<(&str, &str)> = INFO_LABELS.iter().map(|(l, k)| (*l, get(k))).collect();
    sink.family(
        "node_os_info",
        "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, name, pretty_name, variant, variant_id, version, version_codename, version_id.",
        MetricType::Gauge,
    )
    .sample(&labels, 1.0);
    let version = major_minor(get("VERSION_ID"));
    if version > 0.0 {
        sink.family(
            "node_os_version",
            "Metric containing the major.minor part of the OS version.",
            MetricType::Gauge,
        )
        .sample(
            &[
                ("id", get("ID")),
                ("id_like", get("ID_LIKE")),
                ("name", get("NAME")),
            ],
            version,
        );
    }
    if let Some(ts) = support_end {
        sink.single(
            "node_os_support_end_timestamp_seconds",
            "Metric containing the end-of-life date timestamp of the OS.",
            MetricType::Gauge,
            ts as f64,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN: &str = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"#;

    #[test]
    fn parses_real_file() {
        let env = parse_os_release(DEBIAN.as_bytes()).unwrap();
        assert_eq!(env["PRETTY_NAME"], "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(env["VERSION_CODENAME"], "bookworm");
        assert_eq!(env["ID"], "debian");
        assert_eq!(env.len(), 7);
    }

    #[test]
    fn quoting_and_comments() {
        let env = parse_os_release(
            b"# comment\n\nexport A='it''s'\nB=\"say \\\"hi\\\" \\$x\"\nC=bare # trailing\nD=\n",
        )
        .unwrap();
        assert_eq!(env["A"], "its");
        assert_eq!(env["B"], "say \"hi\" $x");
        assert_eq!(env["C"], "bare");
        assert_eq!(env["D"], "");
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse_os_release(b"").unwrap().is_empty());
        assert!(parse_os_release(b"NAME=\"unterminated").is_err());
        assert!(parse_os_release(b"no equals sign").is_err());
        assert!(parse_os_release(b"1A=x").is_err());
        assert!(parse_os_release(b"A=two words").is_err());
        let env = parse_os_release(&[b'A', b'=', 0xff, 0xfe]).unwrap();
        assert_eq!(env["A"], "\u{fffd}\u{fffd}");
    }

    #[test]
    fn versions() {
        assert_eq!(major_minor("22.04"), 22.04);
        assert_eq!(major_minor("12"), 12.0);
        assert_eq!(major_minor("3.18.4"), 3.18);
        assert_eq!(major_minor("7."), 7.0);
        assert_eq!(major_minor("rolling"), 0.0);
        assert_eq!(major_minor(""), 0.0);
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01").unwrap(), 0);
        assert_eq!(parse_date("2028-06-30").unwrap(), 1_845_936_000);
        assert_eq!(parse_date("2024-02-29").unwrap(), 1_709_164_800);
        assert!(parse_date("2023-02-29").is_err());
        assert!(parse_date("2023-6-30").is_err());
        assert!(parse_date("soon").is_err());
    }

    /// The file is parsed again when it changes, even within the same second and size.
    #[test]
    fn a_changed_file_is_read_again() {
        let dir_tmp = tempfile::tempdir().unwrap();
        let dir = dir_tmp.path().to_path_buf();
        std::fs::create_dir_all(dir.join("root/etc")).unwrap();
        let file = dir.join("root/etc/os-release");
        let settings = Arc::new(Settings::new(
            crate::Roots::fixture(&dir),
            crate::Options::default(),
        ));
        let collector = (INFO.build)(&settings).unwrap();
        let render = || {
            let mut sink = MetricSink::new();
            collector.collect(&mut sink).unwrap();
            let mut out = Vec::new();
            crate::expfmt::render(&[&sink], crate::expfmt::Format::Text, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        std::fs::write(&file, "ID=one\nVERSION_ID=11\n").unwrap();
        assert!(render().contains("id=\"one\""));
        assert!(render().contains("id=\"one\""));
        std::fs::write(&file, "ID=two\nVERSION_ID=12\n").unwrap();
        let text = render();
        assert!(text.contains("id=\"two\""), "{text}");
        assert!(text.contains("node_os_version{id=\"two\""));
    }
}
