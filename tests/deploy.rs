//! The deployment files: the kustomize base renders and every core object validates against
//! the Kubernetes schemas, the DaemonSet has the hardening the README promises, the Prometheus
//! examples pass `promtool check config`, and the systemd unit passes `systemd-analyze verify`.

mod common;

use std::path::Path;
use std::process::Command;

use common::repo;

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn render_kustomize() -> String {
    let (ok, text) = run(Command::new("kubectl")
        .arg("kustomize")
        .arg(repo().join("deploy/kubernetes")));
    assert!(ok, "kubectl kustomize failed: {text}");
    text
}

fn validate(dir: &Path, yaml: &str) -> (bool, String) {
    let file = dir.join("rendered.yaml");
    std::fs::write(&file, yaml).expect("write rendered manifests");
    run(Command::new("kubernetes-validate")
        .arg("--strict")
        .arg(&file))
}

fn documents(yaml: &str) -> Vec<serde_json::Value> {
    yaml.split("\n---\n")
        .map(|doc| serde_saphyr::from_str::<serde_json::Value>(doc).expect("rendered YAML parses"))
        .collect()
}

#[test]
fn kustomize_base_validates_against_kubernetes_schemas() {
    let yaml = render_kustomize();
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, out) = validate(dir.path(), &yaml);
    assert!(ok, "kubernetes-validate failed:\n{out}");
    for object in [
        "namespace/monitoring",
        "serviceaccount/nodex",
        "service/nodex",
        "daemonset/nodex",
    ] {
        assert!(
            out.contains(&format!("passed for resource {object}")),
            "{object} not validated:\n{out}"
        );
    }
    // The only object without a schema is the operator's ServiceMonitor (a CRD).
    for line in out.lines().filter(|l| l.contains("Couldn't find schema")) {
        assert!(
            line.contains("kind ServiceMonitor"),
            "unexpected unvalidated object: {line}"
        );
    }
    // The check has teeth: an unknown field in the DaemonSet is refused.
    let broken = yaml.replacen("  updateStrategy:", "  bogusField: 1\n  updateStrategy:", 1);
    assert_ne!(broken, yaml);
    let (ok, out) = validate(dir.path(), &broken);
    assert!(
        !ok,
        "a DaemonSet with an unknown field must fail validation:\n{out}"
    );
}

#[test]
fn daemonset_is_hardened_as_documented() {
    let docs = documents(&render_kustomize());
    let ds = docs
        .iter()
        .find(|d| d["kind"] == "DaemonSet")
        .expect("a DaemonSet");
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["hostPID"], true);
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(
        pod["tolerations"][0]["operator"], "Exists",
        "tolerates every taint"
    );
    assert!(pod["priorityClassName"]
        .as_str()
        .is_some_and(|p| p.ends_with("-critical")));
    // uid 0 without capabilities but DAC_READ_SEARCH (the grant the README explains and
    // tests/labels_live.rs runs): never privileged, never another capability.
    assert_eq!(pod["securityContext"]["runAsUser"], 0);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], false);
    assert!(pod["securityContext"]["privileged"].is_null());
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(
        c["securityContext"]["capabilities"]["drop"],
        serde_json::json!(["ALL"])
    );
    assert_eq!(
        c["securityContext"]["capabilities"]["add"],
        serde_json::json!(["DAC_READ_SEARCH"])
    );
    assert!(c["securityContext"]["privileged"].is_null());
    assert!(
        c["securityContext"]["runAsUser"].is_null(),
        "the pod's user applies"
    );
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(
            c[probe]["httpGet"]["path"], "/",
            "{probe} on the landing page"
        );
    }
    assert!(
        c["resources"]["requests"]["memory"].is_string()
            && c["resources"]["limits"]["memory"].is_string()
    );
    let mounts = c["volumeMounts"].as_array().expect("mounts");
    assert!(
        mounts.iter().all(|m| m["readOnly"] == true),
        "every host mount is read-only"
    );
    let root = mounts
        .iter()
        .find(|m| m["mountPath"] == "/host/root")
        .expect("root mount");
    assert_eq!(root["mountPropagation"], "HostToContainer");
    let args: Vec<&str> = c["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    for flag in [
        "--path.procfs=/host/proc",
        "--path.sysfs=/host/sys",
        "--path.rootfs=/host/root",
    ] {
        assert!(args.contains(&flag), "missing {flag}");
    }
    // Every argument is a flag nodex accepts.
    let (ok, out) = run(Command::new(env!("CARGO_BIN_EXE_nodex"))
        .args(&args)
        .arg("--version"));
    assert!(ok, "DaemonSet arguments rejected by nodex: {out}");
}

#[test]
fn prometheus_examples_pass_promtool() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["static.yml", "kubernetes.yml"] {
        let path = repo().join("deploy/prometheus").join(name);
        let (ok, out) = run(Command::new("promtool")
            .args(["check", "config"])
            .arg(&path));
        if ok {
            continue;
        }
        // Debian's Prometheus build leaves out Kubernetes service discovery, so its promtool
        // cannot parse kubernetes_sd_configs. Check everything else of the file by swapping
        // that block for file_sd_configs; a real Prometheus build checks the original.
        assert!(
            out.contains("field kubernetes_sd_configs not found"),
            "promtool rejected {name}:\n{out}"
        );
        let text = std::fs::read_to_string(&path).expect("read example");
        let swapped = text.replace(
            "kubernetes_sd_configs:\n      - role: pod\n        namespaces: {names: [monitoring]}",
            "file_sd_configs:\n      - files: [targets.json]",
        );
        assert_ne!(
            swapped, text,
            "{name}: no kubernetes_sd_configs block to swap"
        );
        let copy = dir.path().join(name);
        std::fs::write(&copy, swapped).expect("write copy");
        let (ok, out) = run(Command::new("promtool")
            .args(["check", "config"])
            .arg(&copy));
        assert!(
            ok,
            "promtool rejected {name} (kubernetes SD swapped out):\n{out}"
        );
    }
}

#[test]
fn systemd_unit_verifies() {
    let unit = std::fs::read_to_string(repo().join("deploy/systemd/nodex.service")).expect("unit");
    let dir = tempfile::tempdir().expect("tempdir");
    // systemd-analyze checks that ExecStart exists; point it at the binary under test.
    let local = unit.replace("/usr/local/bin/nodex", env!("CARGO_BIN_EXE_nodex"));
    let verify = |text: &str| {
        let path = dir.path().join("nodex.service");
        std::fs::write(&path, text).expect("write unit");
        run(Command::new("systemd-analyze").arg("verify").arg(&path))
    };
    let (ok, out) = verify(&local);
    assert!(
        ok && out.trim().is_empty(),
        "systemd-analyze verify complained:\n{out}"
    );
    for setting in [
        "User=nodex",
        "EnvironmentFile=-/etc/default/nodex",
        "Restart=on-failure",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=read-only",
        "PrivateTmp=yes",
        "ReadOnlyPaths=/",
        "CapabilityBoundingSet=CAP_DAC_READ_SEARCH",
        "AmbientCapabilities=CAP_DAC_READ_SEARCH",
    ] {
        assert!(unit.lines().any(|l| l == setting), "unit lacks {setting}");
    }
    // The check has teeth: a bad value is reported.
    let (_, out) = verify(&local.replace("ProtectSystem=strict", "ProtectSystem=sometimes"));
    assert!(
        out.contains("ProtectSystem") || out.contains("protect system"),
        "bad value not reported: {out}"
    );
}
