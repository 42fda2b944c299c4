//! Errors of collectors and pure parsers.

use std::path::{Path, PathBuf};

/// A parser's complaint about the bytes it was given; carries no path (parsers do no I/O).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl ParseError {
    /// Builds a parse error from anything printable.
    pub fn new(msg: impl Into<String>) -> Self {
        ParseError(msg.into())
    }
}

/// Why a collector did not finish; turns into `node_scrape_collector_success 0` and a log line.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// A file or directory could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// What was being read.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A file was read but its content made no sense.
    #[error("parsing {path}: {source}")]
    Parse {
        /// What was being parsed.
        path: PathBuf,
        /// The parser's error.
        source: ParseError,
    },
    /// The subsystem is absent on this host (no bonding, no mdadm...): logged at debug level.
    #[error("no data: {0}")]
    NoData(String),
    /// A directory that tells whether the subsystem exists is absent: the same "no data" as
    /// [`CollectError::NoData`], with its message built only when printed (several such
    /// directories are missing on every scrape of a typical host).
    #[error("no data: {} does not exist", .0.display())]
    Missing(PathBuf),
    /// Anything else, with its context in the message.
    #[error("{0}")]
    Other(String),
}

impl CollectError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        CollectError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A parse error on `path`.
    pub fn parse(path: &Path, source: ParseError) -> Self {
        CollectError::Parse {
            path: path.to_path_buf(),
            source,
        }
    }

    /// True for a read error saying the file or directory does not exist (`ENOENT`), which
    /// node_exporter's collectors test with `os.IsNotExist` / `errors.Is(err, fs.ErrNotExist)`.
    pub fn is_not_found(&self) -> bool {
        matches!(self, CollectError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }

    /// True for errors that only mean "this host does not have that subsystem".
    pub fn is_no_data(&self) -> bool {
        matches!(self, CollectError::NoData(_) | CollectError::Missing(_))
    }
}

/// Reading a file that may be absent: `Ok(None)` when it does not exist, other errors kept.
pub trait IfPresent<T> {
    /// `Ok(Some(v))`, `Ok(None)` for a missing file, or the error.
    fn if_present(self) -> Result<Option<T>, CollectError>;
}

impl<T> IfPresent<T> for Result<T, CollectError> {
    fn if_present(self) -> Result<Option<T>, CollectError> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(kind: std::io::ErrorKind) -> CollectError {
        CollectError::io(Path::new("/proc/x"), std::io::Error::from(kind))
    }

    #[test]
    fn only_a_missing_file_is_absent() {
        assert!(io(std::io::ErrorKind::NotFound).is_not_found());
        assert!(!io(std::io::ErrorKind::PermissionDenied).is_not_found());
        assert!(!CollectError::NoData("x".into()).is_not_found());
        let missing_dir = CollectError::Missing("/sys/x".into());
        assert!(missing_dir.is_no_data() && !missing_dir.is_not_found());
        assert_eq!(missing_dir.to_string(), "no data: /sys/x does not exist");
        let missing: Result<u8, _> = Err(io(std::io::ErrorKind::NotFound));
        assert!(matches!(missing.if_present(), Ok(None)));
        assert!(matches!(
            Ok::<u8, CollectError>(3).if_present(),
            Ok(Some(3))
        ));
        let denied: Result<u8, _> = Err(io(std::io::ErrorKind::PermissionDenied));
        let err = denied.if_present().unwrap_err();
        assert!(err.to_string().contains("/proc/x"), "{err}");
    }
}
