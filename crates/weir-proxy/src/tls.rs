//! TLS for both sides: the listener's certificates (chosen by SNI) and the trust roots used
//! for https upstreams.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, SignatureScheme};
use weir_config::CertificateFiles;

/// A TLS setup problem, naming the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read or parsed.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The key store (tyk.conf `storage`) could not be set up.
    #[error("storage: {0}")]
    Storage(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file_err = |reason: String| TlsError::File {
        path: path.display().to_string(),
        reason,
    };
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_err(format!("cannot read certificates: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(format!("bad PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(file_err("no PEM certificate in file".into()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::File {
        path: path.display().to_string(),
        reason: format!("cannot read a PEM private key: {e}"),
    })
}

/// Picks the certificate whose `domain_name` matches the SNI name, else the first.
#[derive(Debug)]
struct SniResolver {
    by_name: Vec<(String, Arc<CertifiedKey>)>,
    default: Arc<CertifiedKey>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let sni = hello.server_name().map(|s| s.to_ascii_lowercase());
        if let Some(sni) = sni {
            for (name, key) in &self.by_name {
                let hit = name == &sni
                    || name
                        .strip_prefix("*.")
                        .is_some_and(|suffix| sni.ends_with(&format!(".{suffix}")));
                if hit {
                    return Some(key.clone());
                }
            }
        }
        Some(self.default.clone())
    }
}

/// Builds the listener's TLS config. ALPN offers h2 only when `enable_http2` is set, as Tyk does.
pub fn server_config(
    certs: &[CertificateFiles],
    enable_http2: bool,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = provider();
    let mut by_name = Vec::new();
    for c in certs {
        let chain = read_certs(&c.cert_file)?;
        let key = read_key(&c.key_file)?;
        let signing = provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| TlsError::File {
                path: c.key_file.display().to_string(),
                reason: format!("unusable private key: {e}"),
            })?;
        by_name.push((
            c.domain_name.to_ascii_lowercase(),
            Arc::new(CertifiedKey::new(chain, signing)),
        ));
    }
    let default = by_name
        .first()
        .map(|(_, k)| k.clone())
        .ok_or_else(|| TlsError::File {
            path: "http_server_options.certificates".into(),
            reason: "use_ssl is on but no certificate is configured".into(),
        })?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver { by_name, default }));
    config.alpn_protocols = if enable_http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Arc::new(config))
}

/// Trust roots for https upstreams: the system's, plus an optional PEM file.
pub fn client_config(
    extra_ca: Option<&Path>,
    insecure: bool,
) -> Result<rustls::ClientConfig, TlsError> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        // A broken system store must not stop the gateway; https upstreams then need the CA file.
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            let _ = roots.add(cert);
        }
        if let Some(path) = extra_ca {
            for cert in read_certs(path)? {
                roots.add(cert).map_err(|e| TlsError::File {
                    path: path.display().to_string(),
                    reason: format!("unusable CA certificate: {e}"),
                })?;
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(config)
}

/// Accepts any upstream certificate: only for APIs that set `ssl_insecure_skip_verify`.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
