//! entropy: `node_entropy_available_bits` and `node_entropy_pool_size_bits` from
//! `/proc/sys/kernel/random`.

use crate::roots::JoinExt;
use std::path::Path;

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::{MetricSink, MetricType};
use crate::stateless_collector;
use crate::util::{lossy, parse_u64};

stateless_collector!("entropy", true, "/proc/sys/kernel/random", collect);

/// The files procfs' `KernelRandom()` reads; any present one must hold an unsigned integer.
const FILES: [&str; 5] = [
    "entropy_avail",
    "poolsize",
    "urandom_min_reseed_secs",
    "write_wakeup_threshold",
    "read_wakeup_threshold",
];

/// Parses one of the `random` sysctl files (an unsigned integer).
pub fn parse(bytes: &[u8]) -> Result<u64, ParseError> {
    parse_u64(&lossy(bytes))
}

/// Reads an optional value: absent is `None`, unreadable or malformed is an error.
fn read_value(path: &Path) -> Result<Option<u64>, CollectError> {
    match crate::util::read_bytes(path) {
        Ok(bytes) => parse(&bytes)
            .map(Some)
            .map_err(|e| CollectError::parse(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CollectError::io(path, e)),
    }
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let dir = settings.roots.proc("sys/kernel/random");
    let mut values = [None; 5];
    for (value, file) in values.iter_mut().zip(FILES) {
        *value = read_value(&dir.join_exact(file))?;
    }
    let [available, pool_size, ..] = values;
    let available =
        available.ok_or_else(|| CollectError::Other("couldn't get entropy_avail".into()))?;
    sink.single(
        "node_entropy_available_bits",
        "Bits of available entropy.",
        MetricType::Gauge,
        available as f64,
    );
    let pool_size =
        pool_size.ok_or_else(|| CollectError::Other("couldn't get entropy poolsize".into()))?;
    sink.single(
        "node_entropy_pool_size_bits",
        "Bits of entropy pool.",
        MetricType::Gauge,
        pool_size as f64,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_values() {
        assert_eq!(parse(b"256\n").unwrap(), 256);
        assert!(parse(b"").is_err());
        assert!(parse(b"-1").is_err());
        assert!(parse(&[0xff, 0xfe]).is_err());
    }
}
