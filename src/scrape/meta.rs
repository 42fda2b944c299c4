//! The metrics a scrape adds about itself: per-collector success and duration, build info,
//! and (unless `--web.disable-exporter-metrics`) the process's and the HTTP handler's own.

use std::time::Duration;

use nodex_collectors::expfmt::MetricSink;

use super::Scraper;
use crate::selfmetrics;

/// `node_scrape_collector_success` and `node_scrape_collector_duration_seconds` written into
/// the empty sink `meta`, one block per family (the renderer sorts blocks), not one per
/// collector.
pub(super) fn collector_meta(
    mut meta: MetricSink,
    successes: &[(&'static str, bool)],
    durations: &[(&'static str, Duration)],
) -> MetricSink {
    meta.gauge(
        "node_scrape_collector_success",
        "node_exporter: Whether a collector succeeded.",
    );
    for &(name, ok) in successes {
        meta.sample(&[("collector", name)], if ok { 1.0 } else { 0.0 });
    }
    meta.gauge(
        "node_scrape_collector_duration_seconds",
        "node_exporter: Duration of a collector scrape.",
    );
    for &(name, elapsed) in durations {
        meta.sample(&[("collector", name)], elapsed.as_secs_f64());
    }
    meta
}

/// `node_exporter_build_info` and `nodex_build_info` into `sink`.
fn build_info(sink: &mut MetricSink) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let labels = [
        ("branch", ""),
        ("goarch", arch),
        ("goos", std::env::consts::OS),
        ("goversion", "rust"),
        (
            "revision",
            option_env!("NODEX_REVISION").unwrap_or("unknown"),
        ),
        ("tags", "nodex"),
        ("version", env!("CARGO_PKG_VERSION")),
    ];
    sink.gauge(
        "node_exporter_build_info",
        "A metric with a constant '1' value labeled by version, revision, branch, goversion from which node_exporter was built, and the goos and goarch for the build.",
    )
    .sample(&labels, 1.0);
    sink.gauge(
        "nodex_build_info",
        "A metric with a constant '1' value labeled by the version and revision of nodex.",
    )
    .sample(&labels, 1.0);
}

impl Scraper {
    /// The exporter's own metrics written into the empty `sink`: build info always, process and
    /// handler metrics when enabled.
    pub(super) fn exporter_sink(&self, mut sink: MetricSink) -> MetricSink {
        build_info(&mut sink);
        if !self.exporter_metrics {
            return sink;
        }
        selfmetrics::write_process_metrics(&mut sink);
        if let Some(handler) = &self.handler {
            handler.write_metrics(&mut sink);
        }
        sink
    }
}
