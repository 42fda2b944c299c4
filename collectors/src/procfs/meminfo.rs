//! `/proc/meminfo`: `Key: N [kB]` lines (fs/proc/meminfo.c `show_val_kb` and the unitless
//! `HugePages_*` counts), parsed as procfs' `parseMemInfo` (meminfo.go) reads them.

use crate::error::ParseError;
use crate::util::{lines, lossy, parse_u64_prefixed};

/// One `/proc/meminfo` value: the raw number and, for `kB` lines, the byte count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemValue {
    /// The number as written.
    pub raw: u64,
    /// `raw × 1024` for `kB` lines, `raw` for unitless lines.
    pub bytes: u64,
}

/// Parses `/proc/meminfo` like procfs: every line must be `Key: N [kB]`, the number in Go's
/// base-0 `ParseUint` syntax. Calls `f` with each key (without its `:`) and value; which
/// fields to keep is the caller's choice (node_exporter's set, or cAdvisor's three).
pub fn parse(bytes: &[u8], mut f: impl FnMut(&str, MemValue)) -> Result<(), ParseError> {
    let text = lossy(bytes);
    for line in lines(&text) {
        let mut fields = line.split_ascii_whitespace();
        let Some(key) = fields.next() else {
            continue;
        };
        let malformed = || ParseError::new(format!("malformed meminfo line {line:?}"));
        let number = fields.next().ok_or_else(malformed)?;
        let unit = fields.next();
        if fields.next().is_some() {
            return Err(malformed());
        }
        let raw = parse_u64_prefixed(number)
            .map_err(|_| ParseError::new(format!("invalid meminfo value {number:?}")))?;
        let bytes = match unit {
            None => raw,
            Some("kB") => raw.saturating_mul(1024),
            Some(other) => return Err(ParseError::new(format!("unsupported unit {other:?}"))),
        };
        f(
            key.strip_suffix(':').unwrap_or(key),
            MemValue { raw, bytes },
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(bytes: &[u8]) -> Result<Vec<(String, MemValue)>, ParseError> {
        let mut out = Vec::new();
        parse(bytes, |k, v| out.push((k.to_string(), v)))?;
        Ok(out)
    }

    #[test]
    fn parses_real_sample() {
        let v = all(
            b"MemTotal:        8131832 kB\nActive(anon):     123 kB\nHugePages_Total:       0\n",
        )
        .unwrap();
        assert_eq!(v[0].0, "MemTotal");
        assert_eq!(v[0].1.bytes, 8131832 * 1024);
        assert_eq!((v[1].0.as_str(), v[1].1.raw), ("Active(anon)", 123));
        assert_eq!(v[2].1, MemValue { raw: 0, bytes: 0 });
    }

    #[test]
    fn rejects_bad_input() {
        assert!(all(b"").unwrap().is_empty());
        assert!(all(b"MemTotal:\n").is_err());
        assert!(all(b"MemTotal: x kB\n").is_err());
        assert!(all(b"MemTotal: 1 MB\n").is_err());
        assert!(all(b"MemTotal: 1 kB extra\n").is_err());
        // Go's base-0 ParseUint, as procfs.
        assert_eq!(all(b"MemFree: 010 kB\n").unwrap()[0].1.raw, 8);
        assert_eq!(all(b"MemFree: 0x10\n").unwrap()[0].1.raw, 16);
        assert!(all(&[0xff, b':', b' ', 0xfe]).is_err());
    }
}
