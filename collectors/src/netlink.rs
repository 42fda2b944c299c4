//! A small netlink client: one socket per request, dumps read to the end with a receive
//! timeout, and pure parsers for messages and attributes (unit-tested over bytes captured from
//! a real kernel in `tests/fixtures/netlink/`).
//!
//! Used by the qdisc, network_route and wifi collectors. Only what they need is here: route
//! netlink (`NETLINK_ROUTE`) dumps and generic netlink (`NETLINK_GENERIC`) family lookup and
//! dumps. The socket sees the network namespace nodex runs in, as node_exporter's does.

use std::io;
use std::time::Duration;

use crate::error::ParseError;
use crate::util::{array, u16_at, u32_at};

/// `NETLINK_ROUTE`: links, routes, qdiscs.
pub const NETLINK_ROUTE: i32 = 0;
/// `NETLINK_GENERIC`: generic netlink families such as nl80211.
pub const NETLINK_GENERIC: i32 = 16;

/// `RTM_GETLINK`.
pub const RTM_GETLINK: u16 = 18;
/// `RTM_NEWLINK`, the message type of each link in an `RTM_GETLINK` dump.
pub const RTM_NEWLINK: u16 = 16;
/// Length of `struct ifinfomsg`, which starts an `RTM_NEWLINK` payload; attributes follow.
pub const IFINFOMSG_LEN: usize = 16;
/// `IFLA_IFNAME`, the link's name.
pub const IFLA_IFNAME: u16 = 3;
/// `RTM_GETROUTE`.
pub const RTM_GETROUTE: u16 = 26;
/// `RTM_GETQDISC`.
pub const RTM_GETQDISC: u16 = 38;
/// `GENL_ID_CTRL`, the generic netlink controller's message type.
pub const GENL_ID_CTRL: u16 = 16;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_HDRLEN: usize = 16;
const NLA_HDRLEN: usize = 4;
/// Attribute type bits (the top two are NLA_F_NESTED and NLA_F_NET_BYTEORDER).
const NLA_TYPE_MASK: u16 = 0x3fff;

/// How long one receive may wait for the kernel before the request fails.
pub const RECV_TIMEOUT: Duration = Duration::from_secs(5);

/// One netlink message: its header fields and payload (the bytes after the 16-byte header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// `nlmsg_type`.
    pub kind: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// The payload.
    pub payload: &'a [u8],
}

/// Rounds up to netlink's 4-byte alignment.
fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Splits a buffer received from a netlink socket into its messages. A header whose length is
/// shorter than a header or runs past the buffer is an error.
pub fn parse_messages(buf: &[u8]) -> Result<Vec<Message<'_>>, ParseError> {
    let mut out = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        if rest.len() < NLMSG_HDRLEN {
            return Err(ParseError::new(format!(
                "truncated netlink header: {} bytes",
                rest.len()
            )));
        }
        let len = u32_at(rest, 0)? as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return Err(ParseError::new(format!(
                "netlink message length {len} out of range (buffer {})",
                rest.len()
            )));
        }
        out.push(Message {
            kind: u16_at(rest, 4)?,
            flags: u16_at(rest, 6)?,
            seq: u32_at(rest, 8)?,
            payload: &rest[NLMSG_HDRLEN..len],
        });
        rest = rest.get(align4(len)..).unwrap_or(&[]);
    }
    Ok(out)
}

/// The errno of an `NLMSG_ERROR` payload (0 is an acknowledgement).
pub fn parse_error(payload: &[u8]) -> Result<i32, ParseError> {
    let code = i32::from_ne_bytes(array(payload, 0)?);
    Ok(-code)
}

/// One attribute: its type (flag bits removed) and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr<'a> {
    /// `nla_type & NLA_TYPE_MASK`.
    pub kind: u16,
    /// The value, without padding.
    pub value: &'a [u8],
}

/// Parses a run of attributes (`struct nlattr` + value, 4-byte aligned).
pub fn parse_attrs(buf: &[u8]) -> Result<Vec<Attr<'_>>, ParseError> {
    // Attributes of a link message average some 16 bytes: sized once rather than grown five
    // times per message.
    let mut out = Vec::with_capacity(buf.len() / 16);
    let mut rest = buf;
    while rest.len() >= NLA_HDRLEN {
        let len = u16_at(rest, 0)? as usize;
        if len < NLA_HDRLEN || len > rest.len() {
            return Err(ParseError::new(format!(
                "attribute length {len} out of range (buffer {})",
                rest.len()
            )));
        }
        out.push(Attr {
            kind: u16_at(rest, 2)? & NLA_TYPE_MASK,
            value: &rest[NLA_HDRLEN..len],
        });
        rest = rest.get(align4(len)..).unwrap_or(&[]);
    }
    Ok(out)
}

/// A NUL-terminated string attribute (bytes after the first NUL dropped; invalid UTF-8
/// replaced).
pub fn c_string(value: &[u8]) -> String {
    let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
    String::from_utf8_lossy(&value[..end]).into_owned()
}

/// Builds one request message: header, fixed payload and attributes.
pub fn build_request(
    kind: u16,
    flags: u16,
    seq: u32,
    payload: &[u8],
    attrs: &[(u16, &[u8])],
) -> Vec<u8> {
    let mut msg = vec![0u8; NLMSG_HDRLEN];
    msg.extend_from_slice(payload);
    msg.resize(align4(msg.len()), 0);
    for (kind, value) in attrs {
        let len = (NLA_HDRLEN + value.len()) as u16;
        msg.extend_from_slice(&len.to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(value);
        msg.resize(align4(msg.len()), 0);
    }
    let total = msg.len() as u32;
    msg[0..4].copy_from_slice(&total.to_ne_bytes());
    msg[4..6].copy_from_slice(&kind.to_ne_bytes());
    msg[6..8].copy_from_slice(&flags.to_ne_bytes());
    msg[8..12].copy_from_slice(&seq.to_ne_bytes());
    msg
}

/// An open netlink socket (closed on drop).
pub struct Socket {
    fd: std::os::fd::OwnedFd,
    seq: u32,
    /// Receive buffer, kept between exchanges of a socket that is itself kept.
    buf: Vec<u8>,
}

impl Socket {
    /// Opens and binds a netlink socket of `protocol` with [`RECV_TIMEOUT`] on receives.
    pub fn open(protocol: i32) -> io::Result<Socket> {
        use std::os::fd::FromRawFd;
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                protocol,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
        let sock = Socket {
            fd,
            seq: 1,
            buf: Vec::new(),
        };
        let timeout = libc::timeval {
            tv_sec: RECV_TIMEOUT.as_secs() as libc::time_t,
            tv_usec: 0,
        };
        sock.setsockopt(
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &timeout as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::timeval>(),
        )?;
        // Strict checking makes the kernel honour dump filters; old kernels lack it (ignored).
        let one: libc::c_int = 1;
        let _ = sock.setsockopt(
            libc::SOL_NETLINK,
            libc::NETLINK_GET_STRICT_CHK,
            &one as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>(),
        );
        // SAFETY: a zeroed sockaddr_nl is valid; the kernel picks the port id.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: `addr` is a valid sockaddr_nl of the given size.
        let rc = unsafe {
            libc::bind(
                sock.raw(),
                &addr as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sock)
    }

    fn raw(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.fd.as_raw_fd()
    }

    fn setsockopt(
        &self,
        level: i32,
        name: i32,
        value: *const libc::c_void,
        len: usize,
    ) -> io::Result<()> {
        // SAFETY: `value` points to `len` readable bytes for the duration of the call.
        let rc =
            unsafe { libc::setsockopt(self.raw(), level, name, value, len as libc::socklen_t) };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Sends a dump request (`NLM_F_REQUEST | NLM_F_DUMP`) and returns the raw bytes of every
    /// reply datagram up to `NLMSG_DONE` (concatenated, they parse as one buffer). A kernel error reply becomes an `io::Error` with its
    /// errno.
    pub fn dump(
        &mut self,
        kind: u16,
        payload: &[u8],
        attrs: &[(u16, &[u8])],
    ) -> io::Result<Vec<Vec<u8>>> {
        self.exchange(kind, NLM_F_REQUEST | NLM_F_DUMP, payload, attrs)
    }

    /// Sends a single request (`NLM_F_REQUEST | NLM_F_ACK`) and returns the reply datagrams
    /// up to the acknowledgement.
    pub fn request(
        &mut self,
        kind: u16,
        payload: &[u8],
        attrs: &[(u16, &[u8])],
    ) -> io::Result<Vec<Vec<u8>>> {
        self.exchange(kind, NLM_F_REQUEST | NLM_F_ACK, payload, attrs)
    }

    fn exchange(
        &mut self,
        kind: u16,
        flags: u16,
        payload: &[u8],
        attrs: &[(u16, &[u8])],
    ) -> io::Result<Vec<Vec<u8>>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let msg = build_request(kind, flags, seq, payload, attrs);
        // SAFETY: `msg` is a valid buffer of its length.
        let sent = unsafe {
            libc::send(
                self.raw(),
                msg.as_ptr() as *const libc::c_void,
                msg.len(),
                0,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut replies = Vec::new();
        let mut buf = std::mem::take(&mut self.buf);
        if buf.len() < 64 * 1024 {
            buf.resize(64 * 1024, 0);
        }
        let result = self.receive(seq, &mut buf, &mut replies);
        self.buf = buf;
        result.map(|()| replies)
    }

    /// Receives the reply datagrams of request `seq` into `replies`, up to its end.
    fn receive(&self, seq: u32, buf: &mut Vec<u8>, replies: &mut Vec<Vec<u8>>) -> io::Result<()> {
        loop {
            // Peek at the size first so a datagram larger than the buffer is not truncated.
            // SAFETY: `buf` is writable for its length.
            let peeked = unsafe {
                libc::recv(
                    self.raw(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    libc::MSG_PEEK | libc::MSG_TRUNC,
                )
            };
            if peeked < 0 {
                return Err(io::Error::last_os_error());
            }
            if peeked as usize > buf.len() {
                buf.resize(peeked as usize, 0);
            }
            // SAFETY: as above.
            let n = unsafe {
                libc::recv(
                    self.raw(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    0,
                )
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let data = &buf[..n as usize];
            let messages =
                parse_messages(data).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let mut finished = false;
            for m in &messages {
                if m.seq != seq {
                    continue;
                }
                match m.kind {
                    NLMSG_DONE => {
                        // A dump's DONE carries the dump's own result (negative errno).
                        if let Ok(errno) = parse_error(m.payload) {
                            if errno > 0 {
                                return Err(io::Error::from_raw_os_error(errno));
                            }
                        }
                        finished = true;
                    }
                    NLMSG_ERROR => {
                        let errno = parse_error(m.payload)
                            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                        if errno != 0 {
                            return Err(io::Error::from_raw_os_error(errno));
                        }
                        finished = true;
                    }
                    _ => {}
                }
            }
            replies.push(data.to_vec());
            if finished {
                return Ok(());
            }
        }
    }
}

/// A netlink socket for a collector that asks every scrape: opened on first use, kept between
/// scrapes, and closed after an error so that the next request starts on a fresh one.
pub struct KeptSocket {
    protocol: i32,
    socket: std::sync::Mutex<Option<Socket>>,
}

impl KeptSocket {
    /// A socket of `protocol`, not opened yet.
    pub fn new(protocol: i32) -> Self {
        KeptSocket {
            protocol,
            socket: std::sync::Mutex::new(None),
        }
    }

    /// Runs `exchange` on the socket, opening it if needed; an error closes it.
    pub fn with<T>(&self, exchange: impl FnOnce(&mut Socket) -> io::Result<T>) -> io::Result<T> {
        let mut socket = self.socket.lock().unwrap_or_else(|p| p.into_inner());
        let result = match socket.as_mut() {
            Some(sock) => exchange(sock),
            None => exchange(socket.insert(Socket::open(self.protocol)?)),
        };
        if result.is_err() {
            *socket = None;
        }
        result
    }
}

/// The payloads of the messages of type `kind` (and of our dump) in `replies`.
pub fn payloads_of(replies: &[Vec<u8>], kind: u16) -> Result<Vec<&[u8]>, ParseError> {
    let mut out = Vec::new();
    for datagram in replies {
        for m in parse_messages(datagram)? {
            if m.kind == kind {
                out.push(m.payload);
            }
        }
    }
    Ok(out)
}

/// Link names by interface index from an `RTM_GETLINK` dump (`IFLA_IFNAME`).
pub fn parse_link_names(replies: &[Vec<u8>]) -> Result<Vec<(u32, String)>, ParseError> {
    let mut out = Vec::new();
    for payload in payloads_of(replies, RTM_NEWLINK)? {
        let index = u32_at(payload, 4)?;
        let attrs = parse_attrs(payload.get(IFINFOMSG_LEN..).unwrap_or(&[]))?;
        let name = attrs
            .iter()
            .find(|a| a.kind == IFLA_IFNAME)
            .map(|a| c_string(a.value))
            .unwrap_or_default();
        out.push((index, name));
    }
    Ok(out)
}

/// Dumps the links of this network namespace (`RTM_GETLINK`), returning index → name.
pub fn link_names(sock: &mut Socket) -> io::Result<Vec<(u32, String)>> {
    // struct ifinfomsg, all zero: every family, every link.
    let replies = sock.dump(RTM_GETLINK, &[0u8; 16], &[])?;
    parse_link_names(&replies).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// `CTRL_CMD_GETFAMILY` request payload for `name`: generic netlink header and
/// `CTRL_ATTR_FAMILY_NAME`.
pub fn genl_family_request(name: &str) -> ([u8; 4], Vec<u8>) {
    const CTRL_CMD_GETFAMILY: u8 = 3;
    let mut value = name.as_bytes().to_vec();
    value.push(0);
    ([CTRL_CMD_GETFAMILY, 1, 0, 0], value)
}

/// The family id in a `CTRL_CMD_GETFAMILY` reply (generic netlink header + attributes).
pub fn parse_genl_family_id(replies: &[Vec<u8>]) -> Result<u16, ParseError> {
    const CTRL_ATTR_FAMILY_ID: u16 = 1;
    for payload in payloads_of(replies, GENL_ID_CTRL)? {
        let attrs = parse_attrs(
            payload
                .get(4..)
                .ok_or_else(|| ParseError::new("short generic netlink message"))?,
        )?;
        if let Some(a) = attrs.iter().find(|a| a.kind == CTRL_ATTR_FAMILY_ID) {
            return u16_at(a.value, 0);
        }
    }
    Err(ParseError::new("no family id in reply"))
}

/// Resolves a generic netlink family's id; the kernel answers `ENOENT` (`NotFound`) when the
/// family is not registered.
pub fn genl_family(sock: &mut Socket, name: &str) -> io::Result<u16> {
    const CTRL_ATTR_FAMILY_NAME: u16 = 2;
    let (header, value) = genl_family_request(name);
    let replies = sock.request(GENL_ID_CTRL, &header, &[(CTRL_ATTR_FAMILY_NAME, &value)])?;
    parse_genl_family_id(&replies).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `RTM_GETLINK` dump reply captured from this VM's kernel in a fresh network
    /// namespace holding only `lo` (see tests/fixtures/netlink/README.md).
    const LINK_DUMP: &[u8] = include_bytes!("../../tests/fixtures/netlink/link-lo.bin");

    #[test]
    fn messages_and_attributes_of_a_real_dump() {
        let msgs = parse_messages(LINK_DUMP).unwrap();
        assert!(!msgs.is_empty());
        let names = parse_link_names(&[LINK_DUMP.to_vec()]).unwrap();
        assert_eq!(names, vec![(1, "lo".to_string())]);
    }

    #[test]
    fn truncated_and_garbage_buffers_are_errors() {
        assert!(parse_messages(&[]).unwrap().is_empty());
        assert!(parse_messages(&LINK_DUMP[..10]).is_err());
        assert!(parse_messages(&LINK_DUMP[..LINK_DUMP.len() - 1]).is_err());
        let mut bad = LINK_DUMP.to_vec();
        bad[0..4].copy_from_slice(&3u32.to_ne_bytes());
        assert!(parse_messages(&bad).is_err());
        assert!(parse_attrs(&[8, 0, 1, 0, 1]).is_err());
        assert!(parse_attrs(&[2, 0, 1, 0]).is_err());
        assert!(parse_attrs(&[]).unwrap().is_empty());
    }

    #[test]
    fn request_layout_round_trips() {
        let msg = build_request(
            RTM_GETQDISC,
            NLM_F_REQUEST | NLM_F_DUMP,
            7,
            &[0; 20],
            &[(1, b"fq\0")],
        );
        let parsed = parse_messages(&msg).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].kind, RTM_GETQDISC);
        assert_eq!(parsed[0].seq, 7);
        let attrs = parse_attrs(&parsed[0].payload[20..]).unwrap();
        assert_eq!(
            attrs,
            vec![Attr {
                kind: 1,
                value: b"fq\0"
            }]
        );
        assert_eq!(c_string(attrs[0].value), "fq");
    }

    /// The kernel's reply to `CTRL_CMD_GETFAMILY` for "nlctrl" (the controller itself, id 16),
    /// with its trailing acknowledgement, captured on this VM.
    const GENL_NLCTRL: &[u8] = include_bytes!("../../tests/fixtures/netlink/genl-nlctrl.bin");

    #[test]
    fn generic_netlink_family_reply() {
        assert_eq!(
            parse_genl_family_id(&[GENL_NLCTRL.to_vec()]).unwrap(),
            GENL_ID_CTRL
        );
        assert!(parse_genl_family_id(&[GENL_NLCTRL[..30].to_vec()]).is_err());
        assert!(parse_genl_family_id(&[]).is_err());
    }

    #[test]
    fn error_payload_errno() {
        assert_eq!(parse_error(&(-2i32).to_ne_bytes()).unwrap(), 2);
        assert!(parse_error(&[1, 2]).is_err());
    }
}
