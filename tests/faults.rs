//! Faults of the host under the real binary: a FUSE mount whose `statfs` hangs, a collector
//! blocked in a read, cgroups (and Docker containers) churning while scrapes run, and nodex
//! running as an unprivileged user. Tests that need root, /dev/fuse, cgroups or Docker skip
//! with a note outside CI and fail in CI (`CI` set).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::fuse::{HeldFs, BLOCKS, BLOCK_SIZE};
use common::{
    assert_no_duplicate_series, collector_success, get, parse_exposition, proc_status, start_nodex,
    start_nodex_via, Family,
};
use nodex_collectors::container::cgroup::discover;
use nodex_collectors::Roots;
use nodex_test_support::{docker, eventually, skip_unless_ci};

/// node_exporter's default mount point exclusion plus the held FUSE mounts of this binary.
const HELD_FS_EXCLUDE: &str =
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)|/nodex-heldfs-";

/// The flags that enable only the container collectors.
const CONTAINER_ONLY: &[&str] = &[
    "--collector.disable-defaults",
    "--collector.container_cpu",
    "--collector.container_diskio",
    "--collector.container_memory",
    "--collector.container_network",
    "--collector.container_oom",
    "--collector.container_pressure",
    "--collector.container_process",
    "--collector.container_spec",
];

/// Scrapes `url`, asserting a 200 within `limit`; returns the parsed body and the time taken.
fn timed_scrape(url: &str, limit: Duration) -> (BTreeMap<String, Family>, Duration) {
    let started = Instant::now();
    let resp = get(url, &[]).unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let took = started.elapsed();
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(took < limit, "scrape took {took:?}, limit {limit:?}");
    (parse_exposition(&resp.text()), took)
}

/// The value of the series of `family` whose labels include every pair of `must`.
fn value(families: &BTreeMap<String, Family>, family: &str, must: &[(&str, &str)]) -> Option<f64> {
    families.get(family)?.samples.iter().find_map(|s| {
        must.iter()
            .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            .then_some(s.value)
    })
}

#[test]
fn hung_fuse_statfs() {
    let fs = match HeldFs::mount() {
        Ok(fs) => fs,
        Err(why) => return skip_unless_ci(&why),
    };
    let mount_point = fs.path().display().to_string();
    let nodex = start_nodex(&[
        "--collector.disable-defaults",
        "--collector.filesystem",
        "--collector.filesystem.mount-timeout=1s",
    ]);
    // Dropped first, even on failure: nodex can be reaped only once its statfs is answered.
    let _release = fs.release_on_drop();
    let url = nodex.url("/metrics");
    let mp = [("mountpoint", mount_point.as_str())];
    let limit = Duration::from_secs(1) + Duration::from_secs(5);

    // Answering: sizes come from the FUSE server.
    let (ok, _) = timed_scrape(&url, limit);
    assert_eq!(
        value(&ok, "node_filesystem_size_bytes", &mp),
        Some((BLOCKS * u64::from(BLOCK_SIZE)) as f64),
        "the FUSE mount {mount_point} is not reported"
    );
    assert_eq!(value(&ok, "node_filesystem_device_error", &mp), Some(0.0));

    fs.hold();
    let timeout_labels = [
        ("mountpoint", mount_point.as_str()),
        ("device_error", "mountpoint timeout"),
    ];
    let (hung, took) = timed_scrape(&url, limit);
    assert_eq!(
        value(&hung, "node_filesystem_device_error", &timeout_labels),
        Some(1.0),
        "hung mount not reported as a timeout"
    );
    assert_eq!(value(&hung, "node_filesystem_size_bytes", &mp), None);
    assert_eq!(collector_success(&hung, "filesystem"), Some(1.0));
    assert!(
        took >= Duration::from_millis(900),
        "the first hung scrape waited only {took:?}: was statfs really held?"
    );

    let pid = nodex.child.id();
    let threads_before = proc_status(pid, "Threads");
    let mut threads_max = threads_before;
    for i in 0..100 {
        let (f, _) = timed_scrape(&url, limit);
        assert_eq!(
            value(&f, "node_filesystem_device_error", &timeout_labels),
            Some(1.0),
            "scrape {i} while hung"
        );
        threads_max = threads_max.max(proc_status(pid, "Threads"));
    }
    let held = fs.held_calls_of(pid);
    assert!(
        held <= 2,
        "{held} statfs calls are blocked: a stuck mount must not be statted again"
    );
    assert!(
        threads_max <= threads_before + 2,
        "threads grew from {threads_before} to {threads_max} over 100 scrapes of a hung mount"
    );

    fs.release();
    eventually(Duration::from_secs(10), "the mount recovers", || {
        let (f, _) = timed_scrape(&url, limit);
        let size = value(&f, "node_filesystem_size_bytes", &mp)?;
        (value(&f, "node_filesystem_device_error", &mp) == Some(0.0)
            && size == (BLOCKS * u64::from(BLOCK_SIZE)) as f64)
            .then_some(())
    });
    eprintln!("threads: {threads_before} before, at most {threads_max} over 100 hung scrapes");
}

#[test]
fn blocked_collector_never_holds_the_scrape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let proc_dir = dir.path().join("proc");
    let text_dir = dir.path().join("textfile");
    std::fs::create_dir(&proc_dir).expect("mkdir proc");
    std::fs::create_dir(&text_dir).expect("mkdir textfile");
    std::fs::write(text_dir.join("a.prom"), "nodex_fault_marker 1\n").expect("textfile");
    let fifo = proc_dir.join("loadavg");
    common::mkfifo(&fifo);
    let nodex = start_nodex(&[
        &format!("--path.procfs={}", proc_dir.display()),
        &format!("--collector.textfile.directory={}", text_dir.display()),
        "--collector.disable-defaults",
        "--collector.loadavg",
        "--collector.textfile",
        "--collector.time",
        "--scrape.timeout=2s",
    ]);
    let url = nodex.url("/metrics");
    let limit = Duration::from_secs(2) + Duration::from_millis(1500);
    // The first two scrapes wait for the deadline; later ones skip the collector (two runs
    // still stuck) and answer at once.
    for i in 0..4 {
        let (f, took) = timed_scrape(&url, limit);
        assert_eq!(collector_success(&f, "loadavg"), Some(0.0), "scrape {i}");
        assert_eq!(collector_success(&f, "time"), Some(1.0), "scrape {i}");
        assert_eq!(collector_success(&f, "textfile"), Some(1.0), "scrape {i}");
        assert!(f.contains_key("nodex_fault_marker"), "scrape {i}");
        assert!(f.contains_key("node_time_seconds"), "scrape {i}");
        assert!(!f.contains_key("node_load1"), "scrape {i}");
        if i >= 2 {
            assert!(
                took < Duration::from_millis(1500),
                "scrape {i} waited {took:?} for a collector already stuck twice"
            );
        }
    }
    // Unblock the stuck reads, then give loadavg a real file: the collector runs again.
    let mut writer = common::open_fifo_writer_if_read(&fifo).expect("stuck readers hold the FIFO");
    writer.write_all(b"0.25 0.5 1 1/100 42\n").expect("feed");
    drop(writer);
    std::fs::remove_file(&fifo).expect("rm fifo");
    std::fs::write(&fifo, "0.25 0.5 1 1/100 42\n").expect("regular loadavg");
    eventually(Duration::from_secs(10), "loadavg recovers", || {
        let (f, _) = timed_scrape(&url, limit);
        (collector_success(&f, "loadavg") == Some(1.0)).then_some(())
    });
    let logs = nodex.logs().join("\n");
    assert!(
        logs.contains("timed out: still running at the scrape deadline"),
        "{logs}"
    );
}

/// Cgroup directories created by a test, removed (children first) when dropped.
struct CgroupGuard {
    dirs: Mutex<Vec<PathBuf>>,
}

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        let dirs = self.dirs.get_mut().unwrap_or_else(|p| p.into_inner());
        for dir in dirs.iter().rev() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while std::fs::remove_dir(dir).is_err() && dir.exists() && Instant::now() < deadline {
                std::thread::yield_now();
            }
        }
    }
}

fn unique_name(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

#[test]
fn cgroup_churn_under_scrapes() {
    if !nodex_test_support::is_root() {
        return skip_unless_ci("needs root to create cgroups");
    }
    let Ok(hier) = discover(&Roots::default()) else {
        return skip_unless_ci("no cgroup file system");
    };
    let parent = format!("/{}", unique_name("nodex-churn"));
    let guard = Arc::new(CgroupGuard {
        dirs: Mutex::new(Vec::new()),
    });
    for dir in hier.all_dirs(&parent) {
        if let Err(e) = std::fs::create_dir(&dir) {
            return skip_unless_ci(&format!("cannot create {}: {e}", dir.display()));
        }
        guard.dirs.lock().unwrap().push(dir);
    }
    let include = format!("--collector.container.cgroup-include=^{parent}(/|$)");
    let mut args = CONTAINER_ONLY.to_vec();
    args.push(&include);
    let nodex = start_nodex(&args);
    let url = nodex.url("/metrics");

    // Churn: keep four children alive, create one and remove the oldest, as fast as possible.
    // `removed` records when each child's last directory was gone.
    let removed: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let (removed, stop, parent) = (Arc::clone(&removed), Arc::clone(&stop), parent.clone());
        let hier = discover(&Roots::default()).expect("discovered above");
        std::thread::spawn(move || {
            let mut live: std::collections::VecDeque<String> = Default::default();
            let mut made = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let id = format!("{parent}/c{made}");
                made += 1;
                for dir in hier.all_dirs(&id) {
                    std::fs::create_dir(&dir).expect("create churn cgroup");
                }
                live.push_back(id);
                if live.len() > 4 {
                    let old = live.pop_front().expect("non-empty");
                    for dir in hier.all_dirs(&old) {
                        std::fs::remove_dir(&dir).expect("remove an empty churn cgroup");
                    }
                    removed.lock().unwrap().insert(old, Instant::now());
                }
            }
            for id in live {
                for dir in hier.all_dirs(&id) {
                    let _ = std::fs::remove_dir(&dir);
                }
            }
            made
        })
    };

    let until = Instant::now() + Duration::from_secs(10);
    let (mut scrapes, mut with_churn) = (0, 0);
    while Instant::now() < until {
        let started = Instant::now();
        let resp = get(&url, &[]).expect("scrape");
        assert_eq!(resp.status, 200, "{}", resp.text());
        let text = resp.text();
        let families = parse_exposition(&text);
        assert_no_duplicate_series(&families);
        let gone = removed.lock().unwrap().clone();
        let mut seen_child = false;
        for s in families.values().flat_map(|f| &f.samples) {
            let Some(id) = s.labels.get("id") else {
                continue;
            };
            if id.starts_with(&format!("{parent}/")) {
                seen_child = true;
                if let Some(at) = gone.get(id) {
                    assert!(
                        *at > started,
                        "{id} was removed before the scrape started but has {s:?}"
                    );
                }
            }
        }
        scrapes += 1;
        with_churn += usize::from(seen_child);
    }
    stop.store(true, Ordering::Relaxed);
    let made = churn.join().expect("churn thread");
    assert!(
        with_churn > 0,
        "no scrape out of {scrapes} saw a churned cgroup"
    );
    eprintln!("{scrapes} scrapes, {with_churn} with churned cgroups, {made} cgroups created");
    drop(guard);
}

#[test]
fn docker_churn_under_scrapes() {
    let busybox = Path::new("/bin/busybox");
    if !nodex_test_support::is_root() || !busybox.exists() || docker(&["info"]).is_err() {
        return skip_unless_ci("needs root, /bin/busybox (busybox-static) and a Docker daemon");
    }
    let tag = unique_name("nodex-churn");
    let context = tempfile::tempdir().expect("tempdir");
    std::fs::copy(busybox, context.path().join("busybox")).expect("copy busybox");
    std::fs::write(
        context.path().join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT [\"/bin/busybox\"]\n",
    )
    .expect("Dockerfile");
    /// Removes the image and every container labelled with the tag.
    struct Cleanup(String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            if let Ok(out) = Command::new("docker")
                .args([
                    "ps",
                    "-aq",
                    "--filter",
                    &format!("label=nodex-churn={}", self.0),
                ])
                .output()
            {
                for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("docker").args(["rm", "-f", id]).output();
                }
            }
            let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
        }
    }
    let _cleanup = Cleanup(tag.clone());
    docker(&[
        "build",
        "-q",
        "-t",
        &tag,
        &context.path().display().to_string(),
    ])
    .expect("docker build");

    let nodex = start_nodex(CONTAINER_ONLY);
    let url = nodex.url("/metrics");
    let label = format!("nodex-churn={tag}");
    let until = Instant::now() + Duration::from_secs(20);
    let (mut scrapes, mut removed_ids, mut seen) = (0, Vec::<(String, Instant)>::new(), 0);
    let mut live: Vec<String> = Vec::new();
    while Instant::now() < until {
        let id =
            docker(&["run", "-d", "--label", &label, &tag, "sleep", "60"]).expect("docker run");
        live.push(id);
        if live.len() > 2 {
            let old = live.remove(0);
            docker(&["rm", "-f", &old]).expect("docker rm");
            removed_ids.push((old, Instant::now()));
        }
        let started = Instant::now();
        let families = common::scrape(&url);
        assert_no_duplicate_series(&families);
        for s in families.values().flat_map(|f| &f.samples) {
            let Some(id) = s.labels.get("id") else {
                continue;
            };
            if live.iter().any(|l| id.contains(l.as_str())) {
                seen += 1;
            }
            for (old, at) in &removed_ids {
                assert!(
                    !(id.contains(old.as_str()) && *at < started),
                    "container {old} removed before the scrape has {s:?}"
                );
            }
        }
        scrapes += 1;
    }
    assert!(seen > 0, "no scrape out of {scrapes} saw a live container");
    eprintln!(
        "{scrapes} scrapes, {} containers removed",
        removed_ids.len()
    );
}

#[test]
fn unprivileged_user_is_served_and_logged_once() {
    if !nodex_test_support::is_root() || !Path::new("/usr/bin/setpriv").exists() {
        return skip_unless_ci("needs root and setpriv to drop to user nobody");
    }
    // A textfile directory nobody can list but one file of which is root's alone.
    let dir = tempfile::tempdir().expect("tempdir");
    let text_dir = dir.path().join("textfile");
    std::fs::create_dir(&text_dir).expect("mkdir");
    std::fs::write(text_dir.join("ok.prom"), "nodex_unprivileged_marker 1\n").expect("ok.prom");
    std::fs::write(text_dir.join("secret.prom"), "nodex_secret 1\n").expect("secret.prom");
    use std::os::unix::fs::PermissionsExt;
    for (path, mode) in [
        (dir.path(), 0o755),
        (text_dir.as_path(), 0o755),
        (text_dir.join("ok.prom").as_path(), 0o644),
        (text_dir.join("secret.prom").as_path(), 0o600),
    ] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    let mut setpriv = std::process::Command::new("setpriv");
    setpriv
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_nodex"));
    let nodex = start_nodex_via(
        setpriv,
        &[
            &format!("--collector.textfile.directory={}", text_dir.display()),
            "--collector.sysctl",
            // Mode 0600 in /proc/sys: readable by root only.
            "--collector.sysctl.include=vm.mmap_rnd_bits",
            // Not the FUSE mount `hung_fuse_statfs` may be holding at the same time.
            &format!("--collector.filesystem.mount-points-exclude={HELD_FS_EXCLUDE}"),
        ],
    );
    assert_eq!(
        proc_status(nodex.child.id(), "Uid"),
        65534,
        "not running as nobody"
    );
    let url = nodex.url("/metrics");
    let mut failed = Vec::new();
    for _ in 0..5 {
        let f = common::scrape(&url);
        assert_eq!(
            collector_success(&f, "sysctl"),
            Some(0.0),
            "sysctl as nobody"
        );
        assert_eq!(value(&f, "node_textfile_scrape_error", &[]), Some(1.0));
        assert!(f.contains_key("nodex_unprivileged_marker"));
        assert!(!f.contains_key("nodex_secret"));
        failed = f["node_scrape_collector_success"]
            .samples
            .iter()
            .filter(|s| s.value == 0.0)
            .map(|s| s.labels["collector"].clone())
            .collect();
    }
    // The log reader thread may lag: poll until the last scrape's lines are in.
    let mut logs = Vec::new();
    eventually(
        Duration::from_secs(5),
        "the sysctl failure is logged",
        || {
            logs.extend(nodex.logs());
            logs.iter()
                .any(|l| l.contains("collector=sysctl") && l.contains("level=error"))
                .then_some(())
        },
    );
    for name in &failed {
        let lines = logs
            .iter()
            .filter(|l| l.contains(&format!("collector={name} ")) && l.contains("level=error"))
            .count();
        assert!(
            lines <= 1,
            "{name} logged {lines} errors over 5 scrapes:\n{}",
            logs.join("\n")
        );
    }
    let secret_lines = logs.iter().filter(|l| l.contains("secret.prom")).count();
    assert_eq!(
        secret_lines,
        1,
        "an unreadable textfile is logged once, not every scrape:\n{}",
        logs.join("\n")
    );
    eprintln!("failing as nobody: {failed:?}");
}
