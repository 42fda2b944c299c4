//! Support for tests: running a collector on an empty root, and, for golden tests, masking the
//! sample values that depend on the machine running the test rather than on the fixture tree
//! (clock, uname, statfs of the fixture directory, nodex's own process), as node_exporter's
//! end-to-end test deletes them.

/// Families whose sample values depend on the test machine, not on the fixture tree.
pub const LIVE_FAMILIES: &[&str] = &[
    "node_time_seconds",
    "node_time_zone_offset_seconds",
    "node_filesystem_size_bytes",
    "node_filesystem_free_bytes",
    "node_filesystem_avail_bytes",
    "node_filesystem_files",
    "node_filesystem_files_free",
    "node_textfile_mtime_seconds",
    "node_scrape_collector_duration_seconds",
    "node_ntp_offset_seconds",
    "node_ntp_rtt_seconds",
    "node_ntp_reference_timestamp_seconds",
];

/// Family-name prefixes whose values are always live (the exporter's own process and handler).
pub const LIVE_PREFIXES: &[&str] = &["process_", "promhttp_", "node_timex_", "node_uname_"];

/// Families whose label values too come from the test machine (kernel, time zone).
pub const LIVE_LABELS: &[&str] = &["node_uname_info", "node_time_zone_offset_seconds"];

/// True when the sample line's value must be masked.
pub fn is_live(metric_name: &str) -> bool {
    LIVE_FAMILIES.contains(&metric_name) || LIVE_PREFIXES.iter().any(|p| metric_name.starts_with(p))
}

/// Replaces the value of every live sample line of a text exposition by `LIVE`, and the whole
/// label set of the `LIVE_LABELS` families.
pub fn mask_live_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..name_end];
        if line.starts_with('#') || !is_live(name) {
            out.push_str(line);
        } else if LIVE_LABELS.contains(&name) {
            out.push_str(name);
            out.push_str("{LIVE} LIVE");
        } else {
            let value_at = line.rfind(' ').unwrap_or(line.len());
            out.push_str(&line[..value_at]);
            out.push_str(" LIVE");
        }
        out.push('\n');
    }
    out
}

/// Builds `info`'s collector on roots that do not exist and runs it once: how a collector
/// behaves on a host without its subsystem. Returns what it wrote along with its result; `Err`
/// when the collector does not build.
pub fn collect_on_empty_root(
    info: crate::collector::CollectorInfo,
) -> Result<
    (
        crate::expfmt::MetricSink,
        Result<(), crate::error::CollectError>,
    ),
    String,
> {
    let roots = crate::roots::Roots::fixture(std::path::Path::new("/nonexistent/nodex"));
    let settings = std::sync::Arc::new(crate::collector::Settings::new(
        roots,
        crate::options::Options::default(),
    ));
    let collector = (info.build)(&settings)?;
    let mut sink = crate::expfmt::MetricSink::new();
    let result = collector.collect(&mut sink);
    Ok((sink, result))
}

/// Builds `info`'s collector with every root (`--path.procfs`, `--path.sysfs`, ...) below
/// `base`, as the golden tests do, and runs it once. Returns what it wrote and its result.
pub fn collect_on_root(
    info: crate::collector::CollectorInfo,
    base: &std::path::Path,
) -> Result<
    (
        crate::expfmt::MetricSink,
        Result<(), crate::error::CollectError>,
    ),
    String,
> {
    let settings = std::sync::Arc::new(crate::collector::Settings::new(
        crate::roots::Roots::fixture(base),
        crate::options::Options::default(),
    ));
    let collector = (info.build)(&settings)?;
    let mut sink = crate::expfmt::MetricSink::new();
    let result = collector.collect(&mut sink);
    Ok((sink, result))
}

/// Checks that `info`'s collector, built once with every root below `base` and run again at
/// each of `reads`, gives what a collector built afresh gives there: the same text exposition
/// or the same error. `write` puts a read's files below `base` before both run. Returns how
/// many of the reads failed.
pub fn kept_matches_fresh<R: std::fmt::Debug>(
    info: crate::collector::CollectorInfo,
    base: &std::path::Path,
    reads: impl IntoIterator<Item = R>,
    mut write: impl FnMut(&R),
) -> usize {
    let settings = std::sync::Arc::new(crate::collector::Settings::new(
        crate::roots::Roots::fixture(base),
        crate::options::Options::default(),
    ));
    let kept = (info.build)(&settings).expect("collector builds");
    let outcome = |sink: &crate::expfmt::MetricSink,
                   result: Result<(), crate::error::CollectError>| {
        match result {
            Ok(()) => render_text(sink),
            Err(e) => e.to_string(),
        }
    };
    let mut errors = 0;
    for read in reads {
        write(&read);
        let mut sink = crate::expfmt::MetricSink::new();
        let result = kept.collect(&mut sink);
        let got = outcome(&sink, result);
        let (fresh_sink, fresh) = collect_on_root(info, base).expect("collector builds");
        assert_eq!(got, outcome(&fresh_sink, fresh), "{read:?}");
        errors += usize::from(!got.starts_with("# HELP"));
    }
    errors
}

/// Runs `collector` once and renders what it wrote as text; the collector's error otherwise.
pub fn collect_text(collector: &dyn crate::collector::Collector) -> Result<String, String> {
    let mut sink = crate::expfmt::MetricSink::new();
    collector.collect(&mut sink).map_err(|e| e.to_string())?;
    render_sinks(&[&sink])
}

/// Renders `sinks` as one text exposition.
pub fn render_sinks(sinks: &[&crate::expfmt::MetricSink]) -> Result<String, String> {
    let mut out = Vec::new();
    crate::expfmt::render(sinks, crate::expfmt::Format::Text, &mut out)
        .map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// Like [`collect_on_empty_root`], for tests that only need the samples or the error (it should
/// say "no data", or succeed empty where node_exporter does).
pub fn run_on_empty_root(
    info: crate::collector::CollectorInfo,
) -> Result<crate::expfmt::MetricSink, crate::error::CollectError> {
    let (sink, result) = collect_on_empty_root(info).map_err(crate::error::CollectError::Other)?;
    result.map(|()| sink)
}

/// The reply of the fake supervisord used by the golden tests: the fixture
/// `tests/fixtures/host/supervisord-getAllProcessInfo.xml` behind an HTTP/1.0 200 head.
pub fn supervisord_reply(fixture_base: &std::path::Path) -> Vec<u8> {
    let body = std::fs::read(fixture_base.join("supervisord-getAllProcessInfo.xml"))
        .expect("supervisord fixture");
    let mut reply = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    reply.extend_from_slice(&body);
    reply
}

/// Starts a fake HTTP server on a fresh loopback port that answers every request (read up to
/// the end of its announced body) with `reply`, for the life of the test process. Returns its
/// address.
pub fn fake_http_server(reply: Vec<u8>) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fake HTTP server");
    let addr = listener.local_addr().expect("fake HTTP server address");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = conn.read(&mut buf) {
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request);
                let complete = text.find("\r\n\r\n").is_some_and(|end| {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .and_then(|v| v.trim().parse::<usize>().ok())
                        })
                        .unwrap_or(0);
                    request.len() >= end + 4 + length
                });
                if n == 0 || complete {
                    break;
                }
            }
            let _ = conn.write_all(&reply);
        }
    });
    addr
}

/// Renders a sink as text exposition (families sorted, as served), for tests that look for
/// exact series.
pub fn render_text(sink: &crate::expfmt::MetricSink) -> String {
    render_sinks(&[sink]).unwrap_or_else(|e| format!("render error: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_only_live_values() {
        let text = "# TYPE node_time_seconds gauge\nnode_time_seconds 1.7e+09\nnode_load1 0.5\nnode_uname_info{release=\"6.1\"} 1\n";
        assert_eq!(
            mask_live_values(text),
            "# TYPE node_time_seconds gauge\nnode_time_seconds LIVE\nnode_load1 0.5\nnode_uname_info{LIVE} LIVE\n"
        );
    }
}
