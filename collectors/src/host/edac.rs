//! edac: memory-controller error counters from `/sys/devices/system/edac/mc/mc*`
//! (node_exporter's `edac_linux.go`): controller totals, per-csrow counts (the controller's
//! `*_noinfo_count` as `csrow="unknown"`) and per-channel counts with the DIMM label.

use crate::roots::JoinExt;
use std::path::Path;

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::stateless_collector;
use crate::util::{list_dir, lossy, parse_file, parse_u64, read};

stateless_collector!("edac", true, "/sys/devices/system/edac/mc", collect);

const CE: &str = "node_edac_correctable_errors_total";
const UE: &str = "node_edac_uncorrectable_errors_total";
const CSROW_CE: &str = "node_edac_csrow_correctable_errors_total";
const CSROW_UE: &str = "node_edac_csrow_uncorrectable_errors_total";
const CHANNEL_CE: &str = "node_edac_channel_correctable_errors_total";
const CHANNEL_UE: &str = "node_edac_channel_uncorrectable_errors_total";

/// Parses an EDAC counter file (`ce_count`, `ch0_ue_count`, ...): one decimal integer.
pub fn parse_count(bytes: &[u8]) -> Result<u64, ParseError> {
    parse_u64(&lossy(bytes))
}

/// The number in a directory name such as `mc0` or `csrow12` after `prefix`, when the name
/// matches node_exporter's glob `<prefix>[0-9]*` (leading digits only, as its regexp captures).
pub fn numbered(name: &str, prefix: &str) -> Option<String> {
    let rest = name.strip_prefix(prefix)?;
    if !rest.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    Some(rest.chars().take_while(char::is_ascii_digit).collect())
}

/// The channel number of a `ch<N>_ce_count` file name (node_exporter skips other names).
pub fn channel_number(file: &str) -> Option<&str> {
    let digits = file.strip_prefix("ch")?.strip_suffix("_ce_count")?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// Rewrites a `ch<N>_dimm_label` as node_exporter does: trimmed, `#` removed, and `csrow` /
/// `channel` prefixed with `_` (the kernel default `mc#0csrow#2channel#1` becomes
/// `mc0_csrow2_channel1`).
pub fn dimm_label(raw: &[u8]) -> String {
    lossy(raw)
        .trim()
        .replace('#', "")
        .replace("csrow", "_csrow")
        .replace("channel", "_channel")
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let mc = settings.roots.sys("devices/system/edac/mc");
    for name in glob_names(&mc) {
        if let Some(number) = numbered(&name, "mc") {
            collect_controller(&mc.join_exact(&name), &number, sink)?;
        }
    }
    Ok(())
}

/// Entry names of `dir`; like node_exporter's `filepath.Glob`, an unreadable or absent directory
/// is no match at all (so a host without EDAC succeeds with no samples).
fn glob_names(dir: &Path) -> Vec<String> {
    list_dir(dir).unwrap_or_default()
}

fn collect_controller(dir: &Path, mc: &str, sink: &mut MetricSink) -> Result<(), CollectError> {
    let count = |file: &str| parse_file(&dir.join_exact(file), parse_count).map(|v| v as f64);
    sink.counter(CE, "Total correctable memory errors.")
        .sample(&[("controller", mc)], count("ce_count")?);
    sink.counter(CSROW_CE, "Total correctable memory errors for this csrow.")
        .sample(
            &[("controller", mc), ("csrow", "unknown")],
            count("ce_noinfo_count")?,
        );
    sink.counter(UE, "Total uncorrectable memory errors.")
        .sample(&[("controller", mc)], count("ue_count")?);
    sink.counter(
        CSROW_UE,
        "Total uncorrectable memory errors for this csrow.",
    )
    .sample(
        &[("controller", mc), ("csrow", "unknown")],
        count("ue_noinfo_count")?,
    );
    for name in glob_names(dir) {
        if let Some(csrow) = numbered(&name, "csrow") {
            collect_csrow(&dir.join_exact(&name), mc, &csrow, sink)?;
        }
    }
    Ok(())
}

fn collect_csrow(
    dir: &Path,
    mc: &str,
    csrow: &str,
    sink: &mut MetricSink,
) -> Result<(), CollectError> {
    let count = |file: &str| parse_file(&dir.join_exact(file), parse_count).map(|v| v as f64);
    let labels = [("controller", mc), ("csrow", csrow)];
    sink.counter(CSROW_CE, "Total correctable memory errors for this csrow.")
        .sample(&labels, count("ce_count")?);
    sink.counter(
        CSROW_UE,
        "Total uncorrectable memory errors for this csrow.",
    )
    .sample(&labels, count("ue_count")?);
    for file in glob_names(dir) {
        let Some(channel) = channel_number(&file) else {
            continue;
        };
        let label = read(&dir.join_exact(format!("ch{channel}_dimm_label")))
            .map(|raw| dimm_label(&raw))
            .unwrap_or_else(|_| "unknown".to_string());
        let labels = [
            ("controller", mc),
            ("csrow", csrow),
            ("channel", channel),
            ("dimm_label", label.as_str()),
        ];
        sink.counter(
            CHANNEL_CE,
            "Total correctable memory errors for this channel.",
        )
        .sample(&labels, count(&file)?);
        // Some controllers have no per-channel UE count; node_exporter skips it (#3734).
        match count(&format!("ch{channel}_ue_count")) {
            Ok(v) => {
                sink.counter(
                    CHANNEL_UE,
                    "Total uncorrectable memory errors for this channel.",
                )
                .sample(&labels, v);
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counts() {
        assert_eq!(parse_count(b"17\n").unwrap(), 17);
        assert!(parse_count(b"").is_err());
        assert!(parse_count(b"1 2").is_err());
        assert!(parse_count(b"-1").is_err());
        assert!(parse_count(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn names_follow_the_globs() {
        assert_eq!(numbered("mc0", "mc").as_deref(), Some("0"));
        assert_eq!(numbered("mc12", "mc").as_deref(), Some("12"));
        assert_eq!(numbered("mc", "mc"), None);
        assert_eq!(numbered("mcx", "mc"), None);
        assert_eq!(numbered("csrow3", "csrow").as_deref(), Some("3"));
        assert_eq!(numbered("power", "csrow"), None);
        assert_eq!(channel_number("ch0_ce_count"), Some("0"));
        assert_eq!(channel_number("ch10_ce_count"), Some("10"));
        assert_eq!(channel_number("chX_ce_count"), None);
        assert_eq!(channel_number("ch0_ue_count"), None);
        assert_eq!(channel_number("ce_count"), None);
    }

    #[test]
    fn rewrites_dimm_labels() {
        assert_eq!(dimm_label(b"mc#0csrow#2channel#1\n"), "mc0_csrow2_channel1");
        assert_eq!(
            dimm_label(b"  CPU#1_csrow0_channel2  \n"),
            "CPU1__csrow0__channel2"
        );
        assert_eq!(dimm_label(b""), "");
        assert_eq!(dimm_label(&[0xff]), "\u{fffd}");
    }

    #[test]
    fn absent_edac_succeeds_empty() {
        let result = crate::testing::run_on_empty_root(INFO);
        assert!(result.as_ref().is_ok_and(|sink| sink.is_empty()));
    }

    #[test]
    fn bad_counter_fails_but_keeps_earlier_samples() {
        let base_tmp = tempfile::tempdir().unwrap();
        let base = base_tmp.path().to_path_buf();
        let mc = base.join("sys/devices/system/edac/mc/mc0");
        std::fs::create_dir_all(&mc).unwrap();
        std::fs::write(mc.join("ce_count"), "3\n").unwrap();
        std::fs::write(mc.join("ce_noinfo_count"), "x\n").unwrap();
        let settings = crate::collector::Settings::new(
            crate::roots::Roots::fixture(&base),
            crate::options::Options::default(),
        );
        let mut sink = MetricSink::new();
        let err = collect(&settings, &mut sink).unwrap_err();
        assert!(!err.is_no_data());
        assert_eq!(sink.sample_count(), 1);
    }
}
