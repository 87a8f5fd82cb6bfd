//! `/tyk/policies`: policies read, and written as Tyk writes file-based policies — one
//! `<id>.json` in the `policies.policy_path` folder — taking effect at once on this node.

use std::path::Path;

use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::{Value, json};
use weir_auth::policy::{Policies, Policy};
use weir_auth::service::KeyService;
use weir_proxy::ProxyBody;

use crate::control::{json_response, method_not_allowed, status_response};

/// Largest policy accepted.
const MAX_POLICY_BYTES: usize = 1024 * 1024;

/// Answers one `/tyk/policies[/{id}]` request.
pub async fn handle(
    keys: &KeyService,
    folder: Option<&Path>,
    method: Method,
    id: Option<&str>,
    req: Request<Incoming>,
) -> http::Response<ProxyBody> {
    match (&method, id) {
        (&Method::GET, None) => json_response(StatusCode::OK, &keys.policies().to_json()),
        (&Method::GET, Some(id)) => match keys.policies().get(id) {
            Some(p) => json_response(StatusCode::OK, &serde_json::to_value(p).unwrap_or_default()),
            None => not_found(),
        },
        (&Method::POST | &Method::PUT | &Method::DELETE, _) => {
            let Some(folder) = folder.filter(|f| f.is_dir()) else {
                return status_response(
                    StatusCode::BAD_REQUEST,
                    "error",
                    "policies are written only when tyk.conf `policies.policy_path` is a folder (one <id>.json per policy)",
                );
            };
            write(keys, folder, method, id, req).await
        }
        _ => method_not_allowed(),
    }
}

async fn write(
    keys: &KeyService,
    folder: &Path,
    method: Method,
    id: Option<&str>,
    req: Request<Incoming>,
) -> http::Response<ProxyBody> {
    let exists = |id: &str| keys.policies().get(id).is_some();
    let (id, action) = match (&method, id) {
        (&Method::DELETE, Some(id)) | (&Method::PUT, Some(id)) if !exists(id) => {
            return not_found();
        }
        (&Method::DELETE, Some(id)) => (id.to_string(), "deleted"),
        (&Method::PUT, Some(id)) => (id.to_string(), "modified"),
        (&Method::POST, Some(id)) => (id.to_string(), "added"),
        (&Method::POST, None) => (String::new(), "added"),
        _ => return method_not_allowed(),
    };
    let body = if method == Method::DELETE {
        None
    } else {
        match read_policy(req).await {
            Ok(p) => Some(p),
            Err(resp) => return resp,
        }
    };
    // The path names the policy; a new one without an id gets one, as Tyk gives it.
    let id = match (&body, id.is_empty()) {
        (Some(p), true) if !p.id.is_empty() => p.id.clone(),
        (_, true) => uuid::Uuid::new_v4().simple().to_string(),
        (_, false) => id,
    };
    let body = body.map(|mut p| {
        p.id.clone_from(&id);
        p
    });
    if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
        return status_response(StatusCode::BAD_REQUEST, "error", "unusable policy id");
    }
    let file = folder.join(format!("{id}.json"));
    let before = std::fs::read(&file).ok();
    let written = match &body {
        Some(p) => std::fs::write(&file, serde_json::to_vec_pretty(p).unwrap_or_default()),
        None => std::fs::remove_file(&file),
    };
    if let Err(e) = written {
        return status_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "error",
            &format!("{}: {e}", file.display()),
        );
    }
    match Policies::from_file(folder) {
        Ok(policies) => {
            keys.set_policies(policies);
            json_response(
                StatusCode::OK,
                &json!({"key": id, "status": "ok", "action": action}),
            )
        }
        Err(e) => {
            restore(&file, before);
            status_response(StatusCode::BAD_REQUEST, "error", &e.to_string())
        }
    }
}

/// Puts the file back as it was when the new policy set does not load.
fn restore(file: &Path, before: Option<Vec<u8>>) {
    let _ = match before {
        Some(bytes) => std::fs::write(file, bytes),
        None => std::fs::remove_file(file),
    };
}

async fn read_policy(req: Request<Incoming>) -> Result<Policy, http::Response<ProxyBody>> {
    let malformed = || status_response(StatusCode::BAD_REQUEST, "error", "Request malformed");
    let body = match Limited::new(req.into_body(), MAX_POLICY_BYTES)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => return Err(malformed()),
    };
    let value: Value = serde_json::from_slice(&body).map_err(|_| malformed())?;
    serde_json::from_value(value).map_err(|_| malformed())
}

fn not_found() -> http::Response<ProxyBody> {
    status_response(StatusCode::NOT_FOUND, "error", "Policy not found")
}
