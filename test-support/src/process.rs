//! Prerequisites, commands and polling.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// True when the tests run as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Outside CI a missing prerequisite (root, /dev/fuse, a cgroup mount, Docker) skips the test
/// with a note; in CI (`CI` set) it fails, so the suite cannot pass without having run it.
pub fn skip_unless_ci(why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "prerequisite missing in CI: {why}"
    );
    eprintln!("skipped: {why}");
}

/// A tag unique to this process and call (`<pid>-<nanos>-<n>`), for names of containers,
/// images and cgroups a test creates: a rerun or a parallel test never meets an old one.
pub fn unique_tag() -> String {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = CALLS.fetch_add(1, Ordering::Relaxed);
    format!("{}-{nanos}-{n}", std::process::id())
}

/// True when `tool --version` runs and succeeds.
pub fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `program` with `args`: its stdout without trailing white space, or the command and
/// its stderr as the error.
pub fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
    } else {
        Err(format!(
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Runs `cmd` to completion and panics, with `what` and its stderr, unless it succeeded.
pub fn run_ok(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Polls `check` every 20 ms until it gives a value, or panics with `what` after `limit`.
pub fn eventually<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    poll(limit, || check().ok_or(what))
}

/// Polls `check` every 20 ms until it gives `Ok`, or panics after `limit` with its last error
/// (what it saw, for the failure message).
pub fn poll<T, E: std::fmt::Display>(
    limit: Duration,
    mut check: impl FnMut() -> Result<T, E>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match check() {
            Ok(v) => return v,
            Err(last) => assert!(Instant::now() < deadline, "not within {limit:?}: {last}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_reports_the_failing_command() {
        let err = run("sh", &["-c", "echo oops >&2; exit 3"]).expect_err("exit 3 fails");
        assert!(err.contains("oops") && err.contains("sh"), "{err}");
        assert_eq!(run("sh", &["-c", "echo ' a '"]).as_deref(), Ok(" a"));
    }

    #[test]
    #[should_panic(expected = "not within")]
    fn poll_gives_up_with_the_last_observation() {
        poll(Duration::from_millis(50), || Err::<(), _>("still 3"));
    }

    #[test]
    fn eventually_returns_the_first_value() {
        let mut n = 0;
        let got = eventually(Duration::from_secs(5), "n reaches 3", || {
            n += 1;
            (n == 3).then_some(n)
        });
        assert_eq!(got, 3);
    }
}
