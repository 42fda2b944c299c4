//! Samples of a text exposition looked up by family and label text, and fixture trees copied.

use std::path::Path;

/// The first sample line of `family` (labelled or not) that contains every string of `must`
/// (label pairs such as `id="/docker/..."`).
pub fn line<'a>(text: &'a str, family: &str, must: &[&str]) -> Option<&'a str> {
    text.lines().find(|l| {
        let name = l.split(['{', ' ']).next();
        name == Some(family) && must.iter().all(|m| l.contains(m))
    })
}

/// The value of [`line`].
pub fn value(text: &str, family: &str, must: &[&str]) -> Option<f64> {
    line(text, family, must).and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Copies a directory tree, symlinks as symlinks.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    let entries = std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    for entry in entries {
        let entry = entry.expect("entry");
        let kind = entry.file_type().expect("file type");
        let dest = to.join(entry.file_name());
        if kind.is_symlink() {
            let target = std::fs::read_link(entry.path()).expect("readlink");
            std::os::unix::fs::symlink(target, &dest).expect("symlink");
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "# TYPE a gauge\na{id=\"/x\",k=\"1\"} 2\na{id=\"/y\",k=\"1\"} 3\nab{id=\"/y\"} 9\nb 4\n";

    #[test]
    fn finds_the_sample_with_all_labels() {
        assert_eq!(value(TEXT, "a", &["id=\"/y\""]), Some(3.0));
        assert_eq!(value(TEXT, "a", &["k=\"1\""]), Some(2.0));
        assert_eq!(value(TEXT, "a", &["id=\"/z\""]), None);
        assert_eq!(value(TEXT, "ab", &[]), Some(9.0));
        assert_eq!(value(TEXT, "b", &[]), Some(4.0), "a sample without labels");
        assert_eq!(value(TEXT, "b", &["k=\"1\""]), None);
    }

    #[test]
    fn copies_files_dirs_and_links() {
        let from = tempfile::tempdir().expect("tempdir");
        let to = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(from.path().join("d")).expect("mkdir");
        std::fs::write(from.path().join("d/f"), "x").expect("write");
        std::os::unix::fs::symlink("d/f", from.path().join("l")).expect("symlink");
        copy_tree(from.path(), &to.path().join("c"));
        assert_eq!(
            std::fs::read_to_string(to.path().join("c/d/f"))
                .ok()
                .as_deref(),
            Some("x")
        );
        assert_eq!(
            std::fs::read_link(to.path().join("c/l")).ok(),
            Some(std::path::PathBuf::from("d/f"))
        );
    }
}
