//! Pressure stall information: `/proc/pressure/{cpu,io,memory,irq}` and cgroup v2's
//! `{cpu,io,memory,irq}.pressure`, one format for both.
//!
//! The kernel prints each line as
//! `"%s avg10=%lu.%02lu avg60=%lu.%02lu avg300=%lu.%02lu total=%llu\n"` with `some` or `full`
//! (`psi_show` in <https://github.com/torvalds/linux/blob/master/kernel/sched/psi.c>).
//! The readers differ in how strict they are, and that stays in the callers:
//! node_exporter, through procfs' `parsePSIStats`
//! (<https://github.com/prometheus/procfs/blob/master/proc_psi.go>), scans the four fields in
//! the kernel's order (`fmt.Sscanf`) and ignores what follows; cAdvisor, through runc's
//! `statPSI` (<https://github.com/opencontainers/runc/blob/main/libcontainer/cgroups/fs2/psi.go>),
//! takes `key=value` fields in any order, fails on a field without `=`, and reads a missing
//! `total` as 0.

use crate::error::ParseError;
use crate::util::{lossy, parse_f64, parse_u64};

/// One `some` or `full` line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PsiLine {
    /// `avg10=` (percent), when present.
    pub avg10: Option<f64>,
    /// `avg60=`, when present.
    pub avg60: Option<f64>,
    /// `avg300=`, when present.
    pub avg300: Option<f64>,
    /// `total=` (microseconds), when present.
    pub total: Option<u64>,
    /// The line starts with `avg10= avg60= avg300= total=` in that order, as the kernel prints.
    pub kernel_order: bool,
    /// The first field without `=`, if any.
    pub bare_field: Option<String>,
}

/// The `some` and `full` lines of one file (the last of each, when repeated).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Psi {
    /// The `some` line.
    pub some: Option<PsiLine>,
    /// The `full` line (absent from the cpu file before Linux 5.13).
    pub full: Option<PsiLine>,
}

const KERNEL_ORDER: [&str; 4] = ["avg10", "avg60", "avg300", "total"];

/// Parses a PSI file. Lines other than `some`/`full` are skipped; a value of one of the four
/// known keys that is not a number fails the file; other keys are ignored.
pub fn parse(bytes: &[u8]) -> Result<Psi, ParseError> {
    let text = lossy(bytes);
    let mut psi = Psi::default();
    for line in crate::util::lines(&text) {
        let mut fields = line.split_ascii_whitespace();
        let slot = match fields.next() {
            Some("some") => &mut psi.some,
            Some("full") => &mut psi.full,
            _ => continue,
        };
        let mut out = PsiLine::default();
        let mut keys = Vec::with_capacity(4);
        for field in fields {
            let Some((key, value)) = field.split_once('=') else {
                out.bare_field.get_or_insert_with(|| field.to_string());
                keys.push("");
                continue;
            };
            keys.push(key);
            match key {
                "avg10" => out.avg10 = Some(parse_f64(value)?),
                "avg60" => out.avg60 = Some(parse_f64(value)?),
                "avg300" => out.avg300 = Some(parse_f64(value)?),
                "total" => out.total = Some(parse_u64(value)?),
                _ => {}
            }
        }
        out.kernel_order = keys.get(..4) == Some(&KERNEL_ORDER[..]);
        *slot = Some(out);
    }
    Ok(psi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_psi_show_prints() {
        // Format of kernel/sched/psi.c psi_show(), values from a 6.1 host's /proc/pressure/io.
        let psi = parse(
            b"some avg10=0.00 avg60=0.12 avg300=0.07 total=3467139\n\
              full avg10=0.00 avg60=0.05 avg300=0.03 total=2531218\n",
        )
        .unwrap();
        let some = psi.some.unwrap();
        assert_eq!(some.total, Some(3467139));
        assert_eq!(some.avg60, Some(0.12));
        assert!(some.kernel_order);
        assert_eq!(some.bare_field, None);
        assert_eq!(psi.full.unwrap().total, Some(2531218));
    }

    #[test]
    fn records_what_the_callers_judge() {
        let psi = parse(b"some total=5 avg10=1.00 junk\nother x\n").unwrap();
        let some = psi.some.unwrap();
        assert_eq!(
            (some.total, some.avg10, some.avg60),
            (Some(5), Some(1.0), None)
        );
        assert!(!some.kernel_order);
        assert_eq!(some.bare_field.as_deref(), Some("junk"));
        assert_eq!(psi.full, None);
        assert!(parse(b"full avg10=x total=1\n").is_err());
        assert!(parse(b"some avg10=1 avg60=1 avg300=1 total=-1\n").is_err());
    }
}
