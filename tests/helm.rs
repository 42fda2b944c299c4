//! The Helm chart in `deploy/helm/nodex`, with a real `helm` (from PATH, or fetched by
//! `scripts/install-helm.sh`): `helm lint --strict` and `helm template` with the default values and
//! every `ci/*-values.yaml`, every rendered object validated by `kubernetes-validate --strict` (the
//! operator's ServiceMonitor and PodMonitor by `tests/fixtures/check_monitors.py`); the values reach the objects; the default DaemonSet and ServiceMonitor are the kustomize base's; and
//! the web configuration the chart writes is one nodex accepts and serves TLS and basic auth with.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::repo;
use serde_json::Value;

/// The helm binary, or `None` (outside CI) when none can be had.
fn helm() -> Option<PathBuf> {
    let out = Command::new(repo().join("scripts/install-helm.sh")).output();
    match out {
        Ok(out) if out.status.success() => {
            let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
            Some(PathBuf::from(path))
        }
        other => {
            nodex_test_support::skip_unless_ci(&format!(
                "no helm: scripts/install-helm.sh gave {other:?}"
            ));
            None
        }
    }
}

fn chart() -> PathBuf {
    repo().join("deploy/helm/nodex")
}

/// The non-default values files shipped with the chart (chart-testing's `ci/` convention).
fn ci_values() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(chart().join("ci"))
        .expect("deploy/helm/nodex/ci")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with("-values.yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "ci values files: {files:?}");
    files
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `helm template` with `args` (values files, --set); the rendered YAML.
fn render(helm: &Path, args: &[&str]) -> String {
    let (ok, out, err) = run(Command::new(helm)
        .args(["template", "nodex"])
        .arg(chart())
        .args(args));
    assert!(ok, "helm template {args:?} failed:\n{err}");
    out
}

fn documents(yaml: &str) -> Vec<Value> {
    yaml.split("\n---\n")
        .filter(|doc| {
            doc.lines()
                .any(|l| !l.trim().is_empty() && !l.starts_with('#'))
        })
        .map(|doc| serde_saphyr::from_str::<Value>(doc).expect("rendered YAML parses"))
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str) -> Option<&'a Value> {
    docs.iter().find(|d| d["kind"] == kind)
}

fn validate(dir: &Path, yaml: &str) -> (bool, String) {
    let file = dir.join("rendered.yaml");
    std::fs::write(&file, yaml).expect("write rendered manifests");
    let (ok, out, err) = run(Command::new("kubernetes-validate")
        .arg("--strict")
        .arg(&file));
    (ok, out + &err)
}

/// ServiceMonitor and PodMonitor objects against prometheus-operator's CRD schemas
/// (`tests/fixtures/check_monitors.py`); `None` (outside CI) without the schema models.
fn check_monitors(dir: &Path, yaml: &str) -> Option<(bool, String)> {
    let models = repo().join("target/tools/crd-models");
    if !models.join("cloudcoil").is_dir() {
        nodex_test_support::skip_unless_ci(
            "no prometheus-operator CRD models in target/tools/crd-models (scripts/test-all.sh)",
        );
        return None;
    }
    let file = dir.join("monitors.yaml");
    std::fs::write(&file, yaml).expect("write rendered manifests");
    let (ok, out, err) = run(Command::new("python3")
        .arg(repo().join("tests/fixtures/check_monitors.py"))
        .arg(&file)
        .env("PYTHONPATH", &models));
    Some((ok, out + &err))
}

fn string_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn chart_lints_and_every_rendering_validates() {
    let Some(helm) = helm() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut variants: Vec<Vec<String>> = vec![vec![]];
    for file in ci_values() {
        variants.push(vec!["-f".into(), file.display().to_string()]);
    }
    for args in &variants {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, out, err) = run(Command::new(&helm)
            .args(["lint", "--strict"])
            .arg(chart())
            .args(&args));
        assert!(ok, "helm lint --strict {args:?}:\n{out}{err}");
        let yaml = render(&helm, &args);
        let docs = documents(&yaml);
        let (ok, report) = validate(dir.path(), &yaml);
        assert!(ok, "kubernetes-validate {args:?}:\n{report}");
        for doc in &docs {
            let kind = doc["kind"].as_str().expect("kind");
            let name = doc["metadata"]["name"].as_str().expect("name");
            if kind == "ServiceMonitor" || kind == "PodMonitor" {
                // kubernetes-validate has no schema for the operator's CRDs: check_monitors.
                assert_eq!(doc["apiVersion"], "monitoring.coreos.com/v1");
                if let Some((ok, report)) = check_monitors(dir.path(), &yaml) {
                    let line = format!("passed for resource {}/{name}", kind.to_lowercase());
                    assert!(
                        ok && report.contains(&line),
                        "{kind}/{name} ({args:?}):\n{report}"
                    );
                }
                continue;
            }
            let line = format!("passed for resource {}/{name}", kind.to_lowercase());
            assert!(
                report.contains(&line),
                "{kind}/{name} not validated ({args:?}):\n{report}"
            );
        }
    }
    // The check has teeth: an unknown field in the rendered DaemonSet is refused.
    let yaml = render(&helm, &[]);
    let broken = yaml.replacen("  updateStrategy:", "  bogusField: 1\n  updateStrategy:", 1);
    assert_ne!(broken, yaml);
    let (ok, report) = validate(dir.path(), &broken);
    assert!(!ok, "an unknown field must fail validation:\n{report}");
    // values.schema.json: a misspelt or mistyped value stops helm instead of being ignored.
    for bad in [
        "prometheus.monitor.enabeld=true",
        "extraArg=--no-collector.wifi",
        "updateStrategy.type=Always",
    ] {
        let (ok, _, err) = run(Command::new(&helm)
            .args(["template", "nodex"])
            .arg(chart())
            .args(["--set", bad]));
        assert!(
            !ok && err.contains("schema"),
            "--set {bad} was accepted: {err}"
        );
    }
    // So is an unknown field in a ServiceMonitor endpoint, and a wrongly typed field.
    let yaml = render(&helm, &["--set", "prometheus.monitor.enabled=true"]);
    for (from, to) in [
        (
            "      scheme: http\n",
            "      scheme: http\n      bogusField: 1\n",
        ),
        ("      interval: 15s\n", "      interval: [15s]\n"),
    ] {
        let broken = yaml.replacen(from, to, 1);
        assert_ne!(broken, yaml);
        if let Some((ok, report)) = check_monitors(dir.path(), &broken) {
            assert!(!ok, "a broken ServiceMonitor must fail:\n{report}");
        }
    }
}

/// The pod template of the chart's default DaemonSet is the kustomize base's, except for the
/// names Helm gives (service account, labels) and the image reference.
#[test]
fn default_chart_matches_the_kustomize_base() {
    let Some(helm) = helm() else { return };
    let (ok, kustomized, err) = run(Command::new("kubectl")
        .arg("kustomize")
        .arg(repo().join("deploy/kubernetes")));
    assert!(ok, "kubectl kustomize: {err}");
    let base = documents(&kustomized);
    let chart = documents(&render(
        &helm,
        &["--set", "prometheus.monitor.enabled=true"],
    ));

    let pod_spec = |docs: &[Value]| {
        let ds = find(docs, "DaemonSet").expect("a DaemonSet");
        let mut spec = ds["spec"]["template"]["spec"].clone();
        let obj = spec.as_object_mut().expect("pod spec");
        obj.remove("serviceAccountName");
        let c = obj["containers"][0].as_object_mut().expect("container");
        c.remove("image");
        c.remove("imagePullPolicy");
        (spec, ds["spec"]["updateStrategy"].clone())
    };
    let (base_pod, base_update) = pod_spec(&base);
    let (chart_pod, chart_update) = pod_spec(&chart);
    assert_eq!(
        chart_pod,
        base_pod,
        "chart and kustomize DaemonSets differ:\nchart: {}\nkustomize: {}",
        serde_json::to_string_pretty(&chart_pod).unwrap_or_default(),
        serde_json::to_string_pretty(&base_pod).unwrap_or_default()
    );
    assert_eq!(chart_update, base_update);

    // The ServiceMonitor's endpoints: the same jobs, params, intervals and relabelings.
    let endpoints = |docs: &[Value]| -> Vec<Value> {
        let sm = find(docs, "ServiceMonitor").expect("a ServiceMonitor");
        sm["spec"]["endpoints"]
            .as_array()
            .expect("endpoints")
            .iter()
            .map(|e| {
                let mut e = e.as_object().expect("endpoint").clone();
                // Defaults the chart spells out and the base leaves implicit.
                e.retain(|k, v| {
                    !(k == "scheme" && v == "http" || k == "scrapeTimeout" && v == "10s")
                });
                Value::Object(e)
            })
            .collect()
    };
    assert_eq!(endpoints(&chart), endpoints(&base));
    let dir = tempfile::tempdir().expect("tempdir");
    if let Some((ok, report)) = check_monitors(dir.path(), &kustomized) {
        assert!(
            ok && report.contains("passed for resource servicemonitor/nodex"),
            "the kustomize ServiceMonitor:\n{report}"
        );
    }
    let service = |docs: &[Value]| find(docs, "Service").expect("a Service")["spec"].clone();
    let (chart_svc, base_svc) = (service(&chart), service(&base));
    assert_eq!(chart_svc["clusterIP"], base_svc["clusterIP"]);
    assert_eq!(chart_svc["ports"][0]["port"], base_svc["ports"][0]["port"]);
    assert_eq!(
        chart_svc["ports"][0]["targetPort"],
        base_svc["ports"][0]["targetPort"]
    );
    // Every argument of the DaemonSet is a flag nodex accepts.
    let args = string_list(&chart_pod["containers"][0]["args"]);
    let (ok, out, err) = run(Command::new(env!("CARGO_BIN_EXE_nodex"))
        .args(&args)
        .arg("--version"));
    assert!(ok, "DaemonSet arguments rejected by nodex: {out}{err}");
}

#[test]
fn non_default_values_reach_the_objects() {
    let Some(helm) = helm() else { return };
    let values = chart().join("ci/tls-auth-monitors-values.yaml");
    let docs = documents(&render(&helm, &["-f", &values.display().to_string()]));
    for doc in &docs {
        assert_eq!(
            doc["metadata"]["namespace"], "observability",
            "namespaceOverride"
        );
    }
    let ds = find(&docs, "DaemonSet").expect("DaemonSet");
    let pod = &ds["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(
        c["image"],
        "registry.example/team/nodex@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    );
    let args = string_list(&c["args"]);
    for want in [
        "--web.listen-address=$(HOST_IP):9100",
        "--web.config.file=/etc/nodex/web/web-config.yml",
        "--collector.textfile.directory=/textfile",
        "--no-collector.wifi",
    ] {
        assert!(args.iter().any(|a| a == want), "{want} not in {args:?}");
    }
    assert_eq!(
        c["env"][0]["valueFrom"]["fieldRef"]["fieldPath"],
        "status.hostIP"
    );
    assert_eq!(
        c["env"][1],
        serde_json::json!({"name": "TZ", "value": "UTC"})
    );
    // Basic auth answers 401 to GET /, so the probes check the port.
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(c[probe]["tcpSocket"]["port"], "metrics", "{probe}");
        assert!(c[probe].get("httpGet").is_none(), "{probe}");
    }
    assert!(
        pod.get("priorityClassName").is_none(),
        "priorityClassName \"\""
    );
    assert_eq!(
        ds["spec"]["updateStrategy"],
        serde_json::json!({"type": "OnDelete"})
    );
    let volumes = pod["volumes"].as_array().expect("volumes");
    let volume = |name: &str| {
        volumes
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("volume {name} in {volumes:?}"))
    };
    assert_eq!(volume("tls")["secret"]["secretName"], "nodex-serving-cert");
    assert_eq!(
        volume("web-config")["secret"]["secretName"],
        "nodex-web-config"
    );
    assert_eq!(volume("textfile")["hostPath"]["type"], "DirectoryOrCreate");
    let mounts = c["volumeMounts"].as_array().expect("mounts");
    assert!(mounts.iter().all(|m| m["readOnly"] == true), "{mounts:?}");

    let secret = find(&docs, "Secret").expect("web config Secret");
    let web: Value = serde_saphyr::from_str(
        secret["stringData"]["web-config.yml"]
            .as_str()
            .expect("web-config.yml"),
    )
    .expect("web config parses");
    let tls = &web["tls_server_config"];
    assert_eq!(tls["cert_file"], "/etc/nodex/tls/tls.crt");
    assert_eq!(tls["key_file"], "/etc/nodex/tls/tls.key");
    assert_eq!(tls["client_ca_file"], "/etc/nodex/tls/ca.crt");
    assert_eq!(tls["client_auth_type"], "RequireAndVerifyClientCert");
    let hash = web["basic_auth_users"]["prometheus"]
        .as_str()
        .expect("user");
    assert!(
        bcrypt::verify("secret", hash).unwrap_or(false),
        "the example hash is the one its comment names"
    );
    assert_eq!(
        web["http_server_config"]["headers"]["X-Frame-Options"],
        "deny"
    );

    let sm = find(&docs, "ServiceMonitor").expect("ServiceMonitor");
    assert_eq!(sm["metadata"]["labels"]["release"], "kube-prometheus-stack");
    for e in sm["spec"]["endpoints"].as_array().expect("endpoints") {
        assert_eq!(e["scheme"], "https");
        assert_eq!(e["tlsConfig"]["insecureSkipVerify"], true);
        assert_eq!(e["basicAuth"]["username"]["name"], "nodex-scrape-auth");
    }
    let pm = find(&docs, "PodMonitor").expect("PodMonitor");
    let pm_endpoints = pm["spec"]["podMetricsEndpoints"]
        .as_array()
        .expect("endpoints");
    assert_eq!(pm_endpoints.len(), 1, "splitJobs: false gives one endpoint");
    assert_eq!(pm_endpoints[0]["port"], "metrics");
    assert_eq!(pm_endpoints[0]["path"], "/metrics");
    assert_eq!(pm_endpoints[0]["honorLabels"], true);

    // The least configuration: no root mount and no Service, an existing service account.
    let values = chart().join("ci/no-root-mount-values.yaml");
    let docs = documents(&render(&helm, &["-f", &values.display().to_string()]));
    assert!(find(&docs, "Service").is_none() && find(&docs, "ServiceAccount").is_none());
    let pod = &find(&docs, "DaemonSet").expect("DaemonSet")["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "monitoring");
    assert_eq!(pod["dnsPolicy"], "ClusterFirst");
    let args = string_list(&pod["containers"][0]["args"]);
    assert!(
        !args.iter().any(|a| a.starts_with("--path.rootfs")),
        "{args:?}"
    );
    assert!(
        !pod["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .any(|v| v["name"] == "root"),
        "no root volume"
    );
}

/// The web configuration the chart writes, with the Secret's mount paths pointed at a
/// certificate made here, starts nodex, which then serves TLS and asks for the password.
#[test]
fn rendered_web_config_is_served_by_nodex() {
    let Some(helm) = helm() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    nodex_test_support::run_ok(
        Command::new("openssl").current_dir(dir.path()).args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "tls.key",
            "-out",
            "tls.crt",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ]),
        "openssl req (Debian's openssl)",
    );
    let hash = bcrypt::hash("pw", 4).expect("bcrypt");
    let docs = documents(&render(
        &helm,
        &[
            "--set",
            "tlsSecret.enabled=true",
            "--set-string",
            &format!("webConfig.basicAuthUsers.prometheus={hash}"),
        ],
    ));
    let secret = find(&docs, "Secret").expect("web config Secret");
    let web = secret["stringData"]["web-config.yml"]
        .as_str()
        .expect("web-config.yml")
        .replace("/etc/nodex/tls/", &format!("{}/", dir.path().display()));
    let config = dir.path().join("web-config.yml");
    std::fs::write(&config, web).expect("write web config");
    let args = string_list(
        &find(&docs, "DaemonSet").expect("DaemonSet")["spec"]["template"]["spec"]["containers"][0]
            ["args"],
    );
    let web_arg = args
        .iter()
        .find(|a| a.starts_with("--web.config.file="))
        .expect("--web.config.file in the DaemonSet");
    assert_eq!(web_arg, "--web.config.file=/etc/nodex/web/web-config.yml");
    let nodex = common::start_nodex(&[&format!("--web.config.file={}", config.display())]);
    let url = format!("https://{}/metrics", nodex.addr);
    let curl = |extra: &[&str]| {
        let out = nodex_test_support::run_ok(
            Command::new("curl")
                .args([
                    "-s",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "--max-time",
                    "20",
                ])
                .arg("--cacert")
                .arg(dir.path().join("tls.crt"))
                .args(extra)
                .arg(&url),
            "curl (Debian's curl)",
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(curl(&[]), "401", "no credentials");
    assert_eq!(curl(&["-u", "prometheus:wrong"]), "401", "wrong password");
    assert_eq!(
        curl(&["-u", "prometheus:pw"]),
        "200",
        "right password over TLS"
    );
}

/// The README's one-line Helm install renders (as `helm template`: no cluster here) into valid
/// objects in the namespace and with the image it names.
#[test]
fn readme_helm_install_line_renders() {
    let Some(helm) = helm() else { return };
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let deployment = readme
        .split("\n## Deployment\n")
        .nth(1)
        .expect("a Deployment section");
    let line = deployment
        .lines()
        .find(|l| l.starts_with("helm install "))
        .expect("a helm install line in Deployment");
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&words[..2], ["helm", "install"]);
    let (ok, yaml, err) = run(Command::new(&helm)
        .current_dir(repo())
        .arg("template")
        .args(&words[2..]));
    assert!(ok, "{line}: {err}");
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, report) = validate(dir.path(), &yaml);
    assert!(ok, "kubernetes-validate:\n{report}");
    let docs = documents(&yaml);
    let ds = find(&docs, "DaemonSet").expect("DaemonSet");
    assert_eq!(ds["metadata"]["namespace"], "monitoring");
    assert_eq!(
        ds["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example/nodex:0.1.0"
    );
}
