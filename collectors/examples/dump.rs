//! Development tool: runs the named collectors once and prints their exposition.
//!
//! `cargo run -p nodex-collectors --example dump -- cpu meminfo` reads the real host;
//! with `NODEX_FIXTURE=tests/fixtures/host` it reads a fixture tree instead. Flags are passed
//! as `--collector.x.y=value` arguments.

use std::path::Path;
use std::sync::Arc;

use nodex_collectors::expfmt::{render, Format, MetricSink};
use nodex_collectors::{registry, Options, Roots, Settings};

fn main() {
    let mut options = Options::default();
    let mut names = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.strip_prefix("--").and_then(|a| a.split_once('=')) {
            Some((flag, value)) => {
                let Some(spec) = registry::flag(flag) else {
                    eprintln!("unknown flag --{flag}");
                    std::process::exit(2);
                };
                options.set_spec(&spec, vec![value.to_string()]);
            }
            None => names.push(arg),
        }
    }
    let roots = match std::env::var_os("NODEX_FIXTURE") {
        Some(base) => Roots::fixture(Path::new(&base)),
        None => Roots::default(),
    };
    let settings = Arc::new(Settings::new(roots, options));
    let mut sinks = Vec::new();
    for name in &names {
        let Some(info) = registry::find(name) else {
            eprintln!("unknown collector {name}");
            std::process::exit(2);
        };
        let collector = match (info.build)(&settings) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{name}: {e}");
                std::process::exit(2);
            }
        };
        let mut sink = MetricSink::new();
        if let Err(e) = collector.collect(&mut sink) {
            eprintln!("{name}: collect failed: {e}");
        }
        sinks.push(sink);
    }
    let refs: Vec<&MetricSink> = sinks.iter().collect();
    let stdout = std::io::stdout();
    if let Err(e) = render(&refs, Format::Text, &mut stdout.lock()) {
        eprintln!("writing: {e}");
    }
}
