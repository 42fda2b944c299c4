//! timex: the kernel clock discipline state from adjtimex(2), read-only (`modes = 0`).

use crate::collector::Settings;
use crate::error::CollectError;
use crate::expfmt::{MetricSink, MetricType};
use crate::stateless_collector;

stateless_collector!("timex", true, "adjtimex(2)", collect);

/// adjtimex(2) return value meaning the clock is not synchronised (`TIME_ERROR`).
const TIME_ERROR: i64 = 5;
/// `STA_NANO`: offset and jitter are in nanoseconds instead of microseconds.
const STA_NANO: i64 = 0x2000;
/// Scaled-ppm unit of `freq`, `ppsfreq` and `stabil`: ppm with a 16-bit fraction.
const PPM16FRAC: f64 = 1_000_000.0 * 65536.0;
const MICRO: f64 = 1e6;
const NANO: f64 = 1e9;

/// The adjtimex(2) fields node_exporter exports, plus the call's return value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimexFields {
    /// Return value of adjtimex(2) (clock state, `TIME_ERROR` = 5).
    pub state: i64,
    /// Time offset (µs, or ns with `STA_NANO`).
    pub offset: i64,
    /// Frequency offset (scaled ppm).
    pub freq: i64,
    /// Maximum error (µs).
    pub maxerror: i64,
    /// Estimated error (µs).
    pub esterror: i64,
    /// Clock command/status bits.
    pub status: i64,
    /// PLL time constant.
    pub constant: i64,
    /// Microseconds between clock ticks.
    pub tick: i64,
    /// PPS frequency (scaled ppm).
    pub ppsfreq: i64,
    /// PPS jitter (µs, or ns with `STA_NANO`).
    pub jitter: i64,
    /// PPS interval duration (log2 seconds).
    pub shift: i64,
    /// PPS stability (scaled ppm).
    pub stabil: i64,
    /// PPS jitter limit exceeded count.
    pub jitcnt: i64,
    /// PPS calibration intervals.
    pub calcnt: i64,
    /// PPS calibration errors.
    pub errcnt: i64,
    /// PPS stability limit exceeded count.
    pub stbcnt: i64,
    /// TAI offset (seconds).
    pub tai: i64,
}

/// One exported value: family name, help, type and value.
pub type TimexValue = (&'static str, &'static str, MetricType, f64);

/// Converts the raw fields to node_exporter's families and units.
pub fn timex_values(t: &TimexFields) -> Vec<TimexValue> {
    use MetricType::{Counter, Gauge};
    let divisor = if t.status & STA_NANO != 0 {
        NANO
    } else {
        MICRO
    };
    let sync = if t.state == TIME_ERROR { 0.0 } else { 1.0 };
    vec![
        (
            "node_timex_sync_status",
            "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
            Gauge,
            sync,
        ),
        (
            "node_timex_offset_seconds",
            "Time offset in between local system and reference clock.",
            Gauge,
            t.offset as f64 / divisor,
        ),
        (
            "node_timex_frequency_adjustment_ratio",
            "Local clock frequency adjustment.",
            Gauge,
            1.0 + t.freq as f64 / PPM16FRAC,
        ),
        (
            "node_timex_maxerror_seconds",
            "Maximum error in seconds.",
            Gauge,
            t.maxerror as f64 / MICRO,
        ),
        (
            "node_timex_estimated_error_seconds",
            "Estimated error in seconds.",
            Gauge,
            t.esterror as f64 / MICRO,
        ),
        (
            "node_timex_status",
            "Value of the status array bits.",
            Gauge,
            t.status as f64,
        ),
        (
            "node_timex_loop_time_constant",
            "Phase-locked loop time constant.",
            Gauge,
            t.constant as f64,
        ),
        (
            "node_timex_tick_seconds",
            "Seconds between clock ticks.",
            Gauge,
            t.tick as f64 / MICRO,
        ),
        (
            "node_timex_pps_frequency_hertz",
            "Pulse per second frequency.",
            Gauge,
            t.ppsfreq as f64 / PPM16FRAC,
        ),
        (
            "node_timex_pps_jitter_seconds",
            "Pulse per second jitter.",
            Gauge,
            t.jitter as f64 / divisor,
        ),
        (
            "node_timex_pps_shift_seconds",
            "Pulse per second interval duration.",
            Gauge,
            t.shift as f64,
        ),
        (
            "node_timex_pps_stability_hertz",
            "Pulse per second stability, average of recent frequency changes.",
            Gauge,
            t.stabil as f64 / PPM16FRAC,
        ),
        (
            "node_timex_pps_jitter_total",
            "Pulse per second count of jitter limit exceeded events.",
            Counter,
            t.jitcnt as f64,
        ),
        (
            "node_timex_pps_calibration_total",
            "Pulse per second count of calibration intervals.",
            Counter,
            t.calcnt as f64,
        ),
        (
            "node_timex_pps_error_total",
            "Pulse per second count of calibration errors.",
            Counter,
            t.errcnt as f64,
        ),
        (
            "node_timex_pps_stability_exceeded_total",
            "Pulse per second count of stability limit exceeded events.",
            Counter,
            t.stbcnt as f64,
        ),
        (
            "node_timex_tai_offset_seconds",
            "International Atomic Time (TAI) offset.",
            Gauge,
            t.tai as f64,
        ),
    ]
}

/// Calls adjtimex(2) with `modes = 0`, which only reads the kernel state.
// `c_long` fields are `i64` on 64-bit targets but `i32` on 32-bit ones.
#[allow(clippy::useless_conversion)]
pub fn read_timex() -> std::io::Result<TimexFields> {
    // SAFETY: an all-zero `timex` is valid and means "modify nothing"; the kernel only
    // writes into the struct we own.
    let (state, t) = unsafe {
        let mut t: libc::timex = std::mem::zeroed();
        (libc::adjtimex(&mut t), t)
    };
    if state < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(TimexFields {
        state: i64::from(state),
        offset: i64::from(t.offset),
        freq: i64::from(t.freq),
        maxerror: i64::from(t.maxerror),
        esterror: i64::from(t.esterror),
        status: i64::from(t.status),
        constant: i64::from(t.constant),
        tick: i64::from(t.tick),
        ppsfreq: i64::from(t.ppsfreq),
        jitter: i64::from(t.jitter),
        shift: i64::from(t.shift),
        stabil: i64::from(t.stabil),
        jitcnt: i64::from(t.jitcnt),
        calcnt: i64::from(t.calcnt),
        errcnt: i64::from(t.errcnt),
        stbcnt: i64::from(t.stbcnt),
        tai: i64::from(t.tai),
    })
}

fn collect(_settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let fields = match read_timex() {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(CollectError::NoData(format!("adjtimex: {e}")))
        }
        Err(e) => {
            return Err(CollectError::Other(format!(
                "failed to retrieve adjtimex stats: {e}"
            )))
        }
    };
    for (name, help, kind, value) in timex_values(&fields) {
        sink.single(name, help, kind, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(values: &[TimexValue], name: &str) -> f64 {
        values.iter().find(|v| v.0 == name).map(|v| v.3).unwrap()
    }

    #[test]
    fn converts_microsecond_units() {
        let t = TimexFields {
            state: 0,
            offset: 475,
            freq: 771_142,
            maxerror: 575_500,
            esterror: 6,
            status: 0x2001 & !STA_NANO,
            constant: 7,
            tick: 10_000,
            ppsfreq: 65536,
            jitter: 2,
            shift: 3,
            stabil: 131_072,
            jitcnt: 1,
            calcnt: 2,
            errcnt: 3,
            stbcnt: 4,
            tai: 37,
        };
        let v = timex_values(&t);
        assert_eq!(value(&v, "node_timex_sync_status"), 1.0);
        assert_eq!(value(&v, "node_timex_offset_seconds"), 0.000475);
        assert_eq!(
            value(&v, "node_timex_frequency_adjustment_ratio"),
            1.0 + 771_142.0 / 65_536_000_000.0
        );
        assert_eq!(value(&v, "node_timex_maxerror_seconds"), 0.5755);
        assert_eq!(value(&v, "node_timex_estimated_error_seconds"), 6e-6);
        assert_eq!(value(&v, "node_timex_tick_seconds"), 0.01);
        assert_eq!(value(&v, "node_timex_pps_frequency_hertz"), 1e-6);
        assert_eq!(value(&v, "node_timex_pps_jitter_seconds"), 2e-6);
        assert_eq!(value(&v, "node_timex_pps_shift_seconds"), 3.0);
        assert_eq!(value(&v, "node_timex_pps_stability_hertz"), 2e-6);
        assert_eq!(value(&v, "node_timex_tai_offset_seconds"), 37.0);
        assert_eq!(value(&v, "node_timex_pps_stability_exceeded_total"), 4.0);
        assert_eq!(v.len(), 17);
    }

    #[test]
    fn nanosecond_status_and_time_error() {
        let t = TimexFields {
            state: TIME_ERROR,
            offset: 475_728,
            jitter: 1_000,
            status: STA_NANO | 0x40,
            ..Default::default()
        };
        let v = timex_values(&t);
        assert_eq!(value(&v, "node_timex_sync_status"), 0.0);
        assert_eq!(value(&v, "node_timex_offset_seconds"), 0.000475728);
        assert_eq!(value(&v, "node_timex_pps_jitter_seconds"), 1e-6);
        assert_eq!(value(&v, "node_timex_status"), (STA_NANO | 0x40) as f64);
        assert_eq!(value(&v, "node_timex_frequency_adjustment_ratio"), 1.0);
    }

    #[test]
    fn reads_this_kernel() {
        let t = read_timex().unwrap();
        assert!(t.tick > 0);
    }
}
