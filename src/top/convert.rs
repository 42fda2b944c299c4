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

/// The kubelet's `MilliCPUToShares`.
fn millis_to_shares(millis: u64) -> u64 {
    (millis * 1024 / 1000).max(MIN_SHARES)
}

/// How the runtime turned shares into `cpu.weight` on cgroup v2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormula {
    /// runc before 1.3.2, crun before 1.23: `1 + ((shares - 2) * 9999) / 262142`.
    Linear,
    /// opencontainers/cgroups `ConvertCPUSharesToCgroupV2Value` since runc 1.3.2 (runc PR
    /// 4785, cgroups PR 20; crun 1.23): `ceil(10^((L^2 + 125 L) / 612 - 7/34))`, L =
    /// log2(shares), which maps the v1 default 1024 to the v2 default 100.
    Quadratic,
}

/// Where `container_spec_cpu_shares` came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharesSource {
    /// cgroup v1 `cpu.shares`.
    V1,
    /// cgroup v2 `cpu.weight` written with this formula, converted back by cAdvisor.
    V2(WeightFormula),
}

/// The runtime's shares → weight conversion.
pub fn shares_to_weight(shares: u64, formula: WeightFormula) -> u64 {
    if shares == 0 {
        return 0;
    }
    match formula {
        WeightFormula::Linear => 1 + (shares.max(MIN_SHARES) - 2) * 9999 / 262142,
        WeightFormula::Quadratic => {
            if shares <= 2 {
                return 1;
            }
            if shares >= 262144 {
                return 10000;
            }
            let l = (shares as f64).log2();
            let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
            10f64.powf(exponent).ceil() as u64
        }
    }
}

/// The weight the runtime writes for a kubelet request of `millis`.
fn weight_of_request(millis: u64, formula: WeightFormula) -> u64 {
    shares_to_weight(millis_to_shares(millis), formula)
}

/// The largest request the kubelet accepts as shares (262144 shares).
const MAX_MILLIS: u64 = 256000;

/// The requests (millicores) whose weight is `w`, in order.
fn requests_of_weight(w: u64, formula: WeightFormula) -> Vec<u64> {
    // The weight does not decrease with the request: binary search for the first one.
    let (mut lo, mut hi) = (1, MAX_MILLIS + 1);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if weight_of_request(mid, formula) < w {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    (lo..=MAX_MILLIS)
        .take_while(|&m| weight_of_request(m, formula) == w)
        .take(4096)
        .collect()
}

/// Roundness ranks: a request that is a multiple of an earlier divisor is rounder.
const ROUND: [u64; 9] = [1000, 500, 250, 100, 50, 25, 10, 5, 1];

/// The roundest of `range` and its rank (lower is rounder).
fn roundest(range: &[u64]) -> Option<(u64, usize)> {
    ROUND
        .iter()
        .enumerate()
        .find_map(|(rank, d)| range.iter().find(|m| *m % d == 0).map(|&m| (m, rank)))
}

/// The CPU request in millicores from `container_spec_cpu_shares`; `None` when there is no
/// value (0: no cpu controller).
///
/// v1 is exact from 2m up (the kubelet's `sharesToMilliCPU`). On v2 a weight stands for a
/// range of requests (~25 with the linear formula, 1 to ~30 with the quadratic one); of
/// those, the roundest (a multiple of 1000, else 500, 250, 100, 50, 25, 10, 5) is shown,
/// which gives back every request that is a multiple of 50m exactly. Weight 1 (requests up to
/// 28m with the linear formula, BestEffort's 2 shares) shows as 2m, as on v1.
pub fn cpu_request_millis(shares: u64, source: SharesSource) -> Option<u64> {
    if shares < MIN_SHARES {
        return None;
    }
    let formula = match source {
        SharesSource::V1 => return Some((shares * 1000).div_ceil(1024)),
        SharesSource::V2(f) => f,
    };
    let w = weight_of_cadvisor_shares(shares)?;
    if w == 1 {
        return Some(2);
    }
    roundest(&requests_of_weight(w, formula)).map(|(m, _)| m)
}

/// The formula under which the weights behind these `container_spec_cpu_shares` values (of
/// Kubernetes containers) read back as the rounder requests: people ask for 100m, 250m, 1
/// CPU, and the wrong formula turns those into odd numbers. Linear on a tie (no containers).
pub fn pick_formula(shares: impl IntoIterator<Item = u64> + Clone) -> WeightFormula {
    let score = |f: WeightFormula| -> usize {
        shares
            .clone()
            .into_iter()
            .filter_map(weight_of_cadvisor_shares)
            .filter(|&w| w > 1)
            .filter_map(|w| roundest(&requests_of_weight(w, f)))
            .map(|(_, rank)| ROUND.len() - rank)
            .sum()
    };
    if score(WeightFormula::Quadratic) > score(WeightFormula::Linear) {
        WeightFormula::Quadratic
    } else {
        WeightFormula::Linear
    }
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

    use WeightFormula::{Linear, Quadratic};

    #[test]
    fn cpu_requests_round_trip_through_the_kubelet_and_runtime() {
        // (request given to the kubelet, shown on v1, v2 linear weight, shown, v2 quadratic
        // weight, shown). Weights: runc's formulas as quoted above (and in the Kubernetes blog
        // post "New conversion from cgroup v1 CPU shares to v2 CPU weight": 1024 -> 100).
        let cases: &[(u64, u64, u64, u64, u64, u64)] = &[
            (1, 2, 1, 2, 1, 2),                             // below MinShares: 2 shares
            (2, 2, 1, 2, 1, 2),                             // the smallest exact one on v1
            (10, 10, 1, 2, 4, 10),                          // linear weight 1 covers 1m..28m
            (30, 30, 2, 50, 7, 30),                         // linear weight 2: 29m..53m
            (100, 100, 4, 100, 17, 100),                    // 102 shares
            (125, 125, 5, 125, 21, 125),                    //
            (250, 250, 10, 250, 35, 250),                   // 256 shares
            (333, 333, 13, 325, 43, 330),                   // not a multiple of 50m
            (500, 500, 20, 500, 59, 500),                   //
            (925, 925, 37, 950, 95, 925),                   // linear: two multiples of 25m
            (1000, 1000, 39, 1000, 100, 1000),              // 1024 shares: v2's default 100
            (1500, 1500, 59, 1500, 138, 1500),              //
            (2000, 2000, 79, 2000, 174, 2000),              //
            (4000, 4000, 157, 4000, 303, 4000),             //
            (256000, 256000, 10000, 256000, 10000, 256000), // 262144 shares
        ];
        for &(req, v1, lw, lshown, qw, qshown) in cases {
            let shares = millis_to_shares(req);
            assert_eq!(
                cpu_request_millis(shares, SharesSource::V1),
                Some(v1),
                "v1 {req}m"
            );
            for (f, w, want) in [(Linear, lw, lshown), (Quadratic, qw, qshown)] {
                assert_eq!(shares_to_weight(shares, f), w, "{f:?} weight of {req}m");
                let exported = cadvisor_weight_to_shares(w);
                let shown = cpu_request_millis(exported, SharesSource::V2(f));
                assert_eq!(shown, Some(want), "{f:?} {req}m (exported {exported})");
                // Whatever is shown maps to the same weight as the request.
                assert_eq!(weight_of_request(want, f), w, "{f:?} {req}m");
            }
        }
        // Every multiple of 50m up to 64 cores comes back exactly under both formulas.
        for f in [Linear, Quadratic] {
            for req in (50..=64000).step_by(50) {
                let exported = cadvisor_weight_to_shares(weight_of_request(req, f));
                let shown = cpu_request_millis(exported, SharesSource::V2(f));
                assert_eq!(shown, Some(req), "{f:?} {req}m");
            }
        }
        assert_eq!(cpu_request_millis(0, SharesSource::V1), None);
        assert_eq!(cpu_request_millis(0, SharesSource::V2(Linear)), None);
        // Not a value cAdvisor's weight conversion produces.
        assert_eq!(cpu_request_millis(1000, SharesSource::V2(Linear)), None);
    }

    #[test]
    fn formula_is_picked_by_round_requests() {
        let exported = |reqs: &[u64], f| -> Vec<u64> {
            reqs.iter()
                .map(|&m| cadvisor_weight_to_shares(weight_of_request(m, f)))
                .collect()
        };
        let reqs = [100, 250, 500, 1000, 2000];
        assert_eq!(pick_formula(exported(&reqs, Linear)), Linear);
        assert_eq!(pick_formula(exported(&reqs, Quadratic)), Quadratic);
        assert_eq!(pick_formula(Vec::new()), Linear);
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
