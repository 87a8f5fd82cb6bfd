//! Keys from `jwt_source` and from JWKs, turned into jsonwebtoken keys.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{AlgorithmFamily, DecodingKey};
use serde::Deserialize;

/// What `jwt_source` names.
pub(super) enum Source {
    /// A JWK set URL (given plainly or base64-encoded).
    Url(String),
    /// The decoded key material: an HMAC secret, or a PEM/DER public key or certificate.
    Material(Vec<u8>),
}

/// Tyk's test for a URL source: `^(?i)https?://`.
pub(super) fn is_http_url(s: &str) -> bool {
    let starts = |prefix: &str| {
        s.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    };
    starts("http://") || starts("https://")
}

/// Decodes `jwt_source` as Tyk does: a URL as is, else standard base64 whose content is a
/// URL or the key material.
pub(super) fn decode_source(source: &str) -> Result<Source, String> {
    let source = source.trim();
    if source.is_empty() {
        // Tyk then looks the secret up in the key named by the token; not supported here.
        return Err(
            "jwt_source is empty (keys holding their own JWT secret are not supported)".into(),
        );
    }
    if is_http_url(source) {
        return Ok(Source::Url(source.to_owned()));
    }
    // Go's decoder skips line breaks, so a base64 value wrapped over lines still decodes.
    let compact: String = source
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n'))
        .collect();
    let bytes = STANDARD
        .decode(compact)
        .map_err(|_| "jwt_source is not valid base64".to_owned())?;
    if let Ok(text) = std::str::from_utf8(&bytes)
        && is_http_url(text.trim())
    {
        return Ok(Source::Url(text.trim().to_owned()));
    }
    Ok(Source::Material(bytes))
}

/// The key of a `jwt_source` that holds key material, for the API's signing family.
pub(super) fn static_key(family: AlgorithmFamily, material: &[u8]) -> Result<DecodingKey, String> {
    if family == AlgorithmFamily::Hmac {
        // Tyk uses the decoded bytes as the secret, whatever they look like.
        return DecodingKey::from_secret(material)
            .map_err(|_| "jwt_source holds an empty HMAC secret".to_owned());
    }
    let key = public_key(material).map_err(|reason| format!("jwt_source {reason}"))?;
    if key.family() != family {
        let (held, wanted) = match family {
            AlgorithmFamily::Rsa => ("an EC", "rsa"),
            _ => ("an RSA", "ecdsa"),
        };
        return Err(format!(
            "jwt_source holds {held} key but jwt_signing_method is {wanted}"
        ));
    }
    Ok(key)
}

/// A public key from PEM text or DER bytes: a public key (PKIX, or PKCS#1 for RSA) or an X.509
/// certificate, RSA or EC (P-256, P-384). Errors read after the field name.
pub(super) fn public_key(material: &[u8]) -> Result<DecodingKey, String> {
    let pem = match pem_label(material) {
        Some(label) if label.contains("PRIVATE") => {
            return Err("holds a private key; give the public key or a certificate".into());
        }
        Some(_) => material.to_vec(),
        // Tyk parses bytes without a PEM armour as DER; jsonwebtoken reads the same
        // structures (a certificate included) under this label.
        None => der_to_pem("PUBLIC KEY", material).into_bytes(),
    };
    DecodingKey::from_rsa_pem(&pem)
        .or_else(|_| DecodingKey::from_ec_pem(&pem))
        .map_err(|_| "is not an RSA or EC public key or certificate (PEM or DER)".into())
}

/// The label of the first PEM block (`PUBLIC KEY` in `-----BEGIN PUBLIC KEY-----`).
fn pem_label(material: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(material).ok()?;
    let start = text.find("-----BEGIN ")? + "-----BEGIN ".len();
    let len = text[start..].find("-----")?;
    Some(&text[start..start + len])
}

fn der_to_pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

/// One entry of a JWK set; every field optional so that one odd key does not spoil the set.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawJwk {
    pub(super) kty: String,
    pub(super) kid: Option<String>,
    #[serde(rename = "use")]
    pub(super) usage: Option<String>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    k: Option<String>,
    x5c: Vec<String>,
}

impl RawJwk {
    /// The key, if this JWK holds one we verify with: RSA (`n`/`e`), EC P-256/P-384 (`x`/`y`),
    /// `oct` (`k`, HMAC), or for RSA and EC the first `x5c` certificate. Tyk's legacy form,
    /// an `x5c` entry that is base64 of PEM text, is read too.
    pub(super) fn key(&self) -> Option<DecodingKey> {
        match self.kty.as_str() {
            "RSA" => match (&self.n, &self.e) {
                (Some(n), Some(e)) => DecodingKey::from_rsa_components(n, e).ok(),
                _ => self.certificate_key(),
            },
            "EC" => match (self.crv.as_deref(), &self.x, &self.y) {
                (Some("P-256" | "P-384"), Some(x), Some(y)) => {
                    DecodingKey::from_ec_components(x, y).ok()
                }
                (Some("P-256" | "P-384") | None, _, _) => self.certificate_key(),
                _ => None,
            },
            "oct" => {
                let secret = URL_SAFE_NO_PAD.decode(self.k.as_deref()?).ok()?;
                DecodingKey::from_secret(&secret).ok()
            }
            _ => None,
        }
    }

    fn certificate_key(&self) -> Option<DecodingKey> {
        let der_or_pem = STANDARD.decode(self.x5c.first()?).ok()?;
        public_key(&der_or_pem).ok()
    }
}
