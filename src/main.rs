//! nodex: node_exporter's host metrics and cAdvisor's container metrics from one small binary.

mod cli;
mod logging;
mod scrape;
mod selfmetrics;
mod server;
mod top;
mod webconfig;

use std::process::ExitCode;
use std::sync::Arc;

use nodex_collectors::{registry, Collector, Settings};

fn main() -> ExitCode {
    limit_malloc_arenas();
    raise_nofile_limit();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // `nodex top` is the only subcommand; without it the command line is node_exporter's.
    if args.get(1).is_some_and(|a| a == "top") {
        return top::main(args);
    }
    let config = match cli::parse(args) {
        Ok(c) => c,
        Err(cli::CliError::Usage(e)) => e.exit(),
        Err(cli::CliError::Invalid(msg)) => {
            eprintln!("nodex: error: {msg}");
            return ExitCode::from(2);
        }
    };
    logging::init(config.log_level, config.log_format);

    let settings = Arc::new(Settings::new(config.roots.clone(), config.options.clone()));
    let mut collectors: Vec<(&'static str, Box<dyn Collector>)> = Vec::new();
    for name in &config.enabled {
        let Some(info) = registry::find(name) else {
            continue;
        };
        match (info.build)(&settings) {
            Ok(c) => collectors.push((info.name, c)),
            Err(msg) => {
                eprintln!("nodex: error: collector {name}: {msg}");
                return ExitCode::from(2);
            }
        }
    }
    let (web, rate_limiter) = match &config.web_config_file {
        Some(path) => {
            match webconfig::WebConfig::open(path).and_then(|web| Ok((web.rate_limiter()?, web))) {
                Ok((limiter, web)) => (Some(Arc::new(web)), limiter),
                Err(msg) => {
                    eprintln!("nodex: error: --web.config.file: {msg}");
                    return ExitCode::from(2);
                }
            }
        }
        None => (None, None),
    };
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "starting nodex");
    for name in &config.enabled {
        tracing::info!(collector = name, "enabled collector");
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.worker_threads)
        .thread_keep_alive(std::time::Duration::from_secs(60))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nodex: error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    release_startup_pages();
    let stats = Arc::new(server::HandlerStats::default());
    let state = Arc::new(server::AppState {
        scraper: scrape::Scraper::new(
            collectors,
            Arc::clone(&settings),
            !config.disable_exporter_metrics,
        )
        .with_handler_metrics(stats.clone()),
        stats,
        telemetry_path: config.telemetry_path.clone(),
        max_requests: config.max_requests,
        permits: tokio::sync::Semaphore::new(config.max_requests.max(1)),
        scrape_timeout: config.scrape_timeout,
        web,
        rate_limiter,
    });
    let result = runtime.block_on(async {
        tokio::select! {
            r = server::serve(state, &config.listen_addresses, config.systemd_socket) => r,
            _ = shutdown_signal() => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(err = format!("{e:#}"), "nodex stopped");
            eprintln!("nodex: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

/// Raises the soft descriptor limit to the hard one, as every Go program (node_exporter,
/// cAdvisor) does at start since Go 1.19 (https://go.dev/doc/go1.19#os, `src/os/rlimit.go`):
/// systemd's default soft limit of 1024 would leave the container walk room to keep few cgroup
/// directory descriptors for a scrape (`collectors/src/container/walk.rs`). Failure changes
/// nothing.
fn raise_nofile_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    if let Rlimit {
        current: Some(soft),
        maximum: Some(hard),
    } = getrlimit(Resource::Nofile)
    {
        if soft < hard {
            let raised = Rlimit {
                current: Some(hard),
                maximum: Some(hard),
            };
            let _ = setrlimit(Resource::Nofile, raised);
        }
    }
}

/// One glibc malloc arena for all threads unless `MALLOC_ARENA_MAX` says otherwise. By default
/// every thread that meets a locked arena gets its own, and each one's touched pages stay
/// resident: 1.3 to 1.6 MiB of peak RSS on a small host (9.8 against 8.2 MiB for the image's
/// binary), for no measurable CPU (per-thread caches serve the small allocations nodex makes).
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only tunes the allocator; no other thread exists yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

/// Returns the pages only start-up used before the first scrape, so that they do not count in
/// the resident set from then on: the page-table entries of nodex's own code (flag parsing,
/// YAML, TLS and regex set-up; the kernel maps a binary's text 64 KiB around each page touched,
/// so most of it was resident) and the free memory of the heap. The code stays in the page
/// cache: what a scrape runs is mapped again at its first use, the rest stays out. The text
/// mapping is never written (no text relocations), so dropping it loses nothing.
fn release_startup_pages() {
    let (Ok(maps), Ok(exe)) = (
        std::fs::read_to_string("/proc/self/maps"),
        std::fs::read_link("/proc/self/exe"),
    ) else {
        return;
    };
    for (start, end) in code_mappings(&maps, &exe.to_string_lossy()) {
        // SAFETY: the range is a whole mapping of this executable's read-only, never-written
        // text; MADV_DONTNEED on a private file mapping only drops page-table entries.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
    // SAFETY: malloc_trim only returns free heap memory to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The `r-xp` mappings of `exe` in a `/proc/<pid>/maps` text, as (start, end) addresses.
fn code_mappings(maps: &str, exe: &str) -> Vec<(usize, usize)> {
    maps.lines()
        .filter_map(|line| {
            let mut fields = line.split_ascii_whitespace();
            let (range, perms) = (fields.next()?, fields.next()?);
            let path = fields.nth(3)?;
            if perms != "r-xp" || path != exe || fields.next().is_some() {
                return None;
            }
            let (start, end) = range.split_once('-')?;
            let start = usize::from_str_radix(start, 16).ok()?;
            let end = usize::from_str_radix(end, 16).ok()?;
            (end > start).then_some((start, end))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    /// Only the executable's own code mapping is picked from a real maps layout (proc(5)).
    #[test]
    fn picks_the_executable_code_mapping() {
        let maps = "\
00400000-00401000 r--p 00000000 fe:01 123 /usr/bin/nodex
00401000-009a3000 r-xp 00001000 fe:01 123 /usr/bin/nodex
009a3000-00b3b000 r--p 005a3000 fe:01 123 /usr/bin/nodex
00b3b000-00b3f000 rw-p 0073b000 fe:01 123 /usr/bin/nodex
01d6e000-01f39000 rw-p 00000000 00:00 0                                  [heap]
7f1c2a000000-7f1c2a021000 r-xp 00000000 fe:01 77 /usr/lib/x86_64-linux-gnu/libc.so.6
7f1c2b000000-7f1c2b001000 r-xp 00000000 fe:01 124 /usr/bin/nodex (deleted)
7ffd6b5f2000-7ffd6b5f4000 r-xp 00000000 00:00 0                          [vdso]
";
        assert_eq!(
            super::code_mappings(maps, "/usr/bin/nodex"),
            vec![(0x401000, 0x9a3000)]
        );
    }
}
