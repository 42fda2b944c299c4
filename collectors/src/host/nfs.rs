//! nfs: NFS client RPC statistics from `/proc/net/rpc/nfs` (`node_nfs_*`), parsed as
//! procfs' `nfs` package does. The line splitter and the procedure tables are shared with
//! the nfsd collector.

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::stateless_collector;
use crate::util::{lossy, read};

stateless_collector!("nfs", true, "/proc/net/rpc/nfs", collect);

/// NFSv2 procedures, in the order of the `proc2` line.
pub const V2_METHODS: [&str; 18] = [
    "Null", "GetAttr", "SetAttr", "Root", "Lookup", "ReadLink", "Read", "WrCache", "Write",
    "Create", "Remove", "Rename", "Link", "SymLink", "MkDir", "RmDir", "ReadDir", "FsStat",
];

/// NFSv3 procedures, in the order of the `proc3` line.
pub const V3_METHODS: [&str; 22] = [
    "Null",
    "GetAttr",
    "SetAttr",
    "Lookup",
    "Access",
    "ReadLink",
    "Read",
    "Write",
    "Create",
    "MkDir",
    "SymLink",
    "MkNod",
    "Remove",
    "RmDir",
    "Rename",
    "Link",
    "ReadDir",
    "ReadDirPlus",
    "FsStat",
    "FsInfo",
    "PathConf",
    "Commit",
];

/// NFSv4 client operations, in the order of the client's `proc4` line (procfs' field names).
const CLIENT_V4_METHODS: [&str; 59] = [
    "Null",
    "Read",
    "Write",
    "Commit",
    "Open",
    "OpenConfirm",
    "OpenNoattr",
    "OpenDowngrade",
    "Close",
    "Setattr",
    "FsInfo",
    "Renew",
    "SetClientID",
    "SetClientIDConfirm",
    "Lock",
    "Lockt",
    "Locku",
    "Access",
    "Getattr",
    "Lookup",
    "LookupRoot",
    "Remove",
    "Rename",
    "Link",
    "Symlink",
    "Create",
    "Pathconf",
    "StatFs",
    "ReadLink",
    "ReadDir",
    "ServerCaps",
    "DelegReturn",
    "GetACL",
    "SetACL",
    "FsLocations",
    "ReleaseLockowner",
    "Secinfo",
    "FsidPresent",
    "ExchangeID",
    "CreateSession",
    "DestroySession",
    "Sequence",
    "GetLeaseTime",
    "ReclaimComplete",
    "GetDeviceInfo",
    "LayoutGet",
    "LayoutCommit",
    "LayoutReturn",
    "SecinfoNoName",
    "TestStateID",
    "FreeStateID",
    "GetDeviceList",
    "BindConnToSession",
    "DestroyClientID",
    "Seek",
    "Allocate",
    "DeAllocate",
    "LayoutStats",
    "Clone",
];

/// The `net` line: packets (all, UDP, TCP) and TCP connections.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    /// UDP packets.
    pub udp: u64,
    /// TCP packets.
    pub tcp: u64,
    /// TCP connections.
    pub tcp_connect: u64,
}

/// Everything `/proc/net/rpc/nfs` reports; absent lines stay zero, as in procfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientStats {
    /// The `net` line.
    pub network: Network,
    /// The `rpc` line: calls, retransmissions, authentication refreshes.
    pub rpc: [u64; 3],
    /// `proc2` counters, indexed like [`V2_METHODS`].
    pub v2: [u64; 18],
    /// `proc3` counters, indexed like [`V3_METHODS`].
    pub v3: [u64; 22],
    /// `proc4` counters, indexed like `CLIENT_V4_METHODS`.
    pub v4: [u64; 59],
}

impl Default for ClientStats {
    fn default() -> Self {
        ClientStats {
            network: Network::default(),
            rpc: [0; 3],
            v2: [0; 18],
            v3: [0; 22],
            v4: [0; 59],
        }
    }
}

/// Splits an rpc statistics file into `(key, values)` lines. Every line needs a key and a
/// value; the `th` line keeps only its first two values (the rest are floats in old kernels).
pub fn split_lines(bytes: &[u8]) -> Result<Vec<(String, Vec<u64>)>, ParseError> {
    let text = lossy(bytes);
    let mut lines = Vec::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_ascii_whitespace().collect();
        let Some((key, rest)) = parts.split_first() else {
            return Err(ParseError::new(format!("invalid metric line {line:?}")));
        };
        if rest.is_empty() || (*key == "th" && rest.len() < 2) {
            return Err(ParseError::new(format!("invalid metric line {line:?}")));
        }
        let fields = if *key == "th" { &rest[..2] } else { rest };
        let values = fields
            .iter()
            .map(|f| {
                f.parse::<u64>()
                    .map_err(|_| ParseError::new(format!("invalid value {f:?} in line {line:?}")))
            })
            .collect::<Result<Vec<u64>, _>>()?;
        lines.push((key.to_string(), values));
    }
    Ok(lines)
}

/// Copies exactly `N` values of a fixed-size line.
pub fn fixed<const N: usize>(key: &str, values: &[u64]) -> Result<[u64; N], ParseError> {
    values
        .try_into()
        .map_err(|_| ParseError::new(format!("invalid {key} line: {} values", values.len())))
}

/// A `procN` line: a count followed by that many values, at least `min` of them; the first
/// `N` are returned.
pub fn procedures<const N: usize>(
    key: &str,
    values: &[u64],
    min: usize,
) -> Result<[u64; N], ParseError> {
    let (count, rest) = values
        .split_first()
        .ok_or_else(|| ParseError::new(format!("empty {key} line")))?;
    if usize::try_from(*count).ok() != Some(rest.len()) || rest.len() < min {
        return Err(ParseError::new(format!("invalid {key} line")));
    }
    let mut out = [0; N];
    for (slot, value) in out.iter_mut().zip(rest) {
        *slot = *value;
    }
    Ok(out)
}

/// Parses the `net` line.
pub fn network(values: &[u64]) -> Result<Network, ParseError> {
    let [_, udp, tcp, tcp_connect] = fixed::<4>("net", values)?;
    Ok(Network {
        udp,
        tcp,
        tcp_connect,
    })
}

/// Parses `/proc/net/rpc/nfs`.
pub fn parse(bytes: &[u8]) -> Result<ClientStats, ParseError> {
    let mut stats = ClientStats::default();
    for (key, values) in split_lines(bytes)? {
        match key.as_str() {
            "net" => stats.network = network(&values)?,
            "rpc" => stats.rpc = fixed("rpc", &values)?,
            "proc2" => stats.v2 = procedures("proc2", &values, 18)?,
            "proc3" => stats.v3 = procedures("proc3", &values, 22)?,
            // Older kernels report fewer v4 operations; the missing ones stay zero.
            "proc4" => stats.v4 = procedures("proc4", &values, 0)?,
            other => {
                return Err(ParseError::new(format!(
                    "unknown NFS metric line {other:?}"
                )))
            }
        }
    }
    Ok(stats)
}

/// Reads an rpc statistics file; a missing file is `NoData`, as node_exporter's ErrNoData.
pub fn read_stats<T>(
    path: &std::path::Path,
    parse: impl FnOnce(&[u8]) -> Result<T, ParseError>,
) -> Result<T, CollectError> {
    let bytes = match read(path) {
        Err(e) if e.is_not_found() => {
            return Err(CollectError::NoData(format!(
                "{} does not exist",
                path.display()
            )))
        }
        other => other?,
    };
    parse(&bytes).map_err(|e| CollectError::parse(path, e))
}

/// Writes `requests_total`-style samples of one protocol version.
pub fn write_procedures(sink: &mut MetricSink, proto: &str, names: &[&str], values: &[u64]) {
    for (method, value) in names.iter().zip(values) {
        sink.sample(&[("method", method), ("proto", proto)], *value as f64);
    }
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let stats = read_stats(&settings.roots.proc("net/rpc/nfs"), parse)?;
    let net = &stats.network;
    sink.counter(
        "node_nfs_packets_total",
        "Total NFSd network packets (sent+received) by protocol type.",
    )
    .sample(&[("protocol", "udp")], net.udp as f64)
    .sample(&[("protocol", "tcp")], net.tcp as f64);
    let singles = [
        (
            "node_nfs_connections_total",
            "Total number of NFSd TCP connections.",
            net.tcp_connect,
        ),
        (
            "node_nfs_rpcs_total",
            "Total number of RPCs performed.",
            stats.rpc[0],
        ),
        (
            "node_nfs_rpc_retransmissions_total",
            "Number of RPC transmissions performed.",
            stats.rpc[1],
        ),
        (
            "node_nfs_rpc_authentication_refreshes_total",
            "Number of RPC authentication refreshes performed.",
            stats.rpc[2],
        ),
    ];
    for (name, help, value) in singles {
        sink.counter(name, help).sample(&[], value as f64);
    }
    sink.counter(
        "node_nfs_requests_total",
        "Number of NFS procedures invoked.",
    );
    write_procedures(sink, "2", &V2_METHODS, &stats.v2);
    write_procedures(sink, "3", &V3_METHODS, &stats.v3);
    write_procedures(sink, "4", &CLIENT_V4_METHODS, &stats.v4);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "net 70 70 69 45
rpc 1218785755 374636 1218815394
proc2 18 16 57 74 52 71 73 45 86 0 52 83 61 17 53 50 23 70 82
proc3 22 0 1061909262 48906 4077635 117661341 5 29391916 2570425 2993289 590 0 0 7815 15 1130 0 3983 92385 13332 2 1 23729
proc4 48 98 51 54 83 85 23 24 1 28 73 68 83 12 84 39 68 59 58 88 29 74 69 96 21 84 15 53 86 54 66 56 97 36 49 32 85 81 11 58 32 67 13 28 35 90 1 26 1337
";

    #[test]
    fn parses_client_sample() {
        let stats = parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(
            stats.network,
            Network {
                udp: 70,
                tcp: 69,
                tcp_connect: 45
            }
        );
        assert_eq!(stats.rpc, [1218785755, 374636, 1218815394]);
        assert_eq!(stats.v2[0], 16);
        assert_eq!(stats.v2[17], 82);
        assert_eq!(stats.v3[1], 1061909262);
        assert_eq!(stats.v4[0], 98);
        assert_eq!(stats.v4[47], 1337);
        assert_eq!(stats.v4[58], 0, "short proc4 lines are padded");
    }

    #[test]
    fn empty_file_is_all_zero() {
        assert_eq!(parse(b"").unwrap(), ClientStats::default());
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(b"net 1 2 3\n").is_err());
        assert!(parse(b"net\n").is_err());
        assert!(parse(b"proc2 18 1 2\n").is_err());
        assert!(parse(b"proc3 3 1 2 3\n").is_err());
        assert!(parse(b"rpc 1 2 x\n").is_err());
        assert!(parse(b"bogus 1\n").is_err());
        assert!(parse(&[0xff, 0xfe, b' ', b'1']).is_err());
    }
}
