//! uname: `node_uname_info` from the uname(2) system call.

use crate::collector::Settings;
use crate::error::CollectError;
use crate::expfmt::{MetricSink, MetricType};
use crate::stateless_collector;

stateless_collector!("uname", true, "uname(2)", collect);

/// The six uname(2) fields, as node_exporter labels them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnameInfo {
    /// `sysname`, e.g. `Linux`.
    pub sysname: String,
    /// `release`, the kernel release.
    pub release: String,
    /// `version`, the kernel build string.
    pub version: String,
    /// `machine`, e.g. `x86_64`.
    pub machine: String,
    /// `nodename`, the host name.
    pub nodename: String,
    /// `domainname`, the NIS domain name (`(none)` when unset).
    pub domainname: String,
}

/// Reads uname(2) of the running kernel.
pub fn read_uname() -> UnameInfo {
    let u = rustix::system::uname();
    let text = |c: &std::ffi::CStr| c.to_string_lossy().into_owned();
    UnameInfo {
        sysname: text(u.sysname()),
        release: text(u.release()),
        version: text(u.version()),
        machine: text(u.machine()),
        nodename: text(u.nodename()),
        domainname: text(u.domainname()),
    }
}

/// Writes `node_uname_info` for `info`.
pub fn write_info(sink: &mut MetricSink, info: &UnameInfo) {
    sink.family(
        "node_uname_info",
        "Labeled system information as provided by the uname system call.",
        MetricType::Gauge,
    )
    .sample(
        &[
            ("domainname", &info.domainname),
            ("machine", &info.machine),
            ("nodename", &info.nodename),
            ("release", &info.release),
            ("sysname", &info.sysname),
            ("version", &info.version),
        ],
        1.0,
    );
}

fn collect(_settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    write_info(sink, &read_uname());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_kernel() {
        let info = read_uname();
        assert_eq!(info.sysname, "Linux");
        assert!(!info.release.is_empty());
    }

    #[test]
    fn writes_one_labelled_sample() {
        let mut sink = MetricSink::new();
        let info = UnameInfo {
            sysname: "Linux".into(),
            release: "6.1.0".into(),
            version: "#1 SMP".into(),
            machine: "x86_64".into(),
            nodename: "host".into(),
            domainname: "(none)".into(),
        };
        write_info(&mut sink, &info);
        assert_eq!(sink.sample_count(), 1);
    }
}
