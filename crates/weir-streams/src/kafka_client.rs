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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn security(
        tls: serde_json::Value,
        sasl: serde_json::Value,
    ) -> Result<ClientConfig, StreamError> {
        let tls: TlsConfig = crate::config::typed(&tls, "k.tls")?;
        let sasl: SaslConfig = crate::config::typed(&sasl, "k.sasl")?;
        let mut cfg = ClientConfig::new();
        apply_security(&mut cfg, &tls, &sasl, "k")?;
        Ok(cfg)
    }

    #[test]
    fn tls_and_sasl_fields_become_librdkafka_settings() {
        let cfg = security(
            json!({"enabled": true, "skip_cert_verify": true, "root_cas_file": "/ca.pem",
                   "client_certs": [{"cert_file": "/c.pem", "key_file": "/k.pem", "password": "pw"}]}),
            json!({"mechanism": "SCRAM-SHA-512", "user": "u", "password": "p"}),
        )
        .unwrap();
        for (key, value) in [
            ("security.protocol", "sasl_ssl"),
            ("enable.ssl.certificate.verification", "false"),
            ("ssl.ca.location", "/ca.pem"),
            ("ssl.certificate.location", "/c.pem"),
            ("ssl.key.location", "/k.pem"),
            ("ssl.key.password", "pw"),
            ("sasl.mechanisms", "SCRAM-SHA-512"),
            ("sasl.username", "u"),
            ("sasl.password", "p"),
        ] {
            assert_eq!(cfg.get(key), Some(value), "{key}");
        }
        assert!(
            cfg.create_native_config().is_ok(),
            "librdkafka accepts them"
        );
        let plain = security(json!({}), json!({"mechanism": "PLAIN", "user": "u"})).unwrap();
        assert_eq!(plain.get("security.protocol"), Some("sasl_plaintext"));
        let none = security(json!({"enabled": true}), json!({})).unwrap();
        assert_eq!(none.get("security.protocol"), Some("ssl"));
    }

    #[test]
    fn what_librdkafka_cannot_do_is_refused_naming_the_field() {
        let e = security(json!({}), json!({"mechanism": "OAUTHBEARER"})).unwrap_err();
        assert_eq!(e.path, "k.sasl.mechanism");
        let e = security(
            json!({"enabled": true, "enable_renegotiation": true}),
            json!({}),
        )
        .unwrap_err();
        assert_eq!(e.path, "k.tls.enable_renegotiation");
        let two = json!({"enabled": true, "client_certs": [{"cert": "a"}, {"cert": "b"}]});
        assert_eq!(
            security(two, json!({})).unwrap_err().path,
            "k.tls.client_certs"
        );
        let e = security(json!({"verify": false}), json!({})).unwrap_err();
        assert!(e.path.starts_with("k.tls"), "{e}");
    }
}
