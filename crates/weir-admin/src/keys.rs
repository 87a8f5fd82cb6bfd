//! `/tyk/keys`: keys made, read, changed and deleted with Tyk's session object and answers.
//! A change takes effect at once on every node (the key service drops cached sessions and,
//! on Redis, tells the other nodes).

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::{Value, json};
use weir_auth::service::{KeyError, KeyService};
use weir_auth::session::Session;
use weir_proxy::ProxyBody;

use crate::control::{json_response, method_not_allowed, status_response};

/// Largest session object accepted.
const MAX_SESSION_BYTES: usize = 1024 * 1024;

/// What the request asks of `/tyk/keys[/{key}]`.
pub struct KeyRequest<'a> {
    /// The method.
    pub method: Method,
    /// The key in the path, if any.
    pub key: Option<&'a str>,
    /// `?hashed=true`: the path names the key's hash.
    pub hashed: bool,
    /// `basic_auth_hash_key_function` from tyk.conf.
    pub basic_hash: &'a str,
    /// `allow_master_keys` from tyk.conf.
    pub allow_master_keys: bool,
}

/// Answers one `/tyk/keys` request.
pub async fn handle(
    keys: &KeyService,
    ask: KeyRequest<'_>,
    req: Request<Incoming>,
) -> http::Response<ProxyBody> {
    match (ask.method.clone(), ask.key) {
        (Method::GET, None) => list(keys).await,
        (Method::POST, None) => match read_session(req).await {
            Ok(s) => {
                let key = keys.new_key(&s.org_id);
                write(keys, &key, s, "added", &ask).await
            }
            Err(resp) => resp,
        },
        (Method::POST, Some("create")) => match read_session(req).await {
            Ok(s) => {
                let key = keys.new_key(&s.org_id);
                write(keys, &key, s, "added", &ask).await
            }
            Err(resp) => resp,
        },
        (Method::POST, Some(key)) => match read_session(req).await {
            Ok(s) => write(keys, key, s, "added", &ask).await,
            Err(resp) => resp,
        },
        (Method::PUT, Some(key)) => {
            let session = match read_session(req).await {
                Ok(s) => s,
                Err(resp) => return resp,
            };
            let name = name_of(keys, key, ask.hashed);
            match keys.get_named(&name).await {
                Ok(_) => {}
                Err(e) => return key_error(e),
            }
            if ask.hashed {
                // Only the hash is known: store under it directly.
                return match keys.put_named(&name, session).await {
                    Ok(()) => done(key, "modified", Some(&name)),
                    Err(e) => key_error(e),
                };
            }
            write(keys, key, session, "modified", &ask).await
        }
        (Method::GET, Some(key)) => {
            let name = name_of(keys, key, ask.hashed);
            match keys.get_named(&name).await {
                Ok(mut s) => {
                    // The password never leaves the gateway, hashed or not.
                    s.basic_auth_data.password.clear();
                    let mut v = serde_json::to_value(&s).unwrap_or_default();
                    v["key_hash"] = Value::String(name);
                    json_response(StatusCode::OK, &v)
                }
                Err(e) => key_error(e),
            }
        }
        (Method::DELETE, Some(key)) => {
            let name = name_of(keys, key, ask.hashed);
            match keys.delete_named(&name).await {
                Ok(()) => done(key, "deleted", None),
                Err(e) => key_error(e),
            }
        }
        _ => method_not_allowed(),
    }
}

fn name_of(keys: &KeyService, key: &str, hashed: bool) -> String {
    if hashed {
        key.to_string()
    } else {
        keys.name_of(key)
    }
}

async fn list(keys: &KeyService) -> http::Response<ProxyBody> {
    let hashing = keys.hashing();
    if hashing.hash_keys && !hashing.listing {
        return status_response(
            StatusCode::NOT_FOUND,
            "error",
            "Hashed key listing is disabled in config (enable_hashed_keys_listing)",
        );
    }
    match keys.names().await {
        Ok(names) => json_response(StatusCode::OK, &json!({ "keys": names })),
        Err(e) => key_error(e),
    }
}

/// Stores a session under `key`, as Tyk does when a key is added or changed: a basic-auth
/// user's key is named from the org and username, and its password hashed when tyk.conf asks.
async fn write(
    keys: &KeyService,
    key: &str,
    mut session: Session,
    action: &str,
    ask: &KeyRequest<'_>,
) -> http::Response<ProxyBody> {
    if !ask.allow_master_keys
        && session.access_rights.is_empty()
        && session.apply_policies.is_empty()
    {
        return status_response(
            StatusCode::BAD_REQUEST,
            "error",
            "Failed to create key, keys must have at least one Access Rights record set.",
        );
    }
    let mut key = key.to_string();
    if session.basic_auth_data.is_set() || action == "modified" {
        if session.basic_auth_data.is_set() && action == "added" {
            key = weir_auth::basic::key_for_user(&session.org_id, &key);
        }
        let stored = keys.get_named(&keys.name_of(&key)).await.ok();
        let stored = stored.as_ref().map(|s| &s.basic_auth_data);
        if let Err(e) = weir_auth::basic::prepare_for_storage(
            &mut session.basic_auth_data,
            stored,
            ask.basic_hash,
        ) {
            return status_response(StatusCode::BAD_REQUEST, "error", &e.to_string());
        }
    }
    if session.last_updated.is_empty() {
        session.last_updated = weir_auth::service::unix_now().to_string();
    }
    match keys.put(&key, session).await {
        Ok(created) => done(&created.key, action, Some(&created.key_hash)),
        Err(e) => key_error(e),
    }
}

async fn read_session(req: Request<Incoming>) -> Result<Session, http::Response<ProxyBody>> {
    let malformed = || status_response(StatusCode::BAD_REQUEST, "error", "Request malformed");
    let body: Bytes = match Limited::new(req.into_body(), MAX_SESSION_BYTES)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(malformed()),
    };
    serde_json::from_slice(&body).map_err(|e| {
        tracing::info!(error = %e, "control API: a session object that does not parse");
        malformed()
    })
}

fn done(key: &str, action: &str, hash: Option<&str>) -> http::Response<ProxyBody> {
    let mut v = json!({"key": key, "status": "ok", "action": action});
    if let Some(h) = hash {
        v["key_hash"] = Value::String(h.to_string());
    }
    json_response(StatusCode::OK, &v)
}

fn key_error(e: KeyError) -> http::Response<ProxyBody> {
    match e {
        KeyError::NotFound => status_response(StatusCode::NOT_FOUND, "error", "Key not found"),
        KeyError::Invalid(reason) => status_response(StatusCode::BAD_REQUEST, "error", &reason),
        KeyError::Unavailable(reason) => status_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "error",
            &format!("the key store is unavailable: {reason}"),
        ),
    }
}
