//! mountstats: per-mount NFS client statistics (`node_mountstats_nfs_*`) from
//! `/proc/self/mountstats`, parsed with procfs' rules, with the server address taken from the
//! `addr=` super option of the same-position entry of `/proc/self/mountinfo`.

use std::collections::HashSet;

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::host::filesystem::parse_mountinfo;
use crate::stateless_collector;
use crate::util::{lossy, parse_file};

stateless_collector!(
    "mountstats",
    false,
    "/proc/self/mountstats, /proc/self/mountinfo",
    collect
);

/// One `device ... mounted on ... with fstype ...` entry, with NFS statistics if it has them.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    /// Mount source (`export` label).
    pub device: String,
    /// Mount point, as written in the file.
    pub mount: String,
    /// File-system type.
    pub fs_type: String,
    /// Statistics of an NFS (v3 or v4) mount that has a `statvers=` field.
    pub stats: Option<NfsStats>,
}

/// The statistics block of an NFS mount.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NfsStats {
    /// `statvers=` value (`1.0`, `1.1`).
    pub stat_version: String,
    /// `age:` in seconds.
    pub age_seconds: f64,
    /// `bytes:` (8 counters, in the kernel's order).
    pub bytes: [u64; 8],
    /// `events:` (27 counters, in the kernel's order).
    pub events: [u64; 27],
    /// One entry per `xprt:` line.
    pub transports: Vec<Transport>,
    /// The `per-op statistics` lines.
    pub operations: Vec<Operation>,
}

/// One `xprt:` line, normalised to the TCP layout (UDP lacks connect counts and idle time,
/// which are 0; stats version 1.0 lacks the last three, which are 0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transport {
    /// `tcp`, `udp` or `rdma`.
    pub protocol: String,
    /// Number of binds.
    pub bind: u64,
    /// Number of connects.
    pub connect: u64,
    /// Seconds since the last RPC traffic.
    pub idle_time_seconds: u64,
    /// RPC requests sent.
    pub sends: u64,
    /// RPC replies received.
    pub receives: u64,
    /// Replies with an unknown transaction id.
    pub bad_xids: u64,
    /// Cumulative backlog queue length.
    pub backlog: u64,
    /// Most RPC slots used at once.
    pub max_slots: u64,
    /// Cumulative sending queue length.
    pub sending_queue: u64,
    /// Cumulative pending queue length.
    pub pending_queue: u64,
}

/// One per-operation line (`READ: 1298 1298 0 ...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operation {
    /// Operation name without the colon.
    pub name: String,
    /// Requests, transmissions, major timeouts, bytes sent, bytes received, queue ms,
    /// response ms, request ms.
    pub values: [u64; 8],
    /// Requests that completed with an error (0 on kernels without the ninth field).
    pub errors: u64,
}

fn bad(what: &str, fields: &[&str]) -> ParseError {
    ParseError::new(format!("{what}: {fields:?}"))
}

fn numbers<const N: usize>(fields: &[&str], what: &str) -> Result<[u64; N], ParseError> {
    if fields.len() != N {
        return Err(bad(what, fields));
    }
    let mut out = [0u64; N];
    for (o, f) in out.iter_mut().zip(fields) {
        *o = f.parse().map_err(|_| bad(what, fields))?;
    }
    Ok(out)
}

/// Parses `age:` as Go's `time.ParseDuration(v + "s")` would for the kernel's values.
fn parse_age(text: &str) -> Result<f64, ParseError> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    let valid = !digits.is_empty()
        && digits != "."
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.matches('.').count() <= 1;
    match text.parse::<f64>() {
        Ok(v) if valid => Ok(v),
        _ => Err(ParseError::new(format!("invalid NFS age {text:?}"))),
    }
}

fn parse_transport(fields: &[&str], version: &str) -> Result<Transport, ParseError> {
    let (protocol, rest) = fields
        .split_first()
        .ok_or_else(|| bad("incomplete NFS transport stats", fields))?;
    let ok = match (version, *protocol) {
        ("1.0", "tcp") => rest.len() == 10,
        ("1.0", "udp") => rest.len() == 7,
        ("1.1", "tcp") => rest.len() == 13,
        ("1.1", "udp") => rest.len() == 10,
        ("1.1", "rdma") => rest.len() >= 20,
        ("1.0" | "1.1", _) => {
            return Err(ParseError::new(format!(
                "invalid NFS protocol {protocol:?} in stats {version} statement"
            )))
        }
        _ => {
            return Err(ParseError::new(format!(
                "unrecognized NFS transport stats version: {version:?}"
            )))
        }
    };
    if !ok {
        return Err(bad("invalid NFS transport stats statement", fields));
    }
    let mut v = Vec::with_capacity(rest.len());
    for f in rest {
        v.push(
            f.parse::<u64>()
                .map_err(|_| bad("invalid NFS transport stats statement", fields))?,
        );
    }
    // Lay the values out as TCP's: port, bind, connect, connect idle, idle, sends, receives,
    // bad xids, active, backlog, max slots, sending queue, pending queue.
    let mut ns = [0u64; 13];
    match *protocol {
        "udp" => {
            ns[..2].copy_from_slice(&v[..2]);
            for (i, x) in v[2..].iter().enumerate() {
                ns[5 + i] = *x;
            }
        }
        "rdma" => ns[..10].copy_from_slice(&v[..10]),
        _ => {
            for (i, x) in v.iter().enumerate() {
                ns[i] = *x;
            }
        }
    }
    Ok(Transport {
        protocol: protocol.to_string(),
        bind: ns[1],
        connect: ns[2],
        idle_time_seconds: ns[4],
        sends: ns[5],
        receives: ns[6],
        bad_xids: ns[7],
        backlog: ns[9],
        max_slots: ns[10],
        sending_queue: ns[11],
        pending_queue: ns[12],
    })
}

fn parse_operation(fields: &[&str]) -> Result<Operation, ParseError> {
    if fields.len() < 9 {
        return Err(bad("invalid NFS per-operations stats", fields));
    }
    let mut ns = Vec::with_capacity(fields.len() - 1);
    for f in &fields[1..] {
        ns.push(
            f.parse::<u64>()
                .map_err(|_| bad("invalid NFS per-operations stats", fields))?,
        );
    }
    let mut values = [0u64; 8];
    values.copy_from_slice(&ns[..8]);
    Ok(Operation {
        name: fields[0].strip_suffix(':').unwrap_or(fields[0]).to_string(),
        values,
        errors: ns.get(8).copied().unwrap_or(0),
    })
}

/// Parses `/proc/<pid>/mountstats`. Every `device` line must have procfs' shape; a line with
/// statistics must be NFS (`nfs` or `nfs4`), and each statistics line it knows (`age:`,
/// `bytes:`, `events:`, `xprt:`, per-op lines) must be well formed, or the whole file fails.
pub fn parse(bytes: &[u8]) -> Result<Vec<Mount>, ParseError> {
    let text = lossy(bytes);
    let mut lines = text.lines();
    let mut mounts = Vec::new();
    while let Some(line) = lines.next() {
        let ss: Vec<&str> = line.split_whitespace().collect();
        if ss.first() != Some(&"device") {
            continue;
        }
        let shape = [
            (0, "device"),
            (2, "mounted"),
            (3, "on"),
            (5, "with"),
            (6, "fstype"),
        ];
        if ss.len() < 8 || shape.iter().any(|(i, w)| ss[*i] != *w) {
            return Err(bad("invalid device", &ss));
        }
        let mut mount = Mount {
            device: ss[1].to_string(),
            mount: ss[4].to_string(),
            fs_type: ss[7].to_string(),
            stats: None,
        };
        if ss.len() > 8 {
            if mount.fs_type != "nfs" && mount.fs_type != "nfs4" {
                return Err(ParseError::new(format!(
                    "cannot parse MountStats for {:?}",
                    mount.fs_type
                )));
            }
            let version = ss[8].strip_prefix("statvers=").unwrap_or(ss[8]);
            mount.stats = Some(parse_nfs(&mut lines, version)?);
        }
        mounts.push(mount);
    }
    Ok(mounts)
}

fn parse_nfs<'a>(
    lines: &mut impl Iterator<Item = &'a str>,
    version: &str,
) -> Result<NfsStats, ParseError> {
    let mut stats = NfsStats {
        stat_version: version.to_string(),
        ..Default::default()
    };
    for line in lines.by_ref() {
        let ss: Vec<&str> = line.split_whitespace().collect();
        let Some(first) = ss.first() else { break };
        match *first {
            "age:" => {
                let v = ss.get(1).ok_or_else(|| bad("incomplete NFS stats", &ss))?;
                stats.age_seconds = parse_age(v)?;
            }
            "bytes:" => stats.bytes = numbers(&ss[1..], "invalid NFS bytes stats")?,
            "events:" => stats.events = numbers(&ss[1..], "invalid NFS events stats")?,
            "xprt:" => {
                if ss.len() < 3 {
                    return Err(bad("incomplete NFS transport stats", &ss));
                }
                stats.transports.push(parse_transport(&ss[1..], version)?);
            }
            "per-op" => break,
            _ => {}
        }
    }
    for line in lines.by_ref() {
        let ss: Vec<&str> = line.split_whitespace().collect();
        if ss.is_empty() {
            break;
        }
        stats.operations.push(parse_operation(&ss)?);
    }
    Ok(stats)
}

/// Mantissa range of a float64: node_exporter wraps large counters at 2^53.
const MANTISSA: u64 = 1 << 53;

/// Label values of one NFS mount: export, protocol, mount address.
type Key<'a> = (&'a str, &'a str, &'a str);

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let mounts = parse_file(&settings.roots.proc("self/mountstats"), parse)
        .map_err(|e| CollectError::Other(format!("failed to parse mountstats: {e}")))?;
    let infos = parse_file(&settings.roots.proc("self/mountinfo"), parse_mountinfo)
        .map_err(|e| CollectError::Other(format!("failed to parse mountinfo: {e}")))?;
    let mut seen_devices: HashSet<Key> = HashSet::new();
    let mut seen_mountpoints: HashSet<(Key, &str)> = HashSet::new();
    let mut info_rows = Vec::new();
    let mut stat_rows = Vec::new();
    for (idx, mount) in mounts.iter().enumerate() {
        let Some(stats) = &mount.stats else { continue };
        // The entries of mountstats and mountinfo come in the same order.
        let addr = infos
            .get(idx)
            .map(|m| super_option(&m.super_options, "addr"))
            .unwrap_or("");
        for transport in &stats.transports {
            let key = (mount.device.as_str(), transport.protocol.as_str(), addr);
            if seen_mountpoints.insert((key, mount.mount.as_str())) {
                info_rows.push((key, mount.mount.as_str()));
            }
            if !seen_devices.insert(key) {
                break;
            }
            stat_rows.push((key, stats));
        }
    }
    sink.gauge(
        "node_mountstats_nfs_mountpoint_info",
        "Info metric for an NFS mountpoint.",
    );
    for ((export, protocol, addr), mountpoint) in &info_rows {
        sink.sample(
            &[
                ("export", export),
                ("protocol", protocol),
                ("mountaddr", addr),
                ("mountpoint", mountpoint),
            ],
            1.0,
        );
    }
    emit_stats(sink, &stat_rows);
    Ok(())
}

/// The value of `key` in a comma-separated option list (procfs' `mountOptionsParser`: the
/// text between the first and second `=`).
fn super_option<'a>(options: &'a str, key: &str) -> &'a str {
    options
        .split(',')
        .find_map(|opt| {
            let mut parts = opt.split('=');
            (parts.next() == Some(key)).then(|| parts.next().unwrap_or(""))
        })
        .unwrap_or("")
}

type MountRow<'a> = (Key<'a>, &'a NfsStats);

/// The export, protocol and mountaddr labels of a mount.
fn mount_labels<'a>((e, p, a): &Key<'a>) -> [(&'static str, &'a str); 3] {
    [("export", e), ("protocol", p), ("mountaddr", a)]
}

fn emit_stats(sink: &mut MetricSink, rows: &[MountRow]) {
    sink.counter(
        "node_mountstats_nfs_age_seconds_total",
        "The age of the NFS mount in seconds.",
    );
    for (key, s) in rows {
        sink.sample(&mount_labels(key), s.age_seconds);
    }
    const BYTES: [(&str, &str); 8] = [
        (
            "read_bytes_total",
            "Number of bytes read using the read() syscall.",
        ),
        (
            "write_bytes_total",
            "Number of bytes written using the write() syscall.",
        ),
        (
            "direct_read_bytes_total",
            "Number of bytes read using the read() syscall in O_DIRECT mode.",
        ),
        (
            "direct_write_bytes_total",
            "Number of bytes written using the write() syscall in O_DIRECT mode.",
        ),
        (
            "total_read_bytes_total",
            "Number of bytes read from the NFS server, in total.",
        ),
        (
            "total_write_bytes_total",
            "Number of bytes written to the NFS server, in total.",
        ),
        (
            "read_pages_total",
            "Number of pages read directly via mmap()'d files.",
        ),
        (
            "write_pages_total",
            "Number of pages written directly via mmap()'d files.",
        ),
    ];
    for (i, (suffix, help)) in BYTES.iter().enumerate() {
        sink.counter(&format!("node_mountstats_nfs_{suffix}"), help);
        for (key, s) in rows {
            sink.sample(&mount_labels(key), s.bytes[i] as f64);
        }
    }
    emit_transports(sink, rows);
    emit_operations(sink, rows);
    // The events node_exporter exports, by their index in the `events:` line (18,
    // congestion wait, is left out).
    const EVENTS: [(usize, &str, &str); 26] = [
        (0, "inode_revalidate_total", "Number of times cached inode attributes are re-validated from the server."),
        (1, "dnode_revalidate_total", "Number of times cached dentry nodes are re-validated from the server."),
        (2, "data_invalidate_total", "Number of times an inode cache is cleared."),
        (3, "attribute_invalidate_total", "Number of times cached inode attributes are invalidated."),
        (4, "vfs_open_total", "Number of times cached inode attributes are invalidated."),
        (5, "vfs_lookup_total", "Number of times a directory lookup has occurred."),
        (6, "vfs_access_total", "Number of times permissions have been checked."),
        (7, "vfs_update_page_total", "Number of updates (and potential writes) to pages."),
        (8, "vfs_read_page_total", "Number of pages read directly via mmap()'d files."),
        (9, "vfs_read_pages_total", "Number of times a group of pages have been read."),
        (10, "vfs_write_page_total", "Number of pages written directly via mmap()'d files."),
        (11, "vfs_write_pages_total", "Number of times a group of pages have been written."),
        (12, "vfs_getdents_total", "Number of times directory entries have been read with getdents()."),
        (13, "vfs_setattr_total", "Number of times directory entries have been read with getdents()."),
        (14, "vfs_flush_total", "Number of pending writes that have been forcefully flushed to the server."),
        (15, "vfs_fsync_total", "Number of times fsync() has been called on directories and files."),
        (16, "vfs_lock_total", "Number of times locking has been attempted on a file."),
        (17, "vfs_file_release_total", "Number of times files have been closed and released."),
        (19, "truncation_total", "Number of times files have been truncated."),
        (20, "write_extension_total", "Number of times a file has been grown due to writes beyond its existing end."),
        (21, "silly_rename_total", "Number of times a file was removed while still open by another process."),
        (22, "short_read_total", "Number of times the NFS server gave less data than expected while reading."),
        (23, "short_write_total", "Number of times the NFS server wrote less data than expected while writing."),
        (24, "jukebox_delay_total", "Number of times the NFS server indicated EJUKEBOX; retrieving data from offline storage."),
        (25, "pnfs_read_total", "Number of NFS v4.1+ pNFS reads."),
        (26, "pnfs_write_total", "Number of NFS v4.1+ pNFS writes."),
    ];
    for (i, suffix, help) in EVENTS {
        sink.counter(&format!("node_mountstats_nfs_event_{suffix}"), help);
        for (key, s) in rows {
            sink.sample(&mount_labels(key), s.events[i] as f64);
        }
    }
}

fn emit_transports(sink: &mut MetricSink, rows: &[MountRow]) {
    type Field = fn(&Transport) -> u64;
    let families: [(&str, &str, bool, Field); 10] = [
        ("transport_bind_total", "Number of times the client has had to establish a connection from scratch to the NFS server.", true, |t| t.bind),
        ("transport_connect_total", "Number of times the client has made a TCP connection to the NFS server.", true, |t| t.connect),
        ("transport_idle_time_seconds", "Duration since the NFS mount last saw any RPC traffic, in seconds.", false, |t| t.idle_time_seconds % MANTISSA),
        ("transport_sends_total", "Number of RPC requests for this mount sent to the NFS server.", true, |t| t.sends),
        ("transport_receives_total", "Number of RPC responses for this mount received from the NFS server.", true, |t| t.receives),
        ("transport_bad_transaction_ids_total", "Number of times the NFS server sent a response with a transaction ID unknown to this client.", true, |t| t.bad_xids),
        ("transport_backlog_queue_total", "Total number of items added to the RPC backlog queue.", true, |t| t.backlog),
        ("transport_maximum_rpc_slots", "Maximum number of simultaneously active RPC requests ever used.", false, |t| t.max_slots),
        ("transport_sending_queue_total", "Total number of items added to the RPC transmission sending queue.", true, |t| t.sending_queue),
        ("transport_pending_queue_total", "Total number of items added to the RPC transmission pending queue.", true, |t| t.pending_queue),
    ];
    for (suffix, help, counter, value) in families {
        let name = format!("node_mountstats_nfs_{suffix}");
        if counter {
            sink.counter(&name, help);
        } else {
            sink.gauge(&name, help);
        }
        for ((e, p, a), s) in rows {
            for (i, t) in s.transports.iter().enumerate() {
                let index = i.to_string();
                sink.sample(
                    &[
                        ("export", e),
                        ("protocol", p),
                        ("mountaddr", a),
                        ("transport", &index),
                    ],
                    value(t) as f64,
                );
            }
        }
    }
}

fn emit_operations(sink: &mut MetricSink, rows: &[MountRow]) {
    type Field = fn(&Operation) -> f64;
    let families: [(&str, &str, Field); 9] = [
        ("operations_requests_total", "Number of requests performed for a given operation.", |o| o.values[0] as f64),
        ("operations_transmissions_total", "Number of times an actual RPC request has been transmitted for a given operation.", |o| o.values[1] as f64),
        ("operations_major_timeouts_total", "Number of times a request has had a major timeout for a given operation.", |o| o.values[2] as f64),
        ("operations_sent_bytes_total", "Number of bytes sent for a given operation, including RPC headers and payload.", |o| o.values[3] as f64),
        ("operations_received_bytes_total", "Number of bytes received for a given operation, including RPC headers and payload.", |o| o.values[4] as f64),
        ("operations_queue_time_seconds_total", "Duration all requests spent queued for transmission for a given operation before they were sent, in seconds.", |o| (o.values[5] % MANTISSA) as f64 / 1000.0),
        ("operations_response_time_seconds_total", "Duration all requests took to get a reply back after a request for a given operation was transmitted, in seconds.", |o| (o.values[6] % MANTISSA) as f64 / 1000.0),
        ("operations_request_time_seconds_total", "Duration all requests took from when a request was enqueued to when it was completely handled for a given operation, in seconds.", |o| (o.values[7] % MANTISSA) as f64 / 1000.0),
        ("operations_errors_total", "Number of errors for a given operation", |o| (o.errors % MANTISSA) as f64),
    ];
    for (suffix, help, value) in families {
        sink.counter(&format!("node_mountstats_nfs_{suffix}"), help);
        for ((e, p, a), s) in rows {
            for op in &s.operations {
                sink.sample(
                    &[
                        ("export", e),
                        ("protocol", p),
                        ("mountaddr", a),
                        ("operation", &op.name),
                    ],
                    value(op),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: &str = "device rootfs mounted on / with fstype rootfs
device sysfs mounted on /sys with fstype sysfs
device 192.168.1.1:/srv/test mounted on /mnt/nfs/test with fstype nfs4 statvers=1.1
\topts:\trw,vers=4.0,rsize=1048576,wsize=1048576,namlen=255,acregmin=3,acregmax=60,acdirmin=30,acdirmax=60,hard,proto=tcp,port=0,timeo=600,retrans=2,sec=sys,clientaddr=192.168.1.5,local_lock=none
\tage:\t13968
\tcaps:\tcaps=0xfff7,wtmult=512,dtsize=32768,bsize=0,namlen=255
\tnfsv4:\tbm0=0xfdffafff,bm1=0xf9be3e,bm2=0x0,acl=0x0,pnfs=not configured
\tsec:\tflavor=1,pseudoflavor=1
\tevents:\t52 226 0 0 1 13 398 0 0 331 0 47 0 0 77 0 0 77 0 0 0 0 0 0 0 0 0
\tbytes:\t1207640230 0 0 0 1210214218 0 295483 0
\tRPC iostats version: 1.0  p/v: 100003/4 (nfs)
\txprt:\ttcp 832 0 1 0 11 6428 6428 0 12154 0 24 26 5726
\tper-op statistics
\t        NULL: 0 0 0 0 0 0 0 0
\t        READ: 1298 1298 0 207680 1210292152 6 79386 79407
\t       WRITE: 0 0 0 0 0 0 0 0
\t      ACCESS: 2927395007 2927394995 0 526931094212 362996810236 18446743919241604546 1667369447 1953587717 3

";

    #[test]
    fn parses_an_nfs4_mount() {
        let mounts = parse(V4.as_bytes()).unwrap();
        assert_eq!(mounts.len(), 3);
        assert!(mounts[0].stats.is_none());
        let m = &mounts[2];
        assert_eq!(
            (m.device.as_str(), m.mount.as_str(), m.fs_type.as_str()),
            ("192.168.1.1:/srv/test", "/mnt/nfs/test", "nfs4")
        );
        let s = m.stats.as_ref().unwrap();
        assert_eq!(s.stat_version, "1.1");
        assert_eq!(s.age_seconds, 13968.0);
        assert_eq!(s.bytes[0], 1207640230);
        assert_eq!(s.events[6], 398);
        assert_eq!(
            s.transports,
            vec![Transport {
                protocol: "tcp".into(),
                bind: 0,
                connect: 1,
                idle_time_seconds: 11,
                sends: 6428,
                receives: 6428,
                bad_xids: 0,
                backlog: 0,
                max_slots: 24,
                sending_queue: 26,
                pending_queue: 5726,
            }]
        );
        assert_eq!(s.operations.len(), 4);
        assert_eq!(s.operations[1].name, "READ");
        assert_eq!(s.operations[1].errors, 0, "the ninth field is optional");
        assert_eq!(s.operations[3].errors, 3);
    }

    #[test]
    fn udp_and_version_1_0_transports_are_normalised() {
        let udp = parse_transport(
            &[
                "udp", "832", "0", "6428", "6428", "0", "12154", "3", "24", "26", "5726",
            ],
            "1.1",
        )
        .unwrap();
        assert_eq!(
            (
                udp.bind,
                udp.connect,
                udp.idle_time_seconds,
                udp.sends,
                udp.backlog,
                udp.pending_queue
            ),
            (0, 0, 0, 6428, 3, 5726)
        );
        let old = parse_transport(
            &[
                "tcp", "832", "0", "1", "0", "11", "6428", "6428", "0", "12154", "0",
            ],
            "1.0",
        )
        .unwrap();
        assert_eq!((old.sends, old.max_slots), (6428, 0));
        assert!(parse_transport(&["tcp", "1"], "1.1").is_err());
        assert!(parse_transport(&["sctp", "1"], "1.1").is_err());
        assert!(parse_transport(&["tcp", "1"], "2.0").is_err());
    }

    #[test]
    fn empty_has_no_mounts() {
        assert_eq!(parse(b"").unwrap(), vec![]);
    }

    #[test]
    fn rejects_truncated_and_garbage() {
        // A device line cut short.
        assert!(parse(b"device 1.2.3.4:/x mounted on\n").is_err());
        // Statistics on a file system that is not NFS.
        assert!(parse(b"device /dev/sda1 mounted on / with fstype ext4 statvers=1.1\n").is_err());
        // A short bytes line.
        assert!(parse(
            b"device a:/x mounted on /x with fstype nfs statvers=1.1\n\tbytes:\t1 2 3\n"
        )
        .is_err());
        // A per-op line that is not numeric.
        assert!(parse(b"device a:/x mounted on /x with fstype nfs statvers=1.1\n\tper-op statistics\n\tNULL: a b c d e f g h\n").is_err());
        assert!(
            parse(b"device a:/x mounted on /x with fstype nfs statvers=1.1\n\tage:\tsoon\n")
                .is_err()
        );
    }

    #[test]
    fn mount_without_optional_lines_has_zero_statistics() {
        let mounts = parse(b"device a:/x mounted on /x with fstype nfs statvers=1.1\n\n").unwrap();
        let s = mounts[0].stats.as_ref().unwrap();
        assert!(s.transports.is_empty() && s.operations.is_empty());
        assert_eq!(s.age_seconds, 0.0);
    }

    #[test]
    fn finds_the_addr_super_option() {
        assert_eq!(
            super_option("rw,vers=4.0,addr=192.168.1.1", "addr"),
            "192.168.1.1"
        );
        assert_eq!(super_option("rw,vers=4.0", "addr"), "");
        assert_eq!(super_option("addr", "addr"), "");
    }

    #[test]
    fn missing_file_fails_the_collector() {
        let (sink, result) = crate::testing::collect_on_empty_root(INFO).unwrap();
        assert!(result.is_err());
        assert!(sink.is_empty());
    }
}
