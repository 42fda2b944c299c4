//! processes (off by default): `node_processes_*` from `/proc/[pid]/stat`,
//! `/proc/[pid]/task/[tid]/stat`, `/proc/sys/kernel/pid_max` and `threads-max`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::collector::Settings;
use crate::error::{CollectError, ParseError};
use crate::expfmt::{MetricSink, MetricType};
use crate::stateless_collector;
use crate::util::{list_dir, lossy, parse_u64, read, read_number};

stateless_collector!(
    "processes",
    false,
    "/proc/[pid]/stat, /proc/[pid]/task/*/stat, /proc/sys/kernel/{pid_max,threads-max}",
    collect
);

/// The two fields of `/proc/[pid]/stat` the collector uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    /// The one-letter state (`R`, `S`, `D`, `Z`, `I`, ...).
    pub state: String,
    /// Field 20, `num_threads`.
    pub num_threads: u64,
}

/// Parses a `/proc/[pid]/stat` line. The command name may contain spaces and parentheses,
/// so fields are counted from the last `)`.
pub fn parse_stat(bytes: &[u8]) -> Result<ProcStat, ParseError> {
    let text = lossy(bytes);
    let close = text
        .rfind(')')
        .ok_or_else(|| ParseError::new("no ')' after the command name"))?;
    let rest = text.get(close + 1..).unwrap_or("");
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // After the command: state is field 3 of the line, num_threads field 20.
    let state = fields
        .first()
        .ok_or_else(|| ParseError::new("missing state field"))?;
    let threads = fields
        .get(17)
        .ok_or_else(|| ParseError::new("missing num_threads field"))?;
    Ok(ProcStat {
        state: (*state).to_string(),
        num_threads: parse_u64(threads)?,
    })
}

/// Counts of one scrape.
#[derive(Default)]
struct Counts {
    pids: u64,
    threads: u64,
    states: BTreeMap<String, u64>,
    thread_states: BTreeMap<String, u64>,
}

/// True for read errors that mean the process went away between listing and reading.
fn vanished(err: &CollectError) -> bool {
    match err {
        CollectError::Io { source, .. } => {
            source.kind() == std::io::ErrorKind::NotFound
                || source.raw_os_error() == Some(libc::ESRCH)
        }
        CollectError::NoData(_) | CollectError::Missing(_) => true,
        _ => false,
    }
}

/// Reads and parses a stat file; `Ok(None)` when the task vanished.
fn read_stat(path: &Path) -> Result<Option<ProcStat>, CollectError> {
    match read(path) {
        Ok(bytes) => parse_stat(&bytes)
            .map(Some)
            .map_err(|e| CollectError::parse(path, e)),
        Err(e) if vanished(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Numeric entries of a directory (pids or tids); `Ok(None)` when it vanished.
fn numeric_entries(dir: &Path) -> Result<Option<Vec<u64>>, CollectError> {
    match list_dir(dir) {
        Ok(names) => Ok(Some(
            names.iter().filter_map(|n| n.parse::<u64>().ok()).collect(),
        )),
        Err(e) if vanished(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

fn count_threads(
    proc_dir: &Path,
    pid: u64,
    stat: &ProcStat,
    counts: &mut Counts,
) -> Result<(), CollectError> {
    let task_dir = proc_dir.join("task");
    let Some(tids) = numeric_entries(&task_dir)? else {
        return Ok(());
    };
    for tid in tids {
        let state = if tid == pid {
            stat.state.clone()
        } else {
            match read_stat(&task_dir.join(tid.to_string()).join("stat"))? {
                Some(s) => s.state,
                None => continue,
            }
        };
        *counts.thread_states.entry(state).or_default() += 1;
    }
    Ok(())
}

fn count(settings: &Settings) -> Result<Counts, CollectError> {
    let root = settings.roots.proc("");
    let pids = list_dir(&root)?;
    let mut counts = Counts::default();
    for pid in pids.iter().filter_map(|n| n.parse::<u64>().ok()) {
        let proc_dir = root.join(pid.to_string());
        let Some(stat) = read_stat(&proc_dir.join("stat"))? else {
            continue;
        };
        counts.pids += 1;
        counts.threads += stat.num_threads;
        *counts.states.entry(stat.state.clone()).or_default() += 1;
        count_threads(&proc_dir, pid, &stat, &mut counts)?;
    }
    Ok(counts)
}

fn collect(settings: &Settings, sink: &mut MetricSink) -> Result<(), CollectError> {
    let counts = count(settings)?;
    let g = MetricType::Gauge;
    sink.single(
        "node_processes_threads",
        "Allocated threads in system",
        g,
        counts.threads as f64,
    );
    let max_threads = read_number(&settings.roots.proc("sys/kernel/threads-max"))?;
    sink.single(
        "node_processes_max_threads",
        "Limit of threads in the system",
        g,
        max_threads,
    );
    sink.gauge("node_processes_state", "Number of processes in each state.");
    for (state, n) in &counts.states {
        sink.sample(&[("state", state)], *n as f64);
    }
    sink.gauge(
        "node_processes_threads_state",
        "Number of threads in each state.",
    );
    for (state, n) in &counts.thread_states {
        sink.sample(&[("thread_state", state)], *n as f64);
    }
    let pid_max = read_number(&settings.roots.proc("sys/kernel/pid_max"))?;
    sink.single(
        "node_processes_pids",
        "Number of PIDs",
        g,
        counts.pids as f64,
    );
    sink.single(
        "node_processes_max_processes",
        "Number of max PIDs limit",
        g,
        pid_max,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_stat() {
        let line = b"1 (process_api) S 0 0 0 0 -1 4194560 18682 1432887 0 785 70 104 3533 1415 10 -10 12 0 14 43245568 3163 18446744073709551615 1 1 0 0 0 0 0 4096 1256 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        assert_eq!(
            parse_stat(line).unwrap(),
            ProcStat {
                state: "S".into(),
                num_threads: 12
            }
        );
    }

    #[test]
    fn command_with_spaces_and_parens() {
        let line = b"7 (a (b) c) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 3 0 5\n";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.state, "R");
        assert_eq!(s.num_threads, 3);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse_stat(b"").is_err());
        assert!(parse_stat(b"1 (x) S 0 0 0").is_err());
        assert!(parse_stat(b"1 (x) S 0 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 abc").is_err());
        assert!(parse_stat(&[0xff, 0xfe, 0x00]).is_err());
    }
}
