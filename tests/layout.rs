//! The module tree and its tables agree: every collector module under `collectors/src/host/`
//! and `collectors/src/container/` is in the registry (`registry::all()`), has a parser in the
//! fuzz table (`fuzz/src/lib.rs`, `parser!("<module>` or `parser!("<module>.`), and has a
//! golden (`tests/golden/<name>.prom`, or one per cgroup layout for the container families).
//! A module left out of one of them fails here instead of silently. Exceptions carry a reason.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Container modules that are not collectors.
const CONTAINER_HELPERS: &[(&str, &str)] = &[
    (
        "cgroup",
        "the cgroup reader: mount discovery, the walk, typed stats from cgroup files and their parsers",
    ),
    ("config", "the collector.container.* flags"),
    (
        "identity",
        "container kinds and labels from runtime metadata and the kubelet's log directories",
    ),
    (
        "flags",
        "the --collector.container.* flags the groups share",
    ),
    (
        "layout",
        "cgroup path layouts (docker, containerd, crio, systemd slices)",
    ),
    (
        "runtime",
        "container runtime metadata (docker, OCI, pod logs)",
    ),
    ("walk", "the per-scrape snapshot shared by the groups"),
];

/// Host collectors with no fuzzed parser, each with the reason.
const NO_FUZZ: &[(&str, &str)] = &[
    (
        "logind",
        "reads decoded D-Bus values; the D-Bus decoder is fuzzed as `dbus.*`",
    ),
    ("timex", "adjtimex(2) fields, no bytes parsed"),
    ("uname", "uname(2) fields, no bytes parsed"),
];

/// Host collectors with no golden; the same list, with reasons, as `collectors/tests/golden.rs`.
const NO_GOLDEN: &[&str] = &["ethtool", "network_route", "perf"];

/// The cgroup layouts each container family has a golden for (`collectors/tests/container_golden.rs`).
const CGROUP_LAYOUTS: &[&str] = &["cgroup-v1", "cgroup-v1-systemd", "cgroup-v2"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Module names (file stems, `mod.rs` left out) of one source directory.
fn modules(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| {
            let entry = e.ok()?;
            let name = entry.file_name().into_string().ok()?;
            // A module is `name.rs` or a directory `name/` with a `mod.rs`.
            if entry.path().join("mod.rs").is_file() {
                return Some(name);
            }
            let stem = name.strip_suffix(".rs")?;
            (stem != "mod").then(|| stem.to_string())
        })
        .collect()
}

/// The names of the fuzz table's entries.
fn fuzz_names() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("fuzz/src/lib.rs")).expect("fuzz/src/lib.rs");
    text.split("parser!(\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_collector_module_is_registered_fuzzed_and_golden() {
    let registered: BTreeSet<&str> = nodex_collectors::registry::all()
        .iter()
        .map(|i| i.name)
        .collect();
    let fuzzed = fuzz_names();
    let golden = root().join("tests/golden");
    let mut problems = Vec::new();
    let mut expected = BTreeSet::new();

    for module in modules(&root().join("collectors/src/host")) {
        expected.insert(module.clone());
        if !registered.contains(module.as_str()) {
            problems.push(format!("host::{module}: not in registry::all()"));
        }
        let in_fuzz = fuzzed
            .iter()
            .any(|n| *n == module || n.starts_with(&format!("{module}.")));
        if !in_fuzz && !NO_FUZZ.iter().any(|(n, _)| *n == module) {
            problems.push(format!(
                "host::{module}: no parser!(\"{module}...\") in fuzz/src/lib.rs"
            ));
        }
        if !golden.join(format!("{module}.prom")).is_file() && !NO_GOLDEN.contains(&module.as_str())
        {
            problems.push(format!("host::{module}: no tests/golden/{module}.prom"));
        }
    }

    let helpers: Vec<&str> = CONTAINER_HELPERS.iter().map(|(n, _)| *n).collect();
    for module in modules(&root().join("collectors/src/container")) {
        if helpers.contains(&module.as_str()) {
            continue;
        }
        // cAdvisor's machine family is `machine`; the others are `container_<module>`, but for
        // `storage`.
        let name = match module.as_str() {
            "machine" => module.clone(),
            // cAdvisor's group is `disk`; the module holds the layer and usage walker too.
            "storage" => "container_disk".to_string(),
            _ => format!("container_{module}"),
        };
        expected.insert(name.clone());
        if !registered.contains(name.as_str()) {
            problems.push(format!(
                "container::{module}: {name} not in registry::all()"
            ));
        }
        for layout in CGROUP_LAYOUTS {
            if !golden.join(layout).join(format!("{name}.prom")).is_file() {
                problems.push(format!(
                    "container::{module}: no tests/golden/{layout}/{name}.prom"
                ));
            }
        }
    }
    if !fuzzed.iter().any(|n| n.starts_with("container.")) {
        problems.push("no container.* parser in fuzz/src/lib.rs".into());
    }

    for name in &registered {
        if !expected.contains(*name) {
            problems.push(format!("{name}: registered but no module of that name"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every `pub fn` of `container/cgroup/parse.rs` that takes file bytes is fuzzed (`cg::<fn>(` in the
/// fuzz table): the container families share these parsers, so they carry no fuzz entry of
/// their own.
#[test]
fn every_container_parser_is_fuzzed() {
    let parse = std::fs::read_to_string(root().join("collectors/src/container/cgroup/parse.rs"))
        .expect("container/cgroup/parse.rs");
    let fuzz = std::fs::read_to_string(root().join("fuzz/src/lib.rs")).expect("fuzz/src/lib.rs");
    // flat_keyed is fuzzed through flat_keyed_lookup, its only caller besides the families.
    let covered_by_caller = ["flat_keyed"];
    let missing: Vec<&str> = parse
        .lines()
        .filter_map(|l| l.strip_prefix("pub fn "))
        .filter(|l| l.contains("bytes: &[u8]"))
        .filter_map(|l| l.split(['(', '<']).next())
        .filter(|f| !covered_by_caller.contains(f) && !fuzz.contains(&format!("cg::{f}(")))
        .collect();
    assert!(
        missing.is_empty(),
        "container parsers not in fuzz/src/lib.rs: {missing:?}"
    );
}

/// The cgroup reader (`container/cgroup/`) is the only code that opens cgroup files or asks
/// whether the host is v1 or v2: no other container module names a controller, a cgroup
/// directory handle or the hierarchy kind (before the reader, five families branched on
/// `hier.v2` and each read its own files).
#[test]
fn only_the_cgroup_reader_touches_cgroup_files() {
    let forbidden = [
        "Ctrl::",
        "unified_dir(",
        "is_v2()",
        "hier.dir(",
        "cgroup::Dir",
    ];
    let mut problems = Vec::new();
    let mut files = Vec::new();
    let mut dirs = vec![root().join("collectors/src/container")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("container module").flatten() {
            let path = entry.path();
            if path.ends_with("cgroup") {
                continue;
            }
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    assert!(files.len() > 10, "found only {files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).expect("source");
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for f in forbidden.iter().filter(|f| code.contains(**f)) {
                problems.push(format!("{}:{}: {f}", path.display(), n + 1));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
