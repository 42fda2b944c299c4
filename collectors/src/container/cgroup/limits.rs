//! Resource limits (the container spec): v1 `cpu.shares`, `cpu.cfs_{period,quota}_us`,
//! `memory.{,soft_,memsw.}limit_in_bytes`; v2 `cpu.weight`, `cpu.max`, `memory.{max,min,swap.max}`.

use super::{parse, CgResult, Ctrl, Hierarchies};

/// CPU shares, period and quota (0 = none) of a container.
pub type CpuSpec = [u64; 3];

/// Memory limit, reservation and swap limit of a container (`None` = no limit or unreadable).
pub type MemorySpec = [Option<u64>; 3];

/// cAdvisor's v2 `cpu.weight` → shares conversion (`convertCPUWeightToCPULimit`, integer
/// arithmetic); a weight outside the kernel's 1..=10000 is 0.
pub fn weight_to_shares(weight: u64) -> u64 {
    if !(1..=10000).contains(&weight) {
        return 0;
    }
    2 + (weight - 1) * 262142 / 9999
}

/// v2 `cpu.max` as cAdvisor's `getSpecInternal` reads it for the spec: (quota, period), `max`
/// or an unparsable field is 0, and a file without two fields is (0, 0).
pub fn cpu_max_spec(bytes: &[u8]) -> (u64, u64) {
    let text = String::from_utf8_lossy(bytes);
    let Some((quota, period)) = text.trim().split_once(' ') else {
        return (0, 0);
    };
    let field = |v: &str| v.parse::<u64>().unwrap_or(0);
    (field(quota), field(period))
}

impl Hierarchies {
    /// The CPU spec of container `id`. cAdvisor has one for every v2 cgroup, with 0 for what
    /// is missing (the root and cgroups without the cpu controller have no `cpu.weight` or
    /// `cpu.max`); on v1 it needs `cpu.shares`.
    pub fn cpu_spec(&self, id: &str) -> CgResult<CpuSpec> {
        let dir = self.need(Ctrl::Cpu, id, "cpu.shares")?;
        if self.v2 {
            let shares = dir.u64("cpu.weight").map_or(0, weight_to_shares);
            let (quota, period) = self
                .cpu_quota_file(&dir, id)
                .map_or((0, 0), |b| cpu_max_spec(&b));
            return Ok([shares, period, quota]);
        }
        let shares = dir.u64("cpu.shares")?;
        let period = dir.u64("cpu.cfs_period_us").unwrap_or(0);
        let quota = self
            .cpu_quota_file(&dir, id)
            .ok()
            .and_then(|b| parse::limit(&b).ok())
            .flatten()
            .unwrap_or(0);
        Ok([shares, period, quota])
    }

    /// The memory spec of container `id`; the limit file (`memory.max`,
    /// `memory.limit_in_bytes`) is required, the others are `None` when unreadable.
    pub fn memory_spec(&self, id: &str) -> CgResult<MemorySpec> {
        let files = if self.v2 {
            ["memory.max", "memory.min", "memory.swap.max"]
        } else {
            [
                "memory.limit_in_bytes",
                "memory.soft_limit_in_bytes",
                "memory.memsw.limit_in_bytes",
            ]
        };
        let dir = self.need(Ctrl::Memory, id, files[0])?;
        let optional = |file| dir.limit(file).ok().flatten();
        Ok([dir.limit(files[0])?, optional(files[1]), optional(files[2])])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_weight_conversion() {
        assert_eq!(weight_to_shares(1), 2);
        assert_eq!(weight_to_shares(50), 1286);
        assert_eq!(weight_to_shares(100), 2597);
        assert_eq!(weight_to_shares(10000), 262144);
        assert_eq!(weight_to_shares(0), 0);
        assert_eq!(weight_to_shares(10001), 0);
    }

    #[test]
    fn cpu_max_spec_forms() {
        assert_eq!(cpu_max_spec(b"max 100000\n"), (0, 100000));
        assert_eq!(cpu_max_spec(b"50000 100000\n"), (50000, 100000));
        assert_eq!(cpu_max_spec(b"50000\n"), (0, 0));
        assert_eq!(cpu_max_spec(b""), (0, 0));
    }
}
