//! drm: amdgpu cards under `/sys/class/drm/card[0-9]` (`node_drm_card_info`, busy percent and
//! GTT/VRAM memory), read as procfs' `ClassDRMCardAMDGPUStats`. Other drivers are skipped.

use std::path::Path;

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::host::hwmon::clean_name;
use crate::stateless_collector;
use crate::util::{list_dir, read_optional};

stateless_collector!(
    "drm",
    false,
    "/sys/class/drm/card[0-9]/device (amdgpu)",
    collect
);

/// One amdgpu card's attributes; an absent attribute is 0 or "".
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AmdGpuCard {
    /// `card0`.
    pub name: String,
    /// `gpu_busy_percent`.
    pub gpu_busy_percent: u64,
    /// `mem_info_gtt_total`.
    pub gtt_size: u64,
    /// `mem_info_gtt_used`.
    pub gtt_used: u64,
    /// `mem_info_vis_vram_total`.
    pub vis_vram_size: u64,
    /// `mem_info_vis_vram_used`.
    pub vis_vram_used: u64,
    /// `mem_info_vram_total`.
    pub vram_size: u64,
    /// `mem_info_vram_used`.
    pub vram_used: u64,
    /// `mem_info_vram_vendor`.
    pub vram_vendor: String,
    /// `power_dpm_force_performance_level`.
    pub power_performance_level: String,
    /// `unique_id`.
    pub unique_id: String,
    /// Base name of the resolved `device` link (`0000:01:00.0`).
    pub dev_name: String,
    /// Base name of its parent (`pci0000:00`).
    pub dev_type: String,
}

/// True if a `device/uevent` names the amdgpu driver (procfs matches `DRIVER=amdgpu` anywhere).
pub fn is_amdgpu(uevent: &str) -> bool {
    uevent.contains("DRIVER=amdgpu")
}

/// Parses a numeric card attribute as Go's `strconv.ParseUint(s, 0, 64)` (decimal, `0x` hex,
/// `0o`/leading-`0` octal, `0b` binary).
pub fn parse_attribute(text: &str) -> Result<u64, ParseError> {
    let s = text.trim();
    let err = || ParseError::new(format!("invalid unsigned integer {s:?}"));
    let digits = s.replace('_', "");
    let (radix, body) = if let Some(h) = digits.strip_prefix("0x").or(digits.strip_prefix("0X")) {
        (16, h.to_string())
    } else if let Some(b) = digits.strip_prefix("0b").or(digits.strip_prefix("0B")) {
        (2, b.to_string())
    } else if let Some(o) = digits.strip_prefix("0o").or(digits.strip_prefix("0O")) {
        (8, o.to_string())
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, digits[1..].to_string())
    } else {
        (10, digits.clone())
    };
    if body.is_empty() || body.starts_with('+') {
        return Err(err());
    }
    u64::from_str_radix(&body, radix).map_err(|_| err())
}

/// node_exporter's chip label: `<type>_<name>` of the cleaned device type and name, or the
/// cleaned name alone, or "" (then the `chip` label is left out).
pub fn chip_name(card: &AmdGpuCard) -> String {
    let name = clean_name(&card.dev_name);
    let kind = clean_name(&card.dev_type);
    match (kind.is_empty(), name.is_empty()) {
        (false, false) => format!("{kind}_{name}"),
        (_, false) => name,
        _ => String::new(),
    }
}

fn read_card(dir: &Path, name: &str) -> Result<Option<AmdGpuCard>, CollectError> {
    let uevent_path = dir.join("device/uevent");
    let uevent = match crate::util::read_text(&uevent_path) {
        Ok(text) => text,
        // procfs skips cards whose uevent answers ENODATA.
        Err(CollectError::Io { source, .. }) if source.raw_os_error() == Some(libc::ENODATA) => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    if !is_amdgpu(&uevent) {
        return Ok(None);
    }
    let device = dir.join("device");
    let resolved = std::fs::canonicalize(&device).map_err(|e| CollectError::io(&device, e))?;
    let base = |p: Option<&Path>| {
        p.and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let number = |file: &str| -> Result<u64, CollectError> {
        let path = device.join(file);
        match read_optional(&path) {
            Some(text) => parse_attribute(&text).map_err(|e| CollectError::parse(&path, e)),
            None => Ok(0),
        }
    };
    let text = |file: &str| read_optional(&device.join(file)).unwrap_or_default();
    Ok(Some(AmdGpuCard {
        name: name.to_string(),
        gpu_busy_percent: number("gpu_busy_percent")?,
        gtt_size: number("mem_info_gtt_total")?,
        gtt_used: number("mem_info_gtt_used")?,
        vis_vram_size: number("mem_info_vis_vram_total")?,
        vis_vram_used: number("mem_info_vis_vram_used")?,
        vram_size: number("mem_info_vram_total")?,
        vram_used: number("mem_info_vram_used")?,
        vram_vendor: text("mem_info_vram_vendor"),
        power_performance_level: text("power_dpm_force_performance_level"),
        unique_id: text("unique_id"),
        dev_name: base(Some(&resolved)),
        dev_type: base(resolved.parent()),
    }))
}

/// `card` followed by exactly one digit, as the glob `card[0-9]`.
fn is_card(name: &str) -> bool {
    name.len() == 5 && name.starts_with("card") && name.as_bytes()[4].is_ascii_digit()
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let class = settings.roots.sys("class/drm");
    let names = match list_dir(&class) {
        Ok(names) => names,
        // An absent class directory matches no card: node_exporter succeeds with nothing.
        Err(e) if e.is_no_data() => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut cards = Vec::new();
    for name in names.iter().filter(|n| is_card(n)) {
        if let Some(card) = read_card(&class.join(name), name)? {
            cards.push(card);
        }
    }
    sink.gauge("node_drm_card_info", "Card information");
    for card in &cards {
        let chip = chip_name(card);
        let mut labels = vec![
            ("card", card.name.as_str()),
            ("memory_vendor", card.vram_vendor.as_str()),
            (
                "power_performance_level",
                card.power_performance_level.as_str(),
            ),
            ("unique_id", card.unique_id.as_str()),
            ("vendor", "amd"),
        ];
        if !chip.is_empty() {
            labels.push(("chip", chip.as_str()));
        }
        sink.sample(&labels, 1.0);
    }
    type Field = fn(&AmdGpuCard) -> u64;
    let families: [(&str, &str, Field); 7] = [
        (
            "node_drm_gpu_busy_percent",
            "How busy the GPU is as a percentage.",
            |c| c.gpu_busy_percent,
        ),
        (
            "node_drm_memory_gtt_size_bytes",
            "The size of the graphics translation table (GTT) block in bytes.",
            |c| c.gtt_size,
        ),
        (
            "node_drm_memory_gtt_used_bytes",
            "The used amount of the graphics translation table (GTT) block in bytes.",
            |c| c.gtt_used,
        ),
        (
            "node_drm_memory_vram_size_bytes",
            "The size of VRAM in bytes.",
            |c| c.vram_size,
        ),
        (
            "node_drm_memory_vram_used_bytes",
            "The used amount of VRAM in bytes.",
            |c| c.vram_used,
        ),
        (
            "node_drm_memory_vis_vram_size_bytes",
            "The size of visible VRAM in bytes.",
            |c| c.vis_vram_size,
        ),
        (
            "node_drm_memory_vis_vram_used_bytes",
            "The used amount of visible VRAM in bytes.",
            |c| c.vis_vram_used,
        ),
    ];
    for (name, help, value) in families {
        sink.gauge(name, help);
        for card in &cards {
            sink.sample(&[("card", card.name.as_str())], value(card) as f64);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_amdgpu_driver() {
        assert!(is_amdgpu("DRIVER=amdgpu\nPCI_CLASS=30000\n"));
        assert!(!is_amdgpu("DRIVER=i915\n"));
        assert!(!is_amdgpu(""));
    }

    #[test]
    fn parses_attributes_like_parseuint_base_0() {
        assert_eq!(parse_attribute("4\n").unwrap(), 4);
        assert_eq!(parse_attribute("0x10").unwrap(), 16);
        assert_eq!(parse_attribute("010").unwrap(), 8);
        assert_eq!(parse_attribute("0").unwrap(), 0);
        assert!(parse_attribute("").is_err());
        assert!(parse_attribute("0x").is_err());
        assert!(parse_attribute("-1").is_err());
        assert!(parse_attribute("+1").is_err());
        assert!(parse_attribute("12 MB").is_err());
    }

    #[test]
    fn chip_name_combines_type_and_name() {
        let mut card = AmdGpuCard {
            dev_name: "0000:0a:00.0".into(),
            dev_type: "0000:00:03.1".into(),
            ..Default::default()
        };
        assert_eq!(chip_name(&card), "0000:00:03_1_0000:0a:00_0");
        card.dev_type.clear();
        assert_eq!(chip_name(&card), "0000:0a:00_0");
        card.dev_name.clear();
        assert_eq!(chip_name(&card), "");
    }

    #[test]
    fn matches_only_single_digit_cards() {
        assert!(is_card("card0"));
        assert!(!is_card("card10"));
        assert!(!is_card("card0-DP-1"));
        assert!(!is_card("renderD128"));
    }

    #[test]
    fn missing_class_directory_is_an_empty_success() {
        let (sink, result) = crate::testing::collect_on_empty_root(INFO).unwrap();
        assert!(result.is_ok());
        assert_eq!(sink.sample_count(), 0);
    }
}
