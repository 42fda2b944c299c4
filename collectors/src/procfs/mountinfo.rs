//! `/proc/<pid>/mountinfo` field decoding.
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
}
