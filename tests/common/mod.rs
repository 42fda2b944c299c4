//! Shared support for the integration tests: starting nodex and node_exporter, a minimal
//! HTTP client, and a parser of the text exposition format.
#![allow(dead_code)] // each test binary uses a different subset

pub mod fuse;
pub mod prometheus;
pub mod vm;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The path of the node_exporter that the live comparison runs against.
pub const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A child process killed (and reaped) when dropped, so a failing test never leaks it.
pub struct Running {
    pub child: Child,
    pub addr: SocketAddr,
    pub stderr: mpsc::Receiver<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// Log lines written so far.
    pub fn logs(&self) -> Vec<String> {
        self.stderr.try_iter().collect()
    }

    /// Base URL.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

/// Starts nodex on an ephemeral loopback port and waits until it says where it listens.
pub fn start_nodex(args: &[&str]) -> Running {
    spawn_nodex(Command::new(env!("CARGO_BIN_EXE_nodex")), args, &[])
}

/// Like [`start_nodex`], with extra environment variables.
pub fn start_nodex_env(args: &[&str], env: &[(&str, &str)]) -> Running {
    spawn_nodex(Command::new(env!("CARGO_BIN_EXE_nodex")), args, env)
}

/// Starts nodex inside the named network namespace (`ip netns exec`, which also mounts that
/// namespace's sysfs); its loopback address is only reachable from inside the namespace.
pub fn start_nodex_in_netns(netns: &str, args: &[&str]) -> Running {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", netns, env!("CARGO_BIN_EXE_nodex")]);
    start_nodex_via(cmd, args)
}

/// Starts nodex through `cmd` (a wrapper that ends by exec'ing nodex with the arguments
/// appended after its own), on an ephemeral loopback port.
pub fn start_nodex_via(cmd: Command, args: &[&str]) -> Running {
    spawn_nodex(cmd, args, &[])
}

fn spawn_nodex(mut cmd: Command, args: &[&str], env: &[(&str, &str)]) -> Running {
    cmd.arg("--web.listen-address=127.0.0.1:0").args(args);
    cmd.envs(env.iter().copied());
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn nodex");
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(remaining) {
            Ok(line) => {
                seen.push(line.clone());
                if let Some(addr) = line
                    .split_whitespace()
                    .find_map(|f| f.strip_prefix("address="))
                    .filter(|_| line.contains("listening on"))
                {
                    let addr = addr.parse().expect("listen address");
                    return Running {
                        child,
                        addr,
                        stderr: rx,
                    };
                }
            }
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!(
                    "nodex did not start listening (args {args:?}, status {status:?}); it said:\n{}",
                    seen.join("\n")
                );
            }
        }
    }
}

/// A loopback port that was free a moment ago (for programs that cannot report their port).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// Waits until `url` answers 200, or panics after `limit`.
pub fn wait_ready(url: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(r) = get(url, &[]) {
            if r.status == 200 {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{url} not ready within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts Debian's node_exporter on a free loopback port with `args`.
pub fn start_node_exporter(args: &[&str]) -> Running {
    start_node_exporter_env(args, &[])
}

/// Like [`start_node_exporter`], with extra environment variables.
pub fn start_node_exporter_env(args: &[&str], env: &[(&str, &str)]) -> Running {
    assert!(
        Path::new(NODE_EXPORTER).exists(),
        "{NODE_EXPORTER} is missing: install Debian's prometheus-node-exporter (see README)"
    );
    let port = free_port();
    let mut child = Command::new(NODE_EXPORTER)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn node_exporter");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let url = format!("http://{addr}/metrics");
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(&url, &[]).map(|r| r.status).ok() != Some(200) {
        if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
            let _ = child.kill();
            panic!("node_exporter did not come up on {addr}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_tx, rx) = mpsc::channel();
    Running {
        child,
        addr,
        stderr: rx,
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A header value by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A minimal HTTP/1.1 GET (`Connection: close`), enough for these tests.
pub fn get(url: &str, headers: &[(&str, &str)]) -> std::io::Result<Response> {
    request("GET", url, headers)
}

/// A minimal HTTP/1.1 request with any method.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)]) -> std::io::Result<Response> {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> std::io::Result<Response> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[head_end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body).ok_or_else(|| bad("bad chunked body"))?;
    }
    let gzip = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("content-encoding") && v == "gzip");
    if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out)?;
        body = out;
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// One sample of a parsed exposition.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// One family of a parsed exposition.
#[derive(Clone, Debug, Default)]
pub struct Family {
    pub help: Option<String>,
    pub kind: Option<String>,
    pub samples: Vec<Sample>,
}

impl Family {
    /// The union of label names over the family's samples.
    pub fn label_names(&self) -> BTreeSet<String> {
        self.samples
            .iter()
            .flat_map(|s| s.labels.keys().cloned())
            .collect()
    }

    /// The sample with exactly these labels.
    pub fn find(&self, labels: &BTreeMap<String, String>) -> Option<&Sample> {
        self.samples.iter().find(|s| &s.labels == labels)
    }
}

/// Parses text format 0.0.4 into families keyed by name; panics with the line on bad input
/// (the tests want to know exactly what was malformed).
pub fn parse_exposition(text: &str) -> BTreeMap<String, Family> {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            families.entry(name.to_string()).or_default().help = Some(help.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            families.entry(name.to_string()).or_default().kind = Some(kind.to_string());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let sample =
            parse_sample(line).unwrap_or_else(|| panic!("malformed sample line: {line:?}"));
        let family = family_of(&families, &sample.name);
        families.entry(family).or_default().samples.push(sample);
    }
    families
}

fn family_of(families: &BTreeMap<String, Family>, sample: &str) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = sample.strip_suffix(suffix) {
            if families
                .get(base)
                .and_then(|f| f.kind.as_deref())
                .is_some_and(|k| k == "histogram" || k == "summary")
            {
                return base.to_string();
            }
        }
    }
    sample.to_string()
}

fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_string();
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        let end = loop {
            let (start, c) = chars.next()?;
            if c == '}' {
                break start;
            }
            if c == ',' {
                continue;
            }
            let eq = inner[start..].find('=')? + start;
            let label = inner[start..eq].to_string();
            while chars.peek().is_some_and(|(i, _)| *i <= eq + 1) {
                chars.next();
            }
            let mut value = String::new();
            loop {
                let (_, c) = chars.next()?;
                match c {
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    '"' => break,
                    other => value.push(other),
                }
            }
            labels.insert(label, value);
        };
        rest = &inner[end + 1..];
    }
    let value_text = rest.split_whitespace().next()?;
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// Scrapes `url` and parses the body, asserting a 200.
pub fn scrape(url: &str) -> BTreeMap<String, Family> {
    let resp = get(url, &[]).unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(resp.status, 200, "GET {url}: {}", resp.text());
    parse_exposition(&resp.text())
}

/// Lint complaints promtool makes about node_exporter's own metric names (it makes the same
/// about node_exporter 1.5's output); nodex must keep those names, so they are tolerated.
const INHERITED_LINTS: &[&str] = &[
    "metric names should be written in 'snake_case' not 'camelCase'",
    "use base unit \"bytes\" instead of \"bits\"",
    "counter metrics should have \"_total\" suffix",
    "non-counter metrics should not have \"_total\" suffix",
    "non-histogram and non-summary metrics should not have \"_count\" suffix",
    "non-histogram and non-summary metrics should not have \"_sum\" suffix",
    "use base unit \"seconds\" instead of",
];

/// Runs `promtool check metrics` on an exposition. Returns the complaints that matter: any
/// parse error, and any lint other than those node_exporter's names inherently trigger.
pub fn promtool_check(text: &str) -> String {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is missing: install Debian's prometheus (see README)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let out = child.wait_with_output().expect("promtool output");
    let mut msg = String::from_utf8_lossy(&out.stdout).into_owned();
    msg.push_str(&String::from_utf8_lossy(&out.stderr));
    match out.status.code() {
        Some(0) => String::new(),
        // 3: lint problems only; keep those not inherited from node_exporter's names.
        Some(3) => msg
            .lines()
            .filter(|l| {
                !l.trim().is_empty() && !INHERITED_LINTS.iter().any(|lint| l.contains(lint))
            })
            .map(|l| format!("{l}\n"))
            .collect(),
        _ => format!("promtool failed ({:?}): {msg}", out.status.code()),
    }
}

/// nodex's flags for a fixture tree at `base` (proc, sys, root, udev, textfile, qdisc and wifi
/// JSON fixtures), with every collector enabled except those that only read the live kernel.
/// ntp and supervisord query local fakes (see `nodex_collectors::testing`); the supervisord
/// reply comes from the pristine fixture tree, so a mutated copy cannot break the fake.
pub fn tree_args(base: &Path) -> Vec<String> {
    let mut args = vec![
        format!("--path.procfs={}", base.join("proc").display()),
        format!("--path.sysfs={}", base.join("sys").display()),
        format!("--path.rootfs={}", base.join("root").display()),
        format!("--path.udev.data={}", base.join("udev").display()),
        format!(
            "--collector.textfile.directory={}",
            base.join("textfile").display()
        ),
        format!(
            "--collector.qdisc.fixtures={}",
            base.join("qdisc").display()
        ),
        format!("--collector.wifi.fixtures={}", base.join("wifi").display()),
    ];
    let ntp = nodex_collectors::host::ntp::fake_server();
    args.push(format!("--collector.ntp.server-port={}", ntp.port()));
    let supervisord = nodex_collectors::testing::fake_http_server(
        nodex_collectors::testing::supervisord_reply(&repo().join("tests/fixtures/host")),
    );
    args.push(format!(
        "--collector.supervisord.url=http://{supervisord}/RPC2"
    ));
    args.extend(
        nodex_collectors::registry::all()
            .iter()
            .filter(|c| !LIVE_ONLY.contains(&c.name))
            .map(|c| format!("--collector.{}", c.name)),
    );
    args
}

/// Collectors that read the live kernel (ioctl, netlink, perf_event) rather than files, so
/// their output cannot come from a fixture tree: tests/netlink_live.rs covers them.
pub const LIVE_ONLY: &[&str] = &["ethtool", "network_route", "perf"];

/// A field of `/proc/<pid>/status` (`Threads`, `VmRSS` in kB, ...).
pub fn proc_status(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// `node_scrape_collector_success` of one collector, if it ran.
pub fn collector_success(families: &BTreeMap<String, Family>, name: &str) -> Option<f64> {
    families
        .get("node_scrape_collector_success")?
        .samples
        .iter()
        .find(|s| s.labels.get("collector").map(String::as_str) == Some(name))
        .map(|s| s.value)
}

/// Panics on the first series (name plus labels) that appears twice.
pub fn assert_no_duplicate_series(families: &BTreeMap<String, Family>) {
    let mut seen = BTreeSet::new();
    for family in families.values() {
        for s in &family.samples {
            assert!(
                seen.insert((s.name.clone(), s.labels.clone())),
                "duplicate series {s:?}"
            );
        }
    }
}

/// Makes a FIFO; a read of it blocks until a writer opens it.
pub fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("path without NUL");
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo {}", path.display());
}

/// Opens a FIFO for writing without blocking: succeeds only once a reader has it open.
pub fn open_fifo_writer_if_read(path: &Path) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_samples() {
        let f = parse_exposition("# TYPE a gauge\na{x=\"1\",y=\"q\\\"z\"} 2.5\nb 3\n");
        assert_eq!(f["a"].samples[0].labels["y"], "q\"z");
        assert_eq!(f["a"].samples[0].value, 2.5);
        assert_eq!(f["b"].samples[0].value, 3.0);
    }
}
