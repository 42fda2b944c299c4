//! `deploy/install.sh` on a bare-metal host, run for real but inside a private mount namespace:
//! `/etc` is an overlay whose writes land in a temporary directory, and the directories it
//! installs into are fresh tmpfs mounts, so the host itself is never written.

mod common;

use std::process::Command;

#[test]
fn install_script_installs_binary_unit_defaults_and_user() {
    if !nodex_test_support::is_root() {
        nodex_test_support::skip_unless_ci("needs root for a private mount namespace");
        return;
    }
    let host_state = || {
        (
            std::path::Path::new("/etc/systemd/system/nodex.service").exists(),
            std::path::Path::new("/etc/default/nodex").exists(),
            Command::new("id")
                .arg("nodex")
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false),
        )
    };
    let before = host_state();
    let scratch = tempfile::tempdir().expect("tempdir");
    let upper = scratch.path().join("upper");
    let work = scratch.path().join("work");
    std::fs::create_dir_all(&upper).expect("upper");
    std::fs::create_dir_all(&work).expect("work");
    let script = format!(
        r#"set -eu
mount --make-rprivate /
mount -t overlay overlay -o lowerdir=/etc,upperdir={upper},workdir={work} /etc
mount -t tmpfs tmpfs /usr/local/bin
mount -t tmpfs tmpfs /var/lib
mkdir -p /etc/systemd/system
{repo}/deploy/install.sh {binary} >/dev/null
test -x /usr/local/bin/nodex
/usr/local/bin/nodex --version
cmp {repo}/deploy/systemd/nodex.service /etc/systemd/system/nodex.service
grep -q '^NODEX_ARGS=' /etc/default/nodex
id -u nodex
stat -c '%U %a' /var/lib/nodex/textfile
"#,
        upper = upper.display(),
        work = work.display(),
        repo = common::repo().display(),
        binary = env!("CARGO_BIN_EXE_nodex"),
    );
    let out = Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .output()
        .expect("unshare (util-linux)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "install failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("nodex ")),
        "installed binary runs: {stdout}"
    );
    assert!(
        stdout.lines().any(|l| l == "nodex 755"),
        "textfile directory owned by nodex: {stdout}"
    );
    assert_eq!(host_state(), before, "the install must not reach the host");
}
