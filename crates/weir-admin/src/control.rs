//! The control API, with Tyk's paths and shapes: `/tyk/apis`, `/tyk/apis/oas`, `/tyk/reload`,
//! Weir's `/tyk/streams` (running stream instances), plus liveness, readiness and Prometheus metrics.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use weir_config::{DefinitionFormat, parse_api_definition};
use weir_proxy::{ControlPlane, Gateway, ProxyBody, ResponseFuture};

use crate::reload::Reloader;

/// Largest API definition the control API accepts.
const MAX_DEFINITION_BYTES: usize = 8 * 1024 * 1024;

/// Tyk's answer to a missing or wrong X-Tyk-Authorization.
const DENIED: &str = "Attempted administrative access with invalid or missing key!";

/// The control plane: shares the gateway and the reloader.
pub struct ControlApi {
    gateway: Arc<Gateway>,
    reloader: Arc<Reloader>,
    health_path: String,
    ready_path: String,
    ready: AtomicBool,
}

impl ControlApi {
    /// Creates the control API for a gateway.
    pub fn new(gateway: Arc<Gateway>, reloader: Arc<Reloader>) -> Arc<Self> {
        let cfg = gateway.config.clone();
        Arc::new(ControlApi {
            health_path: format!("/{}", cfg.health_check_endpoint_name.trim_matches('/')),
            ready_path: format!("/{}", cfg.readiness_check_endpoint_name.trim_matches('/')),
            gateway,
            reloader,
            ready: AtomicBool::new(false),
        })
    }

    /// Marks the gateway ready (after the first load of definitions).
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    async fn route(self: Arc<Self>, req: Request<Incoming>) -> Response<ProxyBody> {
        let path = req.uri().path().trim_end_matches('/').to_string();
        if path == self.health_path {
            return json_response(
                StatusCode::OK,
                &json!({"status": "pass", "version": env!("CARGO_PKG_VERSION"), "description": "Weir gateway", "details": {}}),
            );
        }
        if path == self.ready_path {
            let ready = self.ready.load(Ordering::Acquire);
            let status = if ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            return json_response(
                status,
                &json!({"status": if ready { "pass" } else { "fail" }}),
            );
        }
        if path == "/metrics" {
            let mut resp = Response::new(ProxyBody::full(self.gateway.metrics.render()));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            return resp;
        }
        if !self.authorised(&req) {
            return status_response(StatusCode::FORBIDDEN, "error", DENIED);
        }
        let segments: Vec<String> = path
            .trim_start_matches("/tyk")
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let method = req.method().clone();
        match (method, segs.as_slice()) {
            (Method::GET, ["reload"]) => self.reload(&req).await,
            (Method::GET, ["reload", "group"]) => self.group_reload(&req).await,
            (m, ["keys"]) => self.keys(m, None, req).await,
            (m, ["keys", key]) => {
                let key = key.to_string();
                self.keys(m, Some(&key), req).await
            }
            (m, ["policies"]) => self.policies(m, None, req).await,
            (m, ["policies", id]) => {
                let id = id.to_string();
                self.policies(m, Some(&id), req).await
            }
            (Method::GET, ["streams"]) => match &self.gateway.streams {
                Some(engine) => json_response(StatusCode::OK, &engine.describe()),
                None => status_response(
                    StatusCode::NOT_FOUND,
                    "error",
                    "Tyk Streams are off (streaming.enabled)",
                ),
            },
            (m, ["apis"]) => self.collection(m, req, DefinitionFormat::Classic).await,
            (m, ["apis", "oas"]) => self.collection(m, req, DefinitionFormat::Oas).await,
            (m, ["apis", "oas", id]) => {
                let id = id.to_string();
                self.item(m, req, &id, DefinitionFormat::Oas).await
            }
            (m, ["apis", id]) => {
                let id = id.to_string();
                self.item(m, req, &id, DefinitionFormat::Classic).await
            }
            _ => status_response(StatusCode::NOT_FOUND, "error", "Not found"),
        }
    }

    fn authorised<B>(&self, req: &Request<B>) -> bool {
        let secret = self.gateway.config.secret.as_bytes();
        let given = req
            .headers()
            .get("x-tyk-authorization")
            .map(HeaderValue::as_bytes)
            .unwrap_or(b"");
        // An empty secret locks the control API rather than opening it.
        !secret.is_empty() && bool::from(given.ct_eq(secret))
    }

    async fn keys(
        &self,
        method: Method,
        key: Option<&str>,
        req: Request<Incoming>,
    ) -> Response<ProxyBody> {
        let hashed = req.uri().query().is_some_and(|q| {
            q.split('&')
                .any(|kv| kv == "hashed=true" || kv == "hashed=1")
        });
        let org = req
            .uri()
            .query()
            .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "org_id"))
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let ask = crate::keys::KeyRequest {
            method,
            key,
            hashed,
            org: &org,
            basic_hash: &self.gateway.config.keys.basic_auth_hash_key_function,
            allow_master_keys: self.gateway.config.keys.allow_master_keys,
        };
        crate::keys::handle(&self.gateway.keys, ask, req).await
    }

    async fn policies(
        &self,
        method: Method,
        id: Option<&str>,
        req: Request<Incoming>,
    ) -> Response<ProxyBody> {
        let folder = self.gateway.config.keys.policy_path.as_deref();
        crate::policies::handle(&self.gateway.keys, folder, method, id, req).await
    }

    /// `GET /tyk/reload/group`: every node reloads, told through Redis (or this one alone).
    async fn group_reload<B>(&self, req: &Request<B>) -> Response<ProxyBody> {
        match self.gateway.keys.publish_group_reload().await {
            Ok(true) => json_response(StatusCode::OK, &json!({"status": "ok", "message": ""})),
            Ok(false) => self.reload(req).await,
            Err(e) => status_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "error",
                &format!("the group reload could not be sent: {e}"),
            ),
        }
    }

    async fn reload<B>(&self, req: &Request<B>) -> Response<ProxyBody> {
        let block = req
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|kv| kv == "block=true"));
        if block {
            let report = self.reloader.reload().await;
            let message = report
                .errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            json_response(StatusCode::OK, &json!({"status": "ok", "message": message}))
        } else {
            let reloader = self.reloader.clone();
            tokio::spawn(async move {
                reloader.reload().await;
            });
            json_response(StatusCode::OK, &json!({"status": "ok", "message": ""}))
        }
    }

    async fn collection(
        &self,
        method: Method,
        req: Request<Incoming>,
        format: DefinitionFormat,
    ) -> Response<ProxyBody> {
        match method {
            Method::GET => {
                let table = self.gateway.table();
                let docs: Vec<Value> = table
                    .apis
                    .iter()
                    .filter(|a| format == DefinitionFormat::Classic || a.def.format == format)
                    .map(|a| a.def.document.clone())
                    .collect();
                json_response(StatusCode::OK, &Value::Array(docs))
            }
            Method::POST => self.write(req, None, format).await,
            _ => method_not_allowed(),
        }
    }

    async fn item(
        &self,
        method: Method,
        req: Request<Incoming>,
        id: &str,
        format: DefinitionFormat,
    ) -> Response<ProxyBody> {
        match method {
            Method::GET => match self.gateway.table().api(id) {
                Some(api) if format == DefinitionFormat::Classic || api.def.format == format => {
                    json_response(StatusCode::OK, &api.def.document)
                }
                _ => status_response(StatusCode::NOT_FOUND, "error", "API not found"),
            },
            Method::PUT => self.write(req, Some(id.to_string()), format).await,
            Method::DELETE => match self.file_of(id) {
                Some(file) => match tokio::fs::remove_file(&file).await {
                    Ok(()) => action(id, "deleted"),
                    Err(e) => status_response(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "error",
                        &format!("cannot delete {}: {e}", file.display()),
                    ),
                },
                None => status_response(StatusCode::NOT_FOUND, "error", "API not found"),
            },
            _ => method_not_allowed(),
        }
    }

    /// Creates (id None) or replaces a definition file. Takes effect at the next reload, as in Tyk.
    async fn write(
        &self,
        req: Request<Incoming>,
        id: Option<String>,
        format: DefinitionFormat,
    ) -> Response<ProxyBody> {
        let body = match Limited::new(req.into_body(), MAX_DEFINITION_BYTES)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return status_response(
                    StatusCode::BAD_REQUEST,
                    "error",
                    &format!("cannot read the request body: {e}"),
                );
            }
        };
        let mut doc: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return status_response(
                    StatusCode::BAD_REQUEST,
                    "error",
                    &format!("request body is not valid JSON: {e}"),
                );
            }
        };
        if !doc.is_object() {
            return status_response(
                StatusCode::BAD_REQUEST,
                "error",
                "the API definition must be a JSON object",
            );
        }
        let id_pointer = match format {
            DefinitionFormat::Classic => "/api_id",
            DefinitionFormat::Oas => "/x-tyk-api-gateway/info/id",
        };
        let doc_id = doc
            .pointer(id_pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let api_id = match (&id, doc_id.is_empty()) {
            (Some(path_id), false) if *path_id != doc_id => {
                return status_response(
                    StatusCode::BAD_REQUEST,
                    "error",
                    "Request ID does not match that in Definition! For Updtae operations these must match.",
                );
            }
            (Some(path_id), _) => path_id.clone(),
            (None, false) => doc_id,
            (None, true) => uuid::Uuid::new_v4().simple().to_string(),
        };
        // The id names the file in app_path: it must not lead out of it or hide the file.
        if !usable_as_file_name(&api_id) {
            return status_response(
                StatusCode::BAD_REQUEST,
                "error",
                &format!(
                    "{}: `{api_id}` cannot be used as an id: it must not contain '/', '\\' or control characters, nor start with '.'",
                    id_pointer.trim_start_matches('/').replace('/', ".")
                ),
            );
        }
        if let Some(slot) = pointer_mut_or_create(&mut doc, id_pointer) {
            *slot = Value::String(api_id.clone());
        }
        let existing = self.file_of(&api_id);
        let file = match (&id, existing) {
            (None, Some(_)) => {
                return status_response(
                    StatusCode::CONFLICT,
                    "error",
                    &format!("an API with id `{api_id}` already exists"),
                );
            }
            (Some(_), None) => {
                return status_response(StatusCode::NOT_FOUND, "error", "API not found");
            }
            (Some(_), Some(f)) => f,
            (None, None) => self.reloader.app_path().join(format!("{api_id}.json")),
        };
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        // Validate before writing: a definition the gateway would refuse is not stored.
        if let Err(errors) = parse_api_definition(&text, &file) {
            let message = errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            return status_response(StatusCode::BAD_REQUEST, "error", &message);
        }
        let tmp = file.with_extension("json.tmp");
        let written = async {
            tokio::fs::write(&tmp, text.as_bytes()).await?;
            tokio::fs::rename(&tmp, &file).await
        };
        if let Err(e) = written.await {
            return status_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "error",
                &format!("cannot write {}: {e}", file.display()),
            );
        }
        action(&api_id, if id.is_some() { "modified" } else { "added" })
    }

    /// The file that holds an API: the one it was loaded from, or `<id>.json` if written since.
    fn file_of(&self, api_id: &str) -> Option<PathBuf> {
        if let Some(api) = self.gateway.table().api(api_id)
            && api.def.file.exists()
        {
            return Some(api.def.file.clone());
        }
        let candidate = self.reloader.app_path().join(format!("{api_id}.json"));
        candidate.exists().then_some(candidate)
    }
}

/// The control API as the proxy sees it: a cheap handle onto the shared [`ControlApi`].
pub struct ControlHandle(pub Arc<ControlApi>);

impl ControlPlane for ControlHandle {
    fn owns(&self, path: &str) -> bool {
        let p = path.trim_end_matches('/');
        p == "/tyk"
            || path.starts_with("/tyk/")
            || p == self.0.health_path
            || p == self.0.ready_path
            || p == "/metrics"
    }

    fn handle(&self, req: Request<Incoming>) -> ResponseFuture {
        Box::pin(self.0.clone().route(req))
    }
}

/// True when `<id>.json` is a plain, visible file name directly inside app_path.
fn usable_as_file_name(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('.')
        && !id.chars().any(|c| c == '/' || c == '\\' || c.is_control())
}

fn pointer_mut_or_create<'a>(doc: &'a mut Value, pointer: &str) -> Option<&'a mut Value> {
    let mut cur = doc;
    for key in pointer.split('/').skip(1) {
        let obj = cur.as_object_mut()?;
        cur = obj.entry(key.to_string()).or_insert_with(|| json!({}));
    }
    Some(cur)
}

pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response<ProxyBody> {
    let mut resp = Response::new(ProxyBody::full(Bytes::from(value.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

pub(crate) fn status_response(
    status: StatusCode,
    kind: &str,
    message: &str,
) -> Response<ProxyBody> {
    json_response(status, &json!({"status": kind, "message": message}))
}

fn action(id: &str, action: &str) -> Response<ProxyBody> {
    json_response(
        StatusCode::OK,
        &json!({"key": id, "status": "ok", "action": action}),
    )
}

pub(crate) fn method_not_allowed() -> Response<ProxyBody> {
    status_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "error",
        "Method not supported",
    )
}
