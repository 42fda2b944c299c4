//! `--web.config.file` with real clients: curl over TLS with and without the CA, with and
//! without a client certificate, with right and wrong credentials; reload without restart;
//! start-up errors naming the key; and a real Prometheus scraping over TLS with basic auth.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::prometheus::{eventually, start_prometheus, value};
use common::start_nodex;

/// A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    nodex_test_support::run_ok(
        Command::new("openssl").current_dir(dir).args(args),
        &format!("openssl {args:?} (Debian's openssl)"),
    );
}

fn make_pki() -> Pki {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=nodex test CA",
        ],
    );
    std::fs::write(
        d.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    std::fs::write(d.join("client.ext"), "extendedKeyUsage=clientAuth\n").expect("ext");
    for (name, ext) in [("server", "server.ext"), ("client", "client.ext")] {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let pem = format!("{name}.pem");
        let subj = format!("/CN=nodex {name}");
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &subj,
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                ext,
            ],
        );
    }
    Pki { dir }
}

/// curl's HTTP status (`000` when the connection or handshake failed) and exit code.
fn curl(url: &str, args: &[&str]) -> (String, i32) {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "20",
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("curl is missing: install Debian's curl");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

fn write_config(pki: &Pki, body: &str) -> PathBuf {
    let path = pki.path("web.yml");
    std::fs::write(&path, body).expect("write web config");
    path
}

fn hash(password: &str) -> String {
    // Cost 4 keeps the test fast; production hashes use 10 or more.
    bcrypt::hash(password, 4).expect("bcrypt")
}

#[test]
fn tls_with_basic_auth_and_reload() {
    let pki = make_pki();
    let config = write_config(
        &pki,
        &format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\nbasic_auth_users:\n  alice: '{}'\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n",
            hash("s3cret")
        ),
    );
    let flag = format!("--web.config.file={}", config.display());
    let nodex = start_nodex(&[&flag]);
    let url = format!("https://127.0.0.1:{}/metrics", nodex.addr.port());
    let ca = pki.path("ca.pem");
    let ca = ca.to_str().expect("utf-8 path");

    assert_eq!(curl(&url, &["--cacert", ca]).0, "401", "no credentials");
    assert_eq!(
        curl(&url, &["--cacert", ca, "-u", "alice:wrong"]).0,
        "401",
        "wrong password"
    );
    assert_eq!(
        curl(&url, &["--cacert", ca, "-u", "mallory:s3cret"]).0,
        "401",
        "unknown user"
    );
    assert_eq!(
        curl(&url, &["--cacert", ca, "-u", "alice:s3cret"]).0,
        "200",
        "right credentials"
    );
    let (status, code) = curl(&url, &["-u", "alice:s3cret"]);
    assert_eq!(status, "000", "without the CA the server is not trusted");
    assert_eq!(code, 60, "curl: peer certificate cannot be authenticated");

    let headers = Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null", "--cacert", ca, &url])
        .output()
        .expect("curl");
    let headers = String::from_utf8_lossy(&headers.stdout).to_lowercase();
    assert!(headers.contains("www-authenticate: basic"), "{headers}");
    assert!(headers.contains("x-frame-options: deny"), "{headers}");

    let plain = common::get(
        &format!("http://127.0.0.1:{}/metrics", nodex.addr.port()),
        &[],
    )
    .expect("plain HTTP");
    assert_eq!(plain.status, 400);
    assert!(plain
        .text()
        .contains("Client sent an HTTP request to an HTTPS server."));

    // Rotate the users without a restart: bob replaces alice.
    std::fs::write(
        &config,
        format!("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\nbasic_auth_users:\n  bob: '{}'\n", hash("hunter2")),
    )
    .expect("rewrite config");
    assert_eq!(
        curl(&url, &["--cacert", ca, "-u", "bob:hunter2"]).0,
        "200",
        "new user after reload"
    );
    assert_eq!(
        curl(&url, &["--cacert", ca, "-u", "alice:s3cret"]).0,
        "401",
        "old user gone after reload"
    );
}

#[test]
fn rotated_certificates_are_served_without_a_restart() {
    let old = make_pki();
    let new = make_pki();
    let config = write_config(
        &old,
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n",
    );
    let flag = format!("--web.config.file={}", config.display());
    let nodex = start_nodex(&[&flag]);
    let url = format!("https://127.0.0.1:{}/metrics", nodex.addr.port());
    let old_ca = old.path("ca.pem");
    let new_ca = new.path("ca.pem");
    assert_eq!(curl(&url, &["--cacert", old_ca.to_str().unwrap()]).0, "200");
    assert_eq!(
        curl(&url, &["--cacert", new_ca.to_str().unwrap()]).0,
        "000",
        "new CA not trusted yet"
    );
    // Rotate: a key pair signed by another CA replaces the served one in place.
    for file in ["server.pem", "server.key"] {
        std::fs::copy(new.path(file), old.path(file)).expect("rotate certificate");
    }
    assert_eq!(
        curl(&url, &["--cacert", new_ca.to_str().unwrap()]).0,
        "200",
        "rotated certificate served"
    );
    assert_eq!(
        curl(&url, &["--cacert", old_ca.to_str().unwrap()]).0,
        "000",
        "old certificate retired"
    );
}

#[test]
fn mutual_tls_requires_a_client_certificate() {
    let pki = make_pki();
    let config = write_config(
        &pki,
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n",
    );
    let flag = format!("--web.config.file={}", config.display());
    let nodex = start_nodex(&[&flag]);
    let url = format!("https://127.0.0.1:{}/metrics", nodex.addr.port());
    let ca = pki.path("ca.pem");
    let cert = pki.path("client.pem");
    let key = pki.path("client.key");
    let (ca, cert, key) = (
        ca.to_str().unwrap(),
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
    );
    let (status, code) = curl(&url, &["--cacert", ca]);
    assert_eq!(status, "000", "no client certificate: refused");
    assert_ne!(code, 0);
    assert_eq!(
        curl(&url, &["--cacert", ca, "--cert", cert, "--key", key]).0,
        "200"
    );
    // A certificate the CA did not sign (the server's own key pair signed by itself) is refused.
    let (status, _) = curl(
        &url,
        &[
            "--cacert",
            ca,
            "--cert",
            pki.path("ca.pem").to_str().unwrap(),
            "--key",
            pki.path("ca.key").to_str().unwrap(),
        ],
    );
    assert_eq!(
        status, "000",
        "a certificate not signed by the client CA is refused"
    );
}

#[test]
fn bad_web_config_stops_startup_naming_the_key() {
    let pki = make_pki();
    let cases: &[(&str, &str)] = &[
        ("tls_server_config:\n  cert_fil: server.pem\n", "cert_fil"),
        ("basic_auth_users:\n  alice: not-a-bcrypt-hash\n", "alice"),
        ("tls_server_config:\n  cert_file: server.pem\n", "key"),
        ("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_ca_file: ca.pem\n", "client_ca_file"),
        ("tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  min_version: TLS10\n", "min_version"),
        ("http_server_config:\n  headers:\n    X-Powered-By: nodex\n", "X-Powered-By"),
    ];
    for (yaml, named) in cases {
        let config = write_config(&pki, yaml);
        let out = Command::new(env!("CARGO_BIN_EXE_nodex"))
            .arg(format!("--web.config.file={}", config.display()))
            .arg("--web.listen-address=127.0.0.1:0")
            .output()
            .expect("run nodex");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{yaml}: {stderr}");
        assert!(
            stderr.contains(named),
            "{yaml}: error should name {named}: {stderr}"
        );
    }
}

#[test]
fn prometheus_scrapes_over_tls_with_basic_auth() {
    let pki = make_pki();
    let config = write_config(
        &pki,
        &format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\nbasic_auth_users:\n  prom: '{}'\n",
            hash("scrape-pass")
        ),
    );
    let flag = format!("--web.config.file={}", config.display());
    let nodex = start_nodex(&[&flag]);
    let prom = start_prometheus(&format!(
        "scrape_configs:\n  - job_name: node\n    scheme: https\n    tls_config: {{ca_file: '{}'}}\n    basic_auth: {{username: prom, password: scrape-pass}}\n    static_configs: [{{targets: ['127.0.0.1:{}']}}]\n",
        pki.path("ca.pem").display(),
        nodex.addr.port()
    ));
    eventually(&prom, "up{job=\"node\"}", Duration::from_secs(60), |r| {
        r.len() == 1 && value(&r[0]) == 1.0
    });
    eventually(
        &prom,
        "node_exporter_build_info{job=\"node\"}",
        Duration::from_secs(30),
        |r| r.len() == 1,
    );
}
