//! interrupts (off by default): `node_interrupts_total{cpu,devices,info,type}` from
//! `/proc/interrupts`.

use std::collections::BTreeMap;
use std::sync::Arc;

use regex::Regex;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::options::{device_allowed, include_exclude, Flag};
use crate::util::{lossy, parse_f64, parse_file};

/// `--collector.interrupts.name-include`.
pub const INCLUDE: Flag<Option<Regex>> = Flag::new(
    "collector.interrupts.name-include",
    "Regexp of interrupts name to include (mutually exclusive to --collector.interrupts.name-exclude).",
    "",
);
/// `--collector.interrupts.name-exclude`.
pub const EXCLUDE: Flag<Option<Regex>> = Flag::new(
    "collector.interrupts.name-exclude",
    "Regexp of interrupts name to exclude (mutually exclusive to --collector.interrupts.name-include).",
    "",
);
/// `--collector.interrupts.include-zeros`.
pub const ZEROS: Flag<bool> = Flag::new(
    "collector.interrupts.include-zeros",
    "Include interrupts that have a zero value",
    "true",
);

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "interrupts",
    default_enabled: false,
    sources: "/proc/interrupts",
    flags: &[INCLUDE.spec, EXCLUDE.spec, ZEROS.spec],
    build: |settings| {
        let (include, exclude) = include_exclude(&settings.options, &INCLUDE, &EXCLUDE)?;
        Ok(Box::new(Interrupts {
            settings: Arc::clone(settings),
            include,
            exclude,
            include_zeros: settings.options.get(&ZEROS),
        }))
    },
};

/// One interrupt line: per-CPU counts (as text, parsed when emitted) and its description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupt {
    /// The controller/chip for numbered IRQs, the whole description otherwise.
    pub info: String,
    /// The devices of a numbered IRQ (empty for named ones like `LOC`).
    pub devices: String,
    /// One count per CPU column.
    pub values: Vec<String>,
}

/// Parses `/proc/interrupts` into interrupts keyed by name (`24`, `NMI`, ...). Lines with fewer
/// columns than CPUs plus one (`ERR`, `MIS`) are skipped, as node_exporter does.
pub fn parse(bytes: &[u8]) -> Result<BTreeMap<String, Interrupt>, ParseError> {
    let text = lossy(bytes);
    let mut lines = crate::util::lines(&text);
    let header = lines
        .next()
        .ok_or_else(|| ParseError::new("interrupts empty"))?;
    let cpus = header.split_ascii_whitespace().count();
    let mut out = BTreeMap::new();
    for line in lines {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let parts: Vec<&str> = rest.split_ascii_whitespace().collect();
        if parts.len() < cpus + 1 {
            continue;
        }
        let name = name.trim_start_matches(' ');
        let values = parts[..cpus].iter().map(|v| v.to_string()).collect();
        let (info, devices) = if name.parse::<i64>().is_ok() {
            (parts[cpus].to_string(), parts[cpus + 1..].join(" "))
        } else {
            (parts[cpus..].join(" "), String::new())
        };
        out.insert(
            name.to_string(),
            Interrupt {
                info,
                devices,
                values,
            },
        );
    }
    Ok(out)
}

struct Interrupts {
    settings: Arc<Settings>,
    include: Option<Regex>,
    exclude: Option<Regex>,
    include_zeros: bool,
}

impl Collector for Interrupts {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let path = self.settings.roots.proc("interrupts");
        let interrupts = parse_file(&path, parse)?;
        sink.counter("node_interrupts_total", "Interrupt details.");
        for (name, irq) in &interrupts {
            let filter_name = format!("{name};{};{}", irq.info, irq.devices);
            if !device_allowed(&filter_name, self.include.as_ref(), self.exclude.as_ref()) {
                continue;
            }
            for (cpu, value) in irq.values.iter().enumerate() {
                let v = parse_f64(value).map_err(|e| CollectError::parse(&path, e))?;
                if !self.include_zeros && v == 0.0 {
                    continue;
                }
                let cpu = cpu.to_string();
                sink.sample(
                    &[
                        ("cpu", &cpu),
                        ("devices", &irq.devices),
                        ("info", &irq.info),
                        ("type", name),
                    ],
                    v,
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "           CPU0       CPU1       \n 24:          1          0  IO-APIC   5-edge      ACPI:Ged\n 26:          0         10  IO-APIC   4-edge      ttyS0\nLOC:     143863     153215   Local timer interrupts\nERR:          0\nIPI0:12 34 Rescheduling interrupts\n";

    #[test]
    fn parses_real_sample() {
        let irqs = parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(irqs.len(), 4);
        let ttys = &irqs["26"];
        assert_eq!(ttys.info, "IO-APIC");
        assert_eq!(ttys.devices, "4-edge ttyS0");
        assert_eq!(ttys.values, vec!["0", "10"]);
        let ged = &irqs["24"];
        assert_eq!(ged.devices, "5-edge ACPI:Ged");
        let loc = &irqs["LOC"];
        assert_eq!(loc.info, "Local timer interrupts");
        assert_eq!(loc.devices, "");
        assert!(!irqs.contains_key("ERR"));
        assert_eq!(irqs["IPI0"].values, vec!["12", "34"]);
    }

    fn run(flags: &[(&crate::FlagSpec, &str)]) -> String {
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/host");
        let mut options = crate::Options::default();
        for (k, v) in flags {
            options.set_spec(k, vec![v.to_string()]);
        }
        let settings = Arc::new(Settings::new(crate::Roots::fixture(&base), options));
        let mut sink = MetricSink::new();
        (INFO.build)(&settings).unwrap().collect(&mut sink).unwrap();
        let mut out = Vec::new();
        crate::expfmt::render(&[&sink], crate::expfmt::Format::Text, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn filters_names_and_zeros() {
        let text = run(&[(&ZEROS.spec, "false"), (&INCLUDE.spec, "^(LOC|2[0-9]);")]);
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(samples.len(), 5, "{text}");
        assert!(text.contains("type=\"26\"} 10"));
        assert!(!text.contains("cpu=\"0\",devices=\"4-edge ttyS0\""));
        let text = run(&[(&EXCLUDE.spec, "Local timer")]);
        assert!(!text.contains("LOC"));
        assert!(text.contains("NMI"));
    }

    #[test]
    fn empty_truncated_garbage() {
        assert!(parse(b"").is_err());
        assert!(parse(b"  CPU0 CPU1\n 24: 1").unwrap().is_empty());
        assert!(parse(&[0xff, 0xfe, 0x00]).unwrap().is_empty());
    }
}
