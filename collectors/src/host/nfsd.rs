//! nfsd: NFS server RPC statistics from `/proc/net/rpc/nfsd` (`node_nfsd_*`), parsed as
//! procfs' `nfs` package does.

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::host::nfs::{
    fixed, network, procedures, read_stats, split_lines, write_procedures, Network, V2_METHODS,
    V3_METHODS,
};
use crate::stateless_collector;

stateless_collector!("nfsd", true, "/proc/net/rpc/nfsd", collect);

/// The NFSv4 operations node_exporter reports, with their 1-based position in `proc4ops`.
const V4_OPS: &[(&str, usize)] = &[
    ("Access", 4),
    ("Close", 5),
    ("Commit", 6),
    ("Create", 7),
    ("DelegPurge", 8),
    ("DelegReturn", 9),
    ("GetAttr", 10),
    ("GetFH", 11),
    ("Link", 12),
    ("Lock", 13),
    ("Lockt", 14),
    ("Locku", 15),
    ("Lookup", 16),
    ("LookupRoot", 17),
    ("Nverify", 18),
    ("Open", 19),
    ("OpenAttr", 20),
    ("OpenConfirm", 21),
    ("OpenDgrd", 22),
    ("PutFH", 23),
    ("Read", 26),
    ("ReadDir", 27),
    ("ReadLink", 28),
    ("Remove", 29),
    ("Rename", 30),
    ("Renew", 31),
    ("RestoreFH", 32),
    ("SaveFH", 33),
    ("SecInfo", 34),
    ("SetAttr", 35),
    ("Verify", 38),
    ("Write", 39),
    ("RelLockOwner", 40),
];

/// Everything `/proc/net/rpc/nfsd` reports; absent lines stay zero, as in procfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerStats {
    /// `rc`: hits, misses, nocache.
    pub reply_cache: [u64; 3],
    /// `fh`: the first value is the stale file handle count.
    pub file_handles: [u64; 5],
    /// `io`: bytes read and written.
    pub io: [u64; 2],
    /// `th`: threads and the "full" count.
    pub threads: [u64; 2],
    /// `ra`: cache size, 10 histogram buckets, not found.
    pub read_ahead: [u64; 12],
    /// `net`.
    pub network: Network,
    /// `rpc`: count, bad total, bad format, bad auth, bad client.
    pub rpc: [u64; 5],
    /// `proc2` counters, indexed like `V2_METHODS`.
    pub v2: [u64; 18],
    /// `proc3` counters, indexed like `V3_METHODS`.
    pub v3: [u64; 22],
    /// `proc4ops` values after the count (operation 0 first); 40 or more long.
    pub v4_ops: Vec<u64>,
}

impl Default for ServerStats {
    fn default() -> Self {
        ServerStats {
            reply_cache: [0; 3],
            file_handles: [0; 5],
            io: [0; 2],
            threads: [0; 2],
            read_ahead: [0; 12],
            network: Network::default(),
            rpc: [0; 5],
            v2: [0; 18],
            v3: [0; 22],
            v4_ops: vec![0; 40],
        }
    }
}

/// Parses `/proc/net/rpc/nfsd`.
pub fn parse(bytes: &[u8]) -> Result<ServerStats, ParseError> {
    let mut stats = ServerStats::default();
    for (key, values) in split_lines(bytes)? {
        match key.as_str() {
            "rc" => stats.reply_cache = fixed("rc", &values)?,
            "fh" => stats.file_handles = fixed("fh", &values)?,
            "io" => stats.io = fixed("io", &values)?,
            "th" => stats.threads = fixed("th", &values)?,
            "ra" => stats.read_ahead = fixed("ra", &values)?,
            "net" => stats.network = network(&values)?,
            "rpc" => stats.rpc = fixed("rpc", &values)?,
            "proc2" => stats.v2 = procedures("proc2", &values, 18)?,
            "proc3" => stats.v3 = procedures("proc3", &values, 22)?,
            "proc4" => {
                procedures::<2>("proc4", &values, 2)?;
                if values.len() != 3 {
                    return Err(ParseError::new("invalid proc4 line"));
                }
            }
            "proc4ops" => {
                procedures::<0>("proc4ops", &values, 39)?;
                let mut ops = values.get(1..).unwrap_or(&[]).to_vec();
                ops.resize(ops.len().max(40), 0);
                stats.v4_ops = ops;
            }
            // Newer kernels; procfs parses it, node_exporter does not report it.
            "wdeleg_getattr" => {
                fixed::<1>("wdeleg_getattr", &values)?;
            }
            other => {
                return Err(ParseError::new(format!(
                    "unknown NFSd metric line {other:?}"
                )))
            }
        }
    }
    Ok(stats)
}

fn counter(sink: &mut MetricSink, name: &str, help: &str, value: u64) {
    sink.counter(name, help).sample(&[], value as f64);
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let s = read_stats(&settings.roots.proc("net/rpc/nfsd"), parse)?;
    let [hits, misses, nocache] = s.reply_cache;
    counter(
        sink,
        "node_nfsd_reply_cache_hits_total",
        "Total number of NFSd Reply Cache hits (client lost server response).",
        hits,
    );
    counter(
        sink,
        "node_nfsd_reply_cache_misses_total",
        "Total number of NFSd Reply Cache an operation that requires caching (idempotent).",
        misses,
    );
    counter(
        sink,
        "node_nfsd_reply_cache_nocache_total",
        "Total number of NFSd Reply Cache non-idempotent operations (rename/delete/…).",
        nocache,
    );
    counter(
        sink,
        "node_nfsd_file_handles_stale_total",
        "Total number of NFSd stale file handles",
        s.file_handles[0],
    );
    counter(
        sink,
        "node_nfsd_disk_bytes_read_total",
        "Total NFSd bytes read.",
        s.io[0],
    );
    counter(
        sink,
        "node_nfsd_disk_bytes_written_total",
        "Total NFSd bytes written.",
        s.io[1],
    );
    sink.gauge(
        "node_nfsd_server_threads",
        "Total number of NFSd kernel threads that are running.",
    )
    .sample(&[], s.threads[0] as f64);
    sink.gauge(
        "node_nfsd_read_ahead_cache_size_blocks",
        "How large the read ahead cache is in blocks.",
    )
    .sample(&[], s.read_ahead[0] as f64);
    counter(
        sink,
        "node_nfsd_read_ahead_cache_not_found_total",
        "Total number of NFSd read ahead cache not found.",
        s.read_ahead[11],
    );
    sink.counter(
        "node_nfsd_packets_total",
        "Total NFSd network packets (sent+received) by protocol type.",
    )
    .sample(&[("proto", "udp")], s.network.udp as f64)
    .sample(&[("proto", "tcp")], s.network.tcp as f64);
    counter(
        sink,
        "node_nfsd_connections_total",
        "Total number of NFSd TCP connections.",
        s.network.tcp_connect,
    );
    sink.counter(
        "node_nfsd_rpc_errors_total",
        "Total number of NFSd RPC errors by error type.",
    )
    .sample(&[("error", "fmt")], s.rpc[2] as f64)
    .sample(&[("error", "auth")], s.rpc[3] as f64)
    .sample(&[("error", "cInt")], s.rpc[4] as f64);
    counter(
        sink,
        "node_nfsd_server_rpcs_total",
        "Total number of NFSd RPCs.",
        s.rpc[0],
    );
    write_requests(sink, &s);
    Ok(())
}

fn write_requests(sink: &mut MetricSink, s: &ServerStats) {
    sink.counter(
        "node_nfsd_requests_total",
        "Total number NFSd Requests by method and protocol.",
    );
    // node_exporter leaves out the Null procedures of the server.
    write_procedures(sink, "2", &V2_METHODS[1..], &s.v2[1..]);
    write_procedures(sink, "3", &V3_METHODS[1..], &s.v3[1..]);
    for (method, position) in V4_OPS {
        let value = s.v4_ops.get(position - 1).copied().unwrap_or(0);
        sink.sample(&[("method", method), ("proto", "4")], value as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "rc 0 6 18622
fh 0 0 0 0 0
io 157286400 72864
th 8 0 0.000 0.000 0.000 0.000 0.000 0.000 0.000 0.000 0.000 0.000
ra 32 0 0 0 0 0 0 0 0 0 0 0
net 972 55 917 55
rpc 18628 3 1 2 0
proc2 18 2 69 0 0 4410 0 0 0 0 0 0 0 0 0 0 0 99 2
proc3 22 2 112 0 2719 111 0 0 0 0 0 0 0 0 0 0 0 27 216 0 2 1 0
proc4 2 2 10853
proc4ops 73 0 0 0 1098 2 0 0 0 0 8179 5896 0 0 0 0 5900 0 0 2 0 2 0 9609 0 2 150 1272 0 0 0 1236 0 0 0 0 3 3 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
";

    #[test]
    fn parses_server_sample() {
        let s = parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(s.reply_cache, [0, 6, 18622]);
        assert_eq!(s.threads, [8, 0]);
        assert_eq!(s.io, [157286400, 72864]);
        assert_eq!(s.network.tcp, 917);
        assert_eq!(s.rpc, [18628, 3, 1, 2, 0]);
        assert_eq!(s.v2[4], 4410);
        assert_eq!(s.v3[18], 0);
        assert_eq!(s.v4_ops[3], 1098, "Access is operation 3");
        assert_eq!(s.v4_ops.len(), 73);
    }

    #[test]
    fn empty_and_short_proc4ops() {
        assert_eq!(parse(b"").unwrap(), ServerStats::default());
        let ops39 = format!("proc4ops 39{}\n", " 1".repeat(39));
        assert_eq!(parse(ops39.as_bytes()).unwrap().v4_ops[39], 0);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(b"th 8\n").is_err());
        assert!(parse(b"rc 1 2\n").is_err());
        assert!(parse(b"proc4 3 1 2 3\n").is_err());
        assert!(parse(b"proc4ops 2 1 2\n").is_err());
        assert!(parse(b"whatever 1\n").is_err());
        assert!(parse(&[0xff, b' ', 0xfe]).is_err());
    }
}
