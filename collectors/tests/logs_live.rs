//! Live Docker test of container_logs (needs root, a running Docker daemon with the json-file
//! log driver and `/bin/busybox` from Debian's busybox-static; skipped otherwise). Two
//! `FROM scratch` busybox containers print 2000 lines of 200 bytes in paced bursts under
//! `--log-opt max-size=64k`: one keeps every rotated file (`max-file=20`), so the written counter
//! must equal `du -b` of its files exactly; the other keeps two (`max-file=2`), so Docker deletes
//! rotated files and the counter must equal the bytes Docker wrote (lines × their json-file
//! length) within one line. A drop guard removes containers, image and build context.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use nodex_collectors::registry;
use nodex_collectors::testing::collect_text;
use nodex_collectors::{Options, Roots, Settings};
use nodex_test_support::containers::docker_ready;
use nodex_test_support::{docker, skip_unless_ci, BusyboxImage, Cleanup};

const LINES: usize = 2000;

/// The value of the series of `family` whose labels contain `id`.
fn value(text: &str, family: &str, id: &str) -> Option<f64> {
    nodex_test_support::value(text, family, &[id])
}

/// The container's log files as Docker names them.
fn log_files(id: &str) -> Vec<PathBuf> {
    let dir = Path::new("/var/lib/docker/containers").join(id);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("container dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{id}-json.log")))
        })
        .collect();
    v.sort();
    v
}

/// `du -b` (apparent size) of the files, summed by du itself.
fn du_b(files: &[PathBuf]) -> f64 {
    let out = Command::new("du")
        .arg("-bc")
        .args(files)
        .output()
        .expect("du");
    let text = String::from_utf8_lossy(&out.stdout);
    let total = text.lines().last().expect("du total");
    total
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .expect("du number")
}

#[test]
fn docker_json_file_rotation_is_counted() {
    let json_file = docker(&["info", "-f", "{{.LoggingDriver}}"]).is_ok_and(|d| d == "json-file");
    if !docker_ready() || !json_file {
        skip_unless_ci("needs root, /bin/busybox and a Docker daemon logging to json-file");
        return;
    }
    // 25 bursts of 80 lines of 199 digits + newline, 0.1 s apart, then END and idle (the
    // cgroup, hence the container's series, must stay).
    let script = format!(
        "while [ -n \"$WAIT\" ] && [ ! -e /go ]; do /bin/busybox sleep 0.05; done; \
         l=$(/bin/busybox printf %0199d 0); i=0; while [ $i -lt {} ]; do \
         /bin/busybox yes $l | /bin/busybox head -n 80; /bin/busybox sleep 0.1; i=$((i+1)); done; \
         echo END; exec /bin/busybox sleep 3600",
        LINES / 80
    );
    let image = BusyboxImage::build(
        "nodex-test-logs",
        &["/bin/busybox", "sh", "-c", &script],
        &[],
    );
    let tag = nodex_test_support::unique_tag();
    let mut cleanup = Cleanup::default();

    let mut ids = Vec::new();
    // The second and third containers wait for /go, created once the collector has seen them:
    // counting starts at first sight, and on a loaded machine the first scrape could come after
    // the second had rotated files away (its bytes bounds assume every line is counted) and
    // after the third had printed lines (its line count must be exact).
    for (suffix, max_file) in [("keep", "20"), ("drop", "2"), ("lines", "20")] {
        let name = format!("nodex-test-logs-{suffix}-{tag}");
        cleanup.docker_containers.push(name.clone());
        let id = docker(&[
            "run",
            "-d",
            "--name",
            &name,
            "--log-driver",
            "json-file",
            "--log-opt",
            "max-size=64k",
            "--log-opt",
            &format!("max-file={max_file}"),
            "-e",
            if suffix == "keep" { "WAIT=" } else { "WAIT=1" },
            &image.name,
        ])
        .expect("docker run");
        ids.push(id);
    }
    let mut options = Options::default();
    options.set(
        &nodex_collectors::container::flags::CGROUP_INCLUDE,
        format!("/({}|{}|{})(\\.scope)?$", ids[0], ids[1], ids[2]),
    );
    options.set(&nodex_collectors::container::logs::COUNT_LINES, "true");
    let settings = Arc::new(Settings::new(Roots::default(), options));
    let collector =
        (registry::find("container_logs").expect("registered").build)(&settings).expect("builds");

    // Scrape continuously until both containers printed END; the counter must never decrease.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut last = [0.0f64; 3];
    // Rotations before the first scrape are not seen: the counter starts at first sight.
    let mut first_files: [Option<f64>; 3] = [None; 3];
    let mut go = false;
    let text = loop {
        let text = collect_text(collector.as_ref()).expect("container_logs collects");
        for (i, id) in ids.iter().enumerate() {
            if let Some(w) = value(&text, "container_log_written_bytes_total", id) {
                assert!(w >= last[i], "counter went down: {} -> {w}", last[i]);
                last[i] = w;
            }
            if first_files[i].is_none() {
                first_files[i] = value(&text, "container_log_files", id);
            }
        }
        if !go
            && ids[1..]
                .iter()
                .all(|id| value(&text, "container_log_files", id).is_some())
        {
            for id in &ids[1..] {
                docker(&["exec", id, "/bin/busybox", "touch", "/go"]).expect("start writer");
            }
            go = true;
        }
        let done = ids
            .iter()
            .all(|id| docker(&["logs", "--tail", "1", id]).is_ok_and(|t| t == "END"));
        if done {
            break collect_text(collector.as_ref()).expect("container_logs collects");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "containers did not finish (writer started: {go})"
        );
    };

    // Keep-all: nothing deleted, so written == du -b of the files, exactly.
    let files = log_files(&ids[0]);
    let du = du_b(&files);
    let written = value(&text, "container_log_written_bytes_total", &ids[0]).expect("written");
    let rotations = value(&text, "container_log_rotations_total", &ids[0]).expect("rotations");
    assert!(files.len() >= 3, "expected >= 2 rotations: {files:?}");
    assert_eq!(value(&text, "container_log_files_bytes", &ids[0]), Some(du));
    assert_eq!(
        value(&text, "container_log_files", &ids[0]),
        Some(files.len() as f64)
    );
    assert_eq!(written, du, "keep-all written vs du -b");
    let first = first_files[0].expect("seen");
    assert_eq!(
        rotations,
        files.len() as f64 - first,
        "first seen with {first} files"
    );
    eprintln!(
        "keep: {} files, du -b {du}, written {written}, rotations {rotations}",
        files.len()
    );

    // Max-file=2: rotated files were deleted. Docker wrote LINES + 1 json lines; their length
    // varies only with the timestamp, so bound the expected bytes by the retained lines.
    let files = log_files(&ids[1]);
    let du = du_b(&files);
    let mut lens = Vec::new();
    let mut end_len = 0usize;
    for f in &files {
        let body = std::fs::read_to_string(f).expect("log file");
        for l in body.split_inclusive('\n') {
            if l.contains("\"log\":\"END\\n\"") {
                end_len = l.len();
            } else {
                lens.push(l.len());
            }
        }
    }
    let (min, max) = (
        *lens.iter().min().expect("lines") as f64,
        *lens.iter().max().expect("lines") as f64,
    );
    let written = value(&text, "container_log_written_bytes_total", &ids[1]).expect("written");
    let rotations = value(&text, "container_log_rotations_total", &ids[1]).expect("rotations");
    let (lo, hi) = (
        LINES as f64 * min + end_len as f64,
        LINES as f64 * max + end_len as f64,
    );
    eprintln!(
        "drop: {} files, du -b {du}, written {written} in [{lo}, {hi}] ± {max}, rotations {rotations}",
        files.len()
    );
    assert_eq!(value(&text, "container_log_files_bytes", &ids[1]), Some(du));
    assert_eq!(
        value(&text, "container_log_files", &ids[1]),
        Some(files.len() as f64)
    );
    assert!(
        written >= lo - max && written <= hi + max,
        "written {written} not within one line of [{lo}, {hi}]"
    );
    // Docker rotates a file once it holds max-size bytes: no more rotations than that allows.
    assert!(
        rotations >= 2.0 && rotations <= (written / 65536.0).floor(),
        "rotations {rotations} for {written} bytes"
    );

    // Line counting on the json-file entries Docker wrote: every line of the third container
    // (seen before it wrote anything), all on stdout, bytes == du -b of its files.
    let files = log_files(&ids[2]);
    let du = du_b(&files);
    let stream = |family: &str, s: &str| {
        nodex_test_support::value(&text, family, &[&ids[2], &format!("stream=\"{s}\"")])
    };
    assert_eq!(
        stream("container_log_lines_total", "stdout"),
        Some((LINES + 1) as f64)
    );
    assert_eq!(stream("container_log_lines_total", "stderr"), Some(0.0));
    assert_eq!(
        stream("container_log_stream_bytes_total", "stdout"),
        Some(du)
    );
    assert_eq!(
        value(&text, "container_log_written_bytes_total", &ids[2]),
        Some(du)
    );
}
