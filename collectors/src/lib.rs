#![warn(missing_docs)]
//! nodex's collectors: one module per collector under `host/` (node_exporter's families) and
//! `container/` (cAdvisor's), all reading through [`Roots`], plus the exposition writer.
//!
//! Parsing is pure (bytes in, typed values out) and sits beside its unit tests; I/O happens in
//! the collector functions, which never panic on what they read.

pub mod collector;
pub mod container;
pub mod dbus;
pub mod error;
pub mod expfmt;
pub mod fdcache;
pub mod hash;
pub mod host;
pub mod netlink;
pub mod options;
pub mod procfs;
pub mod registry;
pub mod roots;
pub mod testing;
pub mod util;

pub use collector::{Collector, CollectorInfo, Settings};
pub use error::{CollectError, ParseError};
pub use expfmt::{MetricSink, MetricType};
pub use options::{FlagKind, FlagSpec, Options};
pub use roots::Roots;
