//! kernel_hung: `node_kernel_hung_tasks_total` from `/proc/sys/kernel/hung_task_detect_count`
//! (Linux 6.7+; absent elsewhere, which is no data).

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::{MetricSink, MetricType};
use crate::stateless_collector;
use crate::util::{lossy, parse_u64};

stateless_collector!(
    "kernel_hung",
    true,
    "/proc/sys/kernel/hung_task_detect_count",
    collect
);

/// Parses `hung_task_detect_count` (an unsigned integer).
pub fn parse(bytes: &[u8]) -> Result<u64, ParseError> {
    parse_u64(&lossy(bytes))
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let path = settings.roots.proc("sys/kernel/hung_task_detect_count");
    let bytes = match crate::util::read_bytes(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CollectError::NoData(
                "hung_task_detect_count does not exist".into(),
            ))
        }
        Err(e) => return Err(CollectError::io(&path, e)),
    };
    let count = parse(&bytes).map_err(|e| CollectError::parse(&path, e))?;
    sink.single(
        "node_kernel_hung_tasks_total",
        "Total number of tasks that have been detected as hung since the system booted.",
        MetricType::Counter,
        count as f64,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_count() {
        assert_eq!(parse(b"3\n").unwrap(), 3);
        assert!(parse(b"").is_err());
        assert!(parse(b"x").is_err());
        assert!(parse(&[0xff]).is_err());
    }
}
