//! xfrm: IPsec transformation error counters (`node_xfrm_*_packets_total`) from
//! `/proc/net/xfrm_stat`, parsed as procfs' `NewXfrmStat`.

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::{MetricSink, MetricType};
use crate::stateless_collector;
use crate::util::{lossy, parse_file};

stateless_collector!("xfrm", false, "/proc/net/xfrm_stat", collect);

/// The kernel's counter names (in node_exporter's emission order), each with its metric
/// name suffix and help text.
const COUNTERS: [(&str, &str, &str); 28] = [
    (
        "XfrmInError",
        "in_error_packets_total",
        "All errors not matched by other",
    ),
    (
        "XfrmInBufferError",
        "in_buffer_error_packets_total",
        "No buffer is left",
    ),
    (
        "XfrmInHdrError",
        "in_hdr_error_packets_total",
        "Header error",
    ),
    (
        "XfrmInNoStates",
        "in_no_states_packets_total",
        "No state is found i.e. Either inbound SPI, address, or IPsec protocol at SA is wrong",
    ),
    (
        "XfrmInStateProtoError",
        "in_state_proto_error_packets_total",
        "Transformation protocol specific error e.g. SA key is wrong",
    ),
    (
        "XfrmInStateModeError",
        "in_state_mode_error_packets_total",
        "Transformation mode specific error",
    ),
    (
        "XfrmInStateSeqError",
        "in_state_seq_error_packets_total",
        "Sequence error i.e. Sequence number is out of window",
    ),
    (
        "XfrmInStateExpired",
        "in_state_expired_packets_total",
        "State is expired",
    ),
    (
        "XfrmInStateMismatch",
        "in_state_mismatch_packets_total",
        "State has mismatch option e.g. UDP encapsulation type is mismatch",
    ),
    (
        "XfrmInStateInvalid",
        "in_state_invalid_packets_total",
        "State is invalid",
    ),
    (
        "XfrmInTmplMismatch",
        "in_tmpl_mismatch_packets_total",
        "No matching template for states e.g. Inbound SAs are correct but SP rule is wrong",
    ),
    (
        "XfrmInNoPols",
        "in_no_pols_packets_total",
        "No policy is found for states e.g. Inbound SAs are correct but no SP is found",
    ),
    (
        "XfrmInPolBlock",
        "in_pol_block_packets_total",
        "Policy discards",
    ),
    (
        "XfrmInPolError",
        "in_pol_error_packets_total",
        "Policy error",
    ),
    (
        "XfrmOutError",
        "out_error_packets_total",
        "All errors which is not matched others",
    ),
    (
        "XfrmOutBundleGenError",
        "out_bundle_gen_error_packets_total",
        "Bundle generation error",
    ),
    (
        "XfrmOutBundleCheckError",
        "out_bundle_check_error_packets_total",
        "Bundle check error",
    ),
    (
        "XfrmOutNoStates",
        "out_no_states_packets_total",
        "No state is found",
    ),
    (
        "XfrmOutStateProtoError",
        "out_state_proto_error_packets_total",
        "Transformation protocol specific error",
    ),
    (
        "XfrmOutStateModeError",
        "out_state_mode_error_packets_total",
        "Transformation mode specific error",
    ),
    (
        "XfrmOutStateSeqError",
        "out_state_seq_error_packets_total",
        "Sequence error i.e. Sequence number overflow",
    ),
    (
        "XfrmOutStateExpired",
        "out_state_expired_packets_total",
        "State is expired",
    ),
    (
        "XfrmOutPolBlock",
        "out_pol_block_packets_total",
        "Policy discards",
    ),
    (
        "XfrmOutPolDead",
        "out_pol_dead_packets_total",
        "Policy is dead",
    ),
    (
        "XfrmOutPolError",
        "out_pol_error_packets_total",
        "Policy error",
    ),
    (
        "XfrmFwdHdrError",
        "fwd_hdr_error_packets_total",
        "Forward routing of a packet is not allowed",
    ),
    (
        "XfrmOutStateInvalid",
        "out_state_invalid_packets_total",
        "State is invalid, perhaps expired",
    ),
    (
        "XfrmAcquireError",
        "acquire_error_packets_total",
        "State hasn’t been fully acquired before use",
    ),
];

/// Parses `/proc/net/xfrm_stat` into the values of [`COUNTERS`], in that order. Every line
/// must be `<name> <integer>`; names the kernel adds later are ignored and absent ones are 0,
/// as in procfs.
pub fn parse(bytes: &[u8]) -> Result<[i64; 28], ParseError> {
    let mut values = [0i64; 28];
    for line in lossy(bytes).lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [name, value] = fields[..] else {
            return Err(ParseError::new(format!(
                "couldn't parse xfrm_stat line {line:?}"
            )));
        };
        // procfs uses strconv.Atoi: a signed integer.
        let value: i64 = value
            .parse()
            .map_err(|_| ParseError::new(format!("invalid xfrm_stat value in {line:?}")))?;
        if let Some(i) = COUNTERS.iter().position(|(n, _, _)| *n == name) {
            values[i] = value;
        }
    }
    Ok(values)
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let values = parse_file(&settings.roots.proc("net/xfrm_stat"), parse)?;
    for ((_, suffix, help), value) in COUNTERS.iter().zip(values) {
        sink.single(
            &format!("node_xfrm_{suffix}"),
            help,
            MetricType::Counter,
            value as f64,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_and_ignores_unknown_counters() {
        let v = parse(b"XfrmInError             1\nXfrmAcquireError 7\nXfrmNewThing 3\n").unwrap();
        assert_eq!(v[0], 1);
        assert_eq!(v[27], 7);
        assert_eq!(v.iter().sum::<i64>(), 8);
    }

    #[test]
    fn empty_is_all_zero() {
        assert_eq!(parse(b"").unwrap(), [0; 28]);
    }

    #[test]
    fn rejects_truncated_and_garbage() {
        assert!(parse(b"XfrmInError\n").is_err());
        assert!(parse(b"XfrmInError 1 2\n").is_err());
        assert!(parse(b"XfrmInError x\n").is_err());
        assert!(parse(&[0xff, 0xfe, b' ', b'1', b' ', b'2']).is_err());
    }

    #[test]
    fn missing_file_fails_the_collector() {
        let (sink, result) = crate::testing::collect_on_empty_root(INFO).unwrap();
        assert!(result.is_err());
        assert!(sink.is_empty());
    }
}
