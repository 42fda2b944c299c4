//! container_logs on the kubelet's layout, written by a harness that rotates the way the kubelet's
//! container log manager does (`pkg/kubelet/logs/container_log_manager.go`, kubernetes/kubernetes):
//! gzip the rotated files but the newest (`<name>.gz.tmp`, then rename to `<name>.gz`, remove the
//! plain file), rename the current `0.log` to `0.log.<YYYYMMDD-hhmmss>`, and have the "runtime"
//! reopen `0.log` (it keeps writing to the renamed file until it does). Lines use the CRI format
//! `<RFC3339Nano> <stream> <P|F> <message>`. The container is the cgroup-v1 fixture's app
//! container, named from a `/var/log/containers` entry; both log directories are passed through
//! the flags, below a temporary `--path.rootfs`. Also bad input: a 10 MB line without newline, a
//! FIFO and a symlink out of the directory in place of log files, a copytruncate, a symlinked
//! container directory.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use nodex_collectors::collector::Collector;
use nodex_collectors::container::logs;
use nodex_collectors::testing::collect_text;
use nodex_collectors::{registry, FlagSpec, Options, Roots, Settings};

const UID: &str = "1b2c3d4e-0000-4000-8000-123456789abc";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A temporary `--path.rootfs` (removed with `_temp`) and the pod's log directory in it.
struct Tree {
    _temp: tempfile::TempDir,
    rootfs: PathBuf,
    dir: PathBuf,
}

fn tree(tag: &str) -> Tree {
    let temp = tempfile::Builder::new()
        .prefix(&format!("nodex-logs-{tag}-"))
        .tempdir()
        .expect("tempdir");
    let rootfs = temp.path().to_path_buf();
    let dir = rootfs.join(format!("k/pods/shop_web-0_{UID}/app"));
    std::fs::create_dir_all(&dir).expect("pod log dir");
    std::fs::create_dir_all(rootfs.join("k/containers")).expect("container log dir");
    std::os::unix::fs::symlink(
        dir.join("0.log"),
        rootfs.join(format!(
            "k/containers/web-0_shop_app-{}.log",
            "c".repeat(64)
        )),
    )
    .expect("symlink");
    Tree {
        _temp: temp,
        rootfs,
        dir,
    }
}

fn collector(t: &Tree) -> Box<dyn Collector> {
    collector_with(t, &[])
}

fn collector_with(t: &Tree, extra: &[(&FlagSpec, &str)]) -> Box<dyn Collector> {
    let mut roots = Roots::fixture(&repo_root().join("tests/fixtures/cgroup-v1"));
    roots.rootfs = t.rootfs.clone();
    let mut o = Options::default();
    o.set(&nodex_collectors::container::flags::POD_LOG_DIR, "/k/pods");
    o.set(
        &nodex_collectors::container::flags::CONTAINER_LOG_DIR,
        "/k/containers",
    );
    o.set(
        &nodex_collectors::container::flags::DOCKER_ROOT,
        "/k/docker",
    );
    for (k, v) in extra {
        o.set_spec(k, vec![v.to_string()]);
    }
    let settings = Arc::new(Settings::new(roots, o));
    (registry::find("container_logs").expect("registered").build)(&settings).expect("builds")
}

/// Scrapes in a thread so a scrape that blocks (say, on a FIFO) fails the test instead of
/// hanging it.
fn scrape(c: &Arc<Box<dyn Collector>>) -> String {
    let (tx, rx) = mpsc::channel();
    let c = Arc::clone(c);
    std::thread::spawn(move || {
        let _ = tx.send(collect_text(c.as_ref().as_ref()));
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("scrape did not finish within 20 s")
        .unwrap_or_else(|e| panic!("scrape failed: {e}"))
}

fn value(text: &str, family: &str) -> Option<f64> {
    value_with(text, family, "pod=\"web-0\"")
}

fn value_with(text: &str, family: &str, must: &str) -> Option<f64> {
    nodex_test_support::value(text, family, &["pod=\"web-0\"", must])
}

/// Lines and bytes per stream from a scrape.
fn streams(text: &str) -> ([f64; 2], [f64; 2]) {
    let get = |family: &str, s: &str| {
        value_with(text, family, &format!("stream=\"{s}\"")).unwrap_or(-1.0)
    };
    (
        [
            get("container_log_lines_total", "stdout"),
            get("container_log_lines_total", "stderr"),
        ],
        [
            get("container_log_stream_bytes_total", "stdout"),
            get("container_log_stream_bytes_total", "stderr"),
        ],
    )
}

fn as_f64(v: [u64; 2]) -> [f64; 2] {
    [v[0] as f64, v[1] as f64]
}

fn du_b(dir: &Path) -> f64 {
    let files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    let out = Command::new("du")
        .arg("-bc")
        .args(&files)
        .output()
        .expect("du");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .expect("du total")
}

/// The "runtime": appends CRI lines to its open file and counts the bytes.
struct Runtime {
    dir: PathBuf,
    file: File,
    written: u64,
    n: u64,
    /// Lines and bytes per stream (stdout, stderr).
    lines: [u64; 2],
    bytes: [u64; 2],
}

impl Runtime {
    fn open(dir: &Path) -> Runtime {
        Runtime {
            dir: dir.to_path_buf(),
            file: Self::reopen_file(dir),
            written: 0,
            n: 0,
            lines: [0; 2],
            bytes: [0; 2],
        }
    }

    fn reopen_file(dir: &Path) -> File {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("0.log"))
            .expect("open 0.log")
    }

    fn lines(&mut self, count: usize) {
        for _ in 0..count {
            self.n += 1;
            let stream = if self.n.is_multiple_of(3) {
                "stderr"
            } else {
                "stdout"
            };
            let line = format!(
                "2026-12-01T22:{:02}:{:02}.{:09}Z {stream} F message number {}\n",
                self.n / 60 % 60,
                self.n % 60,
                self.n * 7919 % 1_000_000_000,
                self.n
            );
            self.file.write_all(line.as_bytes()).expect("write");
            self.written += line.len() as u64;
            let i = usize::from(stream == "stderr");
            self.lines[i] += 1;
            self.bytes[i] += line.len() as u64;
        }
    }

    /// One kubelet rotation: compress older rotated files, rename the current one, write a
    /// little more to the renamed file (before the runtime reopens), reopen.
    fn rotate(&mut self, stamp: &str) {
        let mut rotated: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                n.starts_with("0.log.") && !n.ends_with(".gz")
            })
            .collect();
        rotated.sort();
        rotated.pop(); // the newest rotated file stays plain
        for p in rotated {
            let tmp = PathBuf::from(format!("{}.gz.tmp", p.display()));
            let out = File::create(&tmp).expect("tmp");
            let ok = Command::new("gzip")
                .arg("-c")
                .arg(&p)
                .stdout(out)
                .status()
                .expect("gzip");
            assert!(ok.success());
            std::fs::rename(&tmp, format!("{}.gz", p.display())).expect("rename gz");
            std::fs::remove_file(&p).expect("remove plain");
        }
        std::fs::rename(
            self.dir.join("0.log"),
            self.dir.join(format!("0.log.{stamp}")),
        )
        .expect("rename");
        self.lines(3);
        self.file = Self::reopen_file(&self.dir);
    }
}

#[test]
fn kubelet_rotation_and_compression_are_counted() {
    let t = tree("kubelet");
    let c = Arc::new(collector(&t));
    let mut rt = Runtime::open(&t.dir);
    rt.lines(100);
    let first = scrape(&c);
    assert_eq!(
        value(&first, "container_log_written_bytes_total"),
        Some(rt.written as f64),
        "{first}"
    );
    let mut last = 0.0;
    for round in 0..5u32 {
        rt.lines(200 + round as usize * 10);
        let mid = scrape(&c);
        let w = value(&mid, "container_log_written_bytes_total").expect("written");
        assert!(w >= last);
        rt.lines(50);
        rt.rotate(&format!("20261201-2230{round:02}"));
        rt.lines(20);
        let text = scrape(&c);
        let w = value(&text, "container_log_written_bytes_total").expect("written");
        assert!(w >= last);
        assert_eq!(w, rt.written as f64, "round {round}:\n{text}");
        assert_eq!(
            value(&text, "container_log_rotations_total"),
            Some(round as f64 + 1.0)
        );
        assert_eq!(
            value(&text, "container_log_files_bytes"),
            Some(du_b(&t.dir))
        );
        let files = std::fs::read_dir(&t.dir).expect("dir").count();
        assert_eq!(value(&text, "container_log_files"), Some(files as f64));
        last = w;
    }
    let gz = std::fs::read_dir(&t.dir)
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".gz"))
        .count();
    // Compression runs before the rename: the two newest rotated files are plain.
    assert_eq!(gz, 3, "rotated files compressed by the harness");
    let text = scrape(&c);
    assert!(text.contains("machine_log_filesystem_size_bytes{path=\"/k/pods\"}"));
    let mtime = value(&text, "container_log_last_write_time_seconds").expect("mtime");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    assert!((now - mtime).abs() < 600.0, "mtime {mtime} vs now {now}");
}

#[test]
fn hostile_files_are_not_opened_and_counter_stays_monotonic() {
    let t = tree("hostile");
    let c = Arc::new(collector(&t));
    let mut rt = Runtime::open(&t.dir);
    rt.lines(10);
    let before = value(&scrape(&c), "container_log_written_bytes_total").expect("written");
    // A 10 MB line without newline: stat only, counted in full.
    rt.file.write_all(&vec![b'x'; 10 << 20]).expect("big line");
    let text = scrape(&c);
    let w = value(&text, "container_log_written_bytes_total").expect("written");
    assert_eq!(w, before + (10 << 20) as f64);
    // A FIFO and a symlink out of the directory under log file names: never opened (a FIFO
    // open would block the scrape) nor counted.
    let fifo = std::ffi::CString::new(format!("{}/1.log", t.dir.display())).expect("path");
    // SAFETY: a valid NUL-terminated path; mkfifo has no other preconditions.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0, "mkfifo");
    std::os::unix::fs::symlink("/etc/passwd", t.dir.join("2.log")).expect("symlink");
    std::os::unix::fs::symlink("/etc", t.dir.join("0.log.20261201-000000")).expect("symlink");
    let text = scrape(&c);
    assert_eq!(value(&text, "container_log_files"), Some(1.0), "{text}");
    assert_eq!(
        value(&text, "container_log_files_bytes"),
        Some(std::fs::metadata(t.dir.join("0.log")).expect("0.log").len() as f64)
    );
    assert_eq!(value(&text, "container_log_written_bytes_total"), Some(w));
    // copytruncate: copy, truncate in place, write on: the copy is recognised, nothing is
    // counted twice and the counter does not go down.
    std::fs::copy(t.dir.join("0.log"), t.dir.join("0.log.20261201-010000")).expect("copy");
    rt.file.set_len(0).expect("truncate");
    let total_before_truncate = rt.written + (10 << 20);
    rt.written = 0;
    rt.lines(5);
    let text = scrape(&c);
    let w2 = value(&text, "container_log_written_bytes_total").expect("written");
    assert_eq!(w2, (total_before_truncate + rt.written) as f64, "{text}");
    // Truncation without a copy: only what follows counts; still monotonic.
    rt.file.set_len(0).expect("truncate");
    rt.lines(1);
    let w3 = value(&scrape(&c), "container_log_written_bytes_total").expect("written");
    assert!(w3 > w2);
    // The container directory replaced by a symlink to another directory: not followed.
    let moved = t.rootfs.join("moved");
    std::fs::rename(&t.dir, &moved).expect("move dir");
    std::os::unix::fs::symlink(&moved, &t.dir).expect("dir symlink");
    let text = scrape(&c);
    assert_eq!(value(&text, "container_log_files"), None, "{text}");
}

#[test]
fn count_lines_reads_appended_bytes_once_across_rotations() {
    let t = tree("lines");
    let c = Arc::new(collector_with(&t, &[(&logs::COUNT_LINES.spec, "true")]));
    let plain = Arc::new(collector(&t));
    assert!(
        !scrape(&plain).contains("container_log_lines_total"),
        "off by default"
    );
    let mut rt = Runtime::open(&t.dir);
    rt.lines(100);
    // History before the first scrape is not read.
    assert_eq!(streams(&scrape(&c)), ([0.0; 2], [0.0; 2]));
    let (base_lines, base_bytes) = (rt.lines, rt.bytes);
    let since = |now: [u64; 2], base: [u64; 2]| as_f64([now[0] - base[0], now[1] - base[1]]);
    for round in 0..4u32 {
        rt.lines(150);
        let (l, b) = streams(&scrape(&c));
        assert_eq!(l, since(rt.lines, base_lines), "round {round}");
        assert_eq!(b, since(rt.bytes, base_bytes), "round {round}");
        rt.lines(40);
        // Lines written to the renamed file before the reopen are read from its tail.
        rt.rotate(&format!("20261201-2240{round:02}"));
        rt.lines(7);
        let (l, b) = streams(&scrape(&c));
        assert_eq!(
            l,
            since(rt.lines, base_lines),
            "round {round} after rotation"
        );
        assert_eq!(
            b,
            since(rt.bytes, base_bytes),
            "round {round} after rotation"
        );
    }
}

#[test]
fn read_budget_spreads_reading_over_scrapes() {
    let t = tree("budget");
    let c = Arc::new(collector_with(
        &t,
        &[
            (&logs::COUNT_LINES.spec, "true"),
            (&logs::READ_BUDGET_BYTES.spec, "10000"),
        ],
    ));
    let mut rt = Runtime::open(&t.dir);
    scrape(&c);
    rt.lines(1000);
    let total = rt.bytes[0] + rt.bytes[1];
    let mut seen = 0.0;
    let mut scrapes = 0;
    while seen < total as f64 {
        let (_, b) = streams(&scrape(&c));
        let now = b[0] + b[1];
        // Bytes count when their line ends: one scrape may complete a line the last one began.
        assert!(
            now - seen <= 10100.0,
            "counted {} bytes in one scrape",
            now - seen
        );
        assert!(now > seen, "no progress");
        seen = now;
        scrapes += 1;
    }
    assert!(
        scrapes >= (total / 10000) as usize,
        "{scrapes} scrapes for {total} bytes"
    );
    assert_eq!(streams(&scrape(&c)).0, as_f64(rt.lines));
}

/// Writes the three shippers' position files for `0.log` at `offset`, each in its own format
/// (Fluentd `"%s\t%016x\t%016x\n"`, Promtail `positions:` map, Vector `dev_inode` checkpoint),
/// naming the file by the path the shipper sees (`/var/log/pods/...`) and its inode.
fn write_positions(t: &Tree, offset: u64) {
    use std::os::unix::fs::MetadataExt;
    let md = std::fs::metadata(t.dir.join("0.log")).expect("0.log");
    let seen = format!("/var/log/pods/shop_web-0_{UID}/app/0.log");
    let dir = t.rootfs.join("k/ship");
    std::fs::create_dir_all(&dir).expect("ship dir");
    std::fs::write(
        dir.join("fluentd.pos"),
        format!(
            "/var/log/containers/other.log\tffffffffffffffff\t0000000000000001\n{seen}\t{offset:016x}\t{:016x}\n",
            md.ino()
        ),
    )
    .expect("fluentd");
    std::fs::write(
        dir.join("positions.yaml"),
        format!("positions:\n    {seen}: \"{offset}\"\n    journal-x: \"c=1\"\n"),
    )
    .expect("promtail");
    std::fs::write(
        dir.join("checkpoints.json"),
        format!(
            r#"{{"version":"1","checkpoints":[{{"fingerprint":{{"dev_inode":[{},{}]}},"position":{offset},"modified":"2026-12-01T22:00:00Z"}}]}}"#,
            md.dev(),
            md.ino()
        ),
    )
    .expect("vector");
}

#[test]
fn shipper_lag_is_written_minus_position() {
    let t = tree("lag");
    let c = Arc::new(collector_with(
        &t,
        &[
            (&logs::FLUENTD_POS_FILES.spec, "/k/ship/fluentd.pos"),
            (
                &logs::PROMTAIL_POSITIONS_FILES.spec,
                "/k/ship/positions.yaml",
            ),
            (
                &logs::VECTOR_CHECKPOINTS_FILES.spec,
                "/k/ship/checkpoints.json",
            ),
        ],
    ));
    let mut rt = Runtime::open(&t.dir);
    rt.lines(100);
    let shippers = ["fluentd", "promtail", "vector"];
    let lags = |text: &str| -> Vec<Option<f64>> {
        shippers
            .iter()
            .map(|s| {
                value_with(
                    text,
                    "container_log_shipper_lag_bytes",
                    &format!("shipper=\"{s}\""),
                )
            })
            .collect()
    };
    // No position files yet: no lag series, and the scrape succeeds.
    assert_eq!(lags(&scrape(&c)), vec![None; 3]);
    for (step, pos) in [0u64, 1000, 3000].into_iter().enumerate() {
        write_positions(&t, pos);
        rt.lines(50);
        let text = scrape(&c);
        let written = value(&text, "container_log_written_bytes_total").expect("written");
        let want = written - pos as f64;
        assert_eq!(lags(&text), vec![Some(want); 3], "step {step}:\n{text}");
    }
    // Garbage and truncated position files: that shipper's series goes, nothing fails.
    let dir = t.rootfs.join("k/ship");
    std::fs::write(dir.join("positions.yaml"), b"\x00\xffgarbage").expect("garbage");
    std::fs::write(dir.join("checkpoints.json"), b"{\"version\":\"1\",\"checkp").expect("cut");
    std::fs::write(dir.join("fluentd.pos"), b"/var/log/pods/x\t00").expect("cut");
    assert_eq!(lags(&scrape(&c)), vec![None; 3]);
}

#[test]
fn read_budget_is_shared_round_robin() {
    let t = tree("fair");
    // The fixture's Docker state below the flag's docker-root names its Docker containers.
    nodex_test_support::copy_tree(
        &repo_root().join("tests/fixtures/cgroup-v1/root/var/lib/docker"),
        &t.rootfs.join("k/docker"),
    );
    let id = "a".repeat(64);
    let docker_log = t
        .rootfs
        .join(format!("k/docker/containers/{id}/{id}-json.log"));
    std::fs::write(&docker_log, b"").expect("docker log");
    let c = Arc::new(collector_with(
        &t,
        &[
            (&logs::COUNT_LINES.spec, "true"),
            (&logs::READ_BUDGET_BYTES.spec, "10000"),
        ],
    ));
    let mut rt = Runtime::open(&t.dir);
    let first = scrape(&c);
    assert!(first.contains(&format!("id=\"/docker/{id}\"")), "{first}");
    // The Docker container (first by id) writes far more than the budget.
    let entry =
        b"{\"log\":\"flood\\n\",\"stream\":\"stdout\",\"time\":\"2026-12-01T22:00:00.1Z\"}\n";
    std::fs::write(&docker_log, entry.repeat(10_000)).expect("flood");
    rt.lines(40);
    let mut seen = None;
    for _ in 0..3 {
        let text = scrape(&c);
        seen = Some(streams(&text).0);
        if seen == Some(as_f64(rt.lines)) {
            break;
        }
    }
    assert_eq!(
        seen,
        Some(as_f64(rt.lines)),
        "the kubelet container starved"
    );
}
