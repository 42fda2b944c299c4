//! A minimal blocking D-Bus client: connect to a unix socket, authenticate with `EXTERNAL`,
//! say `Hello` to the bus, and make method calls, all under one deadline.
//!
//! Every blocking step (connect, each write, each read) gets the time left until the deadline as
//! its socket timeout, so a bus that accepts and never answers costs at most the deadline.
//! Transport failures (I/O, timeout, a malformed message) end the connection; an error reply
//! only fails its own call.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::wire::{self, Message, MessageKind, Value};

/// Where a bus listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// `unix:path=...`
    Path(PathBuf),
    /// `unix:abstract=...` (Linux abstract socket namespace)
    Abstract(Vec<u8>),
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Path(path) => write!(f, "unix:path={}", path.display()),
            Address::Abstract(name) => {
                write!(f, "unix:abstract={}", String::from_utf8_lossy(name))
            }
        }
    }
}

/// Parses a D-Bus server address list (`;`-separated `transport:key=value,...` entries) and
/// returns its first unix socket address; values are percent-unescaped.
pub fn parse_address(text: &str) -> Result<Address, String> {
    for entry in text.split(';').filter(|e| !e.is_empty()) {
        let Some(params) = entry.strip_prefix("unix:") else {
            continue;
        };
        for param in params.split(',') {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            let value =
                unescape(value).ok_or_else(|| format!("bad escape in D-Bus address {text:?}"))?;
            match key {
                "path" => {
                    use std::os::unix::ffi::OsStringExt;
                    return Ok(Address::Path(PathBuf::from(std::ffi::OsString::from_vec(
                        value,
                    ))));
                }
                "abstract" => return Ok(Address::Abstract(value)),
                _ => {}
            }
        }
    }
    Err(format!(
        "no unix:path= or unix:abstract= address in {text:?}"
    ))
}

fn unescape(value: &str) -> Option<Vec<u8>> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum DbusError {
    /// The connection is unusable: I/O error, timeout, refused authentication, garbage.
    #[error("{0}")]
    Transport(String),
    /// The peer answered with an error reply.
    #[error("{name}: {message}")]
    Remote {
        /// The D-Bus error name.
        name: String,
        /// The error's message, if it carried one.
        message: String,
    },
}

impl DbusError {
    /// True for an error reply (the connection is still usable).
    pub fn is_remote(&self) -> bool {
        matches!(self, DbusError::Remote { .. })
    }
}

/// An authenticated connection with a deadline for everything done on it.
pub struct Connection {
    stream: UnixStream,
    deadline: Instant,
    serial: u32,
}

/// The bus daemon's own name, path and interface.
const BUS_NAME: &str = "org.freedesktop.DBus";
const BUS_PATH: &str = "/org/freedesktop/DBus";

impl Connection {
    /// Connects to `address` and authenticates; `hello` registers with a bus daemon (leave it
    /// out on a peer-to-peer socket such as systemd's private one). Everything done on the
    /// connection must finish by `deadline`.
    pub fn open(address: &Address, deadline: Instant, hello: bool) -> Result<Self, DbusError> {
        let stream = connect(address, deadline)
            .map_err(|e| DbusError::Transport(format!("connecting to {address}: {e}")))?;
        let mut conn = Connection {
            stream,
            deadline,
            serial: 0,
        };
        conn.authenticate()?;
        if hello {
            conn.call(Some(BUS_NAME), BUS_PATH, BUS_NAME, "Hello", vec![])?;
        }
        Ok(conn)
    }

    fn remaining(&self) -> Result<Duration, DbusError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(DbusError::Transport("D-Bus timeout".into()));
        }
        Ok(left)
    }

    fn write_all(&mut self, mut bytes: &[u8]) -> Result<(), DbusError> {
        while !bytes.is_empty() {
            let left = self.remaining()?;
            self.stream
                .set_write_timeout(Some(left))
                .map_err(transport)?;
            match self.stream.write(bytes) {
                Ok(0) => return Err(DbusError::Transport("D-Bus socket closed".into())),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(transport(e)),
            }
        }
        Ok(())
    }

    fn read_exact(&mut self, mut buf: &mut [u8]) -> Result<(), DbusError> {
        while !buf.is_empty() {
            let n = self.read_some(buf)?;
            buf = &mut buf[n..];
        }
        Ok(())
    }

    fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, DbusError> {
        loop {
            let left = self.remaining()?;
            self.stream
                .set_read_timeout(Some(left))
                .map_err(transport)?;
            match self.stream.read(buf) {
                Ok(0) => return Err(DbusError::Transport("D-Bus socket closed".into())),
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(transport(e)),
            }
        }
    }

    /// `AUTH EXTERNAL <uid>`, then `BEGIN` once the server says `OK`.
    fn authenticate(&mut self) -> Result<(), DbusError> {
        let uid = rustix::process::getuid().as_raw().to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        self.write_all(format!("\0AUTH EXTERNAL {hex}\r\n").as_bytes())?;
        // The server sends nothing after its answer until we send BEGIN, so reading byte by
        // byte up to the line end never swallows message bytes.
        let mut line = Vec::new();
        while !line.ends_with(b"\r\n") {
            if line.len() > 512 {
                return Err(DbusError::Transport(
                    "D-Bus authentication line too long".into(),
                ));
            }
            let mut byte = [0];
            self.read_some(&mut byte)?;
            line.push(byte[0]);
        }
        let answer = String::from_utf8_lossy(&line);
        if !answer.starts_with("OK ") {
            return Err(DbusError::Transport(format!(
                "D-Bus authentication refused: {}",
                answer.trim_end()
            )));
        }
        self.write_all(b"BEGIN\r\n")
    }

    /// Calls a method and returns the reply's body; messages that are not the reply (signals
    /// such as `NameAcquired`) are skipped.
    pub fn call(
        &mut self,
        destination: Option<&str>,
        path: &str,
        interface: &str,
        member: &str,
        args: Vec<Value>,
    ) -> Result<Vec<Value>, DbusError> {
        self.serial = self.serial.wrapping_add(1).max(1);
        let serial = self.serial;
        let call = Message::method_call(destination, path, interface, member, args);
        self.write_all(&wire::encode_message(&call, serial))?;
        loop {
            let reply = self.read_message()?;
            if reply.reply_serial != Some(serial) {
                continue;
            }
            match reply.kind {
                MessageKind::MethodReturn => return Ok(reply.body),
                MessageKind::Error => {
                    return Err(DbusError::Remote {
                        name: reply.error_name.unwrap_or_default(),
                        message: reply
                            .body
                            .first()
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                    })
                }
                _ => continue,
            }
        }
    }

    /// `org.freedesktop.DBus.Properties.Get`, with the variant unwrapped.
    pub fn get_property(
        &mut self,
        destination: &str,
        path: &str,
        interface: &str,
        name: &str,
    ) -> Result<Value, DbusError> {
        let body = self.call(
            Some(destination),
            path,
            "org.freedesktop.DBus.Properties",
            "Get",
            vec![Value::Str(interface.into()), Value::Str(name.into())],
        )?;
        match body.into_iter().next() {
            Some(Value::Variant(inner)) => Ok(*inner),
            other => Err(DbusError::Transport(format!(
                "Properties.Get {interface}.{name} returned {other:?}, not a variant"
            ))),
        }
    }

    fn read_message(&mut self) -> Result<Message, DbusError> {
        let mut start = [0u8; 16];
        self.read_exact(&mut start)?;
        let total = wire::message_length(&start).map_err(|e| malformed(&e))?;
        let mut bytes = vec![0; total];
        bytes[..16].copy_from_slice(&start);
        self.read_exact(&mut bytes[16..])?;
        wire::decode_message(&bytes).map_err(|e| malformed(&e))
    }
}

fn transport(e: std::io::Error) -> DbusError {
    if matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ) {
        DbusError::Transport("D-Bus timeout".into())
    } else {
        DbusError::Transport(format!("D-Bus socket: {e}"))
    }
}

fn malformed(e: &crate::error::ParseError) -> DbusError {
    DbusError::Transport(format!("malformed D-Bus message: {e}"))
}

/// Connects with the deadline as the send timeout, which also bounds a unix `connect` that
/// waits for room in a listener's full backlog.
fn connect(address: &Address, deadline: Instant) -> std::io::Result<UnixStream> {
    use rustix::net::{
        connect, socket_with, sockopt, AddressFamily, SocketAddrUnix, SocketFlags, SocketType,
    };
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(std::io::ErrorKind::TimedOut.into());
    }
    let addr = match address {
        Address::Path(path) => SocketAddrUnix::new(path.as_path())?,
        Address::Abstract(name) => SocketAddrUnix::new_abstract_name(name)?,
    };
    let fd = socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    sockopt::set_socket_timeout(&fd, sockopt::Timeout::Send, Some(left))?;
    connect(&fd, &addr)?;
    Ok(UnixStream::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_address("unix:path=/run/dbus/system_bus_socket").unwrap(),
            Address::Path("/run/dbus/system_bus_socket".into())
        );
        assert_eq!(
            parse_address("tcp:host=x,port=1;unix:guid=ab,path=/tmp/a%20b").unwrap(),
            Address::Path("/tmp/a b".into())
        );
        assert_eq!(
            parse_address("unix:abstract=/tmp/dbus-x,guid=1").unwrap(),
            Address::Abstract(b"/tmp/dbus-x".to_vec())
        );
        assert!(parse_address("").is_err());
        assert!(parse_address("tcp:host=localhost,port=1").is_err());
        assert!(parse_address("unix:path=/a%zz").is_err());
        assert!(parse_address("unix:path=/a%2").is_err());
        assert!(parse_address("unix:tmpdir=/tmp").is_err());
    }

    #[test]
    fn missing_socket_is_a_transport_error() {
        let dir = tempdir();
        let address = Address::Path(dir.path().join("no_socket"));
        let deadline = Instant::now() + Duration::from_secs(5);
        match Connection::open(&address, deadline, true) {
            Err(DbusError::Transport(msg)) => assert!(msg.contains("no_socket"), "{msg}"),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("connected to a missing socket"),
        }
    }

    #[test]
    fn silent_server_times_out_by_the_deadline() {
        let dir = tempdir();
        let path = dir.path().join("silent");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let started = Instant::now();
        let deadline = started + Duration::from_millis(300);
        let result = Connection::open(&Address::Path(path), deadline, true);
        let elapsed = started.elapsed();
        drop(listener);
        match result {
            Err(DbusError::Transport(msg)) => assert_eq!(msg, "D-Bus timeout"),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("a silent server authenticated"),
        }
        assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    }

    #[test]
    fn bus_that_stops_answering_after_auth_times_out() {
        let dir = tempdir();
        let path = dir.path().join("bus");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let server = std::thread::spawn(move || {
            let (mut peer, _) = listener.accept().unwrap();
            let mut line = [0u8; 256];
            let _ = peer.read(&mut line);
            peer.write_all(b"OK 0123\r\n").unwrap();
            // Hold the connection open, silent, until the client gave up.
            let _ = done_rx.recv();
        });
        let started = Instant::now();
        let result = Connection::open(
            &Address::Path(path),
            started + Duration::from_millis(300),
            true,
        );
        let elapsed = started.elapsed();
        let _ = done_tx.send(());
        server.join().unwrap();
        match result {
            Err(DbusError::Transport(msg)) => assert_eq!(msg, "D-Bus timeout"),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("Hello answered by a silent bus"),
        }
        assert!(elapsed >= Duration::from_millis(300), "took {elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
    }

    #[test]
    fn refused_and_garbage_answers_are_errors() {
        for (answer, want) in [
            (&b"REJECTED EXTERNAL\r\n"[..], "refused"),
            (
                &b"OK 1234\r\nl\x02\x00\x09\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00"[..],
                "malformed",
            ),
            (&b"OK 1234\r\n"[..], "closed"),
        ] {
            let dir = tempdir();
            let path = dir.path().join("bus");
            let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
            let server = std::thread::spawn(move || {
                let (mut peer, _) = listener.accept().unwrap();
                let mut line = [0u8; 256];
                let _ = peer.read(&mut line);
                peer.write_all(answer).unwrap();
                // Close our side only, then drain until the client hangs up.
                peer.shutdown(std::net::Shutdown::Write).unwrap();
                while matches!(peer.read(&mut line), Ok(n) if n > 0) {}
            });
            let deadline = Instant::now() + Duration::from_secs(5);
            let err = Connection::open(&Address::Path(path), deadline, true)
                .err()
                .expect("open fails");
            assert!(err.to_string().contains(want), "{want}: {err}");
            drop(err);
            server.join().unwrap();
        }
    }

    fn tempdir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }
}
