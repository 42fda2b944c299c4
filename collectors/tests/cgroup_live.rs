//! Live test on this machine's real cgroups (needs root; skipped otherwise): creates its own
//! uniquely named parent and child cgroup in every mounted hierarchy, puts a busy process with
//! a memory limit in the child, and checks the container collectors (with the default roots)
//! see its CPU usage grow, report the limit, and forget it once the cgroups are removed.
//! A drop guard kills the process and removes the cgroups (children first) even on failure;
//! no other cgroup is touched.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use nodex_collectors::container::cgroup::{discover, Ctrl, Hierarchies};
use nodex_collectors::expfmt::{render, Format, MetricSink};
use nodex_collectors::registry::scrape_text;
use nodex_collectors::{registry, Options, Roots, Settings};
use nodex_test_support::{is_root, skip_unless_ci, unique_tag};

const LIMIT: u64 = 64 * 1024 * 1024;

/// Owns the busy process and the cgroup dirs this test created.
struct Guard {
    child: Option<Child>,
    /// Created dirs, parents before children.
    dirs: Vec<PathBuf>,
}

impl Guard {
    fn cleanup(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for dir in self.dirs.iter().rev() {
            for _ in 0..50 {
                match std::fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
        self.dirs.clear();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.cleanup();
    }
}

fn scrape(settings: &Arc<Settings>, names: &[&str]) -> String {
    scrape_text(settings, names).expect("container collectors scrape")
}

/// The value of the series of `family` for cgroup `id`.
fn value(text: &str, family: &str, id: &str) -> Option<f64> {
    nodex_test_support::value(text, family, &[&format!("id=\"{id}\"")])
}

/// The cgroups a test made with [`make_cgroups`], in every hierarchy.
struct Made {
    roots: Roots,
    hier: Hierarchies,
    /// `/<prefix>-<unique tag>`, unique to this run.
    parent: String,
    /// The ids of the children below it, in the order given.
    children: Vec<String>,
    /// Removes them (and the busy process, once there is one).
    guard: Guard,
}

/// Makes a parent cgroup `/<prefix>-<unique tag>` and its `children` (names) in every mounted
/// hierarchy, parents first; on cgroup v2, `controllers` (`+cpu +memory ...`) are enabled in the
/// parent for the children. `None` (skipped outside CI) without root, a cgroup file system or
/// the right to make the parent; a child that cannot be made below it fails the test.
fn make_cgroups(prefix: &str, children: &[String], controllers: Option<&str>) -> Option<Made> {
    if !is_root() {
        skip_unless_ci("needs root to create cgroups");
        return None;
    }
    let roots = Roots::default();
    let Ok(hier) = discover(&roots) else {
        skip_unless_ci("no cgroup file system");
        return None;
    };
    let parent = format!("/{prefix}-{}", unique_tag());
    let mut guard = Guard {
        child: None,
        dirs: Vec::new(),
    };
    for dir in hier.all_dirs(&parent) {
        if std::fs::create_dir(&dir).is_err() {
            skip_unless_ci(&format!("cannot create {}", dir.display()));
            return None;
        }
        if let Some(controllers) = controllers.filter(|_| hier.is_v2()) {
            let _ = std::fs::write(dir.join("cgroup.subtree_control"), controllers);
        }
        guard.dirs.push(dir);
    }
    let children: Vec<String> = children.iter().map(|c| format!("{parent}/{c}")).collect();
    for id in &children {
        for dir in hier.all_dirs(id) {
            std::fs::create_dir(&dir)
                .unwrap_or_else(|e| panic!("create child cgroup {}: {e}", dir.display()));
            guard.dirs.push(dir);
        }
    }
    Some(Made {
        roots,
        hier,
        parent,
        children,
        guard,
    })
}

/// Settings with `roots` whose containers are `parent` and the cgroups below it only.
fn settings_below(roots: Roots, parent: &str) -> Arc<Settings> {
    let mut options = Options::default();
    options.set(
        &nodex_collectors::container::flags::CGROUP_INCLUDE,
        format!("^{}(/|$)", regex_escape(parent)),
    );
    Arc::new(Settings::new(roots, options))
}

#[test]
fn live_cgroups_are_seen_and_forgotten() {
    let controllers = Some("+cpu +memory +pids +io");
    let Some(mut made) = make_cgroups("nodex-test", &["busy".to_string()], controllers) else {
        return;
    };
    let (hier, parent, child_id) = (&made.hier, made.parent.clone(), made.children[0].clone());
    let mem = hier.dir(Ctrl::Memory, &child_id).expect("memory hierarchy");
    let limit_file = if hier.is_v2() {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    if !mem.join(limit_file).exists() {
        skip_unless_ci(&format!(
            "no {limit_file} in {} (controller not delegated)",
            mem.display()
        ));
        return;
    }
    std::fs::write(mem.join(limit_file), LIMIT.to_string()).expect("set memory limit");

    let child = Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .spawn()
        .expect("spawn busy loop");
    let pid = child.id();
    made.guard.child = Some(child);
    for dir in hier.all_dirs(&child_id) {
        std::fs::write(dir.join("cgroup.procs"), pid.to_string())
            .unwrap_or_else(|e| panic!("move {pid} into {}: {e}", dir.display()));
    }

    let settings = settings_below(made.roots, &parent);
    let groups = [
        "container_cpu",
        "container_spec",
        "container_memory",
        "container_process",
    ];

    std::thread::sleep(Duration::from_millis(300));
    let first = scrape(&settings, &groups);
    let cpu0 = value(&first, "container_cpu_usage_seconds_total", &child_id)
        .unwrap_or_else(|| panic!("no cpu usage for {child_id}:\n{first}"));
    assert_eq!(
        value(&first, "container_spec_memory_limit_bytes", &child_id),
        Some(LIMIT as f64),
        "{first}"
    );
    assert!(value(&first, "container_memory_usage_bytes", &child_id).is_some());
    assert_eq!(value(&first, "container_processes", &child_id), Some(1.0));

    std::thread::sleep(Duration::from_millis(1200));
    let second = scrape(&settings, &groups);
    let cpu1 = value(&second, "container_cpu_usage_seconds_total", &child_id).expect("cpu again");
    assert!(cpu1 > cpu0, "cpu usage did not grow: {cpu0} -> {cpu1}");

    made.guard.cleanup();
    std::thread::sleep(Duration::from_millis(1200));
    let after = scrape(&settings, &groups);
    assert!(
        !after.contains(&parent),
        "series of removed cgroups remain:\n{after}"
    );
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// Descriptors of the process whose target contains `needle` (a cgroup path fragment) or
/// ends with `end`.
fn fds_below(needle: &str, end: &str) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("list /proc/self/fd")
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|target| {
            let t = target.to_string_lossy();
            let t = t.trim_end_matches(" (deleted)");
            t.contains(needle) || t.ends_with(end)
        })
        .count()
}

/// The walk keeps its cgroup directory descriptors for the scrape's groups and for the next
/// walk, which reuses those it finds again and closes the rest: a removed cgroup's descriptor
/// does not outlive the first walk after its removal, so their number does not grow with churn.
#[test]
fn descriptors_of_removed_cgroups_close_at_the_next_walk() {
    let names: Vec<String> = (0..8).map(|i| format!("c{i}")).collect();
    let Some(Made {
        roots,
        hier,
        parent,
        children,
        guard,
    }) = make_cgroups("nodex-fds", &names, None)
    else {
        return;
    };
    let settings = settings_below(roots, &parent);
    let groups = [
        "container_cpu",
        "container_memory",
        "container_spec",
        "container_process",
    ];
    let collectors: Vec<_> = groups
        .iter()
        .map(|n| (registry::find(n).expect("registered").build)(&settings).expect("builds"))
        .collect();
    let needle = parent.trim_start_matches('/');
    let run = |groups: std::ops::Range<usize>| -> String {
        let mut sinks = Vec::new();
        for c in &collectors[groups] {
            let mut sink = MetricSink::new();
            c.collect(&mut sink).expect("collects");
            sinks.push(sink);
        }
        let refs: Vec<&MetricSink> = sinks.iter().collect();
        let mut out = Vec::new();
        render(&refs, Format::Text, &mut out).expect("render");
        String::from_utf8(out).expect("UTF-8")
    };

    let removed =
        |ids: &[String]| -> usize { ids.iter().map(|id| fds_below(&format!("{id}/"), id)).sum() };
    // Mid-scrape (one group still to run) the walk's descriptors are open, one per directory,
    // and they stay open for the next walk.
    settings.begin_scrape();
    run(0..collectors.len() - 1);
    let during = fds_below(needle, needle);
    // One per walked hierarchy (a hybrid host's unified one is not walked).
    let per_cgroup = during / (children.len() + 1);
    assert!(per_cgroup > 0, "the walk kept {during} descriptors");
    assert_eq!(
        during,
        (children.len() + 1) * per_cgroup,
        "one per directory"
    );
    run(collectors.len() - 1..collectors.len());
    assert_eq!(fds_below(needle, needle), during, "kept for the next walk");
    settings.begin_scrape();
    run(0..collectors.len());
    assert_eq!(
        fds_below(needle, needle),
        during,
        "reused, not opened again"
    );

    // Churn: half the children go, the rest stay; every walk closes the removed ones'.
    for id in &children[..4] {
        for dir in hier.all_dirs(id) {
            std::fs::remove_dir(&dir).expect("remove child cgroup");
        }
    }
    assert!(
        removed(&children[..4]) > 0,
        "the count sees removed cgroups' descriptors"
    );
    for _ in 0..3 {
        settings.begin_scrape();
        let text = run(0..collectors.len());
        assert!(!text.contains(&format!("{}\"", children[0])), "{text}");
        assert!(text.contains(&format!("{}\"", children[7])), "{text}");
        assert_eq!(
            removed(&children[..4]),
            0,
            "removed cgroups' descriptors outlive the walk"
        );
        assert_eq!(fds_below(needle, needle), 5 * per_cgroup);
    }
    // A scrape that runs only some groups walks too, and closes what it no longer finds.
    for id in &children[4..] {
        for dir in hier.all_dirs(id) {
            std::fs::remove_dir(&dir).expect("remove child cgroup");
        }
    }
    settings.begin_scrape();
    let text = run(0..1);
    assert!(!text.contains(&children[7]), "{text}");
    assert_eq!(
        removed(&children),
        0,
        "removed cgroups' descriptors outlive the walk"
    );
    assert_eq!(fds_below(needle, needle), per_cgroup);
    drop(guard);
}

/// Set in the child process of [`own_container_does_not_count_the_walks_descriptors`].
const OWN_FDS_CHILD: &str = "NODEX_TEST_OWN_FDS_PARENT";

/// nodex's own container: the walk's directory descriptors, held only during the scrape, are
/// not its open files. A child process of this test binary (only it is moved, so no other test
/// runs in a cgroup it did not expect) joins its own cgroup below a parent with 40 sibling
/// cgroups, scrapes `container_process` and checks its own `container_file_descriptors` is
/// below the number of cgroups the walk kept (it counted all of them, about 41 per hierarchy,
/// before they were left out).
#[test]
fn own_container_does_not_count_the_walks_descriptors() {
    let names: Vec<String> = (0..41).map(|i| format!("c{i}")).collect();
    let Some(Made { parent, guard, .. }) = make_cgroups("nodex-own-fds", &names, None) else {
        return;
    };
    run_child("own_fds_child", OWN_FDS_CHILD, &parent);
    drop(guard);
}

/// The child of [`own_container_does_not_count_the_walks_descriptors`]; it moves its own
/// process into a cgroup, so it runs only there, alone in its process.
#[test]
#[ignore = "run as a child process by own_container_does_not_count_the_walks_descriptors"]
fn own_fds_child() {
    let parent = std::env::var(OWN_FDS_CHILD).expect("run by the parent test");
    let roots = Roots::default();
    let hier = discover(&roots).expect("cgroup hierarchies");
    let own = format!("{parent}/c0");
    for dir in hier.all_dirs(&own) {
        std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string())
            .expect("join the cgroup");
    }
    let settings = settings_below(roots, &parent);
    settings.begin_scrape();
    let text = scrape(&settings, &["container_process"]);
    let fds = value(&text, "container_file_descriptors", &own).expect("own fd count");
    let open_now = std::fs::read_dir("/proc/self/fd").expect("fds").count() as f64;
    assert!(
        fds >= 3.0,
        "stdin, stdout and stderr at least: {fds}\n{text}"
    );
    assert!(
        fds <= open_now + 4.0,
        "{fds} descriptors counted, {open_now} open after the scrape\n{text}"
    );
}

/// The next walk reuses a directory's descriptor only for the same directory: a cgroup
/// removed and made again under the same name (a restarted container) is read through a new
/// descriptor, and a subdirectory made in a cgroup that had none is found, though the walk does
/// not list such a cgroup again while its link count says it has no subdirectory.
#[test]
fn reused_descriptors_follow_recreated_and_grown_cgroups() {
    if let Some(made) = make_cgroups("nodex-reuse", &["c".to_string(), "gone".to_string()], None) {
        follows_recreated_grown_and_removed(made);
    }
}

/// The same beyond the walk's descriptor budget, where the walk keeps a leaf's listing but not
/// its descriptor and checks the leaf with one `stat` instead of opening it: run in a child
/// process whose descriptor limit leaves the walk no budget.
#[test]
fn listings_kept_without_descriptors_follow_recreated_and_grown_cgroups() {
    if !is_root() {
        skip_unless_ci("needs root to create cgroups");
        return;
    }
    run_child("no_budget_child", NO_BUDGET_CHILD, "1");
}

/// Runs the ignored test `name` of this binary alone in a child process with `var=value` set
/// (it changes its own process: its cgroup, its descriptor limit) and requires it to pass.
fn run_child(name: &str, var: &str, value: &str) {
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", name, "--ignored", "--nocapture"])
        .env(var, value)
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child {name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const NO_BUDGET_CHILD: &str = "NODEX_TEST_NO_BUDGET_CHILD";

/// The child of [`listings_kept_without_descriptors_follow_recreated_and_grown_cgroups`]: it
/// lowers its own descriptor limit, so it runs only there, alone in its process.
#[test]
#[ignore = "run as a child process by listings_kept_without_descriptors_follow_recreated_and_grown_cgroups"]
fn no_budget_child() {
    std::env::var(NO_BUDGET_CHILD).expect("run by the parent test");
    // The walk's budget is half of what the soft limit leaves after the fd cache and 256
    // more (cgroup::tree): none at this limit.
    let soft = nodex_collectors::fdcache::MAX_OPEN as u64 + 256;
    let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
    rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(soft),
            maximum: hard,
        },
    )
    .expect("lower the descriptor limit");
    let made = make_cgroups(
        "nodex-nobudget",
        &["c".to_string(), "gone".to_string()],
        None,
    )
    .expect("cgroups (the parent test checked for root)");
    let parent = made.parent.clone();
    follows_recreated_grown_and_removed(made);
    assert_eq!(
        fds_below(&parent, "\u{0}"),
        0,
        "no directory descriptor kept"
    );
}

/// Scrapes the cgroups `made` (children `c` and `gone`) while `c` is removed and made again,
/// then grows a subdirectory, and `gone` is removed: each change shows at the next scrape.
fn follows_recreated_grown_and_removed(mut made: Made) {
    let (hier, parent) = (&made.hier, made.parent.clone());
    let (leaf, gone) = (made.children[0].clone(), made.children[1].clone());
    let grown = format!("{leaf}/sub");
    let settings = settings_below(made.roots.clone(), &parent);
    let groups = ["container_cpu", "container_memory"];
    let usage = |text: &str, id: &str| value(text, "container_memory_usage_bytes", id);
    settings.begin_scrape();
    let first = scrape(&settings, &groups);
    assert!(usage(&first, &leaf).is_some(), "{first}");
    assert!(usage(&first, &gone).is_some(), "{first}");

    // Made again under the same name: the old descriptor would read nothing.
    for dir in hier.all_dirs(&leaf) {
        std::fs::remove_dir(&dir).expect("remove leaf");
        std::fs::create_dir(&dir).expect("make leaf again");
    }
    settings.begin_scrape();
    let again = scrape(&settings, &groups);
    assert!(
        usage(&again, &leaf).is_some(),
        "recreated cgroup unread:\n{again}"
    );

    // A subdirectory in a cgroup the last walk found without one.
    for dir in hier.all_dirs(&grown) {
        std::fs::create_dir(&dir).expect("make sub");
        made.guard.dirs.push(dir);
    }
    settings.begin_scrape();
    let grew = scrape(&settings, &groups);
    assert!(
        usage(&grew, &grown).is_some(),
        "new sub-cgroup missed:\n{grew}"
    );

    // A leaf removed between scrapes is gone from the next.
    for dir in hier.all_dirs(&gone) {
        std::fs::remove_dir(&dir).expect("remove gone");
    }
    settings.begin_scrape();
    let after = scrape(&settings, &groups);
    assert!(
        usage(&after, &gone).is_none(),
        "removed cgroup still served:\n{after}"
    );
    assert!(usage(&after, &leaf).is_some(), "{after}");
    drop(made.guard);
}
