//! `/proc/net/dev` and `/proc/<pid>/net/dev`: the kernel prints two header lines and then one
//! line per device, `"%6s:%8llu %7llu ..."` with 8 receive and 8 transmit counters
//! (`dev_seq_printf_stats` in <https://github.com/torvalds/linux/blob/master/net/core/net-procfs.c>).
//! node_exporter reads it through procfs' `NetDev`
//! (<https://github.com/prometheus/procfs/blob/master/net_dev.go>), cAdvisor through its own
//! `scanInterfaceStats` (container/libcontainer/handler.go), which also checks the header.

use crate::error::ParseError;
use crate::util::parse_u64;

/// One device line of `/proc/net/dev`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevStats {
    /// Interface name.
    pub name: String,
    /// bytes, packets, errs, drop, fifo, frame, compressed, multicast.
    pub rx: [u64; 8],
    /// bytes, packets, errs, drop, fifo, colls, carrier, compressed.
    pub tx: [u64; 8],
}

/// Parses `/proc/net/dev`: two header lines (skipped), then `name: 16 counters` per device.
/// The name is what precedes the last colon (procfs' `parseLine` splits at the last `:`); a
/// line without a colon or without exactly 16 counters fails the file.
pub fn parse(bytes: &[u8]) -> Result<Vec<DevStats>, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError::new("not UTF-8"))?;
    let mut devices = Vec::new();
    for line in crate::util::lines(text).skip(2) {
        if line.trim().is_empty() {
            continue;
        }
        let (name, rest) = line
            .rsplit_once(':')
            .ok_or_else(|| ParseError::new(format!("missing colon in {line:?}")))?;
        // Into an array, not a vector per line: every column is parsed (a bad one fails the
        // line) and counted, and a count other than 16 fails it.
        let mut values = [0u64; 16];
        let mut count = 0;
        for column in rest.split_ascii_whitespace() {
            let value = parse_u64(column)?;
            if let Some(slot) = values.get_mut(count) {
                *slot = value;
            }
            count += 1;
        }
        if count != 16 {
            return Err(ParseError::new(format!(
                "expected 16 counters, got {count} in {line:?}"
            )));
        }
        let (rx, tx) = values.split_at(8);
        devices.push(DevStats {
            name: name.trim().to_string(),
            rx: array8(rx),
            tx: array8(tx),
        });
    }
    Ok(devices)
}

fn array8(values: &[u64]) -> [u64; 8] {
    let mut out = [0; 8];
    for (o, v) in out.iter_mut().zip(values) {
        *o = *v;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kernel_layout() {
        let text = b"Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo: 2776770   11307    0    0    0     0          0         0  2776770   11307    0    0    0     0       0          0\n  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n";
        let devs = parse(text).unwrap();
        assert_eq!(devs.len(), 2);
        assert_eq!(devs[0].name, "lo");
        assert_eq!(devs[0].rx[0], 2776770);
        assert_eq!(devs[1].rx, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(devs[1].tx, [9, 10, 11, 12, 13, 14, 15, 16]);
        assert!(parse(b"h\nh\neth0 1 2\n").is_err());
        assert!(parse(b"h\nh\neth0: 1 2\n").is_err());
        let err = |text: &[u8]| parse(text).unwrap_err().to_string();
        let sixteen = "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16";
        assert!(err(format!("h\nh\neth0: {sixteen} 17\n").as_bytes()).contains("got 17"));
        assert!(err(format!("h\nh\neth0: {sixteen} x\n").as_bytes()).contains("\"x\""));
        assert!(err(b"h\nh\neth0: x 2\n").contains("\"x\""));
    }
}
