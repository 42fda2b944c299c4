//! The exporter-toolkit YAML schema and the checks that need no files: unknown keys are errors
//! (as `yaml.UnmarshalStrict`), `http_server_config.headers` limited to the toolkit's list.
//! Reference: https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md

use std::collections::BTreeMap;

use hyper::header::{HeaderName, HeaderValue};
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

/// Validates `http_server_config.headers` against the toolkit's allowed names and values.
pub(super) fn check_headers(
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
}
