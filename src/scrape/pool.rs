//! The worker pool of one scrape: collectors run on blocking threads, one worker at first and
//! more while the ones started make no progress, until every collector finished or the deadline.
//!
//! A collector still running at the deadline is abandoned: it reports success 0 and the
//! scrape is served without it. Its thread is counted as stuck until it returns; a collector
//! with `MAX_STUCK_RUNS` runs stuck is not started again until one returns, so a hung
//! mount or bus never piles up threads.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nodex_collectors::expfmt::MetricSink;
use nodex_collectors::{CollectError, Collector};

/// How many abandoned runs of one collector may still be blocked before it is skipped.
pub const MAX_STUCK_RUNS: usize = 2;

/// Most worker threads one scrape's collectors may run on: one per CPU, between 2 and 4. More
/// threads than CPUs buy nothing, and each allocating thread costs a glibc malloc arena of
/// resident memory.
/// Decided once: `available_parallelism` reads the cgroup CPU quota files on every call.
fn collector_concurrency() -> usize {
    static WORKERS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *WORKERS.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 4)
    })
}

/// How long a scrape's workers may go without finishing a collector before another worker
/// joins them. A scrape starts on one worker: a host's collectors take about a millisecond in
/// all, and every extra thread costs wake-ups, context switches and malloc lock contention for
/// no gain. A collector that blocks (a hung mount, a slow bus) or runs long (thousands of
/// containers) stops the progress, and the next worker takes the collectors behind it.
pub(super) const HELP_AFTER: Duration = Duration::from_millis(10);

const WAITING: u8 = 0;
const RUNNING: u8 = 1;
const FINISHED: u8 = 2;
const ABANDONED: u8 = 3;

/// One collector of a job: the collector, its stuck-run counter and its sink of an earlier
/// scrape to write into again.
pub(super) type JobEntry = (Arc<dyn Collector>, Arc<AtomicUsize>, Option<MetricSink>);

/// What one collector run left: its sink, its result and how long it took.
pub(super) type RunOutput = (MetricSink, Result<(), CollectError>, Duration);

/// One scrape's collectors, shared by its worker threads. Workers take collectors in turn;
/// at the deadline the job is closed: unstarted collectors are dropped and running ones are
/// abandoned (counted as stuck until they return).
pub(super) struct Job {
    collectors: Vec<(Arc<dyn Collector>, Arc<AtomicUsize>)>,
    /// Per collector, its emptied sink of an earlier scrape, whose buffers it writes into
    /// again: its own, so that every buffer already has the size its collector needs.
    pub(super) spare_sinks: Vec<Mutex<Option<MetricSink>>>,
    states: Vec<AtomicU8>,
    results: Mutex<Vec<Option<RunOutput>>>,
    next: AtomicUsize,
    remaining: AtomicUsize,
    done: tokio::sync::Notify,
}

impl Job {
    /// A job over `collectors` (each with its stuck-run counter and the sink it may reuse).
    pub(super) fn new(collectors: Vec<JobEntry>) -> Self {
        let n = collectors.len();
        let (collectors, spare_sinks) = collectors
            .into_iter()
            .map(|(collector, stuck, sink)| ((collector, stuck), Mutex::new(sink)))
            .unzip();
        Job {
            collectors,
            spare_sinks,
            states: (0..n).map(|_| AtomicU8::new(WAITING)).collect(),
            results: Mutex::new((0..n).map(|_| None).collect()),
            next: AtomicUsize::new(0),
            remaining: AtomicUsize::new(n),
            done: tokio::sync::Notify::new(),
        }
    }

    /// A worker's loop: run collectors until none is left or the job was closed.
    fn work(&self) {
        loop {
            let pos = self.next.fetch_add(1, Ordering::AcqRel);
            let Some((collector, stuck)) = self.collectors.get(pos) else {
                return;
            };
            if self.states[pos]
                .compare_exchange(WAITING, RUNNING, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                return; // closed at the deadline
            }
            let started = Instant::now();
            let mut sink = self.spare_sinks[pos]
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .unwrap_or_default();
            // A bug must cost one collector's series, not the exporter.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                collector.collect(&mut sink)
            }))
            .unwrap_or_else(|_| Err(CollectError::Other("collector panicked".into())));
            let output = (sink, result, started.elapsed());
            self.results.lock().unwrap_or_else(|p| p.into_inner())[pos] = Some(output);
            if self.states[pos]
                .compare_exchange(RUNNING, FINISHED, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                // Finished after the deadline: the scrape has moved on.
                stuck.fetch_sub(1, Ordering::AcqRel);
                return;
            }
            if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                self.done.notify_one();
            }
        }
    }

    /// Runs the job on one worker and adds workers, up to [`collector_concurrency`], while the
    /// ones started make no progress for [`HELP_AFTER`]; returns when every collector has
    /// finished or at `deadline`.
    pub(super) async fn run(self: &Arc<Self>, deadline: Instant) {
        let max_workers = collector_concurrency().min(self.collectors.len());
        let mut workers = 0;
        let mut last_remaining = None;
        loop {
            let remaining = self.remaining.load(Ordering::Acquire);
            if remaining == 0 {
                return;
            }
            let stalled = last_remaining.is_none_or(|last| last == remaining);
            let unstarted = self.next.load(Ordering::Acquire) < self.collectors.len();
            if stalled && unstarted && workers < max_workers {
                let job = Arc::clone(self);
                tokio::task::spawn_blocking(move || job.work());
                workers += 1;
            }
            last_remaining = Some(remaining);
            let wake = if workers < max_workers {
                deadline.min(Instant::now() + HELP_AFTER)
            } else {
                deadline
            };
            if tokio::time::timeout_at(wake.into(), self.done.notified())
                .await
                .is_ok()
                || Instant::now() >= deadline
            {
                return;
            }
        }
    }

    /// Decides the fate of the collector at `pos` once the scrape stops waiting: finished in
    /// time (`Ok`), never started, or abandoned while running (then counted in `stuck` until it
    /// returns).
    pub(super) fn settle(&self, pos: usize, stuck: &AtomicUsize) -> Result<(), String> {
        let state = &self.states[pos];
        if state
            .compare_exchange(WAITING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return Err("not started before the scrape deadline".to_string());
        }
        stuck.fetch_add(1, Ordering::AcqRel);
        match state.compare_exchange(RUNNING, ABANDONED, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Err("timed out: still running at the scrape deadline".to_string()),
            Err(_) => {
                stuck.fetch_sub(1, Ordering::AcqRel);
                Ok(())
            }
        }
    }

    /// Takes every stored result out of the job (settle every collector first: a result stored
    /// after that belongs to an abandoned run and is ignored).
    pub(super) fn take_results(&self) -> Vec<Option<RunOutput>> {
        self.results
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter_mut()
            .map(Option::take)
            .collect()
    }
}
