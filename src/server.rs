//! The HTTP side: listeners, routing, `collect[]`/`exclude[]`, content negotiation, gzip and
//! the concurrent-request limit.
//!
//! Over 500 lines (570 of code before its tests): the request path from accept to response is
//! kept in one place so that hyper's and rustls' types stay out of the rest of the binary;
//! listeners and routing are the next split.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    HeaderMap, HeaderValue, ACCEPT, ACCEPT_ENCODING, ALLOW, AUTHORIZATION, CONTENT_ENCODING,
    CONTENT_TYPE, WWW_AUTHENTICATE,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use nodex_collectors::expfmt::{Format, MetricSink};
use nodex_collectors::MetricType;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::scrape::{self, Scraper};
use crate::webconfig::{RateLimiter, WebConfig};

/// A request whose headers have not arrived in this time is dropped (slow clients).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The most bytes of request line plus headers read before answering 431.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// What every request handler shares.
pub struct AppState {
    /// The collectors.
    pub scraper: Scraper,
    /// The metric handler's counters (also reported by `scraper`).
    pub stats: Arc<HandlerStats>,
    /// `--web.telemetry-path`.
    pub telemetry_path: String,
    /// `--web.max-requests` (0 = unlimited).
    pub max_requests: usize,
    /// Permits for concurrent metric requests.
    pub permits: Semaphore,
    /// `--scrape.timeout`.
    pub scrape_timeout: Duration,
    /// `--web.config.file`, when given.
    pub web: Option<Arc<WebConfig>>,
    /// Its `rate_limit`, fixed at start-up.
    pub rate_limiter: Option<RateLimiter>,
}

/// HTTP-handler counters exported as `promhttp_metric_handler_*`.
#[derive(Default)]
pub struct HandlerStats {
    /// Completed metric requests by status code.
    pub requests: Mutex<HashMap<u16, u64>>,
    /// Metric requests being served now.
    pub in_flight: AtomicUsize,
    /// Gathering problems (duplicate series, type conflicts, failed collectors are not counted).
    pub gathering_errors: AtomicU64,
    /// Encoding problems (write failures).
    pub encoding_errors: AtomicU64,
}

impl HandlerStats {
    /// Counts a finished request with `code`.
    pub fn count(&self, code: u16) {
        let mut map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry(code).or_insert(0) += 1;
    }
}

impl scrape::HandlerMetrics for HandlerStats {
    fn gathering_error(&self) {
        self.gathering_errors.fetch_add(1, Ordering::Relaxed);
    }

    fn write_metrics(&self, sink: &mut MetricSink) {
        {
            let requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
            sink.counter(
                "promhttp_metric_handler_requests_total",
                "Total number of scrapes by HTTP status code.",
            );
            for code in [200u16, 500, 503] {
                let value = requests.get(&code).copied().unwrap_or(0);
                sink.sample(&[("code", &code.to_string())], value as f64);
            }
            for (code, value) in requests
                .iter()
                .filter(|(c, _)| ![200, 500, 503].contains(*c))
            {
                sink.sample(&[("code", &code.to_string())], *value as f64);
            }
        }
        sink.single(
            "promhttp_metric_handler_requests_in_flight",
            "Current number of scrapes being served.",
            MetricType::Gauge,
            self.in_flight.load(Ordering::Relaxed) as f64,
        );
        sink.counter(
            "promhttp_metric_handler_errors_total",
            "Total number of internal errors encountered by the promhttp metric handler.",
        )
        .sample(
            &[("cause", "encoding")],
            self.encoding_errors.load(Ordering::Relaxed) as f64,
        )
        .sample(
            &[("cause", "gathering")],
            self.gathering_errors.load(Ordering::Relaxed) as f64,
        );
    }
}

/// Binds every listen address (or takes systemd's sockets) and serves until the process ends.
pub async fn serve(
    state: Arc<AppState>,
    addresses: &[String],
    systemd_socket: bool,
) -> anyhow::Result<()> {
    let mut listeners = Vec::new();
    if systemd_socket {
        listeners.extend(systemd_listeners()?);
    } else {
        for address in addresses {
            listeners.push(bind(address).await?);
        }
    }
    for listener in &listeners {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(address = %addr, "listening on");
        }
    }
    let mut tasks = Vec::new();
    for listener in listeners {
        tasks.push(tokio::spawn(accept_loop(listener, Arc::clone(&state))));
    }
    for task in tasks {
        task.await.context("listener task")?;
    }
    Ok(())
}

/// Binds a node_exporter-style address: `:9100` means every interface (IPv6 and IPv4).
async fn bind(address: &str) -> anyhow::Result<TcpListener> {
    if address.starts_with("vsock://") {
        bail!("--web.listen-address {address:?}: vsock listeners are not supported by nodex");
    }
    if let Some(port) = address.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .with_context(|| format!("--web.listen-address {address:?}: invalid port"))?;
        return match TcpListener::bind(SocketAddr::from(([0u16; 8], port))).await {
            Ok(l) => Ok(l),
            Err(_) => TcpListener::bind(SocketAddr::from(([0u8; 4], port)))
                .await
                .with_context(|| format!("listening on {address}")),
        };
    }
    TcpListener::bind(address)
        .await
        .with_context(|| format!("listening on {address}"))
}

/// The sockets systemd passes with `LISTEN_FDS` (starting at fd 3), for socket activation.
fn systemd_listeners() -> anyhow::Result<Vec<TcpListener>> {
    use std::os::fd::FromRawFd;
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    let count: i32 = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if !pid_ok || count <= 0 {
        bail!(
            "--web.systemd-socket: no sockets were passed by systemd (LISTEN_PID/LISTEN_FDS unset)"
        );
    }
    (3..3 + count)
        .map(|fd| {
            // SAFETY: systemd hands these descriptors to this process (LISTEN_PID matched) and
            // nothing else in nodex owns or closes them.
            let std_listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
            std_listener.set_nonblocking(true)?;
            TcpListener::from_std(std_listener).context("adopting a systemd socket")
        })
        .collect()
}

async fn accept_loop(listener: TcpListener, state: Arc<AppState>) {
    let tls = state
        .web
        .as_ref()
        .and_then(|w| w.current().ok())
        .is_some_and(|loaded| loaded.tls.is_some());
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(err = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            if tls {
                if let Some(tls_stream) = accept_tls(stream, &state).await {
                    serve_io(tls_stream, state).await;
                }
            } else {
                serve_io(stream, state).await;
            }
        });
    }
}

/// Completes a TLS handshake with the configuration as it is on disk now. A client that speaks
/// plain HTTP to the TLS port gets Go's 400 answer instead of a handshake failure.
async fn accept_tls(
    stream: TcpStream,
    state: &AppState,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let mut first = [0u8; 1];
    match tokio::time::timeout(HEADER_READ_TIMEOUT, stream.peek(&mut first)).await {
        Ok(Ok(1)) if first[0] != 0x16 => {
            refuse_plain_http(stream).await;
            return None;
        }
        Ok(Ok(1)) => {}
        _ => return None,
    }
    let config = match state.web.as_ref()?.current() {
        Ok(loaded) => loaded.tls.clone()?,
        Err(e) => {
            tracing::error!(err = %e, "refusing TLS connection: web config is invalid");
            return None;
        }
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    match tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::debug!(err = %e, "TLS handshake failed");
            None
        }
        Err(_) => None,
    }
}

/// Answers a plain-HTTP request on the TLS port as Go's TLS server does. The request head is
/// read first: closing a socket with unread data would reset it before the client sees the answer.
async fn refuse_plain_http(mut stream: TcpStream) {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let read_head = async {
        while head.len() < MAX_HEADER_BYTES && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), read_head).await;
    let _ = stream
        .write_all(
            b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n",
        )
        .await;
    let _ = stream.shutdown().await;
}

async fn serve_io<I>(io: I, state: Arc<AppState>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| handle(req, Arc::clone(&state)));
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES)
        .serve_connection(TokioIo::new(io), service);
    if let Err(e) = conn.await {
        tracing::debug!(err = %e, "connection ended with an error");
    }
}

fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    response(status, "text/plain; charset=utf-8", body + "\n")
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<AppState>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let Some(web) = state.web.clone() else {
        return Ok(route(req, &state).await);
    };
    let loaded = match web.current() {
        Ok(l) => l,
        Err(e) => {
            return Ok(text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("invalid web config: {e}"),
            ))
        }
    };
    let mut resp = guarded(req, &state, web, Arc::clone(&loaded)).await;
    // Like exporter-toolkit, the configured headers go on every answer, refusals included.
    for (name, value) in &loaded.headers {
        resp.headers_mut().insert(name.clone(), value.clone());
    }
    Ok(resp)
}

/// Applies the rate limit and basic auth of the web config, then routes.
async fn guarded(
    req: Request<Incoming>,
    state: &AppState,
    web: Arc<WebConfig>,
    loaded: Arc<crate::webconfig::Loaded>,
) -> Response<Full<Bytes>> {
    if state.rate_limiter.as_ref().is_some_and(|r| !r.allow()) {
        return text(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests".into());
    }
    if !loaded.users.is_empty() {
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let ok = tokio::task::spawn_blocking(move || web.authorize(&loaded, header.as_deref()))
            .await
            .unwrap_or(false);
        if !ok {
            let mut resp = text(StatusCode::UNAUTHORIZED, "Unauthorized".into());
            resp.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
            return resp;
        }
    }
    route(req, state).await
}

async fn route(req: Request<Incoming>, state: &AppState) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut resp = text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("Method {} not allowed.", req.method()),
        );
        resp.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    let path = req.uri().path();
    if path == state.telemetry_path {
        return metrics(&req, state).await;
    }
    if path == "/" {
        return response(
            StatusCode::OK,
            "text/html; charset=utf-8",
            landing_page(&state.telemetry_path),
        );
    }
    text(StatusCode::NOT_FOUND, "404 page not found".into())
}

async fn metrics(req: &Request<Incoming>, state: &AppState) -> Response<Full<Bytes>> {
    let _permit = if state.max_requests > 0 {
        match state.permits.try_acquire() {
            Ok(p) => Some(p),
            Err(_) => {
                state.stats.count(503);
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "Limit of concurrent requests reached ({}), try again later.",
                        state.max_requests
                    ),
                );
            }
        }
    } else {
        None
    };
    let stats = &state.stats;
    let (collect, exclude) = match parse_query(req.uri().query().unwrap_or("")) {
        Ok(q) => q,
        Err(msg) => return text(StatusCode::BAD_REQUEST, msg),
    };
    let selected = match state.scraper.select(&collect, &exclude) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(err = %e.0, "refused filtered scrape");
            return text(StatusCode::BAD_REQUEST, e.0);
        }
    };
    let headers = req.headers();
    let format = negotiate(headers);
    let gzip = accepts_gzip(headers);
    let scraper_timeout = headers
        .get("X-Prometheus-Scrape-Timeout-Seconds")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok());
    let deadline = scrape::deadline(Instant::now(), state.scrape_timeout, scraper_timeout);

    stats.in_flight.fetch_add(1, Ordering::Relaxed);
    let result = state
        .scraper
        .scrape(&selected, deadline, format, gzip)
        .await;
    stats.in_flight.fetch_sub(1, Ordering::Relaxed);
    match result {
        Ok(out) if out.render.samples > 0 => {
            stats.count(200);
            let mut resp = response(StatusCode::OK, format.content_type(), out.body);
            if gzip {
                resp.headers_mut()
                    .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            resp
        }
        Ok(_) => {
            stats.count(500);
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "No metrics gathered.".into(),
            )
        }
        Err(e) => {
            stats.encoding_errors.fetch_add(1, Ordering::Relaxed);
            stats.count(500);
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("error encoding metrics: {e}"),
            )
        }
    }
}

/// Picks OpenMetrics when the `Accept` header offers it with a non-zero quality, text 0.0.4
/// otherwise.
pub fn negotiate(headers: &HeaderMap) -> Format {
    let offered = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            let mut params = part.split(';').map(str::trim);
            params.next() == Some("application/openmetrics-text") && quality(params) > 0.0
        });
    if offered {
        Format::OpenMetrics
    } else {
        Format::Text
    }
}

fn quality<'a>(params: impl Iterator<Item = &'a str>) -> f64 {
    params
        .filter_map(|p| p.strip_prefix("q="))
        .find_map(|q| q.parse::<f64>().ok())
        .unwrap_or(1.0)
}

/// True when `Accept-Encoding` allows gzip.
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            let mut params = part.split(';').map(str::trim);
            matches!(params.next(), Some("gzip") | Some("*")) && quality(params) > 0.0
        })
}

/// The most `collect[]`/`exclude[]` values one request may carry.
const MAX_SELECTORS: usize = 1024;

/// Extracts `collect[]` and `exclude[]` from a query string.
pub fn parse_query(query: &str) -> Result<(Vec<String>, Vec<String>), String> {
    let mut collect = Vec::new();
    let mut exclude = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(key).ok_or("invalid percent-encoding in query")?;
        if key != "collect[]" && key != "exclude[]" {
            continue;
        }
        if collect.len() + exclude.len() >= MAX_SELECTORS {
            return Err(format!(
                "too many collect[]/exclude[] parameters (at most {MAX_SELECTORS})"
            ));
        }
        let value = percent_decode(value).ok_or("invalid percent-encoding in query")?;
        if key == "collect[]" {
            collect.push(value);
        } else {
            exclude.push(value);
        }
    }
    Ok((collect, exclude))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn landing_page(path: &str) -> String {
    let mut escaped = Vec::new();
    nodex_collectors::expfmt::escape_label_value(&mut escaped, path);
    let path = String::from_utf8_lossy(&escaped)
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<!DOCTYPE html>\n<html>\n<head><title>nodex</title></head>\n<body>\n<h1>nodex</h1>\n\
         <p>Host and container metrics for Prometheus, version {}.</p>\n\
         <ul><li><a href=\"{path}\">Metrics</a></li></ul>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn negotiates_openmetrics_like_prometheus_asks() {
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(
            negotiate(&headers(&[("accept", prom)])),
            Format::OpenMetrics
        );
        assert_eq!(
            negotiate(&headers(&[("accept", "text/plain")])),
            Format::Text
        );
        assert_eq!(negotiate(&headers(&[])), Format::Text);
        assert_eq!(
            negotiate(&headers(&[("accept", "application/openmetrics-text;q=0")])),
            Format::Text
        );
    }

    #[test]
    fn gzip_when_accepted() {
        assert!(accepts_gzip(&headers(&[(
            "accept-encoding",
            "gzip, deflate"
        )])));
        assert!(!accepts_gzip(&headers(&[("accept-encoding", "gzip;q=0")])));
        assert!(!accepts_gzip(&headers(&[("accept-encoding", "identity")])));
        assert!(!accepts_gzip(&headers(&[])));
    }

    #[test]
    fn query_parameters() {
        let (c, e) = parse_query("collect%5B%5D=cpu&collect[]=meminfo&x=1").unwrap();
        assert_eq!(c, vec!["cpu", "meminfo"]);
        assert!(e.is_empty());
        let (c, e) = parse_query("exclude[]=cpu").unwrap();
        assert!(c.is_empty());
        assert_eq!(e, vec!["cpu"]);
        assert!(parse_query("collect[]=%zz").is_err());
        let many = "collect[]=a&".repeat(MAX_SELECTORS + 1);
        assert!(parse_query(&many).unwrap_err().contains("too many"));
    }
}
