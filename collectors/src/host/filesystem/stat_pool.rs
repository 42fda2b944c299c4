//! A bounded pool of dedicated threads calling `statfs`, which can block forever on a dead
//! NFS or FUSE mount and cannot be cancelled.
//!
//! Guarantees:
//! - A scrape waits at most `timeout` in total, then serves what is ready; every mount still
//!   unanswered is reported as [`Outcome::Timeout`].
//! - A call that has not returned by the end of the scrape that waited for it (or that has run
//!   for `timeout` when a later scrape starts) marks its mount *stuck*. A stuck mount is not
//!   statted again until its blocked call returns; meanwhile every scrape reports it as a
//!   timeout at once, without waiting.
//! - The thread running a stuck call is *parked*: a replacement is started so that `workers`
//!   threads keep serving, but never more than `workers + MAX_PARKED` threads exist. When a
//!   parked call returns, its thread rejoins the pool if it is short of workers, else exits.
//!   With more than `MAX_PARKED` mounts hung at once, fewer threads serve and mounts queued
//!   behind them are reported as timeouts; no thread is ever added beyond the cap.
//! - Concurrent scrapes share calls: a mount already being statted is not statted twice.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a scrape waits for any call to return before it wakes another thread for the
/// calls queued behind.
const HELP_AFTER: Duration = Duration::from_millis(10);

/// Upper bound on threads parked on stuck calls, on top of the `workers` serving threads.
pub const MAX_PARKED: usize = 8;

/// The numbers node_exporter takes from `statfs`, already multiplied out.
#[derive(Clone, Debug, PartialEq)]
pub struct FsStat {
    /// blocks × block size.
    pub size: f64,
    /// free blocks × block size.
    pub free: f64,
    /// blocks available to unprivileged users × block size.
    pub avail: f64,
    /// Total inodes.
    pub files: f64,
    /// Free inodes.
    pub files_free: f64,
}

/// The result of one stat call: the numbers, or the error text for `device_error`.
pub type StatResult = Result<FsStat, String>;

/// The stat function the pool calls (injectable for tests).
pub type StatFn = dyn Fn(&Path) -> StatResult + Send + Sync;

/// What a scrape learned about one mount point.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The call returned in time.
    Done(StatResult),
    /// The mount is stuck, or its call did not return before the scrape's deadline.
    Timeout,
}

type Reply = (String, StatResult);

struct Call {
    path: PathBuf,
    started: Option<Instant>,
    stuck: bool,
    waiters: Vec<(u64, Sender<Reply>)>,
}

#[derive(Default)]
struct State {
    calls: HashMap<String, Call>,
    queue: VecDeque<String>,
    /// Threads serving the queue (idle or in a call that is not stuck).
    active: usize,
    /// Threads blocked in a stuck call.
    parked: usize,
    shutdown: bool,
}

struct Inner {
    state: Mutex<State>,
    work: Condvar,
    stat: Box<StatFn>,
    workers: usize,
    timeout: Duration,
    next_scrape: AtomicU64,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The pool; dropping it lets idle threads exit (parked ones exit when their call returns).
pub struct StatPool {
    inner: Arc<Inner>,
}

impl StatPool {
    /// A pool of `workers` (at least 1) threads, started on first use, with a per-scrape
    /// `timeout`.
    pub fn new(workers: usize, timeout: Duration, stat: Box<StatFn>) -> Self {
        StatPool {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                work: Condvar::new(),
                stat,
                workers: workers.max(1),
                timeout,
                next_scrape: AtomicU64::new(0),
            }),
        }
    }

    /// Number of pool threads alive (serving plus parked).
    pub fn threads(&self) -> usize {
        let st = self.inner.lock();
        st.active + st.parked
    }

    /// True while a blocked call on `key` is outstanding past its deadline.
    pub fn is_stuck(&self, key: &str) -> bool {
        self.inner.lock().calls.get(key).is_some_and(|c| c.stuck)
    }

    /// Stats every `(key, path)` (keys are mount points; repeated keys are statted once) and
    /// returns within the pool's timeout with an outcome for every key.
    pub fn stat_all(&self, mounts: &[(String, PathBuf)]) -> HashMap<String, Outcome> {
        let scrape = self.inner.next_scrape.fetch_add(1, Ordering::Relaxed);
        let start = Instant::now();
        let deadline = start + self.inner.timeout;
        let (tx, rx) = mpsc::channel::<Reply>();
        let mut out = HashMap::new();
        let mut pending = HashSet::new();
        {
            let mut st = self.inner.lock();
            self.expire(&mut st, start);
            for (key, path) in mounts {
                if out.contains_key(key) || pending.contains(key) {
                    continue;
                }
                match st.calls.get_mut(key) {
                    Some(call) if call.stuck => {
                        out.insert(key.clone(), Outcome::Timeout);
                    }
                    Some(call) => {
                        call.waiters.push((scrape, tx.clone()));
                        pending.insert(key.clone());
                    }
                    None => {
                        let call = Call {
                            path: path.clone(),
                            started: None,
                            stuck: false,
                            waiters: vec![(scrape, tx.clone())],
                        };
                        st.calls.insert(key.clone(), call);
                        st.queue.push_back(key.clone());
                        pending.insert(key.clone());
                    }
                }
            }
            self.spawn_workers(&mut st);
        }
        drop(tx);
        // One thread takes the queue in turn; another is woken only when no call has returned
        // for HELP_AFTER (one blocked), so a scrape of healthy mounts wakes one thread.
        self.inner.work.notify_one();

        while !pending.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            match rx.recv_timeout((deadline - now).min(HELP_AFTER)) {
                Ok((key, result)) => {
                    if pending.remove(&key) {
                        out.insert(key, Outcome::Done(result));
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => self.inner.work.notify_one(),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        if !pending.is_empty() {
            self.give_up(scrape, &pending);
            // Calls that finished before `give_up` took the lock have already replied.
            while let Ok((key, result)) = rx.try_recv() {
                if pending.remove(&key) {
                    out.insert(key, Outcome::Done(result));
                }
            }
            for key in pending {
                out.insert(key, Outcome::Timeout);
            }
        }
        out
    }

    /// At the deadline: calls still running become stuck; queued calls nobody else waits
    /// for are dropped.
    fn give_up(&self, scrape: u64, pending: &HashSet<String>) {
        let mut st = self.inner.lock();
        let mut newly_parked = 0;
        let mut dropped = Vec::new();
        for key in pending {
            let Some(call) = st.calls.get_mut(key) else {
                continue;
            };
            call.waiters.retain(|(id, _)| *id != scrape);
            if call.started.is_some() {
                if !call.stuck {
                    call.stuck = true;
                    newly_parked += 1;
                }
            } else if call.waiters.is_empty() {
                dropped.push(key.clone());
            }
        }
        for key in &dropped {
            st.calls.remove(key);
        }
        st.queue.retain(|k| !dropped.contains(k));
        st.active -= newly_parked;
        st.parked += newly_parked;
        self.spawn_workers(&mut st);
    }

    /// Marks calls running for at least the timeout as stuck and parks their threads.
    fn expire(&self, st: &mut State, now: Instant) {
        let timeout = self.inner.timeout;
        let mut newly_parked = 0;
        for call in st.calls.values_mut() {
            let overdue = call
                .started
                .is_some_and(|t| now.saturating_duration_since(t) >= timeout);
            if overdue && !call.stuck {
                call.stuck = true;
                newly_parked += 1;
            }
        }
        st.active -= newly_parked;
        st.parked += newly_parked;
    }

    /// Starts threads until `workers` serve, within the thread cap.
    fn spawn_workers(&self, st: &mut State) {
        let cap = self.inner.workers + MAX_PARKED;
        while st.active < self.inner.workers && st.active + st.parked < cap {
            let inner = Arc::clone(&self.inner);
            let spawned = std::thread::Builder::new()
                .name("nodex-statfs".into())
                .spawn(move || worker(&inner));
            if let Err(e) = spawned {
                tracing::warn!("cannot start a statfs thread: {e}");
                break;
            }
            st.active += 1;
        }
    }
}

impl Drop for StatPool {
    fn drop(&mut self) {
        self.inner.lock().shutdown = true;
        self.inner.work.notify_all();
    }
}

fn worker(inner: &Inner) {
    let mut st = inner.lock();
    loop {
        if st.shutdown {
            st.active -= 1;
            return;
        }
        let Some(key) = st.queue.pop_front() else {
            st = inner.work.wait(st).unwrap_or_else(|p| p.into_inner());
            continue;
        };
        let Some(call) = st.calls.get_mut(&key) else {
            continue;
        };
        call.started = Some(Instant::now());
        let path = call.path.clone();
        drop(st);
        let result = (inner.stat)(&path);
        st = inner.lock();
        let was_stuck = match st.calls.remove(&key) {
            Some(call) => {
                for (_, tx) in &call.waiters {
                    let _ = tx.send((key.clone(), result.clone()));
                }
                call.stuck
            }
            None => false,
        };
        if was_stuck {
            tracing::debug!(mountpoint = %key, "mount point has recovered, monitoring will resume");
            st.parked -= 1;
            if st.shutdown || st.active >= inner.workers {
                return;
            }
            st.active += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::mpsc::Receiver;

    fn ok() -> StatResult {
        Ok(FsStat {
            size: 1.0,
            free: 1.0,
            avail: 1.0,
            files: 1.0,
            files_free: 1.0,
        })
    }

    /// Counts calls blocked in the injected stat function: each one holds a thread.
    #[derive(Default)]
    struct Blocked {
        now: AtomicUsize,
        max: AtomicUsize,
    }

    /// A stat function that blocks on paths starting with `/hung` until `release` is dropped.
    fn blocking_stat() -> (Box<StatFn>, Sender<()>, Arc<Blocked>) {
        let (release, gate) = mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let blocked = Arc::new(Blocked::default());
        let counter = Arc::clone(&blocked);
        let stat = move |path: &Path| -> StatResult {
            if !path.starts_with("/hung") {
                return ok();
            }
            let now = counter.now.fetch_add(1, Ordering::SeqCst) + 1;
            counter.max.fetch_max(now, Ordering::SeqCst);
            let gate: &Mutex<Receiver<()>> = &gate;
            // Every blocked call waits until the sender is dropped.
            loop {
                let closed = gate
                    .lock()
                    .map(|g| g.recv_timeout(Duration::from_millis(5)))
                    .map(|r| matches!(r, Err(mpsc::RecvTimeoutError::Disconnected)))
                    .unwrap_or(true);
                if closed {
                    break;
                }
            }
            counter.now.fetch_sub(1, Ordering::SeqCst);
            Err("released".into())
        };
        (Box::new(stat), release, blocked)
    }

    fn mounts(names: &[&str]) -> Vec<(String, PathBuf)> {
        names
            .iter()
            .map(|n| (n.to_string(), PathBuf::from(n)))
            .collect()
    }

    #[test]
    fn hung_mount_times_out_then_recovers() {
        let timeout = Duration::from_millis(300);
        let (stat, release, _) = blocking_stat();
        let pool = StatPool::new(2, timeout, stat);
        let list = mounts(&["/", "/hung/a", "/home"]);

        let started = Instant::now();
        let out = pool.stat_all(&list);
        assert!(started.elapsed() < timeout + Duration::from_millis(400));
        assert_eq!(out["/"], Outcome::Done(ok()));
        assert_eq!(out["/home"], Outcome::Done(ok()));
        assert_eq!(out["/hung/a"], Outcome::Timeout);
        assert!(pool.is_stuck("/hung/a"));

        // A stuck mount is answered at once, without waiting or a second call.
        let started = Instant::now();
        let out = pool.stat_all(&list);
        assert!(started.elapsed() < timeout - Duration::from_millis(50));
        assert_eq!(out["/hung/a"], Outcome::Timeout);
        assert_eq!(out["/"], Outcome::Done(ok()));

        drop(release);
        let recovered = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(5));
            !pool.is_stuck("/hung/a")
        });
        assert!(
            recovered,
            "the mount leaves the stuck set when its call returns"
        );
        let out = pool.stat_all(&list);
        assert_eq!(out["/hung/a"], Outcome::Done(Err("released".into())));
        assert!(pool.threads() <= 2);
    }

    #[test]
    fn threads_stay_bounded_over_many_scrapes() {
        let timeout = Duration::from_millis(10);
        let (stat, release, blocked) = blocking_stat();
        let workers = 3;
        let pool = StatPool::new(workers, timeout, stat);
        let mut names: Vec<String> = (0..20).map(|i| format!("/hung/{i}")).collect();
        names.extend((0..10).map(|i| format!("/ok/{i}")));
        let list: Vec<(String, PathBuf)> = names
            .iter()
            .map(|n| (n.clone(), PathBuf::from(n)))
            .collect();
        for _ in 0..100 {
            let started = Instant::now();
            let out = pool.stat_all(&list);
            assert!(started.elapsed() < timeout + Duration::from_millis(400));
            assert_eq!(out.len(), list.len());
            assert!(pool.threads() <= workers + MAX_PARKED);
        }
        // Hung calls filled every thread the cap allows, and never more.
        assert_eq!(blocked.max.load(Ordering::SeqCst), workers + MAX_PARKED);
        drop(release);
        let drained = (0..400).any(|_| {
            std::thread::sleep(Duration::from_millis(5));
            pool.threads() <= workers
        });
        assert!(drained, "parked threads exit once their calls return");
        let all_done = (0..20).any(|_| {
            let out = pool.stat_all(&list);
            out.values().all(|o| matches!(o, Outcome::Done(_)))
        });
        assert!(all_done, "every mount is statted again after recovery");
        assert_eq!(blocked.now.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn duplicate_keys_are_statted_once() {
        let pool = StatPool::new(1, Duration::from_secs(5), Box::new(|_: &Path| ok()));
        let out = pool.stat_all(&mounts(&["/", "/", "/x"]));
        assert_eq!(out.len(), 2);
        assert_eq!(pool.threads(), 1);
    }
}
