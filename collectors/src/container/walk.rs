//! The per-scrape snapshot shared by the container groups: one walk of the cgroup trees
//! ([`cgroup::tree`]) joined with the containers' identity ([`identity`]), taken by the first
//! group of a scrape and dropped after the last; the directory descriptors it kept go on to the
//! next walk, which reuses those it finds again ([`cgroup::tree`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::cgroup::{self, CgroupTimes, Hierarchies};
use super::identity;
use super::runtime::{MetaCache, Runtime};
use crate::collector::Settings;
use crate::error::CollectError;
use crate::expfmt::LabelSets;
use crate::roots::Roots;

pub use super::config::Config;
pub use super::identity::{Container, Kind};

/// The result of one walk.
pub struct Snapshot {
    /// When the walk finished (unix ms), the timestamp of stats samples.
    pub time_ms: i64,
    /// When the walk finished (unix seconds), for `container_last_seen`.
    pub time_secs: f64,
    /// The mounted hierarchies.
    pub hier: Hierarchies,
    /// The containers, sorted by id.
    pub containers: Vec<Container>,
    /// The containers' labels, encoded once for all the groups' samples.
    pub label_sets: Arc<LabelSets>,
    /// Per runtime present, whether its metadata could be read.
    pub runtimes: Vec<(Runtime, bool)>,
    /// The flags.
    pub config: Arc<Config>,
    /// The scrape it was taken for (`Settings::scrape_epoch`).
    epoch: u64,
    /// Groups done with it ([`Shared::finish`]).
    done: AtomicUsize,
    times: Arc<CgroupTimes>,
}

impl Snapshot {
    /// The cgroup time of container `id` ([`CgroupTimes::get`]), cached across scrapes.
    pub fn cgroup_time(&self, id: &str) -> Option<f64> {
        self.times.get(&self.hier, id)
    }
}

/// State shared by the groups of one `Settings`: flags, metadata cache, last snapshot.
pub struct Shared {
    config: Arc<Config>,
    meta: MetaCache,
    warned: Mutex<Vec<Runtime>>,
    last: Mutex<Option<Arc<Snapshot>>>,
    /// Groups built on this state: when that many are done with a snapshot, its scrape is over.
    groups: AtomicUsize,
    times: Arc<CgroupTimes>,
    /// The last walk's directories, which the next walk reuses.
    dirs: Mutex<Option<Arc<cgroup::Kept>>>,
}

impl Shared {
    /// Shared state for these flags.
    pub fn new(config: Config) -> Self {
        Shared {
            config: Arc::new(config),
            meta: MetaCache::default(),
            warned: Mutex::new(Vec::new()),
            last: Mutex::new(None),
            groups: AtomicUsize::new(0),
            times: Arc::default(),
            dirs: Mutex::new(None),
        }
    }

    /// Counts a group that takes snapshots from this state.
    pub fn add_group(&self) {
        self.groups.fetch_add(1, Ordering::AcqRel);
    }

    /// The snapshot of this scrape: the walk taken for the current scrape if there is one, else
    /// a new walk, so every group of a scrape sees one walk and no scrape sees an older one.
    /// Groups that ask while a walk runs wait for it instead of walking again.
    pub fn snapshot(&self, settings: &Settings) -> Result<Arc<Snapshot>, CollectError> {
        let epoch = settings.scrape_epoch();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = last.as_ref().filter(|s| epoch != 0 && s.epoch == epoch) {
            return Ok(Arc::clone(s));
        }
        // An earlier scrape's snapshot (one whose groups did not all run) goes first, with
        // its descriptors.
        *last = None;
        let mut snap = self.walk(&settings.roots)?;
        snap.epoch = epoch;
        let snap = Arc::new(snap);
        if epoch != 0 {
            *last = Some(Arc::clone(&snap));
        }
        Ok(snap)
    }

    /// A group is done with `snap`. Once every group is, the snapshot is forgotten, so it (and
    /// the directory descriptors it keeps) is dropped as soon as the last group lets go.
    pub fn finish(&self, snap: &Arc<Snapshot>) {
        let done = snap.done.fetch_add(1, Ordering::AcqRel) + 1;
        if done >= self.groups.load(Ordering::Acquire) {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if last.as_ref().is_some_and(|s| Arc::ptr_eq(s, snap)) {
                *last = None;
            }
        }
    }

    fn walk(&self, roots: &Roots) -> Result<Snapshot, CollectError> {
        let mut hier = cgroup::discover(roots)?;
        let cfg = &self.config;
        let mut dirs = self.dirs.lock().unwrap_or_else(|p| p.into_inner());
        let mut ids = cgroup::tree::walk(
            &mut hier,
            cfg.max_depth,
            &|id| cfg.wanted(id),
            dirs.as_deref(),
        );
        // The previous walk's descriptors that this one did not find again close here (those
        // a snapshot still in use holds, when it is dropped).
        *dirs = Some(hier.kept());
        drop(dirs);
        ids.retain(|id| cfg.wanted(id));
        self.times.retain(&ids);
        let (containers, label_sets, runtimes) =
            identity::identify(cfg, &self.meta, &self.warned, &ids);
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        Ok(Snapshot {
            time_ms: now.as_millis() as i64,
            time_secs: now.as_secs_f64(),
            hier,
            containers,
            label_sets: Arc::new(label_sets),
            runtimes,
            config: Arc::clone(cfg),
            epoch: 0,
            done: AtomicUsize::new(0),
            times: Arc::clone(&self.times),
        })
    }
}
