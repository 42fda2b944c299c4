//! Scrape orchestration: runs the selected collectors concurrently on blocking threads with a
//! deadline (`pool`), adds the per-collector meta metrics and the exporter's own metrics
//! (`meta`), and renders, gzip-compressed when asked. `select` resolves `collect[]`/`exclude[]`;
//! `coalesce` lets identical concurrent scrapes share one collection.

mod coalesce;
mod gzip;
mod meta;
mod pool;
mod select;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nodex_collectors::expfmt::{render_with, BlockOrder, Format, MetricSink, RenderStats};
use nodex_collectors::Collector;

use coalesce::{InFlight, ScrapeKey};
use pool::{Job, RunOutput, MAX_STUCK_RUNS};

/// The HTTP handler's own counters, which the scraper reports (`promhttp_metric_handler_*`)
/// but the server keeps.
pub trait HandlerMetrics: Send + Sync {
    /// Counts a scrape whose rendering dropped duplicate series or conflicting families.
    fn gathering_error(&self);
    /// Writes the handler's metrics into `sink`.
    fn write_metrics(&self, sink: &mut MetricSink);
}

struct Entry {
    name: &'static str,
    collector: Arc<dyn Collector>,
    stuck: Arc<AtomicUsize>,
    last_error: Mutex<Option<String>>,
    /// The collector's sink of its last rendered scrape, emptied: reusing it spares the
    /// collector the allocations of growing fresh buffers, and being its own it already has
    /// the sizes this collector needs.
    spare_sink: Mutex<Option<MetricSink>>,
    /// How long its last finished run took (µs), which orders the next scrape's job.
    last_micros: AtomicU64,
}

/// Why a collector run did not succeed, classified once from its [`CollectError`].
///
/// [`CollectError`]: nodex_collectors::CollectError
struct Failure {
    msg: String,
    /// The subsystem is absent (`CollectError::is_no_data`): logged at debug level only.
    no_data: bool,
}

impl Failure {
    fn of(e: &nodex_collectors::CollectError) -> Self {
        let no_data = e.is_no_data();
        // About fifteen collectors find no subsystem on every scrape of a typical host; their
        // messages are only logged at debug level, so they are built only when that is on (an
        // empty one still marks the collector as failed for the "recovered" line).
        let msg = if no_data && !tracing::enabled!(tracing::Level::DEBUG) {
            String::new()
        } else {
            e.to_string()
        };
        Failure { msg, no_data }
    }

    fn other(msg: String) -> Self {
        Failure {
            msg,
            no_data: false,
        }
    }
}

/// The enabled collectors and everything a scrape needs.
pub struct Scraper {
    entries: Vec<Entry>,
    settings: Arc<nodex_collectors::Settings>,
    exporter_metrics: bool,
    /// The HTTP handler's counters, reported with the exporter's own metrics.
    handler: Option<Arc<dyn HandlerMetrics>>,
    /// Scrapes being collected, by what they collect and how they are encoded.
    in_flight: Mutex<HashMap<ScrapeKey, InFlight>>,
    /// The emptied sinks of the scrape's own metrics (collector meta, exporter metrics).
    spare_sinks: Mutex<[Option<MetricSink>; 2]>,
    /// The block order of the last rendered scrape, which the next one starts from.
    block_order: Mutex<BlockOrder>,
    /// The gzip writer's chunk buffer of the last compressed scrape.
    spare_gzip_chunk: Mutex<Vec<u8>>,
}

/// A sink holding more than this after a scrape (thousands of containers) is freed rather
/// than kept for reuse, so one large scrape does not pin its memory.
const MAX_SPARE_SINK_BYTES: usize = 256 * 1024;

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
                    spare_sink: Mutex::new(None),
                    last_micros: AtomicU64::new(0),
                })
                .collect(),
            settings,
            exporter_metrics,
            handler: None,
            in_flight: Mutex::new(HashMap::new()),
            spare_sinks: Mutex::default(),
            block_order: Mutex::default(),
            spare_gzip_chunk: Mutex::default(),
        }
    }

    /// Reports `handler`'s counters with the exporter's own metrics.
    pub fn with_handler_metrics(mut self, handler: Arc<dyn HandlerMetrics>) -> Self {
        self.handler = Some(handler);
        self
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
        let mut runnable: Vec<usize> = selected
            .iter()
            .copied()
            .filter(|&i| self.entries[i].stuck.load(Ordering::Acquire) < MAX_STUCK_RUNS)
            .collect();
        // Longest first, by the last run: the workers take collectors in this order, so the
        // long container groups start together and the short ones fill in at the end, where in
        // name order one long group could be left to run alone after the others finished.
        // Only a collector that runs long brings a second worker in (`pool::HELP_AFTER`); a
        // host scrape's order does not matter, and sorting it was 0.6% of its instructions.
        let last = |i: usize| self.entries[i].last_micros.load(Ordering::Relaxed);
        if runnable
            .iter()
            .any(|&i| last(i) >= pool::HELP_AFTER.as_micros() as u64)
        {
            let mut keyed: Vec<(std::cmp::Reverse<u64>, usize)> = runnable
                .iter()
                .map(|&i| (std::cmp::Reverse(last(i)), i))
                .collect();
            keyed.sort_unstable();
            runnable = keyed.into_iter().map(|(_, i)| i).collect();
        }
        let job = Arc::new(Job::new(
            runnable
                .iter()
                .map(|&i| {
                    let entry = &self.entries[i];
                    (
                        Arc::clone(&entry.collector),
                        Arc::clone(&entry.stuck),
                        lock(&entry.spare_sink).take(),
                    )
                })
                .collect(),
        ));
        if !runnable.is_empty() {
            job.run(deadline).await;
        }
        // Settle every collector before taking results: one that finishes after this point is
        // abandoned and its late result ignored, so every `Ok` below has its result stored.
        let fates: Vec<Result<(), String>> = runnable
            .iter()
            .enumerate()
            .map(|(pos, &i)| job.settle(pos, &self.entries[i].stuck))
            .collect();
        let mut results: Vec<Option<RunOutput>> = job.take_results();

        let mut sinks = Vec::with_capacity(selected.len() + 2);
        // The entry each of `sinks` came from, for recycling.
        let mut owners = Vec::with_capacity(selected.len());
        let mut durations = Vec::with_capacity(selected.len());
        let mut successes = Vec::with_capacity(selected.len());
        // Each runnable entry's position in the job (the job runs them longest first).
        let mut place_of: Vec<Option<usize>> = vec![None; self.entries.len()];
        for (pos, &i) in runnable.iter().enumerate() {
            place_of[i] = Some(pos);
        }
        for &i in selected {
            let entry = &self.entries[i];
            let place = place_of[i];
            let mut timed = false;
            let outcome = match place {
                None => Err(Failure::other(format!(
                    "skipped: {MAX_STUCK_RUNS} earlier runs are still blocked past their deadline"
                ))),
                Some(pos) => match &fates[pos] {
                    Ok(()) => match results[pos].take() {
                        Some((sink, result, elapsed)) => {
                            entry
                                .last_micros
                                .store(elapsed.as_micros() as u64, Ordering::Relaxed);
                            sinks.push(sink);
                            owners.push(i);
                            durations.push((entry.name, elapsed));
                            timed = true;
                            result.map_err(|e| Failure::of(&e))
                        }
                        None => Err(Failure::other("finished without a result".to_string())),
                    },
                    Err(why) => Err(Failure::other(why.clone())),
                },
            };
            if !timed {
                durations.push((entry.name, scrape_started.elapsed()));
            }
            successes.push((entry.name, outcome.is_ok()));
            self.log_outcome(entry, outcome);
        }
        let [meta_sink, exporter_sink] = std::mem::take(&mut *lock(&self.spare_sinks));
        sinks.push(meta::collector_meta(
            meta_sink.unwrap_or_default(),
            &successes,
            &durations,
        ));
        sinks.push(self.exporter_sink(exporter_sink.unwrap_or_default()));

        let refs: Vec<&MetricSink> = sinks.iter().collect();
        let mut body = Vec::with_capacity(64 * 1024);
        // Concurrent scrapes (other selections) do not wait for each other: one renders
        // without the kept order and leaves the slot alone.
        let mut kept = self.block_order.try_lock().ok();
        let mut fresh = BlockOrder::default();
        let order = kept.as_deref_mut().unwrap_or(&mut fresh);
        let stats = if gzip {
            let chunk = std::mem::take(&mut *lock(&self.spare_gzip_chunk));
            let mut writer = gzip::ParallelGzip::new(&mut body, chunk);
            let stats = render_with(&refs, format, &mut writer, order)?;
            *lock(&self.spare_gzip_chunk) = writer.finish()?;
            stats
        } else {
            render_with(&refs, format, &mut body, order)?
        };
        drop(kept);
        drop(refs);
        self.recycle(sinks, &owners, &runnable, &job);
        if stats.duplicate_series > 0 || !stats.type_conflicts.is_empty() {
            if let Some(handler) = &self.handler {
                handler.gathering_error();
            }
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

    /// Empties a rendered scrape's sinks, collectors' sinks from entries `owners` followed
    /// by the meta and exporter sinks, back to where they came from, except large ones; so are
    /// the sinks of `job`'s collectors (entries `runnable`) that did not run.
    fn recycle(&self, sinks: Vec<MetricSink>, owners: &[usize], runnable: &[usize], job: &Job) {
        let keep = |mut sink: MetricSink| {
            (sink.capacity_bytes() <= MAX_SPARE_SINK_BYTES).then(|| {
                sink.clear();
                sink
            })
        };
        let mut sinks = sinks.into_iter();
        for (&i, sink) in owners.iter().zip(sinks.by_ref()) {
            *lock(&self.entries[i].spare_sink) = keep(sink);
        }
        let mut own = lock(&self.spare_sinks);
        for (slot, sink) in own.iter_mut().zip(sinks) {
            *slot = keep(sink);
        }
        for (&i, unused) in runnable.iter().zip(&job.spare_sinks) {
            if let Some(sink) = lock(unused).take() {
                *lock(&self.entries[i].spare_sink) = keep(sink);
            }
        }
    }

    /// Logs a collector failure at error level when it first appears or changes, at debug level
    /// while it repeats (and absent subsystems always at debug), so a permanent problem such as
    /// a missing permission is said once rather than every scrape.
    fn log_outcome(&self, entry: &Entry, outcome: Result<(), Failure>) {
        let mut last = entry.last_error.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(()) => {
                if last.take().is_some() {
                    tracing::info!(collector = entry.name, "collector recovered");
                }
            }
            Err(Failure { msg, no_data }) => {
                let repeated = last.as_deref() == Some(msg.as_str());
                if no_data || repeated {
                    tracing::debug!(collector = entry.name, err = %msg, "collector failed");
                } else {
                    tracing::error!(collector = entry.name, err = %msg, "collector failed");
                }
                if !repeated {
                    *last = Some(msg);
                }
            }
        }
    }
}

/// Locks `m`, taking the value over when a panicking holder poisoned it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
    use nodex_collectors::{CollectError, MetricType};
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

    /// Runs past `pool::HELP_AFTER`, as a container group with thousands of containers does.
    struct Slow;
    impl Collector for Slow {
        fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
            std::thread::sleep(pool::HELP_AFTER * 2);
            sink.single("test_slow", "s", MetricType::Gauge, 3.0);
            Ok(())
        }
    }

    /// A collector that ran long last time starts first; every collector's result still goes
    /// to its own name (once the job's order differed from the names' order, results were
    /// matched to the wrong collectors, which were reported as skipped).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn longest_first_order_keeps_every_result_with_its_collector() {
        let scraper = Scraper::new(
            vec![
                ("a", Box::new(Fixed(2.0))),
                ("b", Box::new(Failing)),
                ("z", Box::new(Slow)),
            ],
            Arc::default(),
            false,
        );
        let all = scraper.select(&[], &[]).unwrap();
        for round in 0..3 {
            let deadline = Instant::now() + Duration::from_secs(10);
            let out = scraper
                .scrape(&all, deadline, Format::Text, false)
                .await
                .unwrap();
            let body = text(&out);
            for line in [
                "test_value 2\n",
                "test_partial 1\n",
                "test_slow 3\n",
                "node_scrape_collector_success{collector=\"a\"} 1\n",
                "node_scrape_collector_success{collector=\"b\"} 0\n",
                "node_scrape_collector_success{collector=\"z\"} 1\n",
            ] {
                assert!(body.contains(line), "round {round}: no {line:?} in\n{body}");
            }
            assert!(scraper.entries[2].last_micros.load(Ordering::Relaxed) >= 20_000);
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
    fn failures_are_classified_by_kind_not_wording() {
        assert!(Failure::of(&CollectError::NoData("no bonding".into())).no_data);
        // A message that happens to start with "no data" is still a real failure.
        assert!(!Failure::of(&CollectError::Other("no data in /proc/x".into())).no_data);
        let io = CollectError::io(
            std::path::Path::new("/proc/x"),
            std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        );
        assert!(!Failure::of(&io).no_data);
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
