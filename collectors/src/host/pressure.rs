//! pressure: pressure stall information from `/proc/pressure/{cpu,io,memory,irq}` as
//! `node_pressure_*_{waiting,stalled}_seconds_total` ("some" and "full" totals, µs ÷ 1e6).

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::procfs::psi::PsiLine;
use crate::roots::JoinExt;
use crate::stateless_collector;

stateless_collector!(
    "pressure",
    true,
    "/proc/pressure/{cpu,io,memory,irq}",
    collect
);

/// `EOPNOTSUPP`: PSI compiled in but disabled (`psi=0`).
const EOPNOTSUPP: i32 = 95;

/// The `total=` values (µs) of one resource's "some" and "full" lines, when present.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Psi {
    /// Total of the "some" line.
    pub some: Option<u64>,
    /// Total of the "full" line.
    pub full: Option<u64>,
}

/// Parses a `/proc/pressure/<resource>` file (`procfs::psi`) with procfs' rules: lines with
/// other prefixes are ignored, and a "some"/"full" line must start with
/// `avg10= avg60= avg300= total=` in that order (procfs scans them with `fmt.Sscanf`).
pub fn parse(bytes: &[u8]) -> Result<Psi, ParseError> {
    let psi = crate::procfs::psi::parse(bytes)?;
    let total = |line: Option<PsiLine>| match line {
        None => Ok(None),
        Some(PsiLine {
            kernel_order: true,
            total: Some(total),
            ..
        }) => Ok(Some(total)),
        Some(_) => Err(ParseError::new(
            "expected avg10= avg60= avg300= total= in pressure line",
        )),
    };
    Ok(Psi {
        some: total(psi.some)?,
        full: total(psi.full)?,
    })
}

struct Family {
    name: &'static str,
    help: &'static str,
}

const fn family(name: &'static str, help: &'static str) -> Option<Family> {
    Some(Family { name, help })
}

/// Per resource: the family of its "some" total and of its "full" total.
const RESOURCES: [(&str, Option<Family>, Option<Family>); 4] = [
    (
        "cpu",
        family(
            "node_pressure_cpu_waiting_seconds_total",
            "Total time in seconds that processes have waited for CPU time",
        ),
        None,
    ),
    (
        "io",
        family(
            "node_pressure_io_waiting_seconds_total",
            "Total time in seconds that processes have waited due to IO congestion",
        ),
        family(
            "node_pressure_io_stalled_seconds_total",
            "Total time in seconds no process could make progress due to IO congestion",
        ),
    ),
    (
        "memory",
        family(
            "node_pressure_memory_waiting_seconds_total",
            "Total time in seconds that processes have waited for memory",
        ),
        family(
            "node_pressure_memory_stalled_seconds_total",
            "Total time in seconds no process could make progress due to memory congestion",
        ),
    ),
    (
        "irq",
        None,
        family(
            "node_pressure_irq_stalled_seconds_total",
            "Total time in seconds no process could make progress due to IRQ congestion",
        ),
    ),
];

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let mut found = 0;
    for (resource, some_family, full_family) in &RESOURCES {
        let path = settings.roots.proc("pressure").join_exact(resource);
        let bytes = match crate::util::read_bytes(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) if e.raw_os_error() == Some(EOPNOTSUPP) => {
                return Err(CollectError::NoData(
                    "pressure information is disabled, add psi=1 kernel command line to enable it"
                        .into(),
                ))
            }
            Err(e) => return Err(CollectError::io(&path, e)),
        };
        let psi = parse(&bytes).map_err(|e| CollectError::parse(&path, e))?;
        // cpu has no exported "full" and irq no "some"; any other missing line means no data.
        let some = match (some_family, psi.some) {
            (Some(f), Some(total)) => Some((f, total)),
            (Some(_), None) => return Err(no_line("some")),
            (None, _) => None,
        };
        let full = match (full_family, psi.full) {
            (Some(f), Some(total)) => Some((f, total)),
            (Some(_), None) => return Err(no_line("full")),
            (None, _) => None,
        };
        for (f, total) in some.into_iter().chain(full) {
            sink.counter(f.name, f.help)
                .sample(&[], total as f64 / 1000.0 / 1000.0);
        }
        found += 1;
    }
    if found == 0 {
        return Err(CollectError::NoData(
            "pressure information is unavailable, you need a Linux kernel >= 4.20 and/or CONFIG_PSI enabled for your kernel".into(),
        ));
    }
    Ok(())
}

fn no_line(kind: &str) -> CollectError {
    CollectError::NoData(format!("pressure information returned no '{kind}' data"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_sample() {
        let psi = parse(
            b"some avg10=0.13 avg60=0.17 avg300=0.14 total=5488403\n\
              full avg10=0.11 avg60=0.14 avg300=0.13 total=5189416\n",
        )
        .unwrap();
        assert_eq!(psi.some, Some(5488403));
        assert_eq!(psi.full, Some(5189416));
    }

    #[test]
    fn empty_and_unknown_lines() {
        assert_eq!(parse(b"").unwrap(), Psi::default());
        assert_eq!(parse(b"other x\n").unwrap(), Psi::default());
    }

    #[test]
    fn rejects_truncated_and_garbage() {
        assert!(parse(b"some avg10=0.13 avg60=0.17").is_err());
        assert!(parse(b"some avg10=x avg60=0.17 avg300=0.1 total=1").is_err());
        assert!(parse(b"full avg10=0 avg60=0 avg300=0 total=\xff").is_err());
        assert_eq!(parse(&[0xff, 0xfe, 0x00]).unwrap(), Psi::default());
    }

    fn collect_tree(files: &[(&str, &str)]) -> (Result<(), CollectError>, String) {
        use crate::options::Options;
        use crate::roots::Roots;

        let base_tmp = tempfile::tempdir().unwrap();
        let base = base_tmp.path().to_path_buf();
        let dir = base.join("proc/pressure");
        std::fs::create_dir_all(&dir).unwrap();
        for (file, content) in files {
            std::fs::write(dir.join(file), content).unwrap();
        }
        let settings = Settings::new(Roots::fixture(&base), Options::default());
        let mut sink = MetricSink::new();
        let result = collect(&settings, &mut sink);
        let mut out = Vec::new();
        crate::expfmt::render(&[&sink], crate::expfmt::Format::Text, &mut out).unwrap();
        (result, String::from_utf8(out).unwrap())
    }

    #[test]
    fn old_kernel_without_irq_or_cpu_full() {
        let some = "some avg10=0.00 avg60=0.00 avg300=0.00 total=1000000\n";
        let both = format!("{some}full avg10=0.00 avg60=0.00 avg300=0.00 total=500000\n");
        let (result, text) = collect_tree(&[("cpu", some), ("io", &both), ("memory", &both)]);
        assert!(result.is_ok());
        assert!(text.contains("node_pressure_cpu_waiting_seconds_total 1\n"));
        assert!(text.contains("node_pressure_memory_stalled_seconds_total 0.5\n"));
        assert!(!text.contains("irq"));
    }

    #[test]
    fn missing_lines_and_files_are_no_data() {
        let some = "some avg10=0.00 avg60=0.00 avg300=0.00 total=1000000\n";
        let (result, text) = collect_tree(&[("cpu", some), ("io", some)]);
        assert!(result.unwrap_err().is_no_data());
        assert!(text.contains("node_pressure_cpu_waiting_seconds_total 1\n"));
        let (result, _) = collect_tree(&[]);
        assert!(result.unwrap_err().is_no_data());
    }
}
