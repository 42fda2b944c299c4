//! loadavg: `node_load1`, `node_load5`, `node_load15` from `/proc/loadavg`.

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::{MetricSink, MetricType};
use crate::stateless_collector;
use crate::util::{parse_f64, parse_file};

stateless_collector!("loadavg", true, "/proc/loadavg", collect);

/// Parses `/proc/loadavg` into the 1, 5 and 15 minute averages.
pub fn parse(bytes: &[u8]) -> Result<[f64; 3], ParseError> {
    let text = String::from_utf8_lossy(bytes);
    let mut fields = text.split_ascii_whitespace();
    let mut loads = [0.0; 3];
    for load in &mut loads {
        let field = fields
            .next()
            .ok_or_else(|| ParseError::new("fewer than 3 fields"))?;
        *load = parse_f64(field)?;
    }
    Ok(loads)
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let loads = parse_file(&settings.roots.proc("loadavg"), parse)?;
    for (name, value) in ["node_load1", "node_load5", "node_load15"]
        .iter()
        .zip(loads)
    {
        let help = match *name {
            "node_load1" => "1m load average.",
            "node_load5" => "5m load average.",
            _ => "15m load average.",
        };
        sink.single(name, help, MetricType::Gauge, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_line() {
        assert_eq!(
            parse(b"0.21 0.37 0.39 1/719 19737\n").unwrap(),
            [0.21, 0.37, 0.39]
        );
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(b"").is_err());
        assert!(parse(b"0.21 0.3").is_err());
        assert!(parse(b"a b c").is_err());
        assert!(parse(&[0xff, 0xfe, 0x00]).is_err());
    }
}
