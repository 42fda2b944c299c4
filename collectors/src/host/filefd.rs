//! filefd: `node_filefd_allocated` and `node_filefd_maximum` from `/proc/sys/fs/file-nr`.

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::{MetricSink, MetricType};
use crate::stateless_collector;
use crate::util::{lossy, parse_f64, parse_file};

stateless_collector!("filefd", true, "/proc/sys/fs/file-nr", collect);

/// Parses `file-nr` (`allocated<TAB>unused<TAB>maximum`) into (allocated, maximum).
pub fn parse(bytes: &[u8]) -> Result<(f64, f64), ParseError> {
    let text = lossy(bytes);
    let parts: Vec<&str> = text.trim().split('\t').collect();
    let [allocated, _, maximum, ..] = parts.as_slice() else {
        return Err(ParseError::new("unexpected number of file stats"));
    };
    Ok((parse_f64(allocated)?, parse_f64(maximum)?))
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let (allocated, maximum) = parse_file(&settings.roots.proc("sys/fs/file-nr"), parse)?;
    sink.single(
        "node_filefd_allocated",
        "File descriptor statistics: allocated.",
        MetricType::Gauge,
        allocated,
    );
    sink.single(
        "node_filefd_maximum",
        "File descriptor statistics: maximum.",
        MetricType::Gauge,
        maximum,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_line() {
        assert_eq!(
            parse(b"1344\t0\t9223372036854775807\n").unwrap(),
            (1344.0, 9223372036854775807.0)
        );
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(b"").is_err());
        assert!(parse(b"1344\t0").is_err());
        assert!(parse(b"1344 0 100").is_err());
        assert!(parse(b"a\t0\tb").is_err());
        assert!(parse(&[0xff, b'\t', b'0', b'\t', 0xfe]).is_err());
    }
}
