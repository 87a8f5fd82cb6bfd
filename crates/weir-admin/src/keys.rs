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
    /// `?org_id=`: the organisation a custom key was made for (Tyk's lookup by key id).
    pub org: &'a str,
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
    let method = ask.method.clone();
    if method == Method::GET && ask.key.is_none() {
        return list(keys).await;
    }
    let session = if matches!(method, Method::POST | Method::PUT) {
        match read_session(req).await {
            Ok(s) => Some(s),
            Err(resp) => return resp,
        }
    } else {
        None
    };
    match (method, ask.key, session) {
        (Method::POST, None | Some("create"), Some(s)) => {
            let key = keys.new_key(&s.org_id);
            create(keys, &key, s, &ask).await
        }
        // As Tyk: a custom key (a basic-auth user's name too) is stored as the token Tyk
        // makes of it for the session's organisation, and the answer gives that token.
        (Method::POST, Some(custom), Some(s)) => {
            let key = keys.custom_key(custom, &s.org_id);
            create(keys, &key, s, &ask).await
        }
        (Method::PUT, Some(key), Some(s)) => match existing(keys, key, &ask).await {
            Ok(name) => update(keys, key, &name, s, &ask).await,
            Err(e) => key_error(e),
        },
        (Method::GET, Some(key), _) => match existing(keys, key, &ask).await {
            Ok(name) => match keys.get_named(&name).await {
                Ok(mut s) => {
                    // The password never leaves the gateway, hashed or not.
                    s.basic_auth_data.password.clear();
                    let mut v = serde_json::to_value(&s).unwrap_or_default();
                    v["key_hash"] = Value::String(name);
                    json_response(StatusCode::OK, &v)
                }
                Err(e) => key_error(e),
            },
            Err(e) => key_error(e),
        },
        (Method::DELETE, Some(key), _) => {
            let deleted = match existing(keys, key, &ask).await {
                Ok(name) => keys.delete_named(&name).await,
                Err(e) => Err(e),
            };
            match deleted {
                Ok(()) => done(key, "deleted", None),
                Err(e) => key_error(e),
            }
        }
        _ => method_not_allowed(),
    }
}

/// The stored name of the key the path names: its hash with `?hashed=true`, else the first of
/// Tyk's names for it that holds a session.
async fn existing(keys: &KeyService, key: &str, ask: &KeyRequest<'_>) -> Result<String, KeyError> {
    let names: std::sync::Arc<[String]> = if ask.hashed {
        vec![key.to_string()].into()
    } else {
        keys.names_for(key, ask.org)
    };
    for name in names.iter() {
        match keys.get_named(name).await {
            Ok(_) => return Ok(name.clone()),
            Err(KeyError::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    Err(KeyError::NotFound)
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

/// A new key: refused without rights unless master keys are allowed; a basic-auth password
/// is hashed as tyk.conf says; the creation date set.
async fn create(
    keys: &KeyService,
    key: &str,
    mut session: Session,
    ask: &KeyRequest<'_>,
) -> http::Response<ProxyBody> {
    if let Some(refused) = master_key(&session, ask) {
        return refused;
    }
    if let Err(e) =
        weir_auth::basic::prepare_for_storage(&mut session.basic_auth_data, None, ask.basic_hash)
    {
        return status_response(StatusCode::BAD_REQUEST, "error", &e.to_string());
    }
    if session.date_created.as_str().is_none_or(str::is_empty) {
        session.date_created = Value::String(jiff::Timestamp::now().to_string());
    }
    stamp(&mut session);
    match keys.put(key, session).await {
        Ok(created) => done(&created.key, "added", Some(&created.key_hash)),
        Err(e) => key_error(e),
    }
}

/// A changed key: the stored password and creation date stay unless the body replaces them.
async fn update(
    keys: &KeyService,
    key: &str,
    name: &str,
    mut session: Session,
    ask: &KeyRequest<'_>,
) -> http::Response<ProxyBody> {
    if let Some(refused) = master_key(&session, ask) {
        return refused;
    }
    let stored = match keys.get_named(name).await {
        Ok(s) => s,
        Err(e) => return key_error(e),
    };
    if let Err(e) = weir_auth::basic::prepare_for_storage(
        &mut session.basic_auth_data,
        Some(&stored.basic_auth_data),
        ask.basic_hash,
    ) {
        return status_response(StatusCode::BAD_REQUEST, "error", &e.to_string());
    }
    if session.date_created.is_null() {
        session.date_created = stored.date_created;
    }
    stamp(&mut session);
    match keys.put_named(name, session).await {
        Ok(()) => done(key, "modified", Some(name)),
        Err(e) => key_error(e),
    }
}

fn master_key(session: &Session, ask: &KeyRequest<'_>) -> Option<http::Response<ProxyBody>> {
    (!ask.allow_master_keys
        && session.access_rights.is_empty()
        && session.apply_policies.is_empty())
    .then(|| {
        status_response(
            StatusCode::BAD_REQUEST,
            "error",
            "Failed to create key, keys must have at least one Access Rights record set.",
        )
    })
}

fn stamp(session: &mut Session) {
    session.last_updated = weir_auth::service::unix_now().to_string();
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
