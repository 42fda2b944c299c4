//! Requests and limits back from the cgroup values the kubelet wrote.
//!
//! The kubelet turns a CPU request into `cpu.shares` with `MilliCPUToShares` (shares =
//! millicores * 1024 / 1000, at least 2; kubernetes `pkg/kubelet/cm/helpers_linux.go`) and reads
//! it back with `sharesToMilliCPU` (ceil(shares * 1000 / 1024);
//! `pkg/kubelet/kuberuntime/helpers_linux.go`). On cgroup v2 the runtime (runc/libcontainer
//! `ConvertCPUSharesToCgroupV2Value`) writes `cpu.weight = 1 + ((shares - 2) * 9999) / 262142`,
//! and cAdvisor's `convertCPUWeightToCPULimit` (the value of `container_spec_cpu_shares`)
//! maps it back to `2 + ((weight - 1) * 262142) / 9999`. The weight keeps one step in ~26
//! shares, so on v2 the request is known to ~25m: [`cpu_request_millis`] picks the roundest
//! request the kubelet could have set for that weight. CPU limits come from the CFS quota
//! (`quotaToMilliCPU`: quota * 1000 / period), memory limits from the memory limit.

/// Shares the kubelet never writes below (`cm.MinShares`).
pub const MIN_SHARES: u64 = 2;

/// cAdvisor's weight → shares conversion (`convertCPUWeightToCPULimit`), as nodex exports it.
fn cadvisor_weight_to_shares(weight: u64) -> u64 {
    2 + (weight - 1) * 262142 / 9999
}

/// The weight whose cAdvisor conversion is `shares`, if there is one.
fn weight_of_cadvisor_shares(shares: u64) -> Option<u64> {
    if !(2..=262144).contains(&shares) {
        return None;
    }
    let guess = (shares - 2) * 9999 / 262142 + 1;
    [guess, guess + 1]
        .into_iter()
        .find(|&w| (1..=10000).contains(&w) && cadvisor_weight_to_shares(w) == shares)
}

/// runc's shares → weight conversion (`ConvertCPUSharesToCgroupV2Value`).
#[cfg(test)]
fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.max(MIN_SHARES) - 2) * 9999 / 262142
}

/// The kubelet's `MilliCPUToShares`.
#[cfg(test)]
fn millis_to_shares(millis: u64) -> u64 {
    (millis * 1024 / 1000).max(MIN_SHARES)
}

/// The weight runc writes for a kubelet request of `millis`.
fn weight_of_request(millis: u64) -> u64 {
    1 + ((millis * 1024 / 1000).max(MIN_SHARES) - 2) * 9999 / 262142
}

/// The CPU request in millicores from `container_spec_cpu_shares`; `None` when there is no
/// value (0: no cpu controller). `v2`: the shares came from a `cpu.weight`.
///
/// v1 is exact from 2m up (the kubelet's `sharesToMilliCPU`). On v2 a weight stands for ~25
/// millicore values; of those, the roundest (a multiple of 1000, else 500, 250, 100, 50, 25,
/// 10, 5) is shown, which gives back every request that is a multiple of 50m exactly. Weight 1
/// (requests up to 28m, and BestEffort's 2 shares) shows as 2m, as on v1.
pub fn cpu_request_millis(shares: u64, v2: bool) -> Option<u64> {
    if shares < MIN_SHARES {
        return None;
    }
    if !v2 {
        return Some((shares * 1000).div_ceil(1024));
    }
    let w = weight_of_cadvisor_shares(shares)?;
    if w == 1 {
        return Some(2);
    }
    // The smallest kubelet shares value that runc turns into this weight, then the requests
    // that give it (each weight covers at most 27 shares, so at most ~27 requests).
    let lo_shares = 2 + ((w - 1) * 262142).div_ceil(9999);
    let lo = (lo_shares * 1000).div_ceil(1024);
    let range: Vec<u64> = (lo..lo + 64)
        .skip_while(|&m| weight_of_request(m) < w)
        .take_while(|&m| weight_of_request(m) == w)
        .collect();
    [1000, 500, 250, 100, 50, 25, 10, 5, 1]
        .into_iter()
        .find_map(|d| range.iter().copied().find(|m| m % d == 0))
}

/// The CPU limit in millicores from the CFS quota and period (`None`: unlimited).
pub fn cpu_limit_millis(quota: f64, period: f64) -> Option<f64> {
    (quota > 0.0 && period > 0.0).then(|| quota * 1000.0 / period)
}

/// v1 reports "no limit" as the largest page-aligned i64, v2 as `max` (exported as 0).
pub fn memory_limit(bytes: f64) -> Option<f64> {
    (bytes > 0.0 && bytes < (1u64 << 62) as f64).then_some(bytes)
}

/// Whether a set of `container_spec_cpu_shares` values came from cgroup v2 weights: every
/// value is one cAdvisor's weight conversion can produce, and one at least is not 2 (which
/// both versions share). Used for `--url`, where the hierarchy cannot be looked at.
pub fn looks_like_v2(shares: impl IntoIterator<Item = u64>) -> bool {
    let mut informative = false;
    for s in shares.into_iter().filter(|&s| s != 0) {
        if weight_of_cadvisor_shares(s).is_none() {
            return false;
        }
        informative |= s != 2;
    }
    informative
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_requests_round_trip_through_the_kubelet_and_runtime() {
        // (request the kubelet was given, what top shows on v1, what it shows on v2)
        let cases: &[(u64, u64, u64)] = &[
            (1, 2, 2),                // below MinShares: 2 shares, shown as 2m
            (2, 2, 2),                // the smallest exact one on v1
            (10, 10, 2),              // weight 1 covers 1m..28m: shown as 2m on v2
            (30, 30, 50),             // weight 2 covers 29m..53m: the roundest is 50m
            (100, 100, 100),          // 102 shares -> weight 4 (80m..104m)
            (125, 125, 125),          // weight 5 (105m..130m)
            (250, 250, 250),          // weight 10 (233m..258m)
            (333, 333, 325),          // weight 13 (310m..334m): not a multiple of 25m
            (500, 500, 500),          // weight 20 (490m..514m)
            (925, 925, 950),          // weight 37 (924m..950m): two multiples of 25m
            (1000, 1000, 1000),       // weight 39 (976m..1000m)
            (1500, 1500, 1500),       // weight 59
            (2000, 2000, 2000),       // weight 79 (2000m..2025m)
            (4000, 4000, 4000),       // weight 157
            (256000, 256000, 256000), // 262144 shares, weight 10000
        ];
        for &(req, v1, v2) in cases {
            let shares = millis_to_shares(req);
            assert_eq!(cpu_request_millis(shares, false), Some(v1), "v1 {req}m");
            let exported = cadvisor_weight_to_shares(shares_to_weight(shares));
            let shown = cpu_request_millis(exported, true).expect("a weight");
            assert_eq!(
                shown, v2,
                "v2 {req}m (shares {shares}, exported {exported})"
            );
            // Whatever is shown maps to the same weight as the request.
            assert_eq!(
                shares_to_weight(millis_to_shares(shown)),
                shares_to_weight(shares),
                "{req}m"
            );
        }
        // Every multiple of 50m up to 64 cores comes back exactly on v2.
        for req in (50..=64000).step_by(50) {
            let exported = cadvisor_weight_to_shares(shares_to_weight(millis_to_shares(req)));
            assert_eq!(cpu_request_millis(exported, true), Some(req), "{req}m");
        }
        assert_eq!(cpu_request_millis(0, false), None);
        assert_eq!(cpu_request_millis(0, true), None);
        // Not a value cAdvisor's weight conversion produces.
        assert_eq!(cpu_request_millis(1000, true), None);
    }

    #[test]
    fn limits_from_quota_and_memory() {
        assert_eq!(cpu_limit_millis(50000.0, 100000.0), Some(500.0));
        assert_eq!(cpu_limit_millis(150000.0, 100000.0), Some(1500.0));
        assert_eq!(cpu_limit_millis(0.0, 100000.0), None);
        assert_eq!(cpu_limit_millis(50000.0, 0.0), None);
        assert_eq!(memory_limit(134217728.0), Some(134217728.0));
        assert_eq!(memory_limit(0.0), None);
        assert_eq!(memory_limit(9223372036854771712.0), None);
    }

    #[test]
    fn version_heuristic() {
        assert!(looks_like_v2([2597, 80, 2, 0]));
        assert!(!looks_like_v2([1024, 102, 2]));
        assert!(!looks_like_v2([2, 0]));
        assert!(!looks_like_v2([]));
    }
}
