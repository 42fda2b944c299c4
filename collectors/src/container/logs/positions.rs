//! Parsers of log shippers' position files (pure: bytes in, positions out). Each entry says how
//! far a shipper has read one file, named by path, by inode, or both.
//!
//! - Fluentd `in_tail` `pos_file` (`lib/fluent/plugin/in_tail/position_file.rb`,
//!   fluent/fluentd): one line per file, `"%s\t%016x\t%016x\n"` of path, position and inode,
//!   parsed with `/^([^\t]+)\t([0-9a-fA-F]+)\t([0-9a-fA-F]+)/`; a position of
//!   `ffffffffffffffff` (`UNWATCHED_POSITION`) marks a file no longer watched; lines that do not
//!   match are skipped, as Fluentd does.
//! - Promtail (`clients/pkg/promtail/positions/positions.go`, grafana/loki): YAML `positions:`
//!   mapping a path to its byte offset as a decimal string (`Put` stores
//!   `strconv.FormatInt(pos, 10)`); keys with `journal-` or `cursor-` prefixes are journal
//!   cursors, not files. Grafana Alloy (`internal/component/common/loki/positions`,
//!   grafana/alloy, "copied from Promtail") keys the map by `Entry{Path, Labels}`, which
//!   `yaml.v2` writes as complex keys: `? path: <path>` / `labels: <labels>` / `: "<offset>"`.
//! - Vector's file source (`lib/file-source/src/checkpointer.rs`, vectordotdev/vector):
//!   `checkpoints.json`, `{"version":"1","checkpoints":[{"fingerprint":{...},"position":N,
//!   "modified":"..."}]}`; only the `dev_inode` fingerprint (`[dev, ino]`) names a file without
//!   reading it: checksum fingerprints (Vector's default, a CRC of the first lines) are skipped.

/// How far a shipper has read one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    /// The file's path as the shipper sees it, if the format names it.
    pub path: Option<String>,
    /// The file's inode, if the format records it.
    pub ino: Option<u64>,
    /// Bytes read.
    pub offset: u64,
}

/// A position file's parse error (with the line or key at fault).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PositionsError(pub String);

const UNWATCHED: u64 = u64::MAX;

/// Parses a Fluentd `pos_file`; unparsable lines and unwatched entries are skipped.
pub fn fluentd(bytes: &[u8]) -> Vec<Position> {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .filter_map(|line| {
            let mut f = line.splitn(3, '\t');
            let path = f.next().filter(|p| !p.is_empty())?;
            let pos = hex_prefix(f.next()?)?;
            let ino = hex_prefix(f.next()?)?;
            (pos != UNWATCHED).then(|| Position {
                path: Some(path.to_string()),
                ino: Some(ino),
                offset: pos,
            })
        })
        .collect()
}

/// The leading hex digits of `s` (the regex is not anchored at the end), if any and if they fit.
fn hex_prefix(s: &str) -> Option<u64> {
    let end = s.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(s.len());
    u64::from_str_radix(&s[..end], 16).ok()
}

/// Parses a Promtail/Alloy `positions.yaml` (the block mapping `yaml.v3` writes: a
/// `positions:` key whose indented entries are `<path>: "<offset>"`, path and offset plain or
/// quoted). Journal cursors and non-numeric values are skipped; a file without `positions:` is
/// an error.
pub fn promtail(bytes: &[u8]) -> Result<Vec<Position>, PositionsError> {
    let text = std::str::from_utf8(bytes).map_err(|e| PositionsError(format!("not UTF-8: {e}")))?;
    let mut lines = text.lines().filter(|l| {
        let t = l.trim_start();
        !t.is_empty() && !t.starts_with('#')
    });
    let head = lines.next().ok_or_else(|| PositionsError("empty".into()))?;
    match head.trim_end() {
        "positions: {}" => return Ok(Vec::new()),
        "positions:" => {}
        other => {
            return Err(PositionsError(format!(
                "expected `positions:`, found {other:?}"
            )))
        }
    }
    let mut out = Vec::new();
    let mut alloy_path: Option<String> = None;
    for line in lines {
        if !line.starts_with([' ', '\t']) {
            break; // the next top-level key
        }
        let t = line.trim();
        if let Some(inner) = t.strip_prefix("? ") {
            let (k, v) = split_entry(inner)
                .ok_or_else(|| PositionsError(format!("not a `? path: <path>` key: {line:?}")))?;
            alloy_path = (k == "path").then_some(v);
            continue;
        }
        if t.starts_with("labels:") && alloy_path.is_some() {
            continue;
        }
        if let Some(value) = t.strip_prefix(": ") {
            let path = alloy_path
                .take()
                .ok_or_else(|| PositionsError(format!("value without key: {line:?}")))?;
            let value = if value.starts_with(['"', '\'']) {
                quoted(value).map(|q| q.0)
            } else {
                Some(value.to_string())
            };
            if let Some(offset) = value.and_then(|v| v.parse::<u64>().ok()) {
                out.push(Position {
                    path: Some(path),
                    ino: None,
                    offset,
                });
            }
            continue;
        }
        let (key, value) = split_entry(t)
            .ok_or_else(|| PositionsError(format!("not a `path: offset` entry: {line:?}")))?;
        if key.starts_with("journal-") || key.starts_with("cursor-") {
            continue;
        }
        if let Ok(offset) = value.parse::<u64>() {
            out.push(Position {
                path: Some(key),
                ino: None,
                offset,
            });
        }
    }
    Ok(out)
}

/// Splits `key: value` where either side may be a double- or single-quoted YAML scalar.
fn split_entry(s: &str) -> Option<(String, String)> {
    let (key, rest) = if s.starts_with(['"', '\'']) {
        let (k, rest) = quoted(s)?;
        (k, rest.trim_start().strip_prefix(':')?)
    } else {
        let at = s.find(": ")?;
        (s[..at].to_string(), &s[at + 1..])
    };
    let rest = rest.trim();
    let value = if rest.starts_with(['"', '\'']) {
        quoted(rest)?.0
    } else {
        rest.to_string()
    };
    Some((key, value))
}

/// A quoted scalar at the start of `s` and what follows it. Double quotes take backslash
/// escapes of `"` and `\` (enough for paths); single quotes take `''`.
fn quoted(s: &str) -> Option<(String, &str)> {
    let q = s.chars().next()?;
    let mut out = String::new();
    let mut chars = s[1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if q == '"' => out.push(chars.next()?.1),
            c if c == q => {
                if q == '\'' && s[1 + i + 1..].starts_with('\'') {
                    out.push('\'');
                    chars.next();
                    continue;
                }
                return Some((out, &s[1 + i + 1..]));
            }
            c => out.push(c),
        }
    }
    None
}

/// Parses Vector's `checkpoints.json`; checkpoints without a `dev_inode` fingerprint are
/// skipped, an unknown `version` or malformed JSON is an error.
pub fn vector(bytes: &[u8]) -> Result<Vec<Position>, PositionsError> {
    let v: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| PositionsError(format!("invalid JSON: {e}")))?;
    if v.get("version").and_then(|x| x.as_str()) != Some("1") {
        return Err(PositionsError("unknown checkpoints version".into()));
    }
    let list = v
        .get("checkpoints")
        .and_then(|c| c.as_array())
        .ok_or_else(|| PositionsError("no checkpoints array".into()))?;
    Ok(list
        .iter()
        .filter_map(|c| {
            let di = c.get("fingerprint")?.get("dev_inode")?.as_array()?;
            let ino = di.get(1)?.as_u64()?;
            let offset = c.get("position")?.as_u64()?;
            Some(Position {
                path: None,
                ino: Some(ino),
                offset,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fluentd_pos_file() {
        // Entries as `Entry#to_entry_fmt` writes them, an unwatched one, a garbage line.
        let text = "/var/log/containers/a_b_c-0123.log\t0000000000000a2f\t00000000000f4241\n\
                    /var/log/pods/ns_p_u/c/0.log\tffffffffffffffff\t0000000000000011\n\
                    garbage\n\
                    /x.log\t10\t20 trailing\n";
        assert_eq!(
            fluentd(text.as_bytes()),
            vec![
                Position {
                    path: Some("/var/log/containers/a_b_c-0123.log".into()),
                    ino: Some(1_000_001),
                    offset: 0xa2f
                },
                Position {
                    path: Some("/x.log".into()),
                    ino: Some(0x20),
                    offset: 0x10
                },
            ]
        );
        assert!(fluentd(b"\xff\xfe\t\t\n\tff\t1\n/a\tzz\t1\n/a\t1ffffffffffffffff\t1").is_empty());
    }

    #[test]
    fn promtail_positions() {
        let text = "positions:\n    /var/log/pods/shop_web-0_u/app/0.log: \"1234\"\n    \
                    \"/var/log/pods/with: colon/0.log\": \"5\"\n    \
                    journal-abc: \"s=1;i=2\"\n    cursor-x: \"9\"\n    /odd.log: notanumber\n";
        assert_eq!(
            promtail(text.as_bytes()),
            Ok(vec![
                Position {
                    path: Some("/var/log/pods/shop_web-0_u/app/0.log".into()),
                    ino: None,
                    offset: 1234
                },
                Position {
                    path: Some("/var/log/pods/with: colon/0.log".into()),
                    ino: None,
                    offset: 5
                },
            ])
        );
        assert_eq!(promtail(b"positions: {}\n"), Ok(vec![]));
        // Alloy: yaml.v2 complex keys of Entry{Path, Labels}.
        let alloy = "positions:\n  ? path: /var/log/pods/a_b_c/d/0.log\n    labels: '{job=\"x\"}'\n  : \"77\"\n";
        assert_eq!(
            promtail(alloy.as_bytes()),
            Ok(vec![Position {
                path: Some("/var/log/pods/a_b_c/d/0.log".into()),
                ino: None,
                offset: 77
            }])
        );
        assert!(promtail(b"positions:\n  : \"1\"\n").is_err());
        assert!(promtail(b"").is_err());
        assert!(promtail(b"nothing: here\n").is_err());
        assert!(promtail(b"positions:\n  \"unterminated: \"1\"\n").is_err());
        assert_eq!(
            promtail(b"positions:\n  '/it''s.log': '7'\nother: 1\n"),
            Ok(vec![Position {
                path: Some("/it's.log".into()),
                ino: None,
                offset: 7
            }])
        );
    }

    #[test]
    fn vector_checkpoints() {
        let text = r#"{"version":"1","checkpoints":[
            {"fingerprint":{"dev_inode":[2049,131]},"position":4096,"modified":"2026-12-01T22:00:00Z"},
            {"fingerprint":{"first_lines_checksum":123456},"position":10,"modified":"2026-12-01T22:00:00Z"}]}"#;
        assert_eq!(
            vector(text.as_bytes()),
            Ok(vec![Position {
                path: None,
                ino: Some(131),
                offset: 4096
            }])
        );
        assert!(vector(br#"{"version":"2","checkpoints":[]}"#).is_err());
        assert!(vector(b"{").is_err());
        assert!(vector(br#"{"version":"1"}"#).is_err());
    }
}
