//! infiniband: InfiniBand HCA ports from `/sys/class/infiniband/<device>/ports/<port>`
//! (node_exporter's `infiniband_linux.go` over procfs' `class_infiniband.go`): port state and
//! rate, the `counters` (and pre-4.5 `counters_ext`, exported as `legacy_*`) and the mlx5-style
//! `hw_counters`.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use crate::collector::Settings;
use crate::error::{CollectError, IfPresent, ParseError};
use crate::expfmt::{MetricSink, MetricType};
use crate::stateless_collector;
use crate::util::{
    list_dir, lossy, no_data_if, parse_file, parse_u64_prefixed, read, read_trimmed, MISSING,
};

stateless_collector!(
    "infiniband",
    true,
    "/sys/class/infiniband/*/ports/*",
    collect
);

/// A counter file, the metric it becomes (without `node_infiniband_`), and its HELP.
type CounterSpec = (&'static str, &'static str, &'static str);

/// `ports/<port>/counters/*`.
const COUNTERS: &[CounterSpec] = &[
    ("excessive_buffer_overrun_errors", "excessive_buffer_overrun_errors_total", "Number of times that OverrunErrors consecutive flow control update periods occurred, each having at least one overrun error."),
    ("link_downed", "link_downed_total", "Number of times the link failed to recover from an error state and went down"),
    ("link_error_recovery", "link_error_recovery_total", "Number of times the link successfully recovered from an error state"),
    ("local_link_integrity_errors", "local_link_integrity_errors_total", "Number of times that the count of local physical errors exceeded the threshold specified by LocalPhyErrors."),
    ("multicast_rcv_packets", "multicast_packets_received_total", "Number of multicast packets received (including errors)"),
    ("multicast_xmit_packets", "multicast_packets_transmitted_total", "Number of multicast packets transmitted (including errors)"),
    ("port_rcv_constraint_errors", "port_constraint_errors_received_total", "Number of packets received on the switch physical port that are discarded"),
    ("port_xmit_constraint_errors", "port_constraint_errors_transmitted_total", "Number of packets not transmitted from the switch physical port"),
    ("port_rcv_data", "port_data_received_bytes_total", "Number of data octets received on all links"),
    ("port_xmit_data", "port_data_transmitted_bytes_total", "Number of data octets transmitted on all links"),
    ("port_rcv_discards", "port_discards_received_total", "Number of inbound packets discarded by the port because the port is down or congested"),
    ("port_xmit_discards", "port_discards_transmitted_total", "Number of outbound packets discarded by the port because the port is down or congested"),
    ("port_rcv_errors", "port_errors_received_total", "Number of packets containing an error that were received on this port"),
    ("port_rcv_packets", "port_packets_received_total", "Number of packets received on all VLs by this port (including errors)"),
    ("port_xmit_packets", "port_packets_transmitted_total", "Number of packets transmitted on all VLs from this port (including errors)"),
    ("port_xmit_wait", "port_transmit_wait_total", "Number of ticks during which the port had data to transmit but no data was sent during the entire tick"),
    ("unicast_rcv_packets", "unicast_packets_received_total", "Number of unicast packets received (including errors)"),
    ("unicast_xmit_packets", "unicast_packets_transmitted_total", "Number of unicast packets transmitted (including errors)"),
    ("port_rcv_remote_physical_errors", "port_receive_remote_physical_errors_total", "Number of packets marked with the EBP (End of Bad Packet) delimiter received on the port."),
    ("port_rcv_switch_relay_errors", "port_receive_switch_relay_errors_total", "Number of packets that could not be forwarded by the switch."),
    ("symbol_error", "symbol_error_total", "Number of minor link errors detected on one or more physical lanes."),
    ("VL15_dropped", "vl15_dropped_total", "Number of incoming VL15 packets dropped due to resource limitations."),
];

/// `ports/<port>/counters_ext/*` (kernels before 4.5).
const LEGACY_COUNTERS: &[CounterSpec] = &[
    (
        "port_multicast_rcv_packets",
        "legacy_multicast_packets_received_total",
        "Number of multicast packets received",
    ),
    (
        "port_multicast_xmit_packets",
        "legacy_multicast_packets_transmitted_total",
        "Number of multicast packets transmitted",
    ),
    (
        "port_rcv_data_64",
        "legacy_data_received_bytes_total",
        "Number of data octets received on all links",
    ),
    (
        "port_rcv_packets_64",
        "legacy_packets_received_total",
        "Number of data packets received on all links",
    ),
    (
        "port_unicast_rcv_packets",
        "legacy_unicast_packets_received_total",
        "Number of unicast packets received",
    ),
    (
        "port_unicast_xmit_packets",
        "legacy_unicast_packets_transmitted_total",
        "Number of unicast packets transmitted",
    ),
    (
        "port_xmit_data_64",
        "legacy_data_transmitted_bytes_total",
        "Number of data octets transmitted on all links",
    ),
    (
        "port_xmit_packets_64",
        "legacy_packets_transmitted_total",
        "Number of data packets received on all links",
    ),
];

/// `ports/<port>/hw_counters/*` (all counters except `lifespan`, which is a gauge).
const HW_COUNTERS: &[CounterSpec] = &[
    ("duplicate_request", "duplicate_requests_packets_total", "The number of received packets. A duplicate request is a request that had been previously executed."),
    ("implied_nak_seq_err", "implied_nak_seq_errors_total", "The number of time the requested decided an ACK. with a PSN larger than the expected PSN for an RDMA read or response."),
    ("local_ack_timeout_err", "local_ack_timeout_errors_total", "The number of times QP's ack timer expired for RC, XRC, DCT QPs at the sender side. The QP retry limit was not exceed, therefore it is still recoverable error."),
    ("np_cnp_sent", "np_cnp_packets_sent_total", "The number of CNP packets sent by the Notification Point when it noticed congestion experienced in the RoCEv2 IP header (ECN bits). The counters was added in MLNX_OFED 4.1"),
    ("np_ecn_marked_roce_packets", "np_ecn_marked_roce_packets_received_total", "The number of RoCEv2 packets received by the notification point which were marked for experiencing the congestion (ECN bits where '11' on the ingress RoCE traffic) . The counters was added in MLNX_OFED 4.1"),
    ("out_of_buffer", "out_of_buffer_drops_total", "The number of drops occurred due to lack of WQE for the associated QPs."),
    ("out_of_sequence", "out_of_sequence_packets_received_total", "The number of out of sequence packets received."),
    ("packet_seq_err", "packet_sequence_errors_total", "The number of received NAK sequence error packets. The QP retry limit was not exceeded."),
    ("req_cqe_error", "req_cqes_errors_total", "The number of times requester detected CQEs completed with errors. The counters was added in MLNX_OFED 4.1"),
    ("req_cqe_flush_error", "req_cqes_flush_errors_total", "The number of times requester detected CQEs completed with flushed errors. The counters was added in MLNX_OFED 4.1"),
    ("req_remote_access_errors", "req_remote_access_errors_total", "The number of times requester detected remote access errors. The counters was added in MLNX_OFED 4.1"),
    ("req_remote_invalid_request", "req_remote_invalid_request_errors_total", "The number of times requester detected remote invalid request errors. The counters was added in MLNX_OFED 4.1"),
    ("resp_cqe_error", "resp_cqes_errors_total", "The number of times responder detected CQEs completed with errors. The counters was added in MLNX_OFED 4.1"),
    ("resp_cqe_flush_error", "resp_cqes_flush_errors_total", "The number of times responder detected CQEs completed with flushed errors. The counters was added in MLNX_OFED 4.1"),
    ("resp_local_length_error", "resp_local_length_errors_total", "The number of times responder detected local length errors. The counters was added in MLNX_OFED 4.1"),
    ("resp_remote_access_errors", "resp_remote_access_errors_total", "The number of times responder detected remote access errors. The counters was added in MLNX_OFED 4.1"),
    ("rnr_nak_retry_err", "rnr_nak_retry_packets_received_total", "The number of received RNR NAK packets. The QP retry limit was not exceeded."),
    ("roce_adp_retrans", "roce_adp_retransmits_total", "The number of adaptive retransmissions for RoCE traffic. The counter was added in MLNX_OFED rev 5.0-1.0.0.0 and kernel v5.6.0"),
    ("roce_adp_retrans_to", "roce_adp_retransmits_timeout_total", "The number of times RoCE traffic reached timeout due to adaptive retransmission. The counter was added in MLNX_OFED rev 5.0-1.0.0.0 and kernel v5.6.0"),
    // node_exporter maps roce_slow_restart to *_used_total and roce_slow_restart_trans to
    // roce_slow_restart_total; kept as it is.
    ("roce_slow_restart", "roce_slow_restart_used_total", "The number of times RoCE slow restart was used. The counter was added in MLNX_OFED rev 5.0-1.0.0.0 and kernel v5.6.0"),
    ("roce_slow_restart_cnps", "roce_slow_restart_cnps_total", "The number of times RoCE slow restart generated CNP packets. The counter was added in MLNX_OFED rev 5.0-1.0.0.0 and kernel v5.6.0"),
    ("roce_slow_restart_trans", "roce_slow_restart_total", "The number of times RoCE slow restart changed state to slow restart. The counter was added in MLNX_OFED rev 5.0-1.0.0.0 and kernel v5.6.0"),
    ("rp_cnp_handled", "rp_cnp_packets_handled_total", "The number of CNP packets handled by the Reaction Point HCA to throttle the transmission rate. The counters was added in MLNX_OFED 4.1"),
    ("rp_cnp_ignored", "rp_cnp_ignored_packets_received_total", "The number of CNP packets received and ignored by the Reaction Point HCA. This counter should not raise if RoCE Congestion Control was enabled in the network. If this counter raise, verify that ECN was enabled on the adapter."),
    ("rx_atomic_requests", "rx_atomic_requests_total", "The number of received ATOMIC request for the associated QPs."),
    ("rx_dct_connect", "rx_dct_connect_requests_total", "The number of received connection requests for the associated DCTs."),
    ("rx_read_requests", "rx_read_requests_total", "The number of received READ requests for the associated QPs."),
    ("rx_write_requests", "rx_write_requests_total", "The number of received WRITE requests for the associated QPs."),
    ("rx_icrc_encapsulated", "rx_icrc_encapsulated_errors_total", "The number of RoCE packets with ICRC errors. This counter was added in MLNX_OFED 4.4 and kernel 4.19"),
];

/// Data counters the kernel reports in units of 4 octets (per lane); procfs multiplies them.
const QUAD_OCTET_FILES: &[&str] = &[
    "port_rcv_data",
    "port_xmit_data",
    "port_rcv_data_64",
    "port_xmit_data_64",
];

/// Parses a port `state` or `phys_state` file, `"<id>: <NAME>"`, into the numeric id.
pub fn parse_state(bytes: &[u8]) -> Result<u32, ParseError> {
    let text = lossy(bytes);
    let parts: Vec<&str> = text.split(':').collect();
    let [id, _name] = parts.as_slice() else {
        return Err(ParseError::new(format!(
            "failed to split {text:?} into 'ID: NAME'"
        )));
    };
    id.trim()
        .parse::<u32>()
        .map_err(|_| ParseError::new(format!("failed to convert {:?} into uint", id.trim())))
}

/// Parses a port `rate` file (`"100 Gb/sec (4X EDR)"`) into bytes per second, with procfs'
/// arithmetic: the Gb/s figure is read as a 32-bit float and multiplied by 125,000,000.
pub fn parse_rate(bytes: &[u8]) -> Result<u64, ParseError> {
    let text = lossy(bytes);
    let Some((gbps, _)) = text.split_once(' ') else {
        return Err(ParseError::new(format!("failed to split {text:?}")));
    };
    let value: f32 = gbps
        .trim()
        .parse()
        .map_err(|_| ParseError::new(format!("failed to convert {gbps:?} into uint")))?;
    Ok((f64::from(value) * 125_000_000.0) as u64)
}

/// Parses one counter file. `None` is the kernel's `N/A (no PMA)` for counters the port
/// management agent does not provide (node_exporter#966).
pub fn parse_counter(bytes: &[u8]) -> Result<Option<u64>, ParseError> {
    let text = lossy(bytes);
    match parse_u64_prefixed(text.trim()) {
        Ok(v) => Ok(Some(v)),
        Err(_) if text.contains("N/A (no PMA)") => Ok(None),
        Err(e) => Err(e),
    }
}

/// One port's values, in metric-name order as they will be emitted.
struct Port {
    number: String,
    state_id: u32,
    phys_state_id: u32,
    rate: u64,
    counters: Vec<(&'static CounterSpec, u64)>,
    lifespan_ms: Option<u64>,
}

struct Device {
    name: String,
    firmware_version: String,
    board_id: String,
    hca_type: String,
    ports: Vec<Port>,
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let class = settings.roots.sys("class/infiniband");
    // procfs reads every device before node_exporter emits anything; any missing file or
    // directory on the way is reported as "no InfiniBand" (ErrNoData).
    let devices = read_devices(&class).map_err(no_data_if(MISSING))?;
    for device in &devices {
        emit_device(device, sink);
    }
    Ok(())
}

fn read_devices(class: &Path) -> Result<Vec<Device>, CollectError> {
    list_dir(class)?
        .into_iter()
        .map(|name| read_device(&class.join(&name), name))
        .collect()
}

fn read_device(dir: &Path, name: String) -> Result<Device, CollectError> {
    let firmware_version = read_trimmed(&dir.join("fw_ver"))?;
    // Some drivers do not expose these: absent is empty, other errors fail.
    let board_id = read_trimmed(&dir.join("board_id"))
        .if_present()?
        .unwrap_or_default();
    let hca_type = read_trimmed(&dir.join("hca_type"))
        .if_present()?
        .unwrap_or_default();
    let ports_dir = dir.join("ports");
    let ports = list_dir(&ports_dir)?
        .into_iter()
        .map(|port| read_port(&ports_dir.join(&port), &port))
        .collect::<Result<_, _>>()?;
    Ok(Device {
        name,
        firmware_version,
        board_id,
        hca_type,
        ports,
    })
}

fn read_port(dir: &Path, number: &str) -> Result<Port, CollectError> {
    let number = number
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| number.parse::<u32>().ok())
        .flatten()
        .ok_or_else(|| CollectError::Other(format!("failed to convert {number} into uint")))?
        .to_string();
    // link_layer is required by procfs although node_exporter exports nothing from it.
    read(&dir.join("link_layer"))?;
    let state_id = parse_file(&dir.join("state"), parse_state)?;
    let phys_state_id = parse_file(&dir.join("phys_state"), parse_state)?;
    let rate = parse_file(&dir.join("rate"), parse_rate)?;
    let mut counters = Vec::new();
    let mut lifespan_ms = None;
    if dir.join("counters").exists() {
        read_counter_dir(&dir.join("counters"), COUNTERS, true, &mut counters)?;
        match read_counter_dir(
            &dir.join("counters_ext"),
            LEGACY_COUNTERS,
            false,
            &mut counters,
        ) {
            Err(CollectError::NoData(_) | CollectError::Missing(_)) => {}
            other => other?,
        }
    }
    if dir.join("hw_counters").exists() {
        read_counter_dir(&dir.join("hw_counters"), HW_COUNTERS, false, &mut counters)?;
        lifespan_ms = read_counter(&dir.join("hw_counters/lifespan"), false)?;
    }
    Ok(Port {
        number,
        state_id,
        phys_state_id,
        rate,
        counters,
        lifespan_ms,
    })
}

/// Reads the known counters of one counter directory; a missing directory is `NoData`.
fn read_counter_dir(
    dir: &Path,
    specs: &'static [CounterSpec],
    skip_einval: bool,
    out: &mut Vec<(&'static CounterSpec, u64)>,
) -> Result<(), CollectError> {
    for name in list_dir(dir)? {
        let Some(spec) = specs.iter().find(|s| s.0 == name) else {
            continue;
        };
        let path = dir.join(&name);
        if !fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        if let Some(mut value) = read_counter(&path, skip_einval)? {
            if QUAD_OCTET_FILES.contains(&spec.0) {
                value = value.wrapping_mul(4);
            }
            out.push((spec, value));
        }
    }
    Ok(())
}

/// Reads one counter file, skipping it (`None`) when the kernel refuses the read as procfs
/// does (absent, permission, EOPNOTSUPP, and EINVAL in `counters/` only) or reports
/// `N/A (no PMA)`.
fn read_counter(path: &Path, skip_einval: bool) -> Result<Option<u64>, CollectError> {
    match read(path) {
        Ok(bytes) => parse_counter(&bytes).map_err(|e| CollectError::parse(path, e)),
        Err(CollectError::Io { source, .. }) if skippable(&source, skip_einval) => Ok(None),
        Err(e) => Err(e),
    }
}

fn skippable(err: &std::io::Error, skip_einval: bool) -> bool {
    matches!(
        err.kind(),
        ErrorKind::NotFound | ErrorKind::PermissionDenied
    ) || err.raw_os_error() == Some(libc::EOPNOTSUPP)
        || (skip_einval && err.raw_os_error() == Some(libc::EINVAL))
}

fn emit_device(device: &Device, sink: &mut MetricSink) {
    sink.gauge(
        "node_infiniband_info",
        "Non-numeric data from /sys/class/infiniband/<device>, value is always 1.",
    )
    .sample(
        &[
            ("device", &device.name),
            ("board_id", &device.board_id),
            ("firmware_version", &device.firmware_version),
            ("hca_type", &device.hca_type),
        ],
        1.0,
    );
    for port in &device.ports {
        let labels = [("device", device.name.as_str()), ("port", &port.number)];
        let gauge = |sink: &mut MetricSink, name: &str, help: &str, value: f64| {
            sink.family(&format!("node_infiniband_{name}"), help, MetricType::Gauge)
                .sample(&labels, value);
        };
        gauge(sink, "state_id", "State of the InfiniBand port (0: no change, 1: down, 2: init, 3: armed, 4: active, 5: act defer)", f64::from(port.state_id));
        gauge(sink, "physical_state_id", "Physical state of the InfiniBand port (0: no change, 1: sleep, 2: polling, 3: disable, 4: shift, 5: link up, 6: link error recover, 7: phytest)", f64::from(port.phys_state_id));
        gauge(
            sink,
            "rate_bytes_per_second",
            "Maximum signal transfer rate",
            port.rate as f64,
        );
        if let Some(ms) = port.lifespan_ms {
            // node_exporter divides in integers: whole seconds.
            gauge(sink, "lifespan_seconds", "The maximum period in ms which defines the aging of the counter reads. Two consecutive reads within this period might return the same values.", (ms / 1000) as f64);
        }
        for ((_, metric, help), value) in &port.counters {
            sink.counter(&format!("node_infiniband_{metric}"), help)
                .sample(&labels, *value as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_states() {
        assert_eq!(parse_state(b"4: ACTIVE\n").unwrap(), 4);
        assert_eq!(parse_state(b"5: LinkUp\n").unwrap(), 5);
        assert!(parse_state(b"").is_err());
        assert!(parse_state(b"ACTIVE").is_err());
        assert!(parse_state(b"x: ACTIVE").is_err());
        assert!(parse_state(b"4: A: B").is_err());
        assert!(parse_state(&[0xff, b':', b' ']).is_err());
    }

    #[test]
    fn parses_rates() {
        assert_eq!(
            parse_rate(b"100 Gb/sec (4X EDR)\n").unwrap(),
            12_500_000_000
        );
        assert_eq!(parse_rate(b"2.5 Gb/sec (1X SDR)\n").unwrap(), 312_500_000);
        assert_eq!(parse_rate(b"0 GB/sec\n").unwrap(), 0);
        assert!(parse_rate(b"100").is_err());
        assert!(parse_rate(b"").is_err());
        assert!(parse_rate(b"fast Gb/sec").is_err());
        assert!(parse_rate(&[0xff, b' ']).is_err());
    }

    #[test]
    fn parses_counters() {
        assert_eq!(parse_counter(b"1234\n").unwrap(), Some(1234));
        assert_eq!(parse_counter(b"0x10\n").unwrap(), Some(16));
        assert_eq!(parse_counter(b"N/A (no PMA)\n").unwrap(), None);
        assert!(parse_counter(b"").is_err());
        assert!(parse_counter(b"12 34").is_err());
        assert!(parse_counter(&[0xff]).is_err());
    }

    #[test]
    fn absent_subsystem_is_no_data() {
        assert!(crate::testing::run_on_empty_root(INFO)
            .unwrap_err()
            .is_no_data());
    }

    fn run_on(files: &[(&str, &str)]) -> Result<MetricSink, CollectError> {
        let base_tmp = tempfile::tempdir().unwrap();
        let base = base_tmp.path().to_path_buf();
        for (rel, content) in files {
            let path = base.join("sys/class/infiniband").join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        let settings = crate::collector::Settings::new(
            crate::roots::Roots::fixture(&base),
            crate::options::Options::default(),
        );
        let mut sink = MetricSink::new();
        collect(&settings, &mut sink).map(|()| sink)
    }

    #[test]
    fn missing_firmware_version_is_no_data_and_bad_counter_fails() {
        let port = [
            ("hca/ports/1/link_layer", "InfiniBand\n"),
            ("hca/ports/1/state", "4: ACTIVE\n"),
            ("hca/ports/1/phys_state", "5: LinkUp\n"),
            ("hca/ports/1/rate", "40 Gb/sec (4X QDR)\n"),
        ];
        assert!(run_on(&port).unwrap_err().is_no_data());
        let mut files = port.to_vec();
        files.push(("hca/fw_ver", "1.0\n"));
        assert_eq!(run_on(&files).unwrap().sample_count(), 4);
        files.push(("hca/ports/1/counters/link_downed", "many\n"));
        assert!(!run_on(&files).unwrap_err().is_no_data());
    }
}
