//! The Debian package: `scripts/build-deb.sh` (cargo-deb) builds it, `lintian` finds nothing to
//! say, and `dpkg -i` installs it into a clean Debian root (debootstrap's minbase, made once by
//! `scripts/debian-root.sh` and used read-only under a throw-away overlay in a private mount
//! namespace): binary, unit, defaults, user and textfile directory are there, no service is
//! started without systemd running, and `dpkg -r` then `dpkg -P` leave nothing behind.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::repo;

fn script(name: &str) -> Result<PathBuf, String> {
    let out = Command::new(repo().join("scripts").join(name))
        .output()
        .map_err(|e| format!("{name}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{name} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let path = stdout.lines().last().unwrap_or_default().trim().to_string();
    Ok(PathBuf::from(path))
}

fn tools_present() -> bool {
    for tool in ["cargo-deb", "lintian", "debootstrap", "dpkg-deb", "unshare"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !found {
            nodex_test_support::skip_unless_ci(&format!(
                "{tool} missing (scripts/test-all.sh installs it)"
            ));
            return false;
        }
    }
    if !nodex_test_support::is_root() {
        nodex_test_support::skip_unless_ci("the package test needs root (chroot, mount namespace)");
        return false;
    }
    true
}

fn output(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// What the installed system must look like, checked inside the chroot. `set -e` stops at the
/// first failed check; each step echoes a marker the test looks for.
const IN_ROOT: &str = r#"set -eu
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Stand-ins that record whether the maintainer scripts try to start or stop anything.
for tool in deb-systemd-invoke systemctl; do
  printf '#!/bin/sh\necho "%s $*" >> /tmp/service-calls\n' "$tool" > /usr/local/sbin/$tool
  chmod 755 /usr/local/sbin/$tool
done
test ! -e /run/systemd/system
dpkg -i /tmp/nodex.deb
echo "installed"
/usr/bin/nodex --version
grep -qx 'ExecStart=/usr/bin/nodex $NODEX_ARGS' "$(dpkg -L nodex | grep '/systemd/system/nodex.service$')"
grep -q '^NODEX_ARGS=' /etc/default/nodex
grep -qx /etc/default/nodex /var/lib/dpkg/info/nodex.conffiles
echo "user $(getent passwd nodex | cut -d: -f6,7)"
echo "textfile $(stat -c '%U:%G %a' /var/lib/nodex/textfile)"
test -L /etc/systemd/system/multi-user.target.wants/nodex.service && echo "enabled"
test ! -e /tmp/service-calls && echo "nothing started without systemd"
dpkg -L nodex | while read -r f; do [ -d "$f" ] || echo "$f"; done > /tmp/files
dpkg -r nodex
test ! -e /usr/bin/nodex
test -f /etc/default/nodex && echo "conffile kept on remove"
dpkg -P nodex
! dpkg -s nodex >/dev/null 2>&1
while read -r f; do
  if [ -e "$f" ]; then echo "left behind: $f"; exit 1; fi
done < /tmp/files
test ! -e /var/lib/nodex
test ! -e /etc/systemd/system/multi-user.target.wants/nodex.service
echo "purged clean"
getent passwd nodex >/dev/null && echo "user kept"
# With systemd running, the same scripts do start the service: the guard is what held it back.
mkdir -p /run/systemd/system
dpkg -i /tmp/nodex.deb >/dev/null
grep -q 'deb-systemd-invoke start nodex.service' /tmp/service-calls && echo "started under systemd"
dpkg -P nodex >/dev/null
"#;

#[test]
fn deb_is_lintian_clean_installs_and_purges_in_a_clean_root() {
    if !tools_present() {
        return;
    }
    let deb = script("build-deb.sh").unwrap_or_else(|e| panic!("{e}"));
    assert!(deb.is_file(), "no package at {}", deb.display());
    // The README's one-line install names this very file.
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let line = readme
        .lines()
        .find(|l| l.starts_with("scripts/build-deb.sh && "))
        .expect("the .deb install line in README's Deployment");
    let name = deb.file_name().expect("file name").to_string_lossy();
    assert!(
        line.ends_with(&format!(" target/debian/{name}")) && line.contains("dpkg -i"),
        "README says {line:?}, the package is {name}"
    );

    let (_, contents) = output(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    for path in [
        "./usr/bin/nodex",
        "./etc/default/nodex",
        "/systemd/system/nodex.service",
        "./usr/share/doc/nodex/copyright",
        "./usr/share/doc/nodex/changelog.Debian.gz",
        "./usr/share/man/man1/nodex.1.gz",
    ] {
        assert!(
            contents.lines().any(|l| l.contains(path)),
            "{path} missing from the package:\n{contents}"
        );
    }
    let (_, fields) = output(Command::new("dpkg-deb").args(["--field"]).arg(&deb));
    assert!(
        fields
            .lines()
            .any(|l| l.starts_with("Depends:") && l.contains("adduser")),
        "{fields}"
    );

    // lintian: no error, warning or info tag; every override says why.
    let (_, report) = output(
        Command::new("lintian")
            .args(["--info", "--display-info", "--tag-display-limit", "0"])
            .arg(&deb),
    );
    let tags: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("E: ") || l.starts_with("W: ") || l.starts_with("I: "))
        .collect();
    assert!(tags.is_empty(), "lintian:\n{report}");
    // Overrides, if ever needed, each with its reason on the line above.
    if let Ok(overrides) = std::fs::read_to_string(repo().join("deploy/debian/lintian-overrides")) {
        let lines: Vec<&str> = overrides.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !line.is_empty() && !line.starts_with('#') {
                assert!(
                    i > 0 && lines[i - 1].starts_with('#'),
                    "override without a reason above it: {line}"
                );
            }
        }
    }

    let lower = script("debian-root.sh").unwrap_or_else(|e| panic!("{e}"));
    let scratch = tempfile::tempdir().expect("tempdir");
    let (upper, work, merged) = (
        scratch.path().join("upper"),
        scratch.path().join("work"),
        scratch.path().join("merged"),
    );
    for dir in [&upper, &work, &merged] {
        std::fs::create_dir_all(dir).expect("mkdir");
    }
    std::fs::create_dir_all(upper.join("tmp")).expect("upper/tmp");
    std::fs::copy(&deb, upper.join("tmp/nodex.deb")).expect("copy the package");
    let outer = format!(
        "set -eu\nmount --make-rprivate /\n\
         mount -t overlay overlay -o lowerdir={lower},upperdir={upper},workdir={work} {merged}\n\
         exec chroot {merged} /bin/sh -c \"$1\"",
        lower = lower.display(),
        upper = upper.display(),
        work = work.display(),
        merged = merged.display(),
    );
    let (ok, log) = output(
        Command::new("unshare")
            .args(["--mount", "sh", "-c", &outer, "sh", IN_ROOT])
            .env_remove("DPKG_ROOT"),
    );
    assert!(ok, "install test in the clean root failed:\n{log}");
    for marker in [
        "installed",
        "user /var/lib/nodex:/usr/sbin/nologin",
        "textfile nodex:nodex 755",
        "enabled",
        "nothing started without systemd",
        "conffile kept on remove",
        "purged clean",
        "user kept",
        "started under systemd",
    ] {
        assert!(
            log.lines().any(|l| l == marker),
            "{marker:?} not seen:\n{log}"
        );
    }
    assert!(
        log.lines().any(|l| l.starts_with("nodex ")),
        "the installed binary runs: {log}"
    );
    // The cached root itself is untouched: everything went to the overlay's upper layer.
    assert!(!lower.join("usr/bin/nodex").exists());
    assert!(!lower.join("var/lib/dpkg/info/nodex.list").exists());
}
