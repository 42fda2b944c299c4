//! CPU counters: v1 `cpuacct.usage`, `cpuacct.stat`, `cpu.cfs_quota_us`, `cpu.stat`; v2
//! `cpu.stat`, `cpu.max`.

use super::parse::{cpu_max, flat_keyed_lookup, limit};
use super::{CgResult, Ctrl, Hierarchies};
use crate::error::ParseError;

/// v1 `cpuacct.stat` ticks are USER_HZ (100 on every Linux ABI).
const USER_HZ: f64 = 100.0;

/// CPU counters of one container, in seconds.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct CpuStats {
    /// Total usage.
    pub usage: f64,
    /// User time.
    pub user: f64,
    /// System time.
    pub system: f64,
    /// CFS counters, only when a quota is set: periods, throttled periods, throttled seconds.
    pub cfs: Option<[f64; 3]>,
    /// Burst counters (periods, seconds), only with a quota: cAdvisor serves them under the
    /// same condition as the CFS ones, 0 where `cpu.stat` has no `nr_bursts` (before 5.14).
    pub burst: Option<[f64; 2]>,
}

impl Hierarchies {
    /// The CPU counters of container `id`. Only the usage file is required (`cpuacct.usage`,
    /// v2 `cpu.stat`); the others read as 0 or no quota when unreadable.
    pub fn cpu(&self, id: &str) -> CgResult<CpuStats> {
        if self.v2 {
            let dir = self.need(Ctrl::Cpu, id, "cpu.stat")?;
            let quota = self
                .cpu_quota_file(&dir, id)
                .ok()
                .and_then(|b| cpu_max(&b).ok())
                .and_then(|(q, _)| q);
            return dir.parse("cpu.stat", |b| v2_stats(b, quota));
        }
        let acct = self.need(Ctrl::Cpuacct, id, "cpuacct.usage")?;
        let usage = acct.u64("cpuacct.usage")? as f64 / 1e9;
        let [user, system] = acct
            .keys("cpuacct.stat", ["user", "system"])
            .unwrap_or_default();
        let mut s = CpuStats {
            usage,
            user: user.unwrap_or(0) as f64 / USER_HZ,
            system: system.unwrap_or(0) as f64 / USER_HZ,
            ..CpuStats::default()
        };
        if let Some(cpu) = self.dir(Ctrl::Cpu, id) {
            let quota = self
                .cpu_quota_file(&cpu, id)
                .ok()
                .and_then(|b| limit(&b).ok())
                .flatten();
            if quota.is_some_and(|q| q > 0) {
                let (cfs, burst) = cpu.parse("cpu.stat", v1_bandwidth).unwrap_or_default();
                s.cfs = Some(cfs);
                s.burst = Some(burst);
            }
        }
        Ok(s)
    }
}

/// v1 `cpu.stat` bandwidth counters: ([periods, throttled periods, throttled s],
/// [bursts, burst s]); the times are ns (kernel/sched/core.c `cpu_cfs_stat_show`), a missing
/// key is 0 (`nr_bursts`/`burst_time` exist since 5.14).
pub fn v1_bandwidth(cpu_stat: &[u8]) -> Result<([f64; 3], [f64; 2]), ParseError> {
    let keys = [
        "nr_periods",
        "nr_throttled",
        "throttled_time",
        "nr_bursts",
        "burst_time",
    ];
    let [p, t, tt, b, bt] = flat_keyed_lookup(cpu_stat, keys)?;
    let v = |x: Option<u64>| x.unwrap_or(0) as f64;
    Ok(([v(p), v(t), v(tt) / 1e9], [v(b), v(bt) / 1e9]))
}

/// v2 counters from `cpu.stat` (µs; runc's `statCpu` multiplies by 1000, cAdvisor divides ns by
/// 1e9) and the `cpu.max` quota: the CFS and burst counters only with a quota, as cAdvisor.
pub fn v2_stats(cpu_stat: &[u8], quota: Option<u64>) -> Result<CpuStats, ParseError> {
    let keys = [
        "usage_usec",
        "user_usec",
        "system_usec",
        "nr_periods",
        "nr_throttled",
        "throttled_usec",
        "nr_bursts",
        "burst_usec",
    ];
    let v = flat_keyed_lookup(cpu_stat, keys)?;
    // Divide (not multiply by 1e-6) so that 1995000 µs prints as 1.995, as cAdvisor's ns / 1e9.
    let f = |i: usize, per_unit: f64| v[i].unwrap_or(0) as f64 / per_unit;
    let mut s = CpuStats {
        usage: f(0, 1e6),
        user: f(1, 1e6),
        system: f(2, 1e6),
        ..CpuStats::default()
    };
    if quota.is_some_and(|q| q > 0) {
        s.cfs = Some([f(3, 1.0), f(4, 1.0), f(5, 1e6)]);
        s.burst = Some([f(6, 1.0), f(7, 1e6)]);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// cpu.stat of a v2 cgroup with a quota on a kernel before 5.14 (no burst keys; kernel
    /// Documentation/admin-guide/cgroup-v2.rst "cpu.stat").
    const V2_OLD: &[u8] = b"usage_usec 1995000\nuser_usec 1500000\nsystem_usec 495000\n\
nr_periods 120\nnr_throttled 7\nthrottled_usec 350000\n";

    #[test]
    fn v2_burst_is_served_with_the_quota_as_cadvisor() {
        let s = v2_stats(V2_OLD, Some(50000)).expect("parses");
        assert_eq!(s.usage, 1.995);
        assert_eq!(s.cfs, Some([120.0, 7.0, 0.35]));
        assert_eq!(s.burst, Some([0.0, 0.0]));
        let unlimited = v2_stats(V2_OLD, None).expect("parses");
        assert_eq!((unlimited.cfs, unlimited.burst), (None, None));
    }

    #[test]
    fn v1_burst_time_is_nanoseconds() {
        let stat = b"nr_periods 10\nnr_throttled 2\nthrottled_time 1500000000\n\
nr_bursts 3\nburst_time 250000000\n";
        assert_eq!(
            v1_bandwidth(stat).ok(),
            Some(([10.0, 2.0, 1.5], [3.0, 0.25]))
        );
        let old = v1_bandwidth(b"nr_periods 10\nnr_throttled 2\nthrottled_time 0\n");
        assert_eq!(old.ok().map(|(_, b)| b), Some([0.0, 0.0]));
    }
}
