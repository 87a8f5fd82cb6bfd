//! Throwaway certificates ([`SelfSigned`]), rustls configs, and
//! [`HttpsUpstream`] (the [`crate::HttpUpstream`] routes over TLS).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::HeaderMap;
use hyper_util::rt::TokioIo;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::http::{State, serve_io};
use crate::runtime::ServerThread;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A self-signed certificate and its private key, both PEM encoded.
#[derive(Clone, Debug)]
pub struct SelfSigned {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key (PKCS#8), PEM.
    pub key_pem: String,
}

impl SelfSigned {
    /// Generates a certificate valid for `names` (DNS names or IP addresses,
    /// e.g. `&["localhost", "127.0.0.1"]`).
    pub fn generate(names: &[&str]) -> SelfSigned {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let ck = rcgen::generate_simple_self_signed(names).expect("generate certificate");
        SelfSigned {
            cert_pem: ck.cert.pem(),
            key_pem: ck.signing_key.serialize_pem(),
        }
    }

    /// Writes `cert.pem` and `key.pem` into `dir`; returns their paths.
    pub fn write_to(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(&cert, &self.cert_pem).expect("write cert.pem");
        std::fs::write(&key, &self.key_pem).expect("write key.pem");
        (cert, key)
    }

    /// The certificate, DER.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(self.cert_pem.as_bytes()).expect("parse cert PEM")
    }

    /// The private key, DER.
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).expect("parse key PEM")
    }

    /// A client config that trusts exactly this certificate and offers ALPN
    /// `h2` then `http/1.1`.
    pub fn client_config(&self) -> ClientConfig {
        self.client_config_with_alpn(&[b"h2", b"http/1.1"])
    }

    /// Like [`SelfSigned::client_config`] with the given ALPN protocols
    /// (e.g. `&[b"http/1.1"]` to force HTTP/1.1).
    pub fn client_config_with_alpn(&self, alpn: &[&[u8]]) -> ClientConfig {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert_der()).expect("add root");
        let mut cfg = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        cfg
    }

    /// A server config presenting this certificate, ALPN `h2` and `http/1.1`.
    pub fn server_config(&self) -> ServerConfig {
        let mut cfg = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.cert_der()], self.key_der())
            .expect("server certificate");
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        cfg
    }
}

/// A client config that accepts any server certificate (still checks the
/// handshake signatures), offering the given ALPN protocols. The gateway's own
/// "insecure skip verify" config, so tests and gateway trust the same way.
pub fn insecure_client_config(alpn: &[&[u8]]) -> ClientConfig {
    let mut cfg = weir_proxy::tls::client_config(None, true).expect("insecure client config");
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    cfg
}

/// The [`crate::HttpUpstream`] routes over TLS (ALPN `h2` and `http/1.1`) on
/// `127.0.0.1:<port>`, presenting the given certificate.
pub struct HttpsUpstream {
    server: ServerThread,
    state: Arc<State>,
}

impl HttpsUpstream {
    /// Starts the server with `cert` (typically
    /// `SelfSigned::generate(&["localhost", "127.0.0.1"])`).
    pub fn start(cert: &SelfSigned) -> HttpsUpstream {
        let acceptor = TlsAcceptor::from(Arc::new(cert.server_config()));
        let state = Arc::new(State::default());
        let st = state.clone();
        let server = ServerThread::spawn("https", move |listener| async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (st, acceptor) = (st.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let _ = tcp.set_nodelay(true);
                    // Handshake failures (e.g. a client that does not trust
                    // the certificate) just close the connection.
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        serve_io(TokioIo::new(tls), st).await;
                    }
                });
            }
        });
        HttpsUpstream { server, state }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr())
    }

    /// How many requests arrived so far (after a successful handshake).
    pub fn request_count(&self) -> usize {
        self.state.request_count()
    }

    /// Headers of the most recent request, if any arrived.
    pub fn last_headers(&self) -> Option<HeaderMap> {
        self.state.last_headers()
    }
}
