//! Development tool: the CPU each collector costs per run on this host, for finding what to
//! make cheaper. Runs every default host collector (or the named ones) `NODEX_RUNS` times (200)
//! on one thread, in scrape order, and prints the thread CPU time per run of each, the most
//! expensive first, with the heap allocations each makes per run, then the render time of all
//! of them.
//!
//! `cargo run --release -p nodex-collectors --example cost [-- netclass meminfo ...]`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nodex_collectors::expfmt::{render, Format, MetricSink};
use nodex_collectors::{registry, Options, Roots, Settings};

/// The system allocator, counting allocations.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: defers to the system allocator; the counter has no effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn main() {
    let names: Vec<String> = std::env::args().skip(1).collect();
    let runs: u32 = std::env::var("NODEX_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let settings = Arc::new(Settings::new(Roots::default(), Options::default()));
    let mut collectors = Vec::new();
    for info in registry::all() {
        let wanted = if names.is_empty() {
            info.default_enabled && !info.name.starts_with("container") && info.name != "machine"
        } else {
            names.iter().any(|n| n == info.name)
        };
        if !wanted {
            continue;
        }
        match (info.build)(&settings) {
            Ok(c) => collectors.push((info.name, c, Duration::ZERO, 0)),
            Err(e) => eprintln!("{}: {e}", info.name),
        }
    }
    let mut render_cpu = Duration::ZERO;
    let mut render_allocations = 0;
    let mut body = Vec::with_capacity(64 * 1024);
    for _ in 0..runs {
        settings.begin_scrape();
        let mut sinks = Vec::with_capacity(collectors.len());
        for (_, collector, spent, allocations) in &mut collectors {
            let start = thread_cpu();
            let allocated = ALLOCATIONS.load(Ordering::Relaxed);
            let mut sink = MetricSink::new();
            let _ = collector.collect(&mut sink);
            *spent += thread_cpu() - start;
            *allocations += ALLOCATIONS.load(Ordering::Relaxed) - allocated;
            sinks.push(sink);
        }
        let start = thread_cpu();
        let allocated = ALLOCATIONS.load(Ordering::Relaxed);
        body.clear();
        let refs: Vec<&MetricSink> = sinks.iter().collect();
        if let Err(e) = render(&refs, Format::Text, &mut body) {
            eprintln!("render: {e}");
        }
        render_cpu += thread_cpu() - start;
        render_allocations += ALLOCATIONS.load(Ordering::Relaxed) - allocated;
    }
    collectors.sort_by_key(|(_, _, spent, _)| std::cmp::Reverse(*spent));
    let per_run = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(runs);
    println!("  CPU/run  allocs/run  collector");
    for (name, _, spent, allocations) in &collectors {
        let allocations = allocations / u64::from(runs);
        println!("{:>8.1} us {allocations:>10}  {name}", per_run(*spent));
    }
    let total: Duration = collectors.iter().map(|c| c.2).sum();
    let allocations: u64 = collectors.iter().map(|c| c.3).sum::<u64>() / u64::from(runs);
    println!(
        "{:>8.1} us {allocations:>10}  (all collectors)",
        per_run(total)
    );
    println!(
        "{:>8.1} us {:>10}  (render, {} bytes)",
        per_run(render_cpu),
        render_allocations / u64::from(runs),
        body.len()
    );
}
