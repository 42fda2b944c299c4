//! The collector interface and what a collector is built from.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::CollectError;
use crate::expfmt::MetricSink;
use crate::options::Options;
use crate::roots::Roots;

/// What every collector is built from: where to read, and the collector flags.
#[derive(Debug, Default)]
pub struct Settings {
    /// File-system roots (procfs, sysfs, rootfs, udev data).
    pub roots: Roots,
    /// The `--collector.*` options.
    pub options: Options,
    /// State that several collectors built from these settings share (e.g. the container
    /// groups share one cgroup walk), keyed by a name the owning module picks.
    pub shared: SharedState,
    /// Number of the current scrape, bumped by the scraper; 0 when collectors run on their own.
    scrape: std::sync::atomic::AtomicU64,
}

impl Settings {
    /// Settings from roots and options, with empty shared state.
    pub fn new(roots: Roots, options: Options) -> Self {
        Settings {
            roots,
            options,
            shared: SharedState::default(),
            scrape: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Starts a new scrape: state cached for "this scrape" (a shared walk) is stale from now on.
    pub fn begin_scrape(&self) {
        self.scrape
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        crate::fdcache::next_scrape();
    }

    /// The current scrape's number; 0 means no scraper is counting, so nothing may be reused.
    pub fn scrape_epoch(&self) -> u64 {
        self.scrape.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// A small typed map for state shared between collectors of one `Settings`.
#[derive(Default)]
pub struct SharedState(Mutex<HashMap<(&'static str, TypeId), SharedValue>>);

type SharedValue = Arc<dyn Any + Send + Sync>;

impl std::fmt::Debug for SharedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedState")
    }
}

impl SharedState {
    /// Returns the value of type `T` stored under `key`, creating it with `init` the first time.
    pub fn get_or_init<T: Any + Send + Sync>(
        &self,
        key: &'static str,
        init: impl FnOnce() -> T,
    ) -> Arc<T> {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = map
            .entry((key, TypeId::of::<T>()))
            .or_insert_with(|| Arc::new(init()) as SharedValue);
        match Arc::clone(entry).downcast::<T>() {
            Ok(value) => value,
            Err(_) => unreachable!("entries are keyed by their TypeId"),
        }
    }
}

/// A source of metric families, run once per scrape on a blocking thread.
///
/// `collect` may be called from several scrapes at once (concurrent scrapers), so state lives
/// behind interior mutability. It must not panic on anything it reads: bad input is an `Err`,
/// which becomes `node_scrape_collector_success{collector} 0`, while samples already written
/// are still served.
pub trait Collector: Send + Sync {
    /// Writes this collector's families for the current scrape into `sink`.
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError>;
}

/// Builds a collector from the settings; an `Err` stops start-up with its message.
pub type BuildFn = fn(&Arc<Settings>) -> Result<Box<dyn Collector>, String>;

/// A registered collector: its flag name, default state, sources (for the docs) and builder.
#[derive(Clone, Copy)]
pub struct CollectorInfo {
    /// The name in `--collector.<name>`, `collect[]=<name>` and the `collector` label.
    pub name: &'static str,
    /// Whether node_exporter (or cAdvisor, for container groups) enables it by default.
    pub default_enabled: bool,
    /// What it reads, for the README's collector table.
    pub sources: &'static str,
    /// Its own `--collector.<name>.*` flags.
    pub flags: &'static [crate::options::FlagSpec],
    /// Constructs the collector.
    pub build: BuildFn,
}

impl std::fmt::Debug for CollectorInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectorInfo")
            .field("name", &self.name)
            .field("default_enabled", &self.default_enabled)
            .finish()
    }
}

/// Wraps a plain function of the settings as a collector (for stateless collectors).
pub struct FnCollector<F>(pub Arc<Settings>, pub F);

impl<F> Collector for FnCollector<F>
where
    F: Fn(&Settings, &mut MetricSink) -> Result<(), CollectError> + Send + Sync,
{
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        (self.1)(&self.0, sink)
    }
}

/// Defines the `CollectorInfo` for a stateless collector whose work is one function
/// `fn(&Settings, &mut MetricSink) -> Result<(), CollectError>`.
#[macro_export]
macro_rules! stateless_collector {
    ($name:literal, $default:expr, $sources:literal, $func:path) => {
        $crate::stateless_collector!($name, $default, $sources, $func, &[]);
    };
    ($name:literal, $default:expr, $sources:literal, $func:path, $flags:expr) => {
        /// Registration of this collector.
        pub const INFO: $crate::collector::CollectorInfo = $crate::collector::CollectorInfo {
            name: $name,
            default_enabled: $default,
            sources: $sources,
            flags: $flags,
            build: |settings| {
                Ok(Box::new($crate::collector::FnCollector(
                    std::sync::Arc::clone(settings),
                    $func,
                )))
            },
        };
    };
}
