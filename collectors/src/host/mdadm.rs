//! mdadm: software RAID state from `/proc/mdstat` (`node_md_state`, `node_md_disks`,
//! `node_md_disks_required`, `node_md_blocks`, `node_md_blocks_synced`) and
//! `/sys/block/md*/md` (`node_md_raid_disks`, `node_md_degraded`), as node_exporter with
//! procfs' `MDStat` and sysfs' `Mdraids` parsers.

use std::path::Path;

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::MetricSink;
use crate::stateless_collector;
use crate::util::{list_dir, parse_file, read_trimmed};

stateless_collector!("mdadm", true, "/proc/mdstat, /sys/block/md*/md", collect);

/// One array of `/proc/mdstat`.
#[derive(Debug, Clone, PartialEq)]
pub struct MdStat {
    /// Device name, e.g. `md0`.
    pub name: String,
    /// `active`, `inactive`, `recovering`, `resyncing`, `checking` (or whatever the line says).
    pub state: String,
    /// Active member disks.
    pub disks_active: u64,
    /// Members marked `(F)`.
    pub disks_failed: u64,
    /// Members marked `(S)`.
    pub disks_spare: u64,
    /// Disks the array needs.
    pub disks_total: u64,
    /// Size in 1 KiB blocks.
    pub blocks_total: u64,
    /// Blocks already synced (the size when no sync runs).
    pub blocks_synced: u64,
}

/// Parses `/proc/mdstat` with procfs' rules: each array is a line `mdX : state ...` followed by
/// a status line and an optional bitmap and sync line.
pub fn parse_mdstat(bytes: &[u8]) -> Result<Vec<MdStat>, ParseError> {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty()
            || line.starts_with(' ')
            || line.starts_with("Personalities")
            || line.starts_with("unused")
        {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(name), Some(state)) = (fields.first(), fields.get(2)) else {
            return Err(ParseError::new(format!("expected 3+ fields, got {line:?}")));
        };
        if lines.len() <= i + 3 {
            return Err(ParseError::new(format!(
                "too few lines for md device {name:?}"
            )));
        }
        let status = lines[i + 1];
        let (active, total, size) = eval_status_line(line, status)?;
        let sync_idx = if lines[i + 2].contains("bitmap") {
            i + 3
        } else {
            i + 2
        };
        let sync_line = lines[sync_idx];
        let mut state = (*state).to_string();
        let mut synced = size;
        let recovering = sync_line.contains("recovery");
        let resyncing = sync_line.contains("resync");
        let checking = sync_line.contains("check");
        if recovering || resyncing || checking {
            state = if recovering {
                "recovering"
            } else if checking {
                "checking"
            } else {
                "resyncing"
            }
            .to_string();
            synced = if sync_line.contains("PENDING") || sync_line.contains("DELAYED") {
                0
            } else {
                eval_recovery_line(sync_line)?
            };
        }
        out.push(MdStat {
            name: (*name).to_string(),
            state,
            disks_active: active,
            disks_failed: line.matches("(F)").count() as u64,
            disks_spare: line.matches("(S)").count() as u64,
            disks_total: total,
            blocks_total: size,
            blocks_synced: synced,
        });
    }
    Ok(out)
}

/// Returns (active, total, size) from the device line and the status line.
fn eval_status_line(device_line: &str, status: &str) -> Result<(u64, u64, u64), ParseError> {
    let size_field = status
        .split_whitespace()
        .next()
        .ok_or_else(|| ParseError::new(format!("unexpected status line {status:?}")))?;
    let size: u64 = size_field
        .parse()
        .map_err(|_| ParseError::new(format!("unexpected status line {status:?}")))?;
    if device_line.contains("raid0") || device_line.contains("linear") {
        let total = device_line.matches('[').count() as u64;
        return Ok((total, total, size));
    }
    if device_line.contains("inactive") {
        return Ok((0, 0, size));
    }
    // `<n> blocks ... [total/active] [UU_]`
    let bad = || {
        ParseError::new(format!(
            "could not find all substring matches in {status:?}"
        ))
    };
    let blocks_at = status.find(" blocks ").ok_or_else(bad)?;
    let rest = &status[blocks_at..];
    for (open, _) in rest.match_indices('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else { break };
        let Some((t, a)) = after[..close].split_once('/') else {
            continue;
        };
        let (Ok(total), Ok(active)) = (t.parse::<u64>(), a.parse::<u64>()) else {
            continue;
        };
        let tail = after[close + 1..].trim_start();
        let flags_ok = tail
            .strip_prefix('[')
            .and_then(|t| t.split_once(']'))
            .is_some_and(|(f, _)| !f.is_empty() && f.chars().all(|c| c == 'U' || c == '_'));
        if flags_ok {
            return Ok((active, total, size));
        }
    }
    Err(bad())
}

/// Blocks synced from a `recovery = 8.5% (16775552/195310144) finish=17.0min speed=...` line;
/// like procfs it insists on the percentage, finish time and speed too.
fn eval_recovery_line(line: &str) -> Result<u64, ParseError> {
    let bad = |what: &str| ParseError::new(format!("unexpected sync line {what} in {line:?}"));
    let synced = line
        .match_indices('(')
        .find_map(|(at, _)| {
            let inner = &line[at + 1..];
            let (pair, _) = inner.split_once(')')?;
            let (done, total) = pair.split_once('/')?;
            total.parse::<u64>().ok()?;
            done.parse::<u64>().ok()
        })
        .ok_or_else(|| bad("blocks"))?;
    let pct_ok = line
        .split_once("= ")
        .and_then(|(_, r)| r.split_once('%'))
        .is_some_and(|(p, _)| p.trim().parse::<f64>().is_ok());
    let finish_ok = line
        .split_once("finish=")
        .and_then(|(_, r)| r.split_once("min"))
        .is_some_and(|(f, _)| f.parse::<f64>().is_ok());
    let speed_ok = line.split_once("speed=").is_some_and(|(_, r)| {
        let digits: String = r
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        digits.parse::<f64>().is_ok()
    });
    if !(pct_ok && finish_ok && speed_ok) {
        return Err(bad("progress"));
    }
    Ok(synced)
}

/// `raid_disks` and `degraded` of one `/sys/block/mdX/md` directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Mdraid {
    /// Device name, e.g. `md0`.
    pub device: String,
    /// `raid_disks`.
    pub disks: u64,
    /// `degraded` (0 for levels that have none).
    pub degraded: u64,
}

/// Parses an md `sync_completed` attribute: `none` when no sync runs, else
/// `<done> / <total>` sectors (`sync_completed_show` in the kernel's drivers/md/md.c), read
/// as procfs' `fmt.Sscanf(val, "%d / %d")`. Anything else (the kernel's `delayed`) is an
/// error, as it is for procfs.
pub fn parse_sync_completed(text: &str) -> Result<Option<(u64, u64)>, ParseError> {
    let text = text.trim();
    if text == "none" {
        return Ok(None);
    }
    let bad = || ParseError::new(format!("invalid sync_completed {text:?}"));
    let (done, total) = text.split_once('/').ok_or_else(bad)?;
    let done = done.trim().parse::<u64>().map_err(|_| bad())?;
    let total = total.trim().parse::<u64>().map_err(|_| bad())?;
    Ok(Some((done, total)))
}

fn read_u64(path: &Path) -> Result<u64, CollectError> {
    let text = read_trimmed(path)?;
    text.parse()
        .map_err(|_| CollectError::parse(path, ParseError::new(format!("invalid {text:?}"))))
}

/// Reads one md directory with the files procfs' `sysfs.FS.Mdraids` (sysfs/mdraid.go)
/// requires: `level`, `array_state`, `metadata_version`, `raid_disks`, `uuid` and every
/// `dev-*/state`; `chunk_size` for raid0/4/5/6/10; `degraded`, `sync_action` and
/// `sync_completed` for raid1/4/5/6/10. Nothing else (`component_size` is not read).
fn read_mdraid(dir: &Path, device: &str) -> Result<Mdraid, CollectError> {
    let level = read_trimmed(&dir.join("level"))?;
    read_trimmed(&dir.join("array_state"))?;
    read_trimmed(&dir.join("metadata_version"))?;
    let disks = read_u64(&dir.join("raid_disks"))?;
    read_trimmed(&dir.join("uuid"))?;
    for name in list_dir(dir)? {
        if name.starts_with("dev-") {
            read_trimmed(&dir.join(&name).join("state"))?;
        }
    }
    if matches!(
        level.as_str(),
        "raid0" | "raid4" | "raid5" | "raid6" | "raid10"
    ) {
        read_u64(&dir.join("chunk_size"))?;
    }
    let mut degraded = 0;
    if matches!(
        level.as_str(),
        "raid1" | "raid4" | "raid5" | "raid6" | "raid10"
    ) {
        degraded = read_u64(&dir.join("degraded"))?;
        read_trimmed(&dir.join("sync_action"))?;
        let path = dir.join("sync_completed");
        parse_sync_completed(&read_trimmed(&path)?).map_err(|e| CollectError::parse(&path, e))?;
    }
    Ok(Mdraid {
        device: device.to_string(),
        disks,
        degraded,
    })
}

/// Every array under `block/md*/md`, all or nothing: procfs' `Mdraids` returns an error
/// for the first array it cannot read, and node_exporter then serves no `raid_disks` or
/// `degraded` sample at all (a missing file is its `ErrNoData`, anything else an error).
fn read_mdraids(block: &Path) -> Result<Vec<Mdraid>, CollectError> {
    let names = match list_dir(block) {
        Ok(names) => names,
        Err(e) if e.is_no_data() => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for name in names.iter().filter(|n| n.starts_with("md")) {
        let dir = block.join(name).join("md");
        if !dir.is_dir() {
            continue;
        }
        match read_mdraid(&dir, name) {
            Ok(md) => out.push(md),
            Err(CollectError::Io { path, source })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Err(CollectError::NoData(format!(
                    "not collecting mdraids, {} does not exist",
                    path.display()
                )))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let path = settings.roots.proc("mdstat");
    let stats = match parse_file(&path, parse_mdstat) {
        Err(e) if e.is_not_found() => {
            return Err(CollectError::NoData(format!(
                "{} does not exist",
                path.display()
            )))
        }
        other => other?,
    };
    emit_mdstat(sink, &stats);
    for md in read_mdraids(&settings.roots.sys("block"))? {
        sink.gauge("node_md_raid_disks", "Number of raid disks on device.")
            .sample(&[("device", &md.device)], md.disks as f64);
        sink.gauge("node_md_degraded", "Number of degraded disks on device.")
            .sample(&[("device", &md.device)], md.degraded as f64);
    }
    Ok(())
}

/// Writes the `/proc/mdstat` families.
pub fn emit_mdstat(sink: &mut MetricSink, stats: &[MdStat]) {
    for md in stats {
        let dev = md.name.as_str();
        sink.gauge("node_md_disks_required", "Total number of disks of device.")
            .sample(&[("device", dev)], md.disks_total as f64);
        sink.gauge(
            "node_md_disks",
            "Number of active/failed/spare disks of device.",
        )
        .sample(
            &[("device", dev), ("state", "active")],
            md.disks_active as f64,
        )
        .sample(
            &[("device", dev), ("state", "failed")],
            md.disks_failed as f64,
        )
        .sample(
            &[("device", dev), ("state", "spare")],
            md.disks_spare as f64,
        );
        let family = sink.gauge("node_md_state", "Indicates the state of md-device.");
        for (label, key) in [
            ("active", "active"),
            ("inactive", "inactive"),
            ("recovering", "recovering"),
            ("resync", "resyncing"),
            ("check", "checking"),
        ] {
            let value = if md.state == key { 1.0 } else { 0.0 };
            family.sample(&[("device", dev), ("state", label)], value);
        }
        sink.gauge("node_md_blocks", "Total number of blocks on device.")
            .sample(&[("device", dev)], md.blocks_total as f64);
        sink.gauge(
            "node_md_blocks_synced",
            "Number of blocks synced on device.",
        )
        .sample(&[("device", dev)], md.blocks_synced as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Personalities : [raid1] [raid6] [raid5] [raid4] [raid0]
md1 : active raid1 sdb1[1] sda1[0]
      1046528 blocks super 1.2 [2/2] [UU]
      bitmap: 0/1 pages [0KB], 65536KB chunk

md5 : active raid5 sdf1[4] sde1[2](F) sdd1[1] sdc1[0]
      8790400512 blocks super 1.2 level 5, 512k chunk, algorithm 2 [4/3] [UU_U]
      [==>..................]  recovery = 12.6% (370364928/2930133504) finish=257.2min speed=165821K/sec

md7 : inactive sdg1[0](S) sdh1[1](S)
      2093056 blocks super 1.2

md0 : active raid0 sdi1[1] sdj1[0]
      41908224 blocks super 1.2 512k chunks

md2 : active raid1 sdk1[1] sdl1[0]
      524224 blocks super 1.2 [2/2] [UU]
      [=>...................]  check =  9.7% (51200/524224) finish=0.1min speed=51200K/sec

md3 : active raid1 sdm1[1] sdn1[0]
      524224 blocks super 1.2 [2/2] [UU]
      \tresync=DELAYED

unused devices: <none>
";

    #[test]
    fn parses_sample() {
        let stats = parse_mdstat(SAMPLE.as_bytes()).unwrap();
        let names: Vec<&str> = stats.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["md1", "md5", "md7", "md0", "md2", "md3"]);
        assert_eq!(stats[0].state, "active");
        assert_eq!((stats[0].disks_active, stats[0].disks_total), (2, 2));
        assert_eq!(stats[0].blocks_synced, 1046528);
        let md5 = &stats[1];
        assert_eq!(md5.state, "recovering");
        assert_eq!(
            (md5.disks_active, md5.disks_total, md5.disks_failed),
            (3, 4, 1)
        );
        assert_eq!(md5.blocks_synced, 370364928);
        let md7 = &stats[2];
        assert_eq!(
            (md7.state.as_str(), md7.disks_spare, md7.disks_total),
            ("inactive", 2, 0)
        );
        assert_eq!((stats[3].disks_active, stats[3].disks_total), (2, 2));
        assert_eq!(
            (stats[4].state.as_str(), stats[4].blocks_synced),
            ("checking", 51200)
        );
        assert_eq!(
            (stats[5].state.as_str(), stats[5].blocks_synced),
            ("resyncing", 0)
        );
    }

    fn write_array(block: &Path, name: &str, files: &[(&str, &str)]) {
        let dir = block.join(name).join("md");
        for (file, text) in files {
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }

    /// procfs' `Mdraids` stops at the first array missing a required file and node_exporter
    /// then serves no `raid_disks`/`degraded` at all (`ErrNoData`); `component_size` is not
    /// among the required files.
    #[test]
    fn mdraids_all_or_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let raid1 = [
            ("level", "raid1\n"),
            ("array_state", "clean\n"),
            ("metadata_version", "1.2\n"),
            ("raid_disks", "2\n"),
            ("uuid", "0fbf5f2c-add2-43c2-bd78-a4be3ab709ef\n"),
            ("dev-sda1/state", "in_sync\n"),
            ("degraded", "0\n"),
            ("sync_action", "idle\n"),
            ("sync_completed", "none\n"),
        ];
        write_array(tmp.path(), "md0", &raid1);
        let arrays = read_mdraids(tmp.path()).unwrap();
        assert_eq!(arrays.len(), 1, "no component_size needed");
        assert_eq!((arrays[0].disks, arrays[0].degraded), (2, 0));
        write_array(tmp.path(), "md1", &raid1[..4]);
        assert!(
            read_mdraids(tmp.path()).unwrap_err().is_no_data(),
            "md1 without uuid fails every array, as no data"
        );
        write_array(tmp.path(), "md1", &raid1[4..]);
        std::fs::write(tmp.path().join("md1/md/sync_completed"), "delayed\n").unwrap();
        let err = read_mdraids(tmp.path()).unwrap_err();
        assert!(
            !err.is_no_data(),
            "an unparsable sync_completed is an error: {err}"
        );
    }

    #[test]
    fn sync_completed() {
        assert_eq!(parse_sync_completed("none\n").unwrap(), None);
        assert_eq!(
            parse_sync_completed("740729856 / 5860267008\n").unwrap(),
            Some((740729856, 5860267008))
        );
        assert!(parse_sync_completed("delayed").is_err());
        assert!(parse_sync_completed("").is_err());
        assert!(parse_sync_completed("1 / x").is_err());
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(parse_mdstat(b"").unwrap(), vec![]);
        assert!(parse_mdstat(b"md0 : active raid1 sda[0]\n").is_err());
        assert!(parse_mdstat(b"md0 : active raid1 sda[0]\n  x blocks\n\n\n").is_err());
        assert!(parse_mdstat(b"md0 :\n").is_err());
        assert!(parse_mdstat(&[0xff, 0xfe, b'\n', 0x00]).is_err());
        let bad_sync = "md0 : active raid1 a[0] b[1]\n  10 blocks [2/2] [UU]\n  recovery = x\n\n";
        assert!(parse_mdstat(bad_sync.as_bytes()).is_err());
    }
}
