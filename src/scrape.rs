//! Scrape orchestration: runs the selected collectors concurrently on blocking threads with a
//! deadline, adds the per-collector meta metrics and the exporter's own metrics, and renders.
//!
//! A collector still running at the deadline is abandoned: it reports success 0 and the
//! scrape is served without it. Its thread is counted as stuck until it returns; a collector
//! with `MAX_STUCK_RUNS` runs stuck is not started again until one returns, so a hung
//! mount or bus never piles up threads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nodex_collectors::expfmt::{render, Format, MetricSink, RenderStats};
use nodex_collectors::{Collector, MetricType};

use crate::selfmetrics;

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
const HELP_AFTER: Duration = Duration::from_millis(10);

const WAITING: u8 = 0;
const RUNNING: u8 = 1;
const FINISHED: u8 = 2;
const ABANDONED: u8 = 3;

type RunOutput = (
    MetricSink,
    Result<(), nodex_collectors::CollectError>,
    Duration,
);

/// One scrape's collectors, shared by its worker threads. Workers take collectors in turn;
/// at the deadline the job is closed: unstarted collectors are dropped and running ones are
/// abandoned (counted as stuck until they return).
struct Job {
    collectors: Vec<(Arc<dyn Collector>, Arc<AtomicUsize>)>,
    /// Emptied sinks of earlier scrapes, whose buffers collectors write into again.
    spare_sinks: Mutex<Vec<MetricSink>>,
    states: Vec<AtomicU8>,
    results: Mutex<Vec<Option<RunOutput>>>,
    next: AtomicUsize,
    remaining: AtomicUsize,
    done: tokio::sync::Notify,
}

impl Job {
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
            let mut sink = self
                .spare_sinks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop()
                .unwrap_or_default();
            // A bug must cost one collector's series, not the exporter.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                collector.collect(&mut sink)
            }))
            .unwrap_or_else(|_| {
                Err(nodex_collectors::CollectError::Other(
                    "collector panicked".into(),
                ))
            });
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
}

struct Entry {
    name: &'static str,
    collector: Arc<dyn Collector>,
    stuck: Arc<AtomicUsize>,
    last_error: Mutex<Option<String>>,
}

/// HTTP-handler counters exported as `promhttp_metric_handler_*`.
#[derive(Default)]
pub struct HandlerStats {
    /// Completed metric requests by status code.
    pub requests: Mutex<HashMap<u16, u64>>,
    /// Metric requests being served now.
    pub in_flight: AtomicUsize,
    /// Gathering problems (duplicate series, type conflicts, failed collectors are not counted).
    pub gathering_errors: AtomicU64,
    /// Encoding problems (write failures).
    pub encoding_errors: AtomicU64,
}

impl HandlerStats {
    /// Counts a finished request with `code`.
    pub fn count(&self, code: u16) {
        let mut map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry(code).or_insert(0) += 1;
    }
}

/// Why a `collect[]`/`exclude[]` selection was refused (HTTP 400, node_exporter's wording).
#[derive(Debug, PartialEq, Eq)]
pub struct SelectionError(pub String);

/// The enabled collectors and everything a scrape needs.
pub struct Scraper {
    entries: Vec<Entry>,
    settings: Arc<nodex_collectors::Settings>,
    exporter_metrics: bool,
    /// Counters of the HTTP handler, shared with the server.
    pub stats: HandlerStats,
    /// Scrapes being collected, by what they collect and how they are encoded.
    in_flight: Mutex<HashMap<ScrapeKey, InFlight>>,
    /// Rendered scrapes' sinks, emptied: reusing their buffers spares each collector the
    /// dozen allocations of growing fresh ones.
    spare_sinks: Mutex<Vec<MetricSink>>,
}

/// A sink holding more than this after a scrape (thousands of containers) is freed rather
/// than kept for reuse, so one large scrape does not pin its memory.
const MAX_SPARE_SINK_BYTES: usize = 256 * 1024;

/// What makes two scrapes interchangeable: the collectors, the format and the encoding.
type ScrapeKey = (Vec<usize>, Format, bool);

/// A scrape being collected, which scrapes asking for the same thing may wait for.
struct InFlight {
    deadline: Instant,
    result: Arc<tokio::sync::OnceCell<Result<ScrapeOutput, String>>>,
}

/// The rendered body of one scrape.
#[derive(Clone)]
pub struct ScrapeOutput {
    /// Exposition bytes (already gzip-compressed when asked).
    pub body: bytes::Bytes,
    /// What the renderer wrote and dropped.
    pub render: RenderStats,
}

impl Scraper {
    /// Builds a scraper over already-constructed collectors (name, collector), sorted by name.
    pub fn new(
        mut collectors: Vec<(&'static str, Box<dyn Collector>)>,
        settings: Arc<nodex_collectors::Settings>,
        exporter_metrics: bool,
    ) -> Self {
        collectors.sort_by_key(|(name, _)| *name);
        Scraper {
            entries: collectors
                .into_iter()
                .map(|(name, collector)| Entry {
                    name,
                    collector: Arc::from(collector),
                    stuck: Arc::new(AtomicUsize::new(0)),
                    last_error: Mutex::new(None),
                })
                .collect(),
            settings,
            exporter_metrics,
            stats: HandlerStats::default(),
            in_flight: Mutex::new(HashMap::new()),
            spare_sinks: Mutex::new(Vec::new()),
        }
    }

    /// Resolves `collect[]` / `exclude[]` as node_exporter's handler does.
    pub fn select(
        &self,
        collect: &[String],
        exclude: &[String],
    ) -> Result<Vec<usize>, SelectionError> {
        if !collect.is_empty() && !exclude.is_empty() {
            return Err(SelectionError(
                "Combined collect and exclude queries are not allowed.".into(),
            ));
        }
        if collect.is_empty() {
            return Ok((0..self.entries.len())
                .filter(|&i| !exclude.iter().any(|x| x == self.entries[i].name))
                .collect());
        }
        let mut picked = Vec::new();
        for name in collect {
            match self.entries.iter().position(|e| e.name == name) {
                Some(i) => {
                    if !picked.contains(&i) {
                        picked.push(i);
                    }
                }
                None => {
                    let why = if nodex_collectors::registry::find(name).is_some() {
                        "disabled collector"
                    } else {
                        "missing collector"
                    };
                    return Err(SelectionError(format!(
                        "Couldn't create filtered metrics handler: couldn't create collector: {why}: {name}"
                    )));
                }
            }
        }
        picked.sort_unstable();
        Ok(picked)
    }

    /// The response body of a scrape of `selected` by `deadline`. A scrape that asks for the
    /// same collectors, format and encoding as one being collected, which will be done by this
    /// scrape's own deadline, waits for it and shares its body instead of collecting again:
    /// Prometheus HA pairs and load generators cost one collection, not one each. A waiter
    /// whose leader is cancelled (its client went away) collects itself.
    pub async fn scrape(
        &self,
        selected: &[usize],
        deadline: Instant,
        format: Format,
        gzip: bool,
    ) -> Result<ScrapeOutput, String> {
        let key: ScrapeKey = (selected.to_vec(), format, gzip);
        let cell = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            match in_flight.get(&key) {
                Some(f) if f.deadline <= deadline && f.result.get().is_none() => {
                    Arc::clone(&f.result)
                }
                _ => {
                    let result = Arc::new(tokio::sync::OnceCell::new());
                    in_flight.insert(
                        key.clone(),
                        InFlight {
                            deadline,
                            result: Arc::clone(&result),
                        },
                    );
                    result
                }
            }
        };
        let out = cell
            .get_or_init(|| async {
                self.collect_and_render(selected, deadline, format, gzip)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await
            .clone();
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if in_flight
            .get(&key)
            .is_some_and(|f| Arc::ptr_eq(&f.result, &cell))
        {
            in_flight.remove(&key);
        }
        out
    }

    /// Runs the selected collectors until `deadline` and renders the response body.
    async fn collect_and_render(
        &self,
        selected: &[usize],
        deadline: Instant,
        format: Format,
        gzip: bool,
    ) -> std::io::Result<ScrapeOutput> {
        self.settings.begin_scrape();
        let scrape_started = Instant::now();
        let runnable: Vec<usize> = selected
            .iter()
            .copied()
            .filter(|&i| self.entries[i].stuck.load(Ordering::Acquire) < MAX_STUCK_RUNS)
            .collect();
        let job = Arc::new(Job {
            collectors: runnable
                .iter()
                .map(|&i| {
                    (
                        Arc::clone(&self.entries[i].collector),
                        Arc::clone(&self.entries[i].stuck),
                    )
                })
                .collect(),
            spare_sinks: Mutex::new(std::mem::take(
                &mut *self.spare_sinks.lock().unwrap_or_else(|p| p.into_inner()),
            )),
            states: runnable.iter().map(|_| AtomicU8::new(WAITING)).collect(),
            results: Mutex::new(runnable.iter().map(|_| None).collect()),
            next: AtomicUsize::new(0),
            remaining: AtomicUsize::new(runnable.len()),
            done: tokio::sync::Notify::new(),
        });
        if !runnable.is_empty() {
            self.run_job(&job, deadline).await;
        }
        // Settle every collector before taking results: one that finishes after this point is
        // abandoned and its late result ignored, so every `Ok` below has its result stored.
        let fates: Vec<Result<(), String>> = runnable
            .iter()
            .enumerate()
            .map(|(pos, &i)| self.settle(&self.entries[i], &job.states[pos]))
            .collect();
        let mut results: Vec<Option<RunOutput>> = job
            .results
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter_mut()
            .map(Option::take)
            .collect();

        let mut sinks = Vec::with_capacity(selected.len() + 2);
        let mut meta = MetricSink::new();
        let mut durations = Vec::with_capacity(selected.len());
        let mut successes = Vec::with_capacity(selected.len());
        for &i in selected {
            let entry = &self.entries[i];
            let outcome = match runnable.iter().position(|&r| r == i) {
                None => Err(format!(
                    "skipped: {MAX_STUCK_RUNS} earlier runs are still blocked past their deadline"
                )),
                Some(pos) => match &fates[pos] {
                    Ok(()) => match results[pos].take() {
                        Some((sink, result, elapsed)) => {
                            sinks.push(sink);
                            durations.push((entry.name, elapsed));
                            result.map_err(|e| e.to_string())
                        }
                        None => Err("finished without a result".to_string()),
                    },
                    Err(why) => Err(why.clone()),
                },
            };
            let started = scrape_started;
            if !durations.iter().any(|(n, _)| *n == entry.name) {
                durations.push((entry.name, started.elapsed()));
            }
            self.log_outcome(entry, &outcome);
            successes.push((entry.name, outcome.is_ok()));
        }
        // One block per family (the renderer sorts blocks), not one per collector.
        meta.gauge(
            "node_scrape_collector_success",
            "node_exporter: Whether a collector succeeded.",
        );
        for (name, ok) in successes {
            meta.sample(&[("collector", name)], if ok { 1.0 } else { 0.0 });
        }
        meta.gauge(
            "node_scrape_collector_duration_seconds",
            "node_exporter: Duration of a collector scrape.",
        );
        for (name, elapsed) in durations {
            meta.sample(&[("collector", name)], elapsed.as_secs_f64());
        }
        sinks.push(meta);
        sinks.push(self.exporter_sink());

        let refs: Vec<&MetricSink> = sinks.iter().collect();
        let mut body = Vec::with_capacity(64 * 1024);
        let stats = if gzip {
            let encoder = flate2::write::GzEncoder::new(&mut body, flate2::Compression::fast());
            // The renderer writes line by line, and flate2 zero-fills its 32 KiB output buffer's
            // spare room on every write: unbuffered, that memset was 8% of a 1000-container scrape.
            let mut writer = std::io::BufWriter::with_capacity(64 * 1024, encoder);
            let stats = render(&refs, format, &mut writer)?;
            writer.into_inner().map_err(|e| e.into_error())?.finish()?;
            stats
        } else {
            render(&refs, format, &mut body)?
        };
        drop(refs);
        self.recycle(sinks, &job);
        if stats.duplicate_series > 0 || !stats.type_conflicts.is_empty() {
            self.stats.gathering_errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                duplicate_series = stats.duplicate_series,
                type_conflicts = ?stats.type_conflicts,
                "error gathering metrics: dropped duplicate series or conflicting families"
            );
        }
        Ok(ScrapeOutput {
            body: body.into(),
            render: stats,
        })
    }

    /// Runs `job` on one worker and adds workers, up to [`collector_concurrency`], while the
    /// ones started make no progress for [`HELP_AFTER`]; returns when every collector has
    /// finished or at `deadline`.
    async fn run_job(&self, job: &Arc<Job>, deadline: Instant) {
        let max_workers = collector_concurrency().min(job.collectors.len());
        let mut workers = 0;
        let mut last_remaining = None;
        loop {
            let remaining = job.remaining.load(Ordering::Acquire);
            if remaining == 0 {
                return;
            }
            let stalled = last_remaining.is_none_or(|last| last == remaining);
            let unstarted = job.next.load(Ordering::Acquire) < job.collectors.len();
            if stalled && unstarted && workers < max_workers {
                let job = Arc::clone(job);
                tokio::task::spawn_blocking(move || job.work());
                workers += 1;
            }
            last_remaining = Some(remaining);
            let wake = if workers < max_workers {
                deadline.min(Instant::now() + HELP_AFTER)
            } else {
                deadline
            };
            if tokio::time::timeout_at(wake.into(), job.done.notified())
                .await
                .is_ok()
                || Instant::now() >= deadline
            {
                return;
            }
        }
    }

    /// Empties a rendered scrape's sinks (and those its job did not use) into the spare pool,
    /// except large ones.
    fn recycle(&self, sinks: Vec<MetricSink>, job: &Job) {
        let unused =
            std::mem::take(&mut *job.spare_sinks.lock().unwrap_or_else(|p| p.into_inner()));
        let mut spare = self.spare_sinks.lock().unwrap_or_else(|p| p.into_inner());
        for mut sink in sinks.into_iter().chain(unused) {
            if sink.capacity_bytes() <= MAX_SPARE_SINK_BYTES && spare.len() < self.entries.len() + 2
            {
                sink.clear();
                spare.push(sink);
            }
        }
    }

    /// Decides a collector's fate once the scrape stops waiting: finished in time (`Ok`), never
    /// started, or abandoned while running (then counted as stuck until it returns).
    fn settle(&self, entry: &Entry, state: &AtomicU8) -> Result<(), String> {
        if state
            .compare_exchange(WAITING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return Err("not started before the scrape deadline".to_string());
        }
        entry.stuck.fetch_add(1, Ordering::AcqRel);
        match state.compare_exchange(RUNNING, ABANDONED, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Err("timed out: still running at the scrape deadline".to_string()),
            Err(_) => {
                entry.stuck.fetch_sub(1, Ordering::AcqRel);
                Ok(())
            }
        }
    }

    /// Logs a collector failure at error level when it first appears or changes, at debug level
    /// while it repeats (and absent subsystems always at debug), so a permanent problem such as
    /// a missing permission is said once rather than every scrape.
    fn log_outcome(&self, entry: &Entry, outcome: &Result<(), String>) {
        let mut last = entry.last_error.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(()) => {
                if last.take().is_some() {
                    tracing::info!(collector = entry.name, "collector recovered");
                }
            }
            Err(msg) => {
                let no_data = msg.starts_with("no data");
                if no_data || last.as_deref() == Some(msg.as_str()) {
                    tracing::debug!(collector = entry.name, err = %msg, "collector failed");
                } else {
                    tracing::error!(collector = entry.name, err = %msg, "collector failed");
                }
                *last = Some(msg.clone());
            }
        }
    }

    fn exporter_sink(&self) -> MetricSink {
        let mut sink = MetricSink::new();
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        let labels = [
            ("branch", ""),
            ("goarch", arch),
            ("goos", std::env::consts::OS),
            ("goversion", "rust"),
            (
                "revision",
                option_env!("NODEX_REVISION").unwrap_or("unknown"),
            ),
            ("tags", "nodex"),
            ("version", env!("CARGO_PKG_VERSION")),
        ];
        sink.gauge(
            "node_exporter_build_info",
            "A metric with a constant '1' value labeled by version, revision, branch, goversion from which node_exporter was built, and the goos and goarch for the build.",
        )
        .sample(&labels, 1.0);
        sink.gauge(
            "nodex_build_info",
            "A metric with a constant '1' value labeled by the version and revision of nodex.",
        )
        .sample(&labels, 1.0);
        if !self.exporter_metrics {
            return sink;
        }
        selfmetrics::write_process_metrics(&mut sink);
        {
            let requests = self
                .stats
                .requests
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            sink.counter(
                "promhttp_metric_handler_requests_total",
                "Total number of scrapes by HTTP status code.",
            );
            for code in [200u16, 500, 503] {
                let value = requests.get(&code).copied().unwrap_or(0);
                sink.sample(&[("code", &code.to_string())], value as f64);
            }
            for (code, value) in requests
                .iter()
                .filter(|(c, _)| ![200, 500, 503].contains(*c))
            {
                sink.sample(&[("code", &code.to_string())], *value as f64);
            }
        }
        sink.single(
            "promhttp_metric_handler_requests_in_flight",
            "Current number of scrapes being served.",
            MetricType::Gauge,
            self.stats.in_flight.load(Ordering::Relaxed) as f64,
        );
        sink.counter(
            "promhttp_metric_handler_errors_total",
            "Total number of internal errors encountered by the promhttp metric handler.",
        )
        .sample(
            &[("cause", "encoding")],
            self.stats.encoding_errors.load(Ordering::Relaxed) as f64,
        )
        .sample(
            &[("cause", "gathering")],
            self.stats.gathering_errors.load(Ordering::Relaxed) as f64,
        );
        sink
    }
}

/// A per-scrape deadline: the configured timeout, shortened to 95% of the scraper's own
/// `X-Prometheus-Scrape-Timeout-Seconds` when that is shorter.
pub fn deadline(now: Instant, configured: Duration, scraper_timeout: Option<f64>) -> Instant {
    let from_header = scraper_timeout
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| Duration::from_secs_f64(s * 0.95));
    now + from_header.map_or(configured, |h| h.min(configured))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodex_collectors::CollectError;
    use std::sync::mpsc;

    struct Fixed(f64);
    impl Collector for Fixed {
        fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
            sink.single("test_value", "v", MetricType::Gauge, self.0);
            Ok(())
        }
    }

    struct Failing;
    impl Collector for Failing {
        fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
            sink.single("test_partial", "p", MetricType::Gauge, 1.0);
            Err(CollectError::Other("boom".into()))
        }
    }

    /// Blocks until its channel is closed or sent to.
    struct Blocking(Mutex<mpsc::Receiver<()>>);
    impl Collector for Blocking {
        fn collect(&self, _sink: &mut MetricSink) -> Result<(), CollectError> {
            let rx = self.0.lock().unwrap_or_else(|p| p.into_inner());
            let _ = rx.recv();
            Ok(())
        }
    }

    fn text(out: &ScrapeOutput) -> String {
        String::from_utf8(out.body.to_vec()).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failures_and_timeouts_are_reported_not_fatal() {
        let (tx, rx) = mpsc::channel();
        let scraper = Scraper::new(
            vec![
                ("a", Box::new(Fixed(2.0))),
                ("b", Box::new(Failing)),
                ("c", Box::new(Blocking(Mutex::new(rx)))),
            ],
            Arc::default(),
            false,
        );
        let all = scraper.select(&[], &[]).unwrap();
        let deadline = Instant::now() + Duration::from_millis(200);
        let out = scraper
            .scrape(&all, deadline, Format::Text, false)
            .await
            .unwrap();
        let body = text(&out);
        assert!(body.contains("test_value 2\n"), "{body}");
        assert!(
            body.contains("test_partial 1\n"),
            "partial output kept: {body}"
        );
        assert!(body.contains("node_scrape_collector_success{collector=\"a\"} 1\n"));
        assert!(body.contains("node_scrape_collector_success{collector=\"b\"} 0\n"));
        assert!(body.contains("node_scrape_collector_success{collector=\"c\"} 0\n"));
        assert!(Instant::now() < deadline + Duration::from_secs(1));
        assert_eq!(scraper.entries[2].stuck.load(Ordering::Acquire), 1);

        // Second scrape: another stuck run; third: skipped without starting a thread.
        let _ = scraper
            .scrape(
                &all,
                Instant::now() + Duration::from_millis(50),
                Format::Text,
                false,
            )
            .await
            .unwrap();
        assert_eq!(scraper.entries[2].stuck.load(Ordering::Acquire), 2);
        let out = scraper
            .scrape(
                &all,
                Instant::now() + Duration::from_millis(50),
                Format::Text,
                false,
            )
            .await
            .unwrap();
        assert!(text(&out).contains("node_scrape_collector_success{collector=\"c\"} 0\n"));
        assert_eq!(scraper.entries[2].stuck.load(Ordering::Acquire), 2);

        // Unblock both runs: the stuck count drains back to zero.
        tx.send(()).unwrap();
        tx.send(()).unwrap();
        let until = Instant::now() + Duration::from_secs(5);
        while scraper.entries[2].stuck.load(Ordering::Acquire) != 0 {
            assert!(Instant::now() < until, "stuck runs never drained");
            tokio::task::yield_now().await;
        }
        drop(tx);
        let out = scraper
            .scrape(
                &all,
                Instant::now() + Duration::from_secs(2),
                Format::Text,
                false,
            )
            .await
            .unwrap();
        assert!(text(&out).contains("node_scrape_collector_success{collector=\"c\"} 1\n"));
    }

    #[test]
    fn selection_follows_node_exporter() {
        let scraper = Scraper::new(
            vec![
                ("loadavg", Box::new(Fixed(1.0))),
                ("b", Box::new(Fixed(1.0))),
            ],
            Arc::default(),
            false,
        );
        assert_eq!(scraper.select(&["loadavg".into()], &[]).unwrap(), vec![1]);
        assert_eq!(scraper.select(&[], &["b".into()]).unwrap(), vec![1]);
        assert_eq!(scraper.select(&[], &["nope".into()]).unwrap(), vec![0, 1]);
        let both = scraper.select(&["b".into()], &["b".into()]).unwrap_err();
        assert_eq!(
            both.0,
            "Combined collect and exclude queries are not allowed."
        );
        let missing = scraper.select(&["nope".into()], &[]).unwrap_err();
        assert!(
            missing.0.ends_with("missing collector: nope"),
            "{}",
            missing.0
        );
    }

    #[test]
    fn deadline_uses_the_shorter_timeout() {
        let now = Instant::now();
        assert_eq!(
            deadline(now, Duration::from_secs(9), None),
            now + Duration::from_secs(9)
        );
        assert_eq!(
            deadline(now, Duration::from_secs(9), Some(2.0)),
            now + Duration::from_secs_f64(1.9)
        );
        assert_eq!(
            deadline(now, Duration::from_secs(1), Some(20.0)),
            now + Duration::from_secs(1)
        );
        assert_eq!(
            deadline(now, Duration::from_secs(1), Some(-3.0)),
            now + Duration::from_secs(1)
        );
    }
}
