//! slabinfo (off by default): `node_slabinfo_*{slab}` from `/proc/slabinfo` (version 2.1).

use std::sync::Arc;

use regex::Regex;

use crate::collector::{Collector, CollectorInfo, Settings};
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::options::{device_allowed, Flag};
use crate::util::{lossy, parse_file, parse_i64};

/// `--collector.slabinfo.slabs-include`.
pub const INCLUDE: Flag<Option<Regex>> = Flag::new(
    "collector.slabinfo.slabs-include",
    "Regexp of slabs to include in slabinfo collector.",
    ".*",
);
/// `--collector.slabinfo.slabs-exclude`.
pub const EXCLUDE: Flag<Option<Regex>> = Flag::new(
    "collector.slabinfo.slabs-exclude",
    "Regexp of slabs to exclude in slabinfo collector.",
    "",
);

/// Registration of this collector.
pub const INFO: CollectorInfo = CollectorInfo {
    name: "slabinfo",
    default_enabled: false,
    sources: "/proc/slabinfo",
    flags: &[INCLUDE.spec, EXCLUDE.spec],
    build: |settings| {
        Ok(Box::new(Slabinfo {
            settings: Arc::clone(settings),
            include: settings.options.get(&INCLUDE)?,
            exclude: settings.options.get(&EXCLUDE)?,
        }))
    },
};

/// The columns of one slab cache the collector exports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slab {
    /// Cache name.
    pub name: String,
    /// `<active_objs>`.
    pub active_objects: i64,
    /// `<num_objs>`.
    pub objects: i64,
    /// `<objsize>` in bytes.
    pub object_size: i64,
    /// `<objperslab>`.
    pub objects_per_slab: i64,
    /// `<pagesperslab>`.
    pub pages_per_slab: i64,
}

/// Parses `/proc/slabinfo` 2.1: every line but the version and header lines must have the 16
/// columns `name a b c d e : tunables f g h : slabdata i j k`.
pub fn parse(bytes: &[u8]) -> Result<Vec<Slab>, ParseError> {
    let text = lossy(bytes);
    let mut slabs = Vec::new();
    for line in text.lines() {
        if line.contains("slabinfo -") || line.contains("# name") {
            continue;
        }
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        let [name, active, num, size, per_slab, pages, _, _, limit, batch, shared, _, _, sa, sn, avail] =
            fields.as_slice()
        else {
            return Err(ParseError::new(format!("unable to read: {line:?}")));
        };
        for tunable in [limit, batch, shared, sa, sn, avail] {
            parse_i64(tunable)?;
        }
        slabs.push(Slab {
            name: (*name).to_string(),
            active_objects: parse_i64(active)?,
            objects: parse_i64(num)?,
            object_size: parse_i64(size)?,
            objects_per_slab: parse_i64(per_slab)?,
            pages_per_slab: parse_i64(pages)?,
        });
    }
    Ok(slabs)
}

struct Slabinfo {
    settings: Arc<Settings>,
    include: Option<Regex>,
    exclude: Option<Regex>,
}

impl Collector for Slabinfo {
    fn collect(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let slabs = parse_file(&self.settings.roots.proc("slabinfo"), parse)?;
        for slab in &slabs {
            if !device_allowed(&slab.name, self.include.as_ref(), self.exclude.as_ref()) {
                continue;
            }
            let labels = [("slab", slab.name.as_str())];
            for (name, help, value) in [
                ("node_slabinfo_active_objects", "The number of objects that are currently active (i.e., in use).", slab.active_objects),
                ("node_slabinfo_objects", "The total number of allocated objects (i.e., objects that are both in use and not in use).", slab.objects),
                ("node_slabinfo_object_size_bytes", "The size of objects in this slab, in bytes.", slab.object_size),
                ("node_slabinfo_objects_per_slab", "The number of objects stored in each slab.", slab.objects_per_slab),
                ("node_slabinfo_pages_per_slab", "The number of pages allocated for each slab.", slab.pages_per_slab),
            ] {
                sink.gauge(name, help).sample(&labels, value as f64);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "slabinfo - version: 2.1\n# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\nTCP                   26     26   2368   13    8 : tunables    0    0    0 : slabdata      2      2      0\ntask_struct          210    217   4288    7    8 : tunables    0    0    0 : slabdata     31     31      0\n";

    #[test]
    fn parses_real_sample() {
        let slabs = parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(slabs.len(), 2);
        assert_eq!(
            slabs[1],
            Slab {
                name: "task_struct".into(),
                active_objects: 210,
                objects: 217,
                object_size: 4288,
                objects_per_slab: 7,
                pages_per_slab: 8
            }
        );
    }

    fn slabs(flags: &[(&crate::FlagSpec, &str)]) -> Vec<String> {
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/host");
        let mut options = crate::Options::default();
        for (k, v) in flags {
            options.set_spec(k, vec![v.to_string()]);
        }
        let settings = Arc::new(Settings::new(crate::Roots::fixture(&base), options));
        let mut sink = MetricSink::new();
        (INFO.build)(&settings).unwrap().collect(&mut sink).unwrap();
        let mut out = Vec::new();
        crate::expfmt::render(&[&sink], crate::expfmt::Format::Text, &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("node_slabinfo_objects{slab=\""))
            .filter_map(|l| l.split('"').next())
            .map(String::from)
            .collect()
    }

    #[test]
    fn filters_slab_names() {
        assert_eq!(slabs(&[]).len(), 5);
        assert_eq!(
            slabs(&[(&INCLUDE.spec, "^(TCP|dentry)$")]),
            vec!["TCP", "dentry"]
        );
        assert_eq!(
            slabs(&[(&EXCLUDE.spec, "^k")]),
            vec!["TCP", "dentry", "ext4_inode_cache", "task_struct"]
        );
        assert!(
            (INFO.build)(&Arc::new(Settings::new(crate::Roots::default(), {
                let mut o = crate::Options::default();
                o.set(&EXCLUDE, "(");
                o
            })))
            .is_err()
        );
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(b"").unwrap().is_empty());
        assert!(parse(b"TCP 26 26 2368 13 8 : tunables").is_err());
        assert!(parse(b"TCP 26 x 2368 13 8 : tunables 0 0 0 : slabdata 2 2 0").is_err());
        assert!(parse(&[0xff, 0xfe]).is_err());
    }
}
