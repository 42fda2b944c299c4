//! The budgeted scheduler of [`Walk`]s, kept between scrapes.
//!
//! Why in the scrape rather than a background worker: no thread runs when nobody scrapes, the
//! cost shows up in the scrape's own duration (`node_scrape_collector_duration_seconds`) and
//! is capped by `--collector.container.disk.budget`, and tests are deterministic. The price is
//! that values age with the scrape interval, which `*_measured_timestamp_seconds` shows.
//!
//! Each scrape lists the trees it wants; trees no longer wanted are forgotten. The budget goes
//! first to trees never measured, then to the least recently measured; an unfinished walk
//! resumes next scrape where it stopped, so a tree larger than one budget still completes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::du::{Listings, Progress, Target, Usage, Walk};
use crate::expfmt::{MetricSink, MetricType};

/// The latest complete measurement of one tree.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Measured {
    /// What it used.
    pub usage: Usage,
    /// When the walk finished (unix seconds).
    pub time: f64,
    /// True when the walk stopped at the entry cap (usage is a lower bound).
    pub capped: bool,
    /// True when the usage is the file system's project quota, not a walk's.
    pub quota: bool,
}

#[derive(Default)]
struct Tree {
    walk: Option<Walk>,
    last: Option<Measured>,
    listings: Listings,
}

#[derive(Default)]
struct Inner {
    trees: HashMap<Target, Tree>,
    entries: u64,
    seconds: f64,
    walks: u64,
    reused: u64,
}

/// Measurements and walks in progress, shared by the scrapes of one `Settings`.
#[derive(Default)]
pub struct Measurer {
    inner: Mutex<Inner>,
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Measurer {
    /// An empty measurer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps only `wanted`, walks for `budget` (at least one step unless it is zero; at most
    /// `cap` entries per tree; reusing unchanged directories' listings if `reuse`), and
    /// returns the latest measurement of each wanted tree that has one.
    pub fn run(
        &self,
        wanted: &[Target],
        budget: Duration,
        cap: u64,
        reuse: bool,
    ) -> HashMap<Target, Measured> {
        let started = Instant::now();
        let deadline = started + budget;
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let keep: std::collections::HashSet<&Target> = wanted.iter().collect();
        inner.trees.retain(|k, _| keep.contains(k));
        for w in wanted {
            inner.trees.entry(w.clone()).or_default();
        }
        let mut order: Vec<(Target, f64)> = inner
            .trees
            .iter()
            .map(|(k, t)| (k.clone(), t.last.map_or(f64::NEG_INFINITY, |m| m.time)))
            .collect();
        order.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        let (mut visited, mut reused) = (0, 0);
        for (n, (target, _)) in order.into_iter().enumerate() {
            if budget.is_zero() || (n > 0 && Instant::now() >= deadline) {
                break;
            }
            let Some(tree) = inner.trees.get_mut(&target) else {
                continue;
            };
            let walk = tree.walk.get_or_insert_with(|| {
                let walk = Walk::of(target.clone(), std::mem::take(&mut tree.listings));
                if reuse {
                    walk
                } else {
                    walk.without_reuse()
                }
            });
            let before = walk.visited();
            let progress = walk.step(deadline, cap);
            visited += walk.visited().saturating_sub(before);
            match progress {
                Progress::Paused => {}
                Progress::Done | Progress::Capped => {
                    tree.last = Some(Measured {
                        usage: walk.usage(),
                        time: now_secs(),
                        capped: progress == Progress::Capped,
                        quota: walk.from_quota(),
                    });
                    if let Some(walk) = tree.walk.take() {
                        reused += walk.reused();
                        tree.listings = walk.into_listings();
                    }
                }
                Progress::Failed => {
                    tree.last = None;
                    tree.walk = None;
                }
            }
            if matches!(progress, Progress::Done | Progress::Capped) {
                inner.walks += 1;
            }
        }
        inner.entries += visited;
        inner.reused += reused;
        inner.seconds += started.elapsed().as_secs_f64();
        inner
            .trees
            .iter()
            .filter_map(|(k, t)| Some((k.clone(), t.last?)))
            .collect()
    }

    /// The walker's own counters: entries visited, time spent, walks completed, trees
    /// tracked and trees whose last walk hit the cap.
    pub fn emit_self(&self, sink: &mut MetricSink) {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let capped = inner
            .trees
            .values()
            .filter(|t| t.last.is_some_and(|m| m.capped))
            .count();
        let pending = inner.trees.values().filter(|t| t.walk.is_some()).count();
        let quota = inner
            .trees
            .values()
            .filter(|t| t.last.is_some_and(|m| m.quota))
            .count();
        let listed: usize = inner.trees.values().map(|t| t.listings.len()).sum();
        let rows: [(&str, &str, MetricType, f64); 8] = [
            (
                "nodex_container_disk_walk_entries_total",
                "Directory entries visited measuring container storage.",
                MetricType::Counter,
                inner.entries as f64,
            ),
            (
                "nodex_container_disk_walk_seconds_total",
                "Wall time spent measuring container storage.",
                MetricType::Counter,
                inner.seconds,
            ),
            (
                "nodex_container_disk_walks_total",
                "Directory trees measured to the end (or to the cap).",
                MetricType::Counter,
                inner.walks as f64,
            ),
            (
                "nodex_container_disk_walks_pending",
                "Directory trees whose measurement is in progress.",
                MetricType::Gauge,
                pending as f64,
            ),
            (
                "nodex_container_disk_capped",
                "Directory trees whose last measurement stopped at --collector.container.disk.max-files.",
                MetricType::Gauge,
                capped as f64,
            ),
            (
                "nodex_container_disk_quota_trees",
                "Directory trees whose last measurement is their project quota's usage, not a walk.",
                MetricType::Gauge,
                quota as f64,
            ),
            (
                "nodex_container_disk_listings_reused_total",
                "Directories whose listing was reused, unchanged since the last walk (no getdents).",
                MetricType::Counter,
                inner.reused as f64,
            ),
            (
                "nodex_container_disk_listings_kept",
                "Directory listings kept for the next walk.",
                MetricType::Gauge,
                listed as f64,
            ),
        ];
        for (name, help, kind, value) in rows {
            sink.family(name, help, kind);
            sink.sample(&[], value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_spreads_over_scrapes_and_forgets_unwanted_trees() {
        let base_tmp = tempfile::tempdir().expect("tempdir");
        let base = base_tmp.path().to_path_buf();
        let trees: Vec<Target> = (0..3)
            .map(|i| Target::tree(base.join(format!("t{i}"))))
            .collect();
        for t in &trees {
            for d in 0..5 {
                std::fs::create_dir_all(t.path.join(format!("d{d}"))).expect("dir");
            }
        }
        let m = Measurer::new();
        // No budget: nothing measured, nothing served.
        assert!(m.run(&trees, Duration::ZERO, u64::MAX, true).is_empty());
        let mut rounds = 0;
        let all = loop {
            rounds += 1;
            let r = m.run(&trees, Duration::from_nanos(1), u64::MAX, true);
            if r.len() == trees.len() {
                break r;
            }
            assert!(rounds < 100, "never completes");
        };
        assert!(rounds > 1);
        for t in &trees {
            assert_eq!(all[t].usage.inodes, 6);
        }
        let one = m.run(&trees[..1], Duration::from_secs(5), u64::MAX, true);
        assert_eq!(one.len(), 1);
    }
}
