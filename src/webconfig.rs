//! `--web.config.file`: TLS, client certificates, basic auth, headers and a rate limit, in the
//! exporter-toolkit YAML that every Prometheus exporter reads.
//!
//! Unknown keys are errors (as `yaml.UnmarshalStrict`). The file and the files it names are
//! checked for changes on every request and TLS handshake, so certificates and users rotate
//! without a restart; `rate_limit` and the choice of TLS or plain HTTP are fixed at start-up.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use hyper::header::{HeaderName, HeaderValue};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use serde::Deserialize;

/// The YAML document, exactly as exporter-toolkit defines it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfigFile {
    /// TLS settings; absent means plain HTTP.
    pub tls_server_config: Option<TlsServerConfig>,
    /// HTTP settings.
    #[serde(default)]
    pub http_server_config: HttpServerConfig,
    /// User name to bcrypt hash.
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, String>,
    /// Token-bucket request limit.
    pub rate_limit: Option<RateLimitConfig>,
}

/// `tls_server_config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    /// PEM certificate chain file.
    pub cert_file: Option<String>,
    /// PEM private key file.
    pub key_file: Option<String>,
    /// Inline PEM certificate chain.
    pub cert: Option<String>,
    /// Inline PEM private key.
    pub key: Option<String>,
    /// `NoClientCert` (default), `RequestClientCert`, `RequireAnyClientCert`/`RequireClientCert`,
    /// `VerifyClientCertIfGiven`, `RequireAndVerifyClientCert`.
    pub client_auth_type: Option<String>,
    /// PEM file of CAs that sign client certificates.
    pub client_ca_file: Option<String>,
    /// Inline PEM client CAs.
    pub client_ca: Option<String>,
    /// Allowed client certificate SANs (not supported by nodex; an error when set).
    #[serde(default)]
    pub client_allowed_sans: Vec<String>,
    /// `TLS10`..`TLS13`; default `TLS12`.
    pub min_version: Option<String>,
    /// `TLS10`..`TLS13`; default `TLS13`.
    pub max_version: Option<String>,
    /// Go names of TLS 1.2 cipher suites.
    #[serde(default)]
    pub cipher_suites: Vec<String>,
    /// Whether the server's suite order wins (default true).
    pub prefer_server_cipher_suites: Option<bool>,
    /// Go names of key-exchange curves.
    #[serde(default)]
    pub curve_preferences: Vec<String>,
}

/// `http_server_config`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    /// Accepted for compatibility; nodex serves HTTP/1.1.
    pub http2: Option<bool>,
    /// Security headers added to every response.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// `rate_limit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Time per token (Go duration); 0 disables the limit.
    pub interval: Option<String>,
    /// Bucket size.
    pub burst: Option<u32>,
}

/// A validated configuration, ready to serve with.
pub struct Loaded {
    /// The TLS server configuration, when TLS is on.
    pub tls: Option<Arc<ServerConfig>>,
    /// Users and their bcrypt hashes.
    pub users: HashMap<String, String>,
    /// Headers added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    files: Vec<PathBuf>,
}

/// Parses the YAML text; errors name the offending key.
pub fn parse(text: &str) -> Result<WebConfigFile, String> {
    if text.trim().is_empty() {
        return Ok(WebConfigFile::default());
    }
    serde_saphyr::from_str(text).map_err(|e| e.to_string())
}

const ALLOWED_HEADERS: &[&str] = &[
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "X-XSS-Protection",
    "Strict-Transport-Security",
];

fn check_headers(
    headers: &BTreeMap<String, String>,
) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let mut out = Vec::new();
    for (name, value) in headers {
        let Some(canonical) = ALLOWED_HEADERS
            .iter()
            .find(|h| h.eq_ignore_ascii_case(name))
        else {
            return Err(format!(
                "http_server_config.headers: header {name:?} is not allowed (allowed: {})",
                ALLOWED_HEADERS.join(", ")
            ));
        };
        let ok = match *canonical {
            "X-Frame-Options" => {
                ["deny", "sameorigin"].contains(&value.to_ascii_lowercase().as_str())
            }
            "X-Content-Type-Options" => value.eq_ignore_ascii_case("nosniff"),
            _ => true,
        };
        if !ok {
            return Err(format!(
                "http_server_config.headers: invalid value {value:?} for {canonical}"
            ));
        }
        let header_name =
            HeaderName::from_bytes(canonical.as_bytes()).map_err(|e| e.to_string())?;
        let header_value = HeaderValue::from_str(value)
            .map_err(|_| format!("http_server_config.headers: invalid value for {canonical}"))?;
        out.push((header_name, header_value));
    }
    Ok(out)
}

fn check_users(users: &BTreeMap<String, String>) -> Result<HashMap<String, String>, String> {
    for (user, hash) in users {
        hash.parse::<bcrypt::HashParts>()
            .map_err(|e| format!("basic_auth_users: invalid bcrypt hash for user {user:?}: {e}"))?;
    }
    Ok(users.iter().map(|(u, h)| (u.clone(), h.clone())).collect())
}

fn resolve(base: &Path, file: &str) -> PathBuf {
    let path = Path::new(file);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

fn rank(v: &rustls::SupportedProtocolVersion) -> u16 {
    u16::from(v.version)
}

fn version(name: &str, key: &str) -> Result<&'static rustls::SupportedProtocolVersion, String> {
    match name {
        "TLS12" => Ok(&rustls::version::TLS12),
        "TLS13" => Ok(&rustls::version::TLS13),
        "TLS10" | "TLS11" => Err(format!(
            "tls_server_config.{key}: {name} is not supported by nodex (TLS 1.2 and 1.3 only)"
        )),
        other => Err(format!(
            "tls_server_config.{key}: unknown TLS version {other:?}"
        )),
    }
}

fn pem_source(
    base: &Path,
    file: &Option<String>,
    inline: &Option<String>,
    what: &str,
    files: &mut Vec<PathBuf>,
) -> Result<Option<Vec<u8>>, String> {
    match (file, inline) {
        (Some(_), Some(_)) => Err(format!(
            "tls_server_config: both {what}_file and {what} are set"
        )),
        (Some(f), None) => {
            let path = resolve(base, f);
            let bytes = std::fs::read(&path)
                .map_err(|e| format!("tls_server_config.{what}_file {}: {e}", path.display()))?;
            files.push(path);
            Ok(Some(bytes))
        }
        (None, Some(text)) => Ok(Some(text.clone().into_bytes())),
        (None, None) => Ok(None),
    }
}

fn build_tls(
    tls: &TlsServerConfig,
    base: &Path,
    files: &mut Vec<PathBuf>,
) -> Result<ServerConfig, String> {
    if !tls.client_allowed_sans.is_empty() {
        return Err("tls_server_config.client_allowed_sans is not supported by nodex".into());
    }
    let cert_pem = pem_source(base, &tls.cert_file, &tls.cert, "cert", files)?;
    let key_pem = pem_source(base, &tls.key_file, &tls.key, "key", files)?;
    let (Some(cert_pem), Some(key_pem)) = (cert_pem, key_pem) else {
        return Err(
            "tls_server_config: missing one of cert or cert_file, or key or key_file".into(),
        );
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("tls_server_config: reading certificate: {e}"))?;
    if certs.is_empty() {
        return Err("tls_server_config: the certificate file holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("tls_server_config: reading key: {e}"))?;

    let min = version(tls.min_version.as_deref().unwrap_or("TLS12"), "min_version")?;
    let max = version(tls.max_version.as_deref().unwrap_or("TLS13"), "max_version")?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [&rustls::version::TLS12, &rustls::version::TLS13]
            .into_iter()
            .filter(|v| rank(v) >= rank(min) && rank(v) <= rank(max))
            .collect();
    if versions.is_empty() {
        return Err("tls_server_config: min_version is higher than max_version".into());
    }

    let mut provider = rustls::crypto::ring::default_provider();
    if !tls.cipher_suites.is_empty() {
        for name in &tls.cipher_suites {
            let known = provider
                .cipher_suites
                .iter()
                .any(|s| suite_matches(s, name));
            if !known {
                return Err(format!(
                    "tls_server_config.cipher_suites: unsupported cipher suite {name:?}"
                ));
            }
        }
        provider.cipher_suites.retain(|s| {
            s.version() == &rustls::version::TLS13
                || tls.cipher_suites.iter().any(|n| suite_matches(s, n))
        });
    }
    if !tls.curve_preferences.is_empty() {
        let mut groups = Vec::new();
        for name in &tls.curve_preferences {
            let wanted = match name.as_str() {
                "X25519" => rustls::NamedGroup::X25519,
                "CurveP256" => rustls::NamedGroup::secp256r1,
                "CurveP384" => rustls::NamedGroup::secp384r1,
                other => {
                    return Err(format!(
                        "tls_server_config.curve_preferences: unsupported curve {other:?}"
                    ))
                }
            };
            groups.extend(
                provider
                    .kx_groups
                    .iter()
                    .copied()
                    .filter(|g| g.name() == wanted),
            );
        }
        provider.kx_groups = groups;
    }
    let provider = Arc::new(provider);

    let auth_type = tls.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let ca_pem = pem_source(
        base,
        &tls.client_ca_file,
        &tls.client_ca,
        "client_ca",
        files,
    )?;
    let roots = match &ca_pem {
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?;
            }
            Some(Arc::new(roots))
        }
        None => None,
    };
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_server_config: {e}"))?;
    let verifier: Option<Arc<dyn ClientCertVerifier>> = match (auth_type, &roots) {
        ("NoClientCert", None) => None,
        ("NoClientCert", Some(_)) => {
            return Err(
                "tls_server_config: client_ca_file is set but client_auth_type is NoClientCert"
                    .into(),
            )
        }
        ("RequestClientCert", _) => Some(Arc::new(AnyClientCert {
            provider: Arc::clone(&provider),
            mandatory: false,
        })),
        ("RequireAnyClientCert" | "RequireClientCert", _) => Some(Arc::new(AnyClientCert {
            provider: Arc::clone(&provider),
            mandatory: true,
        })),
        ("VerifyClientCertIfGiven", Some(roots)) => Some(
            WebPkiClientVerifier::builder_with_provider(Arc::clone(roots), Arc::clone(&provider))
                .allow_unauthenticated()
                .build()
                .map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?,
        ),
        ("RequireAndVerifyClientCert", Some(roots)) => Some(
            WebPkiClientVerifier::builder_with_provider(Arc::clone(roots), Arc::clone(&provider))
                .build()
                .map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?,
        ),
        ("VerifyClientCertIfGiven" | "RequireAndVerifyClientCert", None) => {
            return Err(format!(
                "tls_server_config: client_auth_type {auth_type} needs client_ca_file"
            ))
        }
        (other, _) => {
            return Err(format!(
                "tls_server_config.client_auth_type: invalid value {other:?}"
            ))
        }
    };
    let builder = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls_server_config: certificate and key do not match: {e}"))?;
    config.ignore_client_order = tls.prefer_server_cipher_suites.unwrap_or(true);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn suite_matches(suite: &rustls::SupportedCipherSuite, go_name: &str) -> bool {
    let name = format!("{:?}", suite.suite());
    name == go_name
        || name
            .strip_suffix("_SHA256")
            .is_some_and(|n| n == go_name && n.ends_with("CHACHA20_POLY1305"))
}

/// Accepts any client certificate (Go's `RequestClientCert` / `RequireAnyClientCert`) while
/// still checking the handshake signature made with it.
#[derive(Debug)]
struct AnyClientCert {
    provider: Arc<rustls::crypto::CryptoProvider>,
    mandatory: bool,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end: &CertificateDer<'_>,
        _inter: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Reads, validates and builds the configuration at `path`.
pub fn load(path: &Path) -> Result<Loaded, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let file = parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut files = vec![path.to_path_buf()];
    let tls = match &file.tls_server_config {
        Some(t) => Some(Arc::new(
            build_tls(t, base, &mut files).map_err(|e| format!("{}: {e}", path.display()))?,
        )),
        None => None,
    };
    let users =
        check_users(&file.basic_auth_users).map_err(|e| format!("{}: {e}", path.display()))?;
    let headers = check_headers(&file.http_server_config.headers)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if file.http_server_config.http2 == Some(true) {
        tracing::debug!("http_server_config.http2: nodex serves HTTP/1.1 only; the setting is accepted and ignored");
    }
    Ok(Loaded {
        tls,
        users,
        headers,
        files,
    })
}

/// The rate limit of a configuration file, read once at start-up.
pub fn rate_limit(path: &Path) -> Result<Option<RateLimiter>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let Some(limit) = parse(&text)?.rate_limit else {
        return Ok(None);
    };
    let interval_text = limit.interval.unwrap_or_else(|| "0".into());
    let interval = nodex_collectors::options::parse_go_duration(&interval_text)
        .ok_or_else(|| format!("rate_limit.interval: invalid duration {interval_text:?}"))?;
    if interval.is_zero() {
        return Ok(None);
    }
    let burst = f64::from(limit.burst.unwrap_or(1).max(1));
    Ok(Some(RateLimiter {
        interval,
        burst,
        state: Mutex::new((burst, Instant::now())),
    }))
}

type Fingerprint = Vec<Option<(SystemTime, u64)>>;

/// The last load: what it was built from, the files it read, and its outcome.
struct Cached {
    fingerprint: Fingerprint,
    files: Vec<PathBuf>,
    result: Result<Arc<Loaded>, String>,
}

fn fingerprint(files: &[PathBuf]) -> Fingerprint {
    files
        .iter()
        .map(|f| {
            std::fs::metadata(f)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        })
        .collect()
}

/// The live configuration: reloaded when the file or any file it names changes.
pub struct WebConfig {
    path: PathBuf,
    cached: Mutex<Cached>,
    auth_cache: Mutex<HashMap<u64, bool>>,
    bcrypt_lock: Mutex<()>,
    hasher: RandomState,
}

/// A hash of cost 10 that no password matches; checked for unknown users so that a wrong user
/// and a wrong password take the same time.
const DUMMY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

impl WebConfig {
    /// Loads `path`; the error names what is wrong, for start-up.
    pub fn open(path: &Path) -> Result<Self, String> {
        let loaded = load(path)?;
        let files = loaded.files.clone();
        Ok(WebConfig {
            path: path.to_path_buf(),
            cached: Mutex::new(Cached {
                fingerprint: fingerprint(&files),
                files,
                result: Ok(Arc::new(loaded)),
            }),
            auth_cache: Mutex::new(HashMap::new()),
            bcrypt_lock: Mutex::new(()),
            hasher: RandomState::new(),
        })
    }

    /// The configuration as it is on disk now (re-read if anything changed).
    pub fn current(&self) -> Result<Arc<Loaded>, String> {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        let now = fingerprint(&cached.files);
        if now != cached.fingerprint {
            let result = load(&self.path).map(Arc::new);
            match &result {
                Ok(loaded) => {
                    tracing::info!(file = %self.path.display(), "web config reloaded");
                    cached.files = loaded.files.clone();
                }
                Err(e) => tracing::error!(err = %e, "web config reload failed"),
            }
            cached.fingerprint = fingerprint(&cached.files);
            cached.result = result;
        }
        cached.result.clone()
    }

    /// Checks an `Authorization` header against the users; blocking (bcrypt), so call it from
    /// a blocking thread. `true` when no users are configured.
    pub fn authorize(&self, loaded: &Loaded, authorization: Option<&str>) -> bool {
        if loaded.users.is_empty() {
            return true;
        }
        let Some((user, password)) = authorization.and_then(decode_basic) else {
            return false;
        };
        let hash = loaded.users.get(&user).map(String::as_str);
        let key = self.hasher.hash_one((&user, hash, &password));
        if let Some(ok) = self
            .auth_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return *ok;
        }
        let ok = {
            let _serial = self.bcrypt_lock.lock().unwrap_or_else(|p| p.into_inner());
            let verified = bcrypt::verify(&password, hash.unwrap_or(DUMMY_HASH)).unwrap_or(false);
            verified && hash.is_some()
        };
        let mut cache = self.auth_cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 1024 {
            cache.clear();
        }
        cache.insert(key, ok);
        ok
    }
}

fn decode_basic(header: &str) -> Option<(String, String)> {
    use base64::Engine;
    let encoded = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// A token bucket (`rate_limit`): `burst` tokens, one more every `interval`.
pub struct RateLimiter {
    interval: Duration,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// Takes a token; `false` when the bucket is empty (answer 429).
    pub fn allow(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let refill = now.duration_since(state.1).as_secs_f64() / self.interval.as_secs_f64();
        state.0 = (state.0 + refill).min(self.burst);
        state.1 = now;
        if state.0 >= 1.0 {
            state.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_named() {
        let err = parse("tls_server_config:\n  cert_fle: x\n").unwrap_err();
        assert!(err.contains("cert_fle"), "{err}");
        let err = parse("basic_auth_user:\n  a: b\n").unwrap_err();
        assert!(err.contains("basic_auth_user"), "{err}");
    }

    #[test]
    fn empty_file_is_plain_http() {
        let f = parse("").unwrap();
        assert!(f.tls_server_config.is_none());
        assert!(f.basic_auth_users.is_empty());
    }

    #[test]
    fn headers_are_checked() {
        let mut h = BTreeMap::new();
        h.insert("X-Frame-Options".to_string(), "deny".to_string());
        assert_eq!(check_headers(&h).unwrap().len(), 1);
        h.insert("X-Custom".to_string(), "1".to_string());
        assert!(check_headers(&h).unwrap_err().contains("X-Custom"));
        let mut bad = BTreeMap::new();
        bad.insert("X-Content-Type-Options".to_string(), "sniff".to_string());
        assert!(check_headers(&bad).is_err());
    }

    #[test]
    fn bcrypt_hashes_are_checked_at_load() {
        let mut users = BTreeMap::new();
        users.insert("alice".to_string(), "not-a-hash".to_string());
        assert!(check_users(&users).unwrap_err().contains("alice"));
        users.insert("alice".to_string(), DUMMY_HASH.to_string());
        assert!(check_users(&users).is_ok());
    }

    #[test]
    fn basic_header_decoding() {
        assert_eq!(
            decode_basic("Basic YWxpY2U6czNjcmV0"),
            Some(("alice".into(), "s3cret".into()))
        );
        assert_eq!(decode_basic("Bearer x"), None);
        assert_eq!(decode_basic("Basic !!!"), None);
    }

    #[test]
    fn tls_needs_cert_and_key() {
        let file = parse("tls_server_config:\n  min_version: TLS12\n").unwrap();
        let err = build_tls(
            file.tls_server_config.as_ref().unwrap(),
            Path::new("."),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(err.contains("missing one of cert"), "{err}");
    }

    #[test]
    fn rate_limiter_refuses_past_burst() {
        let limiter = RateLimiter {
            interval: Duration::from_secs(3600),
            burst: 2.0,
            state: Mutex::new((2.0, Instant::now())),
        };
        assert!(limiter.allow());
        assert!(limiter.allow());
        assert!(!limiter.allow());
    }
}
