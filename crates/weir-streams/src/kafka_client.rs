//! What the `kafka` input and output share: addresses, TLS and SASL, turned into librdkafka
//! settings.

use rdkafka::ClientConfig;
use serde::Deserialize;

use crate::error::StreamError;

/// Bento's `tls` block.
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Use TLS.
    pub enabled: bool,
    /// Do not verify the broker's certificate.
    pub skip_cert_verify: bool,
    /// Renegotiation (refused when on: librdkafka does not offer it).
    pub enable_renegotiation: bool,
    /// PEM text of CA certificates.
    pub root_cas: String,
    /// Path of a PEM file of CA certificates.
    pub root_cas_file: String,
    /// Client certificate and key (one pair is supported).
    pub client_certs: Vec<ClientCert>,
}

/// A client certificate.
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct ClientCert {
    /// PEM text.
    pub cert: String,
    /// PEM text.
    pub key: String,
    /// PEM file.
    pub cert_file: String,
    /// PEM file.
    pub key_file: String,
    /// Password of an encrypted key.
    pub password: String,
}

/// Bento's `sasl` block.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct SaslConfig {
    /// `none`, `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`.
    pub mechanism: String,
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

impl Default for SaslConfig {
    fn default() -> Self {
        SaslConfig {
            mechanism: "none".into(),
            user: String::new(),
            password: String::new(),
        }
    }
}

/// `addresses` as librdkafka's `bootstrap.servers` (entries may themselves hold commas).
pub fn bootstrap(addresses: &[String], path: &str) -> Result<String, StreamError> {
    let list: Vec<&str> = addresses
        .iter()
        .flat_map(|a| a.split(','))
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    if list.is_empty() {
        return Err(StreamError::new(
            format!("{path}.addresses"),
            "at least one broker address is required",
        ));
    }
    Ok(list.join(","))
}

/// Applies TLS and SASL to a client config, refusing what librdkafka cannot do.
pub fn apply_security(
    cfg: &mut ClientConfig,
    tls: &TlsConfig,
    sasl: &SaslConfig,
    path: &str,
) -> Result<(), StreamError> {
    // librdkafka's own tracing (`cgrp`, `fetch`, `all`…) for operators chasing a broker
    // problem; it shows with `log_level: debug`.
    if let Ok(contexts) = std::env::var("WEIR_KAFKA_DEBUG") {
        cfg.set("debug", contexts);
    }
    let sasl_on = !matches!(sasl.mechanism.as_str(), "" | "none");
    let protocol = match (tls.enabled, sasl_on) {
        (false, false) => "plaintext",
        (true, false) => "ssl",
        (false, true) => "sasl_plaintext",
        (true, true) => "sasl_ssl",
    };
    cfg.set("security.protocol", protocol);
    if tls.enabled {
        if tls.enable_renegotiation {
            return Err(StreamError::new(
                format!("{path}.tls.enable_renegotiation"),
                "TLS renegotiation is not available",
            ));
        }
        if tls.skip_cert_verify {
            cfg.set("enable.ssl.certificate.verification", "false");
        }
        if !tls.root_cas.is_empty() {
            cfg.set("ssl.ca.pem", &tls.root_cas);
        }
        if !tls.root_cas_file.is_empty() {
            cfg.set("ssl.ca.location", &tls.root_cas_file);
        }
        match tls.client_certs.as_slice() {
            [] => {}
            [c] => {
                if !c.cert.is_empty() {
                    cfg.set("ssl.certificate.pem", &c.cert);
                }
                if !c.key.is_empty() {
                    cfg.set("ssl.key.pem", &c.key);
                }
                if !c.cert_file.is_empty() {
                    cfg.set("ssl.certificate.location", &c.cert_file);
                }
                if !c.key_file.is_empty() {
                    cfg.set("ssl.key.location", &c.key_file);
                }
                if !c.password.is_empty() {
                    cfg.set("ssl.key.password", &c.password);
                }
            }
            _ => {
                return Err(StreamError::new(
                    format!("{path}.tls.client_certs"),
                    "one client certificate is supported",
                ));
            }
        }
    }
    if sasl_on {
        match sasl.mechanism.as_str() {
            "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512" => {
                cfg.set("sasl.mechanisms", &sasl.mechanism);
                cfg.set("sasl.username", &sasl.user);
                cfg.set("sasl.password", &sasl.password);
            }
            other => {
                return Err(StreamError::new(
                    format!("{path}.sasl.mechanism"),
                    format!(
                        "the SASL mechanism `{other}` is not built (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 are)"
                    ),
                ));
            }
        }
    }
    Ok(())
}
