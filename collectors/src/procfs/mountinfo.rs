//! `/proc/<pid>/mountinfo`: the line parser and field decoding.
//!
//! The kernel writes the mount point with `seq_path_root(m, &mnt_path, &p->root, " \t\n\\")`
//! and the source and file-system type through `mangle()`, which is
//! `seq_escape(m, s, " \t\n\\#")` in current kernels (`" \t\n\\"` in older ones):
//! <https://github.com/torvalds/linux/blob/master/fs/proc_namespace.c>. `seq_escape` writes
//! every listed byte as a backslash and three octal digits (`ESCAPE_OCTAL`,
//! <https://github.com/torvalds/linux/blob/master/lib/seq_file.c>), and a backslash itself is
//! always in the set, so any `\ooo` in a field is an escape and decoding every one (as
//! moby/sys/mountinfo's `unescape`, which cAdvisor uses) is exact for every kernel, including
//! the `\043` (`#`) of newer ones.

use crate::error::ParseError;

/// Decodes the kernel's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134`
/// backslash, `\043` `#`, and any other `\ooo` up to `\377`). A backslash not followed by
/// three octal digits, or one whose value exceeds a byte, is kept as it is.
pub fn unescape_octal(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let digits = field
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        if let (Some(b'\\'), Some(d)) = (field.get(i), digits) {
            let v = d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
            if let Ok(v) = u8::try_from(v) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.extend_from_slice(field.get(i..=i).unwrap_or_default());
        i += 1;
    }
    out
}

/// The fields of one mountinfo line (fs/proc_namespace.c `show_mountinfo`), still escaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// Mount id.
    pub mount_id: i64,
    /// Parent mount id.
    pub parent_id: i64,
    /// Device major number.
    pub major: i64,
    /// Device minor number.
    pub minor: i64,
    /// Root of the mount within its file system.
    pub root: &'a [u8],
    /// Mount point, as escaped by the kernel ([`unescape_octal`] decodes it).
    pub mount_point: &'a [u8],
    /// Per-mount options.
    pub mount_options: &'a [u8],
    /// File-system type.
    pub fs_type: &'a [u8],
    /// Mount source (device).
    pub source: &'a [u8],
    /// Super-block options.
    pub super_options: &'a [u8],
}

/// Parses one mountinfo line with procfs' rules (mountinfo.go `parseMountInfoString`): at
/// least 10 space-separated fields, the `-` separator fourth from the end (so exactly three
/// fields after it), numeric ids and a `major:minor` pair.
pub fn parse_line(line: &[u8]) -> Result<Line<'_>, ParseError> {
    let text = || String::from_utf8_lossy(line).into_owned();
    let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let n = fields.len();
    if n < 10 {
        return Err(ParseError::new(format!(
            "too few fields in mount string: {}",
            text()
        )));
    }
    let field = |i: usize| fields.get(i).copied().unwrap_or_default();
    if field(n - 4) != b"-" {
        return Err(ParseError::new(format!(
            "couldn't find separator in expected field: {}",
            text()
        )));
    }
    let id = |f: &[u8]| {
        std::str::from_utf8(f)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| ParseError::new(format!("invalid mount id in: {}", text())))
    };
    let (mount_id, parent_id) = (id(field(0))?, id(field(1))?);
    let (major, minor) = std::str::from_utf8(field(2))
        .ok()
        .and_then(|s| s.split_once(':'))
        .and_then(|(a, b)| Some((a.parse::<i64>().ok()?, b.parse::<i64>().ok()?)))
        .ok_or_else(|| {
            ParseError::new(format!(
                "malformed mount point MajorMinorVer: {:?}",
                String::from_utf8_lossy(field(2))
            ))
        })?;
    Ok(Line {
        mount_id,
        parent_id,
        major,
        minor,
        root: field(3),
        mount_point: field(4),
        mount_options: field(5),
        fs_type: field(n - 3),
        source: field(n - 2),
        super_options: field(n - 1),
    })
}

/// Parses every non-empty line of a mountinfo file ([`parse_line`]); a malformed line fails
/// the whole file, as procfs.
pub fn parse(bytes: &[u8]) -> Result<Vec<Line<'_>>, ParseError> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(parse_line)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_seq_escape_writes() {
        // A mount point "/mnt/a b\tc\\d" as fs/proc_namespace.c writes it.
        assert_eq!(
            unescape_octal(br"/mnt/a\040b\011c\134d"),
            b"/mnt/a b\tc\\d".to_vec()
        );
        // Newer kernels' mangle() also escapes '#' (source "host#1").
        assert_eq!(unescape_octal(br"host\0431"), b"host#1".to_vec());
        // An escaped backslash followed by digits decodes once, not twice.
        assert_eq!(unescape_octal(br"a\134040"), br"a\040".to_vec());
    }

    #[test]
    fn leaves_what_is_not_an_escape() {
        assert_eq!(unescape_octal(br"a\09b"), br"a\09b".to_vec());
        assert_eq!(unescape_octal(br"a\777"), br"a\777".to_vec());
        assert_eq!(unescape_octal(br"end\04"), br"end\04".to_vec());
        assert_eq!(unescape_octal(b"\\"), b"\\".to_vec());
    }

    #[test]
    fn parses_lines_as_procfs() {
        let l = parse_line(
            b"32 31 0:29 /a /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgsrc rw,cpu",
        )
        .unwrap();
        assert_eq!((l.mount_id, l.parent_id, l.major, l.minor), (32, 31, 0, 29));
        assert_eq!(l.mount_point, b"/sys/fs/cgroup/cpu,cpuacct");
        assert_eq!((l.fs_type, l.source), (&b"cgroup"[..], &b"cgsrc"[..]));
        assert_eq!(l.root, b"/a");
        assert_eq!(l.super_options, b"rw,cpu");
        assert_eq!(l.mount_options, b"rw,relatime");
        assert!(parse_line(b"32 31 0:29 / /x rw - cgroup").is_err());
        assert!(
            parse_line(b"32 31 0:29 / /x rw a b c d e").is_err(),
            "no separator"
        );
        assert!(parse_line(b"x 31 0:29 / /x rw - cgroup cgroup rw").is_err());
        assert!(parse_line(b"32 31 0-29 / /x rw - cgroup cgroup rw").is_err());
        assert_eq!(
            parse(b"\n1 0 8:1 / / rw - ext4 /dev/sda1 rw\n\n")
                .unwrap()
                .len(),
            1
        );
        assert!(parse(b"1 0 8:1 / / rw - ext4 /dev/sda1 rw\ngarbage\n").is_err());
    }
}
