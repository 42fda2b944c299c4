//! Hostile HTTP clients against the real binary: oversized headers and URLs, thousands of
//! `collect[]` values, slowloris clients, hundreds of idle connections. nodex must refuse or
//! cut them, keep its resident memory bounded, and keep serving a normal scraper meanwhile.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{get, proc_status, start_nodex, Running};

/// nodex's header read timeout (src/server.rs `HEADER_READ_TIMEOUT`).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends raw bytes and reads the answer until the server closes (status line and body).
fn raw_exchange(nodex: &Running, raw: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(nodex.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    // The server may answer and close before reading everything: ignore a reset on write.
    let _ = s.write_all(raw);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, text)
}

fn start() -> Running {
    start_nodex(&[
        "--collector.disable-defaults",
        "--collector.loadavg",
        "--collector.meminfo",
    ])
}

fn scraper_is_served(nodex: &Running) {
    let started = Instant::now();
    let resp = get(&nodex.url("/metrics"), &[]).expect("normal scrape");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(resp.text().contains("node_load1 "));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a normal scrape took {:?}",
        started.elapsed()
    );
}

#[test]
fn oversized_headers_and_urls_are_refused() {
    let nodex = start();
    let big_header = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(40_000)
    );
    let (status, _) = raw_exchange(&nodex, big_header.as_bytes());
    assert_eq!(status, 431, "oversized header");
    let many_headers: String = (0..2000).map(|i| format!("X-H{i}: v\r\n")).collect();
    let many = format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n");
    let (status, _) = raw_exchange(&nodex, many.as_bytes());
    assert_eq!(status, 431, "2000 headers");
    // The request line counts towards the 16 KiB head limit, as in Go's net/http.
    let long_url = format!(
        "GET /metrics?{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(40_000)
    );
    let (status, _) = raw_exchange(&nodex, long_url.as_bytes());
    assert_eq!(status, 431, "oversized URL");
    // A megabyte of header bytes is refused without reading it all.
    let huge = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let (status, _) = raw_exchange(&nodex, huge.as_bytes());
    assert_eq!(status, 431, "1 MiB header");
    scraper_is_served(&nodex);
}

#[test]
fn thousands_of_collect_values_are_refused_with_a_reason() {
    let nodex = start();
    // 1300 values fit in the 16 KiB head: refused by the selector limit, with a reason.
    let query = "collect[]=&".repeat(1300);
    let resp = get(&nodex.url(&format!("/metrics?{query}")), &[]).expect("GET");
    assert_eq!(resp.status, 400, "{}", resp.text());
    assert!(
        resp.text()
            .contains("too many collect[]/exclude[] parameters"),
        "{}",
        resp.text()
    );
    // 1024 repeats of a valid name are accepted (and deduplicated).
    let query = "collect[]=loadavg&".repeat(800);
    let resp = get(&nodex.url(&format!("/metrics?{query}")), &[]).expect("GET");
    assert_eq!(resp.status, 200, "{}", resp.text());
    let families = common::parse_exposition(&resp.text());
    assert_eq!(families["node_scrape_collector_success"].samples.len(), 1);
    // 5000 values do not fit in the head at all.
    let query = "collect[]=loadavg&".repeat(5000);
    let (status, _) = raw_exchange(
        &nodex,
        format!("GET /metrics?{query} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    );
    assert_eq!(status, 431);
    scraper_is_served(&nodex);
}

/// A slowloris client: a request head sent one byte at a time, never finished.
fn slowloris(nodex: &Running) -> std::thread::JoinHandle<Duration> {
    let addr = nodex.addr;
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let started = Instant::now();
        let head = b"GET /metrics HTTP/1.1\r\nHost: x\r\n";
        let mut sent = 0usize;
        let mut buf = [0u8; 512];
        loop {
            let byte = head.get(sent).copied().unwrap_or(b'x');
            if s.write_all(&[byte]).is_err() {
                return started.elapsed();
            }
            sent += 1;
            // The read timeout paces the client; a 0-byte read or a reset means closed.
            match s.read(&mut buf) {
                Ok(0) => return started.elapsed(),
                Ok(_) => {} // an error answer (408): wait for the close
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return started.elapsed(),
            }
            assert!(
                started.elapsed() < HEADER_TIMEOUT * 3,
                "a slowloris client was never cut off"
            );
        }
    })
}

#[test]
fn slowloris_and_idle_connections_are_cut_and_scrapers_served() {
    let nodex = start();
    let pid = nodex.child.id();
    scraper_is_served(&nodex);
    let rss_before = proc_status(pid, "VmRSS");

    let started = Instant::now();
    let slow: Vec<_> = (0..50).map(|_| slowloris(&nodex)).collect();
    let mut idle: Vec<TcpStream> = (0..400)
        .map(|_| TcpStream::connect(nodex.addr).expect("idle connection"))
        .collect();
    // While they hang on, a normal scraper is served, again and again.
    let mut rss_max = rss_before;
    while started.elapsed() < HEADER_TIMEOUT - Duration::from_secs(2) {
        scraper_is_served(&nodex);
        rss_max = rss_max.max(proc_status(pid, "VmRSS"));
        std::thread::sleep(Duration::from_millis(200)); // pacing, not synchronisation
    }
    // Every idle connection is closed by the header timeout.
    for s in &mut idle {
        s.set_read_timeout(Some(HEADER_TIMEOUT + Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = [0u8; 256];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => continue, // an error answer before the close
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => panic!("an idle connection was not closed: {e}"),
            }
        }
    }
    let idle_closed_after = started.elapsed();
    for handle in slow {
        let lived = handle.join().expect("slowloris thread");
        assert!(
            lived >= HEADER_TIMEOUT - Duration::from_secs(1)
                && lived < HEADER_TIMEOUT + Duration::from_secs(5),
            "a slowloris connection lived {lived:?}, header timeout {HEADER_TIMEOUT:?}"
        );
    }
    assert!(
        idle_closed_after < HEADER_TIMEOUT + Duration::from_secs(5),
        "idle connections lived {idle_closed_after:?}"
    );
    scraper_is_served(&nodex);
    let rss_after = proc_status(pid, "VmRSS");
    assert!(
        rss_max < rss_before + 16 * 1024,
        "RSS grew from {rss_before} kB to {rss_max} kB under 50 slowloris and 400 idle clients"
    );
    eprintln!("VmRSS kB: {rss_before} before, {rss_max} max, {rss_after} after");
}
