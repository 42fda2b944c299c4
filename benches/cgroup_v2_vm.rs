//! Container scrape cost on a real cgroup v2 kernel, beside the floor measured in the same VM
//! (issue 12's benchmark for v2; this host runs cgroup v1). Boots Debian's kernel under qemu
//! (`tests/common/vm.rs`, `-accel tcg`, one CPU) with `tests/vm/cgroup-v2-bench.sh` as `/init`,
//! which builds N containers in the kubelet's cgroupfs layout per size, puts a process holding
//! 1 MiB in one in ten, and alternates rounds of nodex scrapes (the release build, static, the
//! container groups and machine, gzip; each build runs only for its turn) with passes of
//! `collectors/examples/cgroup_floor.rs`
//! (`orc`: open, read, close each file nodex reads, relative to its cgroup's directory
//! descriptor; `pread`: re-read descriptors kept open) on the same files, the list
//! `benches/cgroup_bench.py --print-floor-args` gives. Under emulation absolute times mean
//! little; the ratio to the floor measured in the same VM is the figure.
//!
//! ```text
//! cargo bench --bench cgroup_v2_vm [-- SIZES ROUNDS SCRAPES]     # defaults: "100 1000" 3 2
//! ```
//!
//! `NODEX_VM_BEFORE=<static nodex>` adds that build (e.g. main's, built with the flags
//! `vm::static_binary` uses) to the same rounds, for a before/after in one boot: separate boots
//! of the emulated kernel give floors that differ by 2x.
//!
//! Needs what `tests/vm_cgroup_v2.rs` needs (qemu-system-x86, busybox-static, binutils, the
//! kernel from `scripts/vm-kernel.sh` or `NODEX_VM_KERNEL`), and python3 for the file list.
//! `NODEX_VM_CONSOLE=<file>` keeps the VM's console output.

#[allow(dead_code)]
#[path = "../tests/common/vm.rs"]
mod vm;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// The repository (what `tests/common/vm.rs` builds from).
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The median of a JSON number array field such as `"cpu_ms":[1.0,2.0]` in the floor's output.
fn json_median(json: &str, field: &str) -> Option<f64> {
    let start = json.find(&format!("\"{field}\":["))? + field.len() + 4;
    let end = start + json[start..].find(']')?;
    let values: Option<Vec<f64>> = json[start..end]
        .split(',')
        .map(|x| x.trim().parse().ok())
        .collect();
    Some(median(values?))
}

fn json_number(json: &str, field: &str) -> Option<f64> {
    let start = json.find(&format!("\"{field}\":"))? + field.len() + 3;
    let end = start + json[start..].find([',', '}'])?;
    json[start..end].trim().parse().ok()
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let sizes = args.first().map_or("100 1000", String::as_str).to_string();
    let rounds: u32 = args
        .get(1)
        .map_or(Ok(3), |r| r.parse())
        .map_err(|e| format!("ROUNDS: {e}"))?;
    let scrapes: u32 = args
        .get(2)
        .map_or(Ok(2), |s| s.parse())
        .map_err(|e| format!("SCRAPES: {e}"))?;

    let out = Command::new("python3")
        .arg(repo().join("benches/cgroup_bench.py"))
        .args(["--print-floor-args", "/sys/fs/cgroup"])
        .output()
        .map_err(|e| format!("python3 benches/cgroup_bench.py: {e}"))?;
    let floor_args = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || floor_args.is_empty() {
        return Err(format!(
            "cgroup_bench.py --print-floor-args: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    eprintln!("building the static release nodex and cgroup_floor ...");
    let nodex = vm::static_binary(true, &["--bin", "nodex"], "nodex")?;
    let floor = vm::static_binary(
        true,
        &["-p", "nodex-collectors", "--example", "cgroup_floor"],
        "examples/cgroup_floor",
    )?;
    let p = vm::Prerequisites::with_nodex(nodex)?;
    let mut cpio = vm::Initramfs::base(&p, include_str!("../tests/vm/cgroup-v2-bench.sh"))?;
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
    };
    cpio.file("bin/cgroup_floor", 0o755, &read(&floor)?);
    let mut builds = vec!["nodex"];
    if let Some(before) = std::env::var_os("NODEX_VM_BEFORE") {
        cpio.file(
            "bin/nodex-before",
            0o755,
            &read(std::path::Path::new(&before))?,
        );
        builds.push("nodex-before");
    }
    let env = format!(
        "SIZES='{sizes}'\nROUNDS={rounds}\nSCRAPES={scrapes}\nSHARE=10\nFLOOR_ARGS='{floor_args}'\nBUILDS='{}'\n",
        builds.join(" ")
    );
    cpio.file("etc/vm.env", 0o644, env.as_bytes());
    let dir = std::env::temp_dir().join(format!("nodex-cgroup-v2-vm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let initrd = dir.join("initrd.cpio");
    let written = std::fs::write(&initrd, cpio.finish());
    let started = Instant::now();
    let console = written
        .map_err(|e| format!("{}: {e}", initrd.display()))
        .and_then(|()| vm::boot(&p, &initrd, 2048, vm::timeout(Duration::from_secs(3600))));
    let _ = std::fs::remove_dir_all(&dir);
    let console = console?;
    if let Some(path) = std::env::var_os("NODEX_VM_CONSOLE") {
        std::fs::write(&path, &console).map_err(|e| format!("NODEX_VM_CONSOLE: {e}"))?;
    }
    let sections = vm::sections(&console);
    if let Some(err) = sections.get("error") {
        return Err(format!("the VM script failed: {err}"));
    }
    let section = |name: &str| {
        sections
            .get(name)
            .cloned()
            .ok_or_else(|| format!("no section {name:?}"))
    };

    println!(
        "cgroup v2 (Debian kernel under qemu -accel tcg, 1 CPU, {:.0} s), {rounds} rounds x {scrapes} scrapes \
         (and floor passes), one container in 10 holds a process, gzip; medians over rounds\n",
        started.elapsed().as_secs_f64()
    );
    println!("| containers (cgroups) | build | CPU per scrape | wall per scrape | peak RSS | / floor orc | / floor pread |");
    println!("|---|---|---|---|---|---|---|");
    for n in sizes.split_whitespace() {
        let cgroups = section(&format!("cgroups {n}"))?;
        let cgroups = cgroups.trim();
        let (mut orc, mut pread) = (vec![], vec![]);
        for r in 0..rounds {
            let o = section(&format!("orc {n} {r}"))?;
            orc.push(json_median(&o, "cpu_ms").ok_or(format!("orc {n} {r}: {o}"))?);
            let pr = section(&format!("pread {n} {r}"))?;
            let scale = json_number(&o, "files").unwrap_or(1.0)
                / json_number(&pr, "files")
                    .filter(|f| *f > 0.0)
                    .unwrap_or(1.0);
            pread.push(json_median(&pr, "cpu_ms").ok_or(format!("pread {n} {r}: {pr}"))? * scale);
        }
        let (orc, pread) = (median(orc), median(pread));
        for build in &builds {
            let (mut cpu, mut wall, mut rss) = (vec![], vec![], 0u64);
            for r in 0..rounds {
                let line = section(&format!("{build} {n} {r}"))?;
                let f: Vec<f64> = line
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                let [ticks, centis, count] = f[..] else {
                    return Err(format!("{build} {n} {r}: {line:?}"));
                };
                // USER_HZ is 100 on x86 Linux: a tick and a centisecond are both 10 ms.
                cpu.push(ticks * 10.0 / count);
                wall.push(centis * 10.0 / count);
                let hwm = section(&format!("rss {build} {n} {r}"))?;
                let kb = hwm.split_whitespace().next().and_then(|k| k.parse().ok());
                rss = rss.max(kb.unwrap_or(0));
            }
            let (cpu, wall) = (median(cpu), median(wall));
            println!(
                "| {n} ({cgroups}) | {build} | {cpu:.0} ms | {wall:.0} ms | {rss} kB | {:.2} | {:.2} |",
                cpu / orc,
                cpu / pread,
            );
        }
        println!("| {n} ({cgroups}) | floor orc / pread | {orc:.0} / {pread:.0} ms | | | 1.00 | |");
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("cgroup_v2_vm: {e}");
        std::process::exit(1);
    }
}
