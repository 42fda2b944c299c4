//! `rate_limit`: a token bucket over all requests, fixed at start-up.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::schema::RateLimitConfig;

/// The limiter `rate_limit` asks for; `None` without one or with a zero interval.
pub(super) fn from_config(limit: Option<&RateLimitConfig>) -> Result<Option<RateLimiter>, String> {
    let Some(limit) = limit else {
        return Ok(None);
    };
    let interval_text = limit.interval.clone().unwrap_or_else(|| "0".into());
    let interval = nodex_collectors::options::parse_go_duration(&interval_text)
        .ok_or_else(|| format!("rate_limit.interval: invalid duration {interval_text:?}"))?;
    if interval.is_zero() {
        return Ok(None);
    }
    let burst = f64::from(limit.burst.unwrap_or(1).max(1));
    Ok(Some(RateLimiter {
        interval,
        burst,
        state: Mutex::new((burst, Instant::now())),
    }))
}

/// A token bucket (`rate_limit`): `burst` tokens, one more every `interval`.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// Takes a token; `false` when the bucket is empty (answer 429).
    pub fn allow(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(state.1).as_secs_f64() / self.interval.as_secs_f64();
        state.0 = (state.0 + refill).min(self.burst);
        state.1 = now;
        if state.0 >= 1.0 {
            state.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limiter_refuses_past_burst() {
        let limiter = RateLimiter {
            interval: Duration::from_secs(3600),
            burst: 2.0,
            state: Mutex::new((2.0, Instant::now())),
        };
        assert!(limiter.allow());
        assert!(limiter.allow());
        assert!(!limiter.allow());
    }
}
