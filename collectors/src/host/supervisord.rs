//! supervisord (deprecated in node_exporter): process states from supervisord's XML-RPC
//! `supervisor.getAllProcessInfo`, over HTTP (`http://host:port/path`) or a Unix socket
//! (`unix:///path/to/supervisor.sock`) given by `--collector.supervisord.url`.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::options::Flag;

/// `--collector.supervisord.url`.
pub const URL_FLAG: Flag<String> = Flag::new(
    "collector.supervisord.url",
    "XML RPC endpoint.",
    "http://localhost:9001/RPC2",
);

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "supervisord",
    default_enabled: false,
    sources: "XML-RPC supervisor.getAllProcessInfo at --collector.supervisord.url (deprecated)",
    flags: &[URL_FLAG.spec],
    build,
};

/// Where the XML-RPC requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `http://host[:port]/path`.
    Tcp {
        /// `host:port` to connect to (port 80 if absent).
        addr: String,
        /// Host header value.
        host: String,
        /// Request path.
        path: String,
    },
    /// `unix:///socket`: the request goes to `/RPC2` over the socket, as node_exporter does.
    Unix(std::path::PathBuf),
}

/// Parses `--collector.supervisord.url`. Only `http` and `unix` schemes are supported.
pub fn parse_url(url: &str) -> Result<Endpoint, String> {
    if let Some(path) = url.strip_prefix("unix://") {
        return Ok(Endpoint::Unix(path.into()));
    }
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("unsupported supervisord URL {url:?} (http:// or unix:// only)"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if authority.is_empty() {
        return Err(format!("supervisord URL {url:?} has no host"));
    }
    let has_port = match authority.rfind(':') {
        Some(i) => !authority[i..].contains(']'),
        None => false,
    };
    let addr = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok(Endpoint::Tcp {
        addr,
        host: authority.to_string(),
        path: path.to_string(),
    })
}

fn build(settings: &Arc<Settings>) -> Result<Box<dyn Collector>, String> {
    tracing::warn!(
        collector = "supervisord",
        "This collector is deprecated and will be removed in the next major version release."
    );
    let endpoint = parse_url(&settings.options.get(&URL_FLAG))?;
    Ok(Box::new(SupervisordCollector { endpoint }))
}

struct SupervisordCollector {
    endpoint: Endpoint,
}

/// The request body of `supervisor.getAllProcessInfo`.
pub const REQUEST: &str = "<?xml version=\"1.0\"?>\n<methodCall><methodName>supervisor.getAllProcessInfo</methodName><params></params></methodCall>";

const TIMEOUT: Duration = Duration::from_secs(10);

/// Sends `body` as an HTTP/1.1 POST on `stream` and returns the response body of a 200 reply.
fn post(mut stream: impl Read + Write, host: &str, path: &str) -> Result<Vec<u8>, String> {
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: nodex\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{REQUEST}",
        REQUEST.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| e.to_string())?;
    http_body(&response).map_err(|e| e.to_string())
}

/// Splits an HTTP/1.x response into its body, which must come with status 200; a chunked body
/// is decoded.
pub fn http_body(response: &[u8]) -> Result<Vec<u8>, ParseError> {
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| ParseError::new("truncated HTTP response"))?;
    let head = String::from_utf8_lossy(&response[..split]);
    let body = &response[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let code = status.split_whitespace().nth(1).unwrap_or_default();
    if !status.starts_with("HTTP/") || code != "200" {
        return Err(ParseError::new(format!("bad HTTP status {status:?}")));
    }
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if !chunked {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| ParseError::new("truncated chunk"))?;
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| ParseError::new(format!("bad chunk size {size_text:?}")))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = rest
            .get(..size)
            .ok_or_else(|| ParseError::new("truncated chunk"))?;
        out.extend_from_slice(chunk);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
}

/// An XML-RPC value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `<int>`, `<i4>`, `<i8>`.
    Int(i64),
    /// `<string>` or untyped text.
    Str(String),
    /// `<double>`.
    Double(f64),
    /// `<boolean>`.
    Bool(bool),
    /// `<array>`.
    Array(Vec<Value>),
    /// `<struct>`, members in document order.
    Struct(Vec<(String, Value)>),
    /// Any other scalar type (dateTime, base64), kept as text.
    Other(String),
}

/// A minimal XML tokenizer: tags (with their names) and text, entities decoded.
#[derive(Debug, PartialEq)]
enum Token {
    Open(String),
    Close(String),
    Empty(String),
    Text(String),
}

fn decode_entities(text: &str) -> Result<String, ParseError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..]
            .find(';')
            .ok_or_else(|| ParseError::new("unterminated XML entity"))?;
        let entity = &rest[i + 1..i + end];
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else {
                    entity.strip_prefix('#').and_then(|d| d.parse().ok())
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| ParseError::new(format!("unknown XML entity &{entity};")))?
            }
        };
        out.push(c);
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn tokenize(xml: &str) -> Result<Vec<Token>, ParseError> {
    let mut tokens = Vec::new();
    let mut rest = xml;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            tokens.push(Token::Text(decode_entities(rest)?));
            break;
        };
        if lt > 0 {
            tokens.push(Token::Text(decode_entities(&rest[..lt])?));
        }
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<![CDATA[") {
            let end = after
                .find("]]>")
                .ok_or_else(|| ParseError::new("unterminated CDATA"))?;
            tokens.push(Token::Text(after[..end].to_string()));
            rest = &after[end + 3..];
            continue;
        }
        let gt = rest
            .find('>')
            .ok_or_else(|| ParseError::new("unterminated XML tag"))?;
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        let name = |t: &str| t.split_whitespace().next().unwrap_or_default().to_string();
        if let Some(closing) = tag.strip_prefix('/') {
            tokens.push(Token::Close(name(closing)));
        } else if let Some(empty) = tag.strip_suffix('/') {
            tokens.push(Token::Empty(name(empty)));
        } else {
            tokens.push(Token::Open(name(tag)));
        }
    }
    Ok(tokens)
}

/// How deep XML-RPC arrays and structs may nest (supervisord's replies nest 3 deep): a deeper
/// reply is an error rather than a stack overflow.
const MAX_DEPTH: usize = 64;

struct Parser {
    tokens: std::vec::IntoIter<Token>,
    peeked: Option<Token>,
}

impl Parser {
    fn next(&mut self) -> Option<Token> {
        self.peeked.take().or_else(|| self.tokens.next())
    }

    /// The next token that is not white space only.
    fn next_significant(&mut self) -> Option<Token> {
        loop {
            match self.next() {
                Some(Token::Text(t)) if t.trim().is_empty() => continue,
                other => return other,
            }
        }
    }

    fn expect_open(&mut self, want: &str) -> Result<(), ParseError> {
        match self.next_significant() {
            Some(Token::Open(n)) if n == want => Ok(()),
            other => Err(ParseError::new(format!("expected <{want}>, got {other:?}"))),
        }
    }

    fn expect_close(&mut self, want: &str) -> Result<(), ParseError> {
        match self.next_significant() {
            Some(Token::Close(n)) if n == want => Ok(()),
            other => Err(ParseError::new(format!(
                "expected </{want}>, got {other:?}"
            ))),
        }
    }

    /// Text up to the closing tag `name` (empty if none).
    fn text_until(&mut self, name: &str) -> Result<String, ParseError> {
        let mut text = String::new();
        loop {
            match self.next() {
                Some(Token::Text(t)) => text.push_str(&t),
                Some(Token::Close(n)) if n == name => return Ok(text),
                other => {
                    return Err(ParseError::new(format!(
                        "expected text in <{name}>, got {other:?}"
                    )))
                }
            }
        }
    }

    /// Parses what follows an opened `<value>`, including its `</value>`; `depth` counts the
    /// arrays and structs it is inside.
    fn value_body(&mut self, depth: usize) -> Result<Value, ParseError> {
        if depth > MAX_DEPTH {
            return Err(ParseError::new(format!(
                "XML-RPC values nested more than {MAX_DEPTH} deep"
            )));
        }
        let mut text = String::new();
        let token = loop {
            match self.next() {
                Some(Token::Text(t)) => text.push_str(&t),
                other => break other,
            }
        };
        let value =
            match token {
                Some(Token::Close(n)) if n == "value" => return Ok(Value::Str(text)),
                Some(Token::Empty(kind)) => match kind.as_str() {
                    "string" => Value::Str(String::new()),
                    "array" | "struct" => {
                        return Err(ParseError::new(format!("empty <{kind}/> is not valid")))
                    }
                    _ => Value::Other(String::new()),
                },
                Some(Token::Open(kind)) => match kind.as_str() {
                    "array" => {
                        self.expect_open("data")?;
                        let mut items = Vec::new();
                        loop {
                            match self.next_significant() {
                                Some(Token::Open(n)) if n == "value" => {
                                    items.push(self.value_body(depth + 1)?)
                                }
                                Some(Token::Close(n)) if n == "data" => break,
                                Some(Token::Empty(n)) if n == "value" => {
                                    items.push(Value::Str(String::new()))
                                }
                                other => {
                                    return Err(ParseError::new(format!(
                                        "unexpected {other:?} in <array>"
                                    )))
                                }
                            }
                        }
                        self.expect_close("array")?;
                        Value::Array(items)
                    }
                    "struct" => {
                        let mut members = Vec::new();
                        loop {
                            match self.next_significant() {
                                Some(Token::Open(n)) if n == "member" => {
                                    self.expect_open("name")?;
                                    let name = self.text_until("name")?;
                                    self.expect_open("value")?;
                                    let value = self.value_body(depth + 1)?;
                                    self.expect_close("member")?;
                                    members.push((name, value));
                                }
                                Some(Token::Close(n)) if n == "struct" => break,
                                other => {
                                    return Err(ParseError::new(format!(
                                        "unexpected {other:?} in <struct>"
                                    )))
                                }
                            }
                        }
                        Value::Struct(members)
                    }
                    "int" | "i4" | "i8" => {
                        let t = self.text_until(&kind)?;
                        Value::Int(t.trim().parse().map_err(|_| {
                            ParseError::new(format!("invalid XML-RPC integer {t:?}"))
                        })?)
                    }
                    "double" => {
                        let t = self.text_until(&kind)?;
                        Value::Double(t.trim().parse().map_err(|_| {
                            ParseError::new(format!("invalid XML-RPC double {t:?}"))
                        })?)
                    }
                    "boolean" => match self.text_until(&kind)?.trim() {
                        "1" => Value::Bool(true),
                        "0" => Value::Bool(false),
                        t => return Err(ParseError::new(format!("invalid XML-RPC boolean {t:?}"))),
                    },
                    "string" => Value::Str(self.text_until(&kind)?),
                    _ => Value::Other(self.text_until(&kind)?),
                },
                other => return Err(ParseError::new(format!("unexpected {other:?} in <value>"))),
            };
        self.expect_close("value")?;
        Ok(value)
    }
}

/// Parses an XML-RPC `methodResponse` into its single parameter; a `<fault>` is an error
/// carrying the fault string.
pub fn parse_response(body: &[u8]) -> Result<Value, ParseError> {
    let text = std::str::from_utf8(body).map_err(|_| ParseError::new("response is not UTF-8"))?;
    let mut p = Parser {
        tokens: tokenize(text)?.into_iter(),
        peeked: None,
    };
    p.expect_open("methodResponse")?;
    match p.next_significant() {
        Some(Token::Open(n)) if n == "params" => {
            p.expect_open("param")?;
            p.expect_open("value")?;
            p.value_body(0)
        }
        Some(Token::Open(n)) if n == "fault" => {
            p.expect_open("value")?;
            let fault = p.value_body(0)?;
            let message = match &fault {
                Value::Struct(members) => members
                    .iter()
                    .find(|(k, _)| k == "faultString")
                    .map(|(_, v)| format!("{v:?}"))
                    .unwrap_or_default(),
                other => format!("{other:?}"),
            };
            Err(ParseError::new(format!("XML-RPC fault: {message}")))
        }
        other => Err(ParseError::new(format!(
            "unexpected {other:?} in <methodResponse>"
        ))),
    }
}

/// One process of `getAllProcessInfo`, with the fields node_exporter uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessInfo {
    /// `name`.
    pub name: String,
    /// `group`.
    pub group: String,
    /// `start` (Unix time).
    pub start: i64,
    /// `state` (supervisord's numeric process state).
    pub state: i64,
    /// `exitstatus`.
    pub exit_status: i64,
}

/// Extracts the processes from `getAllProcessInfo`'s result: an array of structs whose
/// `name`/`group` are strings and `start`/`state`/`exitstatus` integers.
pub fn processes(value: &Value) -> Result<Vec<ProcessInfo>, ParseError> {
    let Value::Array(items) = value else {
        return Err(ParseError::new("getAllProcessInfo did not return an array"));
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Struct(members) = item else {
            return Err(ParseError::new("process info is not a struct"));
        };
        let mut info = ProcessInfo::default();
        for (key, value) in members {
            let wrong =
                || ParseError::new(format!("process info field {key:?} has type {value:?}"));
            match (key.as_str(), value) {
                ("name", Value::Str(s)) => info.name = s.clone(),
                ("group", Value::Str(s)) => info.group = s.clone(),
                ("start", Value::Int(v)) => info.start = *v,
                ("state", Value::Int(v)) => info.state = *v,
                ("exitstatus", Value::Int(v)) => info.exit_status = *v,
                ("name" | "group" | "start" | "state" | "exitstatus", _) => return Err(wrong()),
                _ => {}
            }
        }
        out.push(info);
    }
    Ok(out)
}

/// STARTING, RUNNING and STOPPING count as up.
fn is_running(state: i64) -> bool {
    matches!(state, 10 | 20 | 40)
}

impl SupervisordCollector {
    fn call(&self) -> Result<Vec<u8>, String> {
        match &self.endpoint {
            Endpoint::Tcp { addr, host, path } => {
                use std::net::ToSocketAddrs;
                let mut last = format!("cannot resolve {addr}");
                for sa in addr.to_socket_addrs().map_err(|e| e.to_string())? {
                    match std::net::TcpStream::connect_timeout(&sa, TIMEOUT) {
                        Ok(stream) => {
                            stream
                                .set_read_timeout(Some(TIMEOUT))
                                .map_err(|e| e.to_string())?;
                            return post(stream, host, path);
                        }
                        Err(e) => last = format!("dial {sa}: {e}"),
                    }
                }
                Err(last)
            }
            Endpoint::Unix(socket) => {
                let stream = std::os::unix::net::UnixStream::connect(socket)
                    .map_err(|e| format!("dial unix {}: {e}", socket.display()))?;
                stream
                    .set_read_timeout(Some(TIMEOUT))
                    .map_err(|e| e.to_string())?;
                post(stream, "unix", "/RPC2")
            }
        }
    }
}

impl Collector for SupervisordCollector {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let unable = |e: String| CollectError::Other(format!("unable to call supervisord: {e}"));
        let body = self.call().map_err(unable)?;
        let value = parse_response(&body).map_err(|e| unable(e.to_string()))?;
        let procs = processes(&value).map_err(|e| unable(e.to_string()))?;
        let labels = |p: &ProcessInfo| [("name", p.name.clone()), ("group", p.group.clone())];
        sink.gauge("node_supervisord_state", "Process State");
        for p in &procs {
            let [(a, x), (b, y)] = labels(p);
            sink.sample(&[(a, &x), (b, &y)], p.state as f64);
        }
        sink.gauge("node_supervisord_exit_status", "Process Exit Status");
        for p in &procs {
            let [(a, x), (b, y)] = labels(p);
            sink.sample(&[(a, &x), (b, &y)], p.exit_status as f64);
        }
        sink.gauge("node_supervisord_up", "Process Up");
        for p in &procs {
            let [(a, x), (b, y)] = labels(p);
            sink.sample(
                &[(a, &x), (b, &y)],
                f64::from(u8::from(is_running(p.state))),
            );
        }
        sink.counter("node_supervisord_start_time_seconds", "Process start time");
        for p in procs.iter().filter(|p| is_running(p.state)) {
            let [(a, x), (b, y)] = labels(p);
            sink.sample(&[(a, &x), (b, &y)], p.start as f64);
        }
        for p in &procs {
            tracing::debug!(group = %p.group, name = %p.name, state = p.state, "process info");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deeply_nested_values_are_an_error_not_a_stack_overflow() {
        let nested = |depth: usize| {
            let mut xml = String::from("<methodResponse><params><param><value>");
            xml.push_str(&"<array><data><value>".repeat(depth));
            xml.push_str("<int>1</int>");
            xml.push_str(&"</value></data></array>".repeat(depth));
            xml.push_str("</value></param></params></methodResponse>");
            xml
        };
        assert!(parse_response(nested(MAX_DEPTH).as_bytes()).is_ok());
        let err = parse_response(nested(100_000).as_bytes()).unwrap_err();
        assert!(err.to_string().contains("nested"), "{err}");
    }

    /// A `getAllProcessInfo` reply in supervisord 4.2's format (two processes, one exited).
    const REPLY: &str =
        include_str!("../../../tests/fixtures/host/supervisord-getAllProcessInfo.xml");

    #[test]
    fn parses_process_info() {
        let procs = processes(&parse_response(REPLY.as_bytes()).unwrap()).unwrap();
        assert_eq!(
            procs,
            vec![
                ProcessInfo {
                    name: "web".into(),
                    group: "app".into(),
                    start: 1_700_000_000,
                    state: 20,
                    exit_status: 0
                },
                ProcessInfo {
                    name: "worker & co".into(),
                    group: "app".into(),
                    start: 1_699_990_000,
                    state: 100,
                    exit_status: 2
                },
            ]
        );
    }

    #[test]
    fn empty_array_has_no_processes() {
        let reply = "<?xml version='1.0'?><methodResponse><params><param><value><array><data>\n</data></array></value></param></params></methodResponse>";
        assert_eq!(
            processes(&parse_response(reply.as_bytes()).unwrap()).unwrap(),
            vec![]
        );
    }

    #[test]
    fn rejects_empty_truncated_garbage_and_faults() {
        assert!(parse_response(b"").is_err());
        assert!(parse_response(&REPLY.as_bytes()[..REPLY.len() / 2]).is_err());
        assert!(parse_response(b"\xff\xfe<garbage").is_err());
        let fault = "<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>1</int></value></member><member><name>faultString</name><value><string>UNKNOWN_METHOD</string></value></member></struct></value></fault></methodResponse>";
        let err = parse_response(fault.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("UNKNOWN_METHOD"), "{err}");
        // A state that is not an integer.
        let bad = "<methodResponse><params><param><value><array><data><value><struct><member><name>state</name><value><string>x</string></value></member></struct></value></data></array></value></param></params></methodResponse>";
        assert!(processes(&parse_response(bad.as_bytes()).unwrap()).is_err());
    }

    #[test]
    fn http_bodies() {
        assert_eq!(
            http_body(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok").unwrap(),
            b"ok"
        );
        assert_eq!(
            http_body(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n1\r\n!\r\n0\r\n\r\n").unwrap(),
            b"ok!"
        );
        assert!(http_body(b"HTTP/1.1 401 Unauthorized\r\n\r\n").is_err());
        assert!(http_body(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(http_body(b"").is_err());
    }

    #[test]
    fn parses_urls() {
        assert_eq!(
            parse_url("http://localhost:9001/RPC2").unwrap(),
            Endpoint::Tcp {
                addr: "localhost:9001".into(),
                host: "localhost:9001".into(),
                path: "/RPC2".into()
            }
        );
        assert_eq!(
            parse_url("unix:///run/supervisor.sock").unwrap(),
            Endpoint::Unix("/run/supervisor.sock".into())
        );
        assert!(
            matches!(parse_url("http://[::1]/RPC2").unwrap(), Endpoint::Tcp { addr, .. } if addr == "[::1]:80")
        );
        assert!(parse_url("https://example.org/RPC2").is_err());
        assert!(parse_url("http:///RPC2").is_err());
    }

    /// Serves `reply` once on a fresh loopback port; returns the URL.
    fn fake_server(reply: String) -> (String, std::thread::JoinHandle<String>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/RPC2", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Read the head and the announced body.
            loop {
                let n = conn.read(&mut buf).unwrap();
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).into_owned();
                if let Some(end) = text.find("\r\n\r\n") {
                    if text.len() >= end + 4 + REQUEST.len() || n == 0 {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            conn.write_all(reply.as_bytes()).unwrap();
            String::from_utf8_lossy(&request).into_owned()
        });
        (url, handle)
    }

    fn collector_for(url: &str) -> SupervisordCollector {
        SupervisordCollector {
            endpoint: parse_url(url).unwrap(),
        }
    }

    #[test]
    fn scrapes_a_fake_supervisord() {
        let reply = format!(
            "HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{REPLY}",
            REPLY.len()
        );
        let (url, server) = fake_server(reply);
        let mut sink = MetricSink::new();
        collector_for(&url).collect(&mut sink).unwrap();
        let request = server.join().unwrap();
        assert!(request.starts_with("POST /RPC2 HTTP/1.1\r\n"), "{request}");
        assert!(request.ends_with(REQUEST));
        let mut out = Vec::new();
        crate::expfmt::render(&[&sink], crate::expfmt::Format::Text, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        for line in [
            "node_supervisord_up{group=\"app\",name=\"web\"} 1",
            "node_supervisord_up{group=\"app\",name=\"worker & co\"} 0",
            "node_supervisord_state{group=\"app\",name=\"worker & co\"} 100",
            "node_supervisord_exit_status{group=\"app\",name=\"worker & co\"} 2",
            "node_supervisord_start_time_seconds{group=\"app\",name=\"web\"} 1.7e+09",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert!(!text.contains("start_time_seconds{group=\"app\",name=\"worker"));
    }

    #[test]
    fn refused_connection_and_http_errors_fail_the_collector() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut sink = MetricSink::new();
        assert!(collector_for(&format!("http://127.0.0.1:{port}/RPC2"))
            .collect(&mut sink)
            .is_err());
        let (url, server) =
            fake_server("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n".into());
        assert!(collector_for(&url).collect(&mut sink).is_err());
        server.join().unwrap();
        assert!(sink.is_empty());
    }

    #[test]
    fn serves_over_a_unix_socket() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("supervisor.sock");
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 8192];
            let mut got = Vec::new();
            while !String::from_utf8_lossy(&got).ends_with(REQUEST) {
                let n = conn.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            let body = "<methodResponse><params><param><value><array><data></data></array></value></param></params></methodResponse>";
            let reply = format!(
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            conn.write_all(reply.as_bytes()).unwrap();
            String::from_utf8_lossy(&got).into_owned()
        });
        let mut sink = MetricSink::new();
        collector_for(&format!("unix://{}", socket.display()))
            .collect(&mut sink)
            .unwrap();
        let request = server.join().unwrap();
        assert!(
            request.starts_with("POST /RPC2 HTTP/1.1\r\nHost: unix\r\n"),
            "{request}"
        );
        assert_eq!(sink.sample_count(), 0);
    }
}
