//! What the `http_client` input and output share: the request fields (`url`, `verb`,
//! `headers`, `basic_auth`, `tls`, `timeout`) and Bento's retry rules (`retries`,
//! `retry_period`, `max_retry_backoff`, `backoff_on`, `drop_on`, `successful_on`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::error::StreamError;
use crate::message::Message;

/// The shared fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpClientConfig {
    /// Request URL (interpolated).
    pub url: String,
    /// Request method.
    pub verb: String,
    /// Request headers (values interpolated).
    pub headers: BTreeMap<String, String>,
    /// Basic authentication.
    pub basic_auth: BasicAuth,
    /// TLS: `enabled` and `skip_cert_verify` only.
    pub tls: Tls,
    /// Time a request may take.
    #[serde(with = "crate::config::go_duration")]
    pub timeout: Duration,
    /// Wait before a retry.
    #[serde(with = "crate::config::go_duration")]
    pub retry_period: Duration,
    /// Longest wait after a `backoff_on` status (the wait doubles per attempt up to it).
    #[serde(with = "crate::config::go_duration")]
    pub max_retry_backoff: Duration,
    /// Retries after the first attempt.
    pub retries: u32,
    /// Statuses that are retried with a growing wait.
    pub backoff_on: Vec<u16>,
    /// Statuses that fail at once, without retry.
    pub drop_on: Vec<u16>,
    /// Statuses that count as success besides 2xx.
    pub successful_on: Vec<u16>,
    /// Follow redirects.
    pub follow_redirects: bool,
}

/// `basic_auth`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct BasicAuth {
    /// On or off.
    pub enabled: bool,
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// `tls`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    /// On or off (an https URL uses TLS either way).
    pub enabled: bool,
    /// Accept any server certificate.
    pub skip_cert_verify: bool,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            url: String::new(),
            verb: "POST".into(),
            headers: BTreeMap::new(),
            basic_auth: BasicAuth::default(),
            tls: Tls::default(),
            timeout: Duration::from_secs(5),
            retry_period: Duration::from_secs(1),
            max_retry_backoff: Duration::from_secs(300),
            retries: 3,
            backoff_on: vec![429],
            drop_on: Vec::new(),
            successful_on: Vec::new(),
            follow_redirects: true,
        }
    }
}

const SHARED: &[&str] = &[
    "url",
    "verb",
    "headers",
    "basic_auth",
    "tls",
    "timeout",
    "retry_period",
    "max_retry_backoff",
    "retries",
    "backoff_on",
    "drop_on",
    "successful_on",
    "follow_redirects",
];

/// A checked client: what to send and how to retry.
pub struct HttpClient {
    client: reqwest::Client,
    url: bloblang::Interpolation,
    method: reqwest::Method,
    headers: Vec<(http::HeaderName, bloblang::Interpolation)>,
    auth: Option<(String, String)>,
    cfg: HttpClientConfig,
}

/// A response that counted as success.
pub struct Answer {
    /// Its status.
    pub status: u16,
    /// Its headers.
    pub headers: http::HeaderMap,
    /// Its body.
    pub body: Vec<u8>,
}

impl HttpClient {
    /// Splits a component body into the shared fields, checked, and the rest; `verb` is the
    /// component's default method.
    pub fn split(body: &Value, path: &str, verb: &str) -> Result<(HttpClient, Value), StreamError> {
        let mut rest = match body {
            Value::Object(m) => m.clone(),
            Value::Null => Default::default(),
            _ => return Err(StreamError::new(path, "expected an object")),
        };
        let mut shared = serde_json::Map::new();
        shared.insert("verb".into(), Value::String(verb.into()));
        for key in SHARED {
            if let Some(v) = rest.remove(*key) {
                shared.insert((*key).into(), v);
            }
        }
        let cfg: HttpClientConfig = crate::config::typed(&Value::Object(shared), path)?;
        Ok((HttpClient::new(cfg, path)?, Value::Object(rest)))
    }

    fn new(cfg: HttpClientConfig, path: &str) -> Result<HttpClient, StreamError> {
        if cfg.url.is_empty() {
            return Err(StreamError::new(format!("{path}.url"), "a url is required"));
        }
        let url = crate::config::interpolation(&cfg.url, &format!("{path}.url"))?;
        let method = reqwest::Method::from_bytes(cfg.verb.to_uppercase().as_bytes())
            .map_err(|_| StreamError::new(format!("{path}.verb"), "not an HTTP method"))?;
        let mut headers = Vec::new();
        for (name, value) in &cfg.headers {
            let at = format!("{path}.headers.{name}");
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| StreamError::new(&at, "not a header name"))?;
            headers.push((name, crate::config::interpolation(value, &at)?));
        }
        let auth = cfg.basic_auth.enabled.then(|| {
            (
                cfg.basic_auth.username.clone(),
                cfg.basic_auth.password.clone(),
            )
        });
        let redirects = if cfg.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        };
        let client = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .redirect(redirects)
            .danger_accept_invalid_certs(cfg.tls.skip_cert_verify)
            .build()
            .map_err(|e| StreamError::new(path, format!("cannot make the HTTP client: {e}")))?;
        Ok(HttpClient {
            client,
            url,
            method,
            headers,
            auth,
            cfg,
        })
    }

    /// Sends `body` (for `msg`'s interpolations), retrying as configured; the answer of the
    /// first attempt that succeeds, or why the last one failed.
    pub async fn send(&self, msg: &Message, body: Vec<u8>) -> Result<Answer, String> {
        let url = self.url.render(msg).map_err(|e| format!("url: {e}"))?;
        let mut backoff = self.cfg.retry_period;
        let mut attempt = 0;
        loop {
            let mut req = self.client.request(self.method.clone(), &url);
            for (name, value) in &self.headers {
                let v = value
                    .render(msg)
                    .map_err(|e| format!("header {name}: {e}"))?;
                req = req.header(name.clone(), v);
            }
            if let Some((user, pass)) = &self.auth {
                req = req.basic_auth(user, Some(pass));
            }
            if !body.is_empty() {
                req = req.body(body.clone());
            }
            let (error, wait) = match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if resp.status().is_success() || self.cfg.successful_on.contains(&status) {
                        let headers = resp.headers().clone();
                        let body = resp
                            .bytes()
                            .await
                            .map_err(|e| format!("reading the response: {e}"))?;
                        return Ok(Answer {
                            status,
                            headers,
                            body: body.to_vec(),
                        });
                    }
                    let error = format!("{} {url} answered {status}", self.method);
                    if self.cfg.drop_on.contains(&status) {
                        return Err(error);
                    }
                    if self.cfg.backoff_on.contains(&status) {
                        let wait = backoff;
                        backoff = (backoff * 2).min(self.cfg.max_retry_backoff);
                        (error, wait)
                    } else {
                        (error, self.cfg.retry_period)
                    }
                }
                Err(e) => (format!("{} {url}: {e}", self.method), self.cfg.retry_period),
            };
            if attempt >= self.cfg.retries {
                return Err(error);
            }
            attempt += 1;
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shared_fields_are_checked_and_the_rest_is_returned() {
        let (c, rest) = HttpClient::split(
            &json!({"url": "http://h/${! meta(\"p\") }", "headers": {"x-a": "b"}, "payload": "x"}),
            "o",
            "POST",
        )
        .unwrap();
        assert_eq!(c.method, reqwest::Method::POST);
        assert_eq!(rest, json!({"payload": "x"}));
        let e = HttpClient::split(&json!({}), "o", "GET").err().unwrap();
        assert_eq!(e.path, "o.url");
        let e = HttpClient::split(
            &json!({"url": "http://h", "verb": "NOT A VERB"}),
            "o",
            "GET",
        )
        .err()
        .unwrap();
        assert_eq!(e.path, "o.verb");
        let e = HttpClient::split(
            &json!({"url": "http://h", "tls": {"root_cas": "x"}}),
            "o",
            "GET",
        )
        .err()
        .unwrap();
        assert_eq!(e.path, "o.tls.root_cas");
    }
}
