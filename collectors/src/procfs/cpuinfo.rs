//! `/proc/cpuinfo`, in the layout of each architecture (arch/x86/kernel/cpu/proc.c
//! `show_cpuinfo`, arch/arm64/kernel/cpuinfo.c `c_show`), parsed as procfs' cpuinfo_*.go. The
//! host's `node_cpu_info` uses the fields, the container side's `machine_cpu_*` counts them.

use crate::error::ParseError;
use crate::util::lossy;

/// One processor of `/proc/cpuinfo` (x86 layout), with the fields node_exporter uses.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CpuInfo {
    /// `processor`.
    pub processor: u32,
    /// `vendor_id`.
    pub vendor_id: String,
    /// `cpu family`.
    pub cpu_family: String,
    /// `model`.
    pub model: String,
    /// `model name`.
    pub model_name: String,
    /// `stepping`.
    pub stepping: String,
    /// `microcode`.
    pub microcode: String,
    /// `cpu MHz`.
    pub mhz: f64,
    /// `cache size`.
    pub cache_size: String,
    /// `physical id`.
    pub physical_id: String,
    /// `core id`.
    pub core_id: String,
    /// `flags`, split on white space.
    pub flags: Vec<String>,
    /// `bugs`, split on white space.
    pub bugs: Vec<String>,
}

/// Parses `/proc/cpuinfo` with the layout of the architecture nodex was built for, as procfs
/// picks its parser by `GOARCH` (cpuinfo_*.go): the ARM layout on `arm`/`aarch64`, the x86
/// layout everywhere else.
pub fn parse_cpuinfo(bytes: &[u8]) -> Result<Vec<CpuInfo>, ParseError> {
    if cfg!(any(target_arch = "aarch64", target_arch = "arm")) {
        parse_cpuinfo_arm(bytes)
    } else {
        parse_cpuinfo_x86(bytes)
    }
}

/// Parses an ARM `/proc/cpuinfo` as procfs' `parseCPUInfoARM`: the first non-empty line starts
/// with `processor` (arm64: one entry per CPU) or `Processor` (old 32-bit kernels: the model
/// name shared by all CPUs); `BogoMIPS` must be a number; the flags of every CPU are the
/// words of the last `Features` line. A file without `Features` is an error (procfs would
/// index past its split and panic).
pub fn parse_cpuinfo_arm(bytes: &[u8]) -> Result<Vec<CpuInfo>, ParseError> {
    let text = lossy(bytes);
    let mut lines = text.lines().skip_while(|l| l.trim().is_empty());
    let first = lines.next().unwrap_or("");
    let bad = |line: &str| ParseError::new(format!("invalid cpuinfo line {line:?}"));
    if !(first.starts_with("processor") || first.starts_with("Processor")) || !first.contains(':') {
        return Err(bad(first));
    }
    let (key, value) = first.split_once(": ").ok_or_else(|| bad(first))?;
    let mut common = CpuInfo::default();
    let mut cpus = Vec::new();
    if key.trim() == "Processor" {
        common.model_name = value.to_string();
    } else {
        cpus.push(CpuInfo {
            processor: parse_processor(value)?,
            ..CpuInfo::default()
        });
    }
    let mut features: Option<&str> = None;
    for line in lines {
        if !line.contains(':') {
            continue;
        }
        let (key, value) = match line.split_once(": ") {
            Some((k, v)) => (k.trim(), Some(v)),
            None => (line.trim(), None),
        };
        match key {
            "processor" => {
                let value = value.ok_or_else(|| bad(line))?;
                cpus.push(CpuInfo {
                    processor: parse_processor(value)?,
                    ..common.clone()
                });
            }
            "BogoMIPS" => {
                if cpus.is_empty() {
                    cpus.push(common.clone());
                }
                let value = value.ok_or_else(|| bad(line))?;
                value
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| ParseError::new(format!("invalid BogoMIPS {value:?}")))?;
            }
            "Features" => features = Some(value.unwrap_or("")),
            "model name" => {
                let cpu = cpus.last_mut().ok_or_else(|| bad(line))?;
                cpu.model_name = value.ok_or_else(|| bad(line))?.to_string();
            }
            _ => {}
        }
    }
    let flags: Vec<String> = features
        .ok_or_else(|| ParseError::new("no Features line"))?
        .split_whitespace()
        .map(String::from)
        .collect();
    for cpu in &mut cpus {
        cpu.flags = flags.clone();
    }
    Ok(cpus)
}

/// Parses `/proc/cpuinfo` like procfs' x86 parser: the first non-empty line must be a
/// `processor` line; each later `processor` line starts a new entry.
pub fn parse_cpuinfo_x86(bytes: &[u8]) -> Result<Vec<CpuInfo>, ParseError> {
    let text = lossy(bytes);
    let mut lines = crate::util::lines(&text).skip_while(|l| l.trim().is_empty());
    let first = lines.next().unwrap_or("");
    let processor = first
        .starts_with("processor")
        .then(|| first.split_once(": "))
        .flatten()
        .ok_or_else(|| ParseError::new(format!("cannot parse line {first:?}")))?
        .1;
    let mut cpus = vec![CpuInfo {
        processor: parse_processor(processor)?,
        ..CpuInfo::default()
    }];
    for line in lines {
        let Some((key, value)) = line.split_once(": ") else {
            continue;
        };
        let key = key.trim();
        if key == "processor" {
            cpus.push(CpuInfo {
                processor: parse_processor(value)?,
                ..CpuInfo::default()
            });
            continue;
        }
        let Some(cpu) = cpus.last_mut() else {
            continue;
        };
        match key {
            "vendor" | "vendor_id" => cpu.vendor_id = value.to_string(),
            "cpu family" => cpu.cpu_family = value.to_string(),
            "model" => cpu.model = value.to_string(),
            "model name" => cpu.model_name = value.to_string(),
            "stepping" => cpu.stepping = value.to_string(),
            "microcode" => cpu.microcode = value.to_string(),
            "cpu MHz" => {
                cpu.mhz = value
                    .trim()
                    .parse()
                    .map_err(|_| ParseError::new(format!("invalid cpu MHz {value:?}")))?
            }
            "cache size" => cpu.cache_size = value.to_string(),
            "physical id" => cpu.physical_id = value.to_string(),
            "core id" => cpu.core_id = value.to_string(),
            "flags" => cpu.flags = value.split_ascii_whitespace().map(String::from).collect(),
            "bugs" => cpu.bugs = value.split_ascii_whitespace().map(String::from).collect(),
            _ => {}
        }
    }
    Ok(cpus)
}

fn parse_processor(value: &str) -> Result<u32, ParseError> {
    value
        .trim()
        .parse()
        .map_err(|_| ParseError::new(format!("invalid processor number {value:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPUINFO: &[u8] = b"processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 1
model name\t: AMD EPYC
stepping\t: 1
microcode\t: 0x1000065
cpu MHz\t\t: 2994.374
cache size\t: 512 KB
physical id\t: 0
core id\t\t: 0
flags\t\t: fpu vme de pse
bugs\t\t: sysret_ss_attrs spectre_v1
power management:

processor\t: 1
vendor_id\t: AuthenticAMD
cpu MHz\t\t: 2994.374
physical id\t: 0
core id\t\t: 1
";

    /// An arm64 `/proc/cpuinfo` (arch/arm64/kernel/cpuinfo.c `c_show`): no vendor or model
    /// name, flags from `Features`.
    #[test]
    fn parses_arm64_cpuinfo() {
        let text = "processor\t: 0\nBogoMIPS\t: 243.75\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n\nprocessor\t: 1\nBogoMIPS\t: 243.75\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n";
        let cpus = parse_cpuinfo_arm(text.as_bytes()).unwrap();
        assert_eq!(cpus.len(), 2);
        assert_eq!((cpus[0].processor, cpus[1].processor), (0, 1));
        assert_eq!(cpus[1].flags.len(), 17);
        assert_eq!(cpus[0].flags[0], "fp");
        assert_eq!(cpus[0].vendor_id, "");
        assert!(
            parse_cpuinfo_x86(text.as_bytes()).unwrap()[0]
                .flags
                .is_empty(),
            "the x86 layout finds no flags here"
        );
    }

    /// An old 32-bit ARM `/proc/cpuinfo`: a `Processor` model line first, then the CPUs.
    #[test]
    fn parses_armv7_cpuinfo() {
        let text = "Processor\t: ARMv7 Processor rev 5 (v7l)\nprocessor\t: 0\nBogoMIPS\t: 2400.00\n\nprocessor\t: 1\nBogoMIPS\t: 2400.00\n\nFeatures\t: swp half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt\nCPU implementer\t: 0x41\nHardware\t: sun8i\n";
        let cpus = parse_cpuinfo_arm(text.as_bytes()).unwrap();
        assert_eq!(cpus.len(), 2);
        assert_eq!(cpus[1].model_name, "ARMv7 Processor rev 5 (v7l)");
        assert_eq!(cpus[1].flags.len(), 12);
        assert!(parse_cpuinfo_x86(text.as_bytes()).is_err());
        assert!(parse_cpuinfo_arm(b"processor\t: 0\nBogoMIPS\t: fast\nFeatures\t: fp\n").is_err());
        assert!(
            parse_cpuinfo_arm(b"processor\t: 0\n").is_err(),
            "no Features"
        );
        assert!(parse_cpuinfo_arm(b"vendor_id\t: x\n").is_err());
    }

    #[test]
    fn parses_cpuinfo() {
        let cpus = parse_cpuinfo_x86(CPUINFO).unwrap();
        assert_eq!(cpus.len(), 2);
        assert_eq!(cpus[0].model_name, "AMD EPYC");
        assert_eq!(cpus[0].cache_size, "512 KB");
        assert_eq!(cpus[0].flags, vec!["fpu", "vme", "de", "pse"]);
        assert_eq!(cpus[0].bugs.len(), 2);
        assert_eq!(cpus[1].processor, 1);
        assert_eq!(cpus[1].core_id, "1");
        assert_eq!(cpus[1].mhz, 2994.374);
    }

    #[test]
    fn rejects_bad_cpuinfo() {
        assert!(parse_cpuinfo_x86(b"").is_err());
        assert!(parse_cpuinfo_x86(b"vendor_id\t: x\n").is_err());
        assert!(parse_cpuinfo_x86(b"processor\t: x\n").is_err());
        assert!(parse_cpuinfo_x86(b"processor\t: 0\ncpu MHz\t\t: fast\n").is_err());
        assert!(parse_cpuinfo_x86(&[0xff, 0xfe, 0x00]).is_err());
        assert_eq!(parse_cpuinfo_x86(b"processor\t: 0").unwrap().len(), 1);
    }
}
