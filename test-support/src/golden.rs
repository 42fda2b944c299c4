//! Golden files: output compared byte for byte with a file in the repository, rewritten instead
//! when `UPDATE_GOLDEN` is set (`scripts/bless.sh`).

use std::path::Path;

/// At most this many differing lines are shown.
const SHOWN: usize = 60;

/// `None` when `got` equals the golden at `path` (or `UPDATE_GOLDEN` is set and the golden was
/// rewritten); otherwise what differs: the golden's lines missing from `got` (`-`) and `got`'s
/// lines missing from the golden (`+`), or that the golden cannot be read.
pub fn compare(path: &Path, got: &str) -> Option<String> {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("golden directory");
        }
        std::fs::write(path, got).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        return None;
    }
    match std::fs::read_to_string(path) {
        Ok(want) if want == got => None,
        Ok(want) => Some(format!(
            "{} differs (UPDATE_GOLDEN=1 rewrites it):\n{}",
            path.display(),
            line_diff(&want, got)
        )),
        Err(e) => Some(format!("no golden {}: {e}", path.display())),
    }
}

/// The lines of `want` not in `got` (`- `) and of `got` not in `want` (`+ `); when both hold
/// the same lines in another order or count, says so.
pub fn line_diff(want: &str, got: &str) -> String {
    let g: Vec<&str> = got.lines().collect();
    let w: Vec<&str> = want.lines().collect();
    let mut out: Vec<String> = w
        .iter()
        .filter(|l| !g.contains(l))
        .map(|l| format!("  - {l}"))
        .chain(
            g.iter()
                .filter(|l| !w.contains(l))
                .map(|l| format!("  + {l}")),
        )
        .collect();
    if out.is_empty() {
        out.push("  (the same lines, in another order, count or line ending)".to_string());
    }
    let more = out.len().saturating_sub(SHOWN);
    out.truncate(SHOWN);
    if more > 0 {
        out.push(format!("  ... and {more} more lines"));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_names_missing_and_extra_lines() {
        let d = line_diff("a 1\nb 2\n", "a 1\nb 3\n");
        assert_eq!(d, "  - b 2\n  + b 3");
        assert!(line_diff("a\nb\n", "b\na\n").contains("another order"));
    }

    #[test]
    fn missing_golden_is_a_difference() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.prom");
        if std::env::var_os("UPDATE_GOLDEN").is_none() {
            assert!(compare(&path, "a 1\n").is_some_and(|m| m.contains("no golden")));
            std::fs::write(&path, "a 1\n").expect("write");
            assert_eq!(compare(&path, "a 1\n"), None);
            assert!(compare(&path, "a 2\n").is_some_and(|m| m.contains("+ a 2")));
        }
    }
}
