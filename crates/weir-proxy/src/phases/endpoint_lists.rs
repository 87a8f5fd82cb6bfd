//! Endpoint lists, where Tyk's `VersionCheck` runs them (first, before `pre` plugins and
//! authentication): an allow list forbids every endpoint it does not name, a block list
//! forbids the ones it names, an `ignored` endpoint is served without authentication or key
//! checks, and a mock reply answers without the upstream. Tyk checks mock replies, then
//! ignored, blocked and allowed entries, and the first entry whose path and method match
//! decides (gateway/api_definition.go `URLAllowedAndIgnored`).
//!
//! OAS `mockResponse` is another middleware in Tyk, after authentication and the header
//! rules; its answer goes through the response phases (global response headers, response
//! plugins, rate limit headers), unlike the classic replies, which Tyk writes directly.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use weir_config::ApiDefinition;
use weir_config::endpoint_lists::{ListKind, MethodAction, MockReply};
use weir_config::plugin_settings::EndpointMatching;

use crate::body::ProxyBody;
use crate::endpoint::{EndpointEntry, EndpointList};
use crate::exchange::{EndpointAt, Exchange};
use crate::phases::plugins::{for_client, leave_hook_form};
use crate::respond::error_response;

/// Tyk's answer to a request the lists forbid.
pub const FORBIDDEN: &str = "Requested endpoint is forbidden";

/// What the first matching entry decides.
#[derive(Debug)]
enum Verdict {
    Allow,
    Forbid,
    Ignore,
    Reply(Arc<Reply>),
}

/// A mock answer, ready to write.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    /// Classic replies add each header (Go's `Header.Add`); OAS mocks set it.
    append: bool,
}

impl Reply {
    fn compile(reply: &MockReply, append: bool) -> Result<Self, (String, String)> {
        let field = format!("{}.headers", reply.field);
        let mut headers = Vec::with_capacity(reply.headers.len());
        for (name, value) in &reply.headers {
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                (
                    field.clone(),
                    format!("`{name}` is not a valid header name"),
                )
            })?;
            let v = HeaderValue::from_str(value).map_err(|_| {
                (
                    field.clone(),
                    format!("the value of `{name}` is not a valid header value"),
                )
            })?;
            headers.push((n, v));
        }
        let status = StatusCode::from_u16(reply.code)
            .map_err(|_| (format!("{}.code", reply.field), "not an HTTP status".into()))?;
        Ok(Reply {
            status,
            headers,
            body: Bytes::from(reply.body.clone()),
            append,
        })
    }

    fn response(&self) -> Response<ProxyBody> {
        let mut resp = Response::new(ProxyBody::full(self.body.clone()));
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        for (name, value) in &self.headers {
            if self.append {
                h.append(name.clone(), value.clone());
            } else {
                h.insert(name.clone(), value.clone());
            }
        }
        // Go's server names the type of a body written without one (text, JSON included).
        if !self.body.is_empty() && !h.contains_key(header::CONTENT_TYPE) {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
        }
        resp
    }
}

/// An API's endpoint lists and OAS mock responses, compiled.
pub struct CompiledLists {
    lists: EndpointList<Verdict>,
    allow_list: bool,
    mocks: EndpointList<Arc<Reply>>,
}

impl CompiledLists {
    /// Compiles the definition's lists; `None` when it has none. An error names the field.
    pub fn compile(
        def: &ApiDefinition,
        matching: EndpointMatching,
    ) -> Result<Option<Self>, (String, String)> {
        let rules = &def.endpoints;
        if rules.lists.is_empty() && !rules.allow_list && rules.mock_responses.is_empty() {
            return Ok(None);
        }
        let mut entries = Vec::new();
        let mut fields = Vec::new();
        for e in &rules.lists {
            let own = match &e.kind {
                ListKind::Mock(r) => Verdict::Reply(Arc::new(Reply::compile(r, true)?)),
                ListKind::Ignored => Verdict::Ignore,
                ListKind::Block => Verdict::Forbid,
                ListKind::Allow => Verdict::Allow,
            };
            let mut push = |method: &str, value: Verdict| {
                entries.push(EndpointEntry {
                    path: e.key.path.clone(),
                    method: method.to_string(),
                    ignore_case: e.key.ignore_case,
                    value,
                });
                fields.push(e.field.clone());
            };
            match &e.method_actions {
                // Tyk matches a mock_response entry only on its own method.
                None if matches!(e.kind, ListKind::Mock(_)) && e.key.method.is_empty() => {}
                None => push(&e.key.method, own),
                Some(table) => {
                    for (method, action) in table.iter().filter(|(m, _)| !m.is_empty()) {
                        let value = match action {
                            MethodAction::NoAction => match &own {
                                Verdict::Allow => Verdict::Allow,
                                Verdict::Ignore => Verdict::Ignore,
                                _ => Verdict::Forbid,
                            },
                            MethodAction::Reply(r) => {
                                Verdict::Reply(Arc::new(Reply::compile(r, true)?))
                            }
                            MethodAction::Forbid => Verdict::Forbid,
                        };
                        push(method, value);
                    }
                }
            }
        }
        let lists = EndpointList::compile(entries, matching)
            .map_err(|(i, reason)| (fields.get(i).cloned().unwrap_or_default(), reason))?;
        let mut mock_entries = Vec::new();
        for m in &rules.mock_responses {
            mock_entries.push(EndpointEntry::new(
                &m.key,
                Arc::new(Reply::compile(&m.reply, false)?),
            ));
        }
        let mocks = EndpointList::compile(mock_entries, matching).map_err(|(i, reason)| {
            let field = rules.mock_responses.get(i).map(|m| m.reply.field.clone());
            (field.unwrap_or_default(), reason)
        })?;
        Ok(Some(CompiledLists {
            lists,
            allow_list: rules.allow_list,
            mocks,
        }))
    }

    /// True when the lists phase has work (entries or an allow list).
    pub fn has_lists(&self) -> bool {
        !self.lists.is_empty() || self.allow_list
    }

    /// True when the API has OAS mock responses.
    pub fn has_mocks(&self) -> bool {
        !self.mocks.is_empty()
    }

    /// The decision for the entry found for a request (none: the allow list's, if any).
    fn decide<'l>(&'l self, found: Option<&'l Verdict>) -> Option<&'l Verdict> {
        match found {
            Some(v) => Some(v),
            None if self.allow_list => Some(&Verdict::Forbid),
            None => None,
        }
    }

    #[cfg(test)]
    fn verdict(&self, path: &str, method: &str) -> Option<&Verdict> {
        self.decide(self.lists.find(path, method).map(|(_, v)| v))
    }

    /// Links the lists' endpoints to their API's index.
    pub fn link(&mut self, index: &mut crate::endpoint::IndexBuilder) {
        self.lists.link(index);
        self.mocks.link(index);
    }
}

/// The lists' decision: forbidden, answered by a mock reply, or on its way (on an `ignored`
/// endpoint, marked to skip authentication).
pub fn check(ex: &mut Exchange<'_>) -> Option<Response<ProxyBody>> {
    let lists = ex.api.endpoint_lists.as_ref()?;
    let found = ex.find_endpoint(&lists.lists, EndpointAt::Current);
    match lists.decide(found.map(|(_, v)| v))? {
        Verdict::Allow => None,
        Verdict::Ignore => {
            ex.skip_auth = true;
            None
        }
        Verdict::Forbid => Some(for_client(
            ex,
            error_response(StatusCode::FORBIDDEN, FORBIDDEN),
        )),
        Verdict::Reply(reply) => Some(reply.response()),
    }
}

/// OAS `mockResponse`: the operation's answer, through the response phases.
pub async fn mock(ex: &mut Exchange<'_>) -> Option<Response<ProxyBody>> {
    let api = ex.api;
    let lists = api.endpoint_lists.as_ref()?;
    // As Tyk's rules after the URL rewrite, the mock matches the request as it came in.
    let (_, reply) = ex.find_endpoint(&lists.mocks, EndpointAt::Original)?;
    // Response hooks see the request as the request hooks left it.
    if let Some(answer) = leave_hook_form(ex) {
        return Some(answer);
    }
    Some(api.lifecycle.run_response(ex, reply.response()).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use weir_config::parse_api_definition;

    fn compiled(def: serde_json::Value) -> Result<Option<CompiledLists>, (String, String)> {
        let def = parse_api_definition(&def.to_string(), std::path::Path::new("a.json"))
            .expect("the definition parses");
        CompiledLists::compile(&def, EndpointMatching::default())
    }

    fn classic(extended: serde_json::Value) -> serde_json::Value {
        json!({"api_id": "a", "use_keyless": true,
            "proxy": {"listen_path": "/a/", "target_url": "http://127.0.0.1:1"},
            "version_data": {"not_versioned": true, "versions": {"Default": {
                "use_extended_paths": true, "extended_paths": extended}}}})
    }

    fn name(v: Option<&Verdict>) -> &'static str {
        match v {
            None => "none",
            Some(Verdict::Allow) => "allow",
            Some(Verdict::Forbid) => "forbid",
            Some(Verdict::Ignore) => "ignore",
            Some(Verdict::Reply(_)) => "reply",
        }
    }

    #[test]
    fn tyks_order_decides_between_lists() {
        let l = compiled(classic(json!({
            "white_list": [{"path": "/both", "method": "GET"}, {"path": "/w", "method": ""}],
            "black_list": [{"path": "/both", "method": "GET"}],
            "ignored": [{"path": "/open", "method": "GET"}],
            "mock_response": [{"path": "/m", "method": "GET", "code": 200, "body": "m"}]
        })))
        .unwrap()
        .unwrap();
        assert_eq!(name(l.verdict("/both", "GET")), "forbid");
        assert_eq!(name(l.verdict("/w", "DELETE")), "allow");
        assert_eq!(name(l.verdict("/open", "GET")), "ignore");
        // Not on the allow list: forbidden, as is an ignored path with another method.
        assert_eq!(name(l.verdict("/open", "POST")), "forbid");
        assert_eq!(name(l.verdict("/m", "GET")), "reply");
        assert_eq!(name(l.verdict("/nope", "GET")), "forbid");
    }

    #[test]
    fn method_actions_replace_the_method() {
        let l = compiled(classic(
            json!({"black_list": [{"path": "/b", "method": "PUT",
            "method_actions": {
                "GET": {"action": "reply", "code": 418, "data": "tea", "headers": {"X-T": "1"}},
                "POST": {"action": "no_action"}
            }}]}),
        ))
        .unwrap()
        .unwrap();
        assert_eq!(name(l.verdict("/b", "PUT")), "none");
        assert_eq!(name(l.verdict("/b", "POST")), "forbid");
        let Some(Verdict::Reply(r)) = l.verdict("/b", "GET") else {
            panic!("no reply");
        };
        let resp = r.response();
        assert_eq!(resp.status(), 418);
        assert_eq!(resp.headers()["x-t"], "1");
        assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    }

    #[test]
    fn the_lists_run_first_and_oas_mocks_after_the_request_header_rules() {
        use crate::api::CompiledHeaders;
        use crate::lifecycle::{Features, Lifecycle, RequestPhase as Rq};
        let headers = CompiledHeaders {
            request_remove: vec![HeaderName::from_static("x-a")],
            ..CompiledHeaders::default()
        };
        let cors = weir_config::CorsConfig::default();
        let l = Lifecycle::compile(&Features {
            cors: Some(&cors),
            headers: &headers,
            endpoint_lists: true,
            mock_responses: true,
            ..Features::default()
        });
        assert_eq!(
            l.request,
            [
                Rq::CorsPreflight,
                Rq::EndpointLists,
                Rq::RequestHeaders,
                Rq::MockResponse
            ]
        );
    }

    #[test]
    fn no_lists_no_phase_and_bad_input_names_the_field() {
        assert!(compiled(classic(json!({}))).unwrap().is_none());
        let (field, why) = compiled(classic(json!({"ignored": [{"path": "/a("}]})))
            .err()
            .unwrap();
        assert_eq!(
            field,
            "version_data.versions.Default.extended_paths.ignored[0].path"
        );
        assert!(why.contains("/a("), "{why}");
        let (field, _) = compiled(classic(json!({"mock_response": [{"path": "/m",
            "method": "GET", "code": 200, "headers": {"bad name": "x"}}]})))
        .err()
        .unwrap();
        assert_eq!(
            field,
            "version_data.versions.Default.extended_paths.mock_response[0].headers"
        );
    }
}
