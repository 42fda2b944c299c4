//! `--web.config.file`: TLS, client certificates, basic auth, headers and a rate limit, in the
//! exporter-toolkit YAML that every Prometheus exporter reads.
//!
//! Unknown keys are errors (as `yaml.UnmarshalStrict`). The file and the files it names are
//! checked for changes on every request and TLS handshake, so certificates and users rotate
//! without a restart; `rate_limit` and the choice of TLS or plain HTTP are fixed at start-up.
//! `schema` is the YAML, `tls` the rustls setup, `auth` basic authentication, `ratelimit` the
//! token bucket; this module loads the file (once per change) and keeps the live result.

mod auth;
mod ratelimit;
mod schema;
mod tls;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use hyper::header::{HeaderName, HeaderValue};
use rustls::ServerConfig;

use auth::BasicAuth;
pub use ratelimit::RateLimiter;
use schema::{parse, RateLimitConfig};

/// A validated configuration, ready to serve with.
pub struct Loaded {
    /// The TLS server configuration, when TLS is on.
    pub tls: Option<Arc<ServerConfig>>,
    /// Users and their bcrypt hashes.
    pub users: HashMap<String, String>,
    /// Headers added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    files: Vec<PathBuf>,
    rate_limit: Option<RateLimitConfig>,
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
            tls::build_tls(t, base, &mut files).map_err(|e| format!("{}: {e}", path.display()))?,
        )),
        None => None,
    };
    let users = auth::check_users(&file.basic_auth_users)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let headers = schema::check_headers(&file.http_server_config.headers)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if file.http_server_config.http2 == Some(true) {
        tracing::debug!("http_server_config.http2: nodex serves HTTP/1.1 only; the setting is accepted and ignored");
    }
    Ok(Loaded {
        tls,
        users,
        headers,
        files,
        rate_limit: file.rate_limit,
    })
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
    auth: BasicAuth,
}

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
            auth: BasicAuth::default(),
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

    /// Checks an `Authorization` header against the users of `loaded`; blocking (bcrypt), so
    /// call it from a blocking thread. `true` when no users are configured.
    pub fn authorize(&self, loaded: &Loaded, authorization: Option<&str>) -> bool {
        self.auth.authorize(&loaded.users, authorization)
    }

    /// The rate limiter of the file as loaded at start-up (`rate_limit` is not reloaded).
    pub fn rate_limiter(&self) -> Result<Option<RateLimiter>, String> {
        let cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        match &cached.result {
            Ok(loaded) => ratelimit::from_config(loaded.rate_limit.as_ref()),
            Err(_) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_read_gives_the_config_and_its_rate_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        std::fs::write(&path, "rate_limit:\n  interval: 1s\n  burst: 2\n").unwrap();
        let web = WebConfig::open(&path).unwrap();
        // The limiter comes from the load `open` made, not from reading the file again.
        std::fs::remove_file(&path).unwrap();
        let limiter = web.rate_limiter().unwrap().expect("a limiter");
        assert!(limiter.allow() && limiter.allow() && !limiter.allow());

        std::fs::write(&path, "rate_limit:\n  interval: often\n").unwrap();
        let err = WebConfig::open(&path).unwrap().rate_limiter().unwrap_err();
        assert!(err.contains("rate_limit.interval"), "{err}");
        std::fs::write(&path, "rate_limit:\n  interval: 0s\n").unwrap();
        assert!(WebConfig::open(&path)
            .unwrap()
            .rate_limiter()
            .unwrap()
            .is_none());
    }
}
