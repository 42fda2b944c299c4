//! `tls_server_config`: certificates, versions, cipher suites, curves and client
//! authentication, mapped from Go's `crypto/tls` names onto rustls.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};

use super::schema::TlsServerConfig;

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

/// Builds the rustls server configuration of `tls_server_config`; files it reads are resolved
/// against `base` and pushed to `files` (watched for changes).
pub(super) fn build_tls(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webconfig::schema::parse;

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
}
