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

    /// True for errors that only mean "this host does not have that subsystem".
    pub fn is_no_data(&self) -> bool {
        matches!(self, CollectError::NoData(_))
    }
}
