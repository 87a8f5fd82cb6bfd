//! Translating a [`HookContext`] to Tyk's `Object` and applying the returned one
//! (tyk.md §1.5–1.7).

use std::collections::HashMap;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Uri};
use weir_core::plugin::{HookContext, HookKind, PluginError, ReturnOverrides};

use crate::pb;
use crate::session;

/// What [`build`] sent that [`apply`] compares the reply against.
pub(crate) struct Sent {
    /// The response `headers` map (first value per header), for response hooks.
    response_headers: HashMap<String, String>,
}

/// Builds the Object Tyk's `CoProcessor.BuildObject` would for this hook.
pub(crate) fn build(ctx: &HookContext, raw_body_only: bool) -> (pb::Object, Sent) {
    let req = &ctx.request;
    let request = pb::MiniRequestObject {
        headers: first_values(&req.headers),
        body: body_string(&req.body, raw_body_only),
        url: req.url.clone(),
        params: query_first_values(&req.url),
        return_overrides: Some(pb::ReturnOverrides {
            response_code: -1,
            ..Default::default()
        }),
        method: req.method.clone(),
        request_uri: req.request_uri.clone(),
        scheme: req.scheme.clone(),
        raw_body: req.body.to_vec(),
        ..Default::default()
    };

    let mut spec = HashMap::from([
        ("OrgID".to_string(), ctx.spec.org_id.clone()),
        ("APIID".to_string(), ctx.spec.api_id.clone()),
    ]);
    if let Some(hash) = &ctx.spec.bundle_hash {
        spec.insert("bundle_hash".into(), hash.clone());
    }
    if let Some(config) = &ctx.spec.config_data {
        spec.insert("config_data".into(), config.clone());
    }

    let (session, metadata) = match (&ctx.session, sends_session(ctx.kind)) {
        (Some(s), true) => (
            Some(session::to_proto(s)),
            session::metadata_to_strings(&s.metadata),
        ),
        _ => (None, HashMap::new()),
    };

    let mut sent = Sent {
        response_headers: HashMap::new(),
    };
    let response = match (&ctx.response, ctx.kind) {
        (Some(resp), HookKind::Response) => {
            sent.response_headers = first_values(&resp.headers);
            Some(pb::ResponseObject {
                status_code: i32::from(resp.status),
                raw_body: resp.body.to_vec(),
                body: body_string(&resp.body, raw_body_only),
                headers: sent.response_headers.clone(),
                multivalue_headers: all_values(&resp.headers),
            })
        }
        _ => None,
    };

    let object = pb::Object {
        hook_type: ctx.kind.tyk_hook_type(),
        hook_name: ctx.name.clone(),
        request: Some(request),
        session,
        metadata,
        spec,
        response,
    };
    (object, sent)
}

/// Tyk never sends the session to pre and custom auth hooks.
fn sends_session(kind: HookKind) -> bool {
    matches!(
        kind,
        HookKind::Post | HookKind::PostKeyAuth | HookKind::Response
    )
}

/// Applies the plugin's reply to the context, as Tyk does after a Dispatch.
pub(crate) fn apply(ctx: &mut HookContext, reply: pb::Object, sent: Sent) -> Result<(), String> {
    if ctx.kind == HookKind::Response {
        return apply_response(ctx, reply, sent);
    }
    let r = reply
        .request
        .ok_or("the reply has no request (the server must echo the Object back)")?;
    let req = &mut ctx.request;

    // Body: `raw_body` is authoritative; the `body` string is ignored, as in Tyk.
    req.body = Bytes::from(r.raw_body);
    fix_content_length(&mut req.headers, req.body.len());

    for name in &r.delete_headers {
        let name = header_name(name)?;
        req.headers.remove(&name);
    }
    for (name, value) in sorted(&r.set_headers) {
        req.headers
            .insert(header_name(name)?, header_value(name, value)?);
    }

    let mut url = if r.url.is_empty() {
        req.url.clone()
    } else {
        check_url(&r.url)?;
        r.url
    };
    if !r.delete_params.is_empty() || !r.add_params.is_empty() {
        url = weir_core::plugin::rewrite_query(
            &url,
            &r.delete_params,
            r.add_params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
    }
    req.url = url;

    if !r.method.is_empty() {
        Method::from_bytes(r.method.as_bytes())
            .map_err(|_| format!("invalid method `{}`", r.method))?;
        req.method = r.method;
    }

    if let Some(o) = r.return_overrides {
        req.return_overrides = ReturnOverrides {
            response_code: o.response_code,
            response_body: if o.response_error.is_empty() {
                o.response_body
            } else {
                o.response_error.clone()
            },
            response_error: o.response_error,
            headers: sorted(&o.headers)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            override_error: o.override_error,
        };
    }

    ctx.metadata.extend(reply.metadata);
    if let Some(s) = reply.session {
        // Merge over the session only where one was sent; otherwise it is a new session.
        let base = if sends_session(ctx.kind) {
            ctx.session.as_ref()
        } else {
            None
        };
        ctx.session = Some(session::from_proto(&s, base));
    }
    Ok(())
}

fn apply_response(ctx: &mut HookContext, reply: pb::Object, sent: Sent) -> Result<(), String> {
    let mut r = reply
        .response
        .ok_or("a response hook must return a response object")?;
    let status = u16::try_from(r.status_code)
        .ok()
        .filter(|s| (100..=999).contains(s))
        .ok_or_else(|| format!("invalid response status_code {}", r.status_code))?;

    // Plugins may edit the simple `headers` map; fold such edits into the multi-value list,
    // which is what gets written (Tyk's HandleResponse).
    if r.headers != sent.response_headers {
        sync_headers(
            &mut r.multivalue_headers,
            &sent.response_headers,
            &r.headers,
        );
    }
    let mut headers = HeaderMap::new();
    for h in &r.multivalue_headers {
        let name = header_name(&h.key)?;
        for v in &h.values {
            headers.append(name.clone(), header_value(&h.key, v)?);
        }
    }
    let body = Bytes::from(r.raw_body);
    fix_content_length(&mut headers, body.len());

    let resp = ctx
        .response
        .as_mut()
        .ok_or("response hook called without a response")?;
    resp.status = status;
    resp.headers = headers;
    resp.body = body;
    Ok(())
}

/// Updates the first value of changed headers, adds new ones and drops removed ones.
fn sync_headers(
    multi: &mut Vec<pb::Header>,
    sent: &HashMap<String, String>,
    now: &HashMap<String, String>,
) {
    for (key, value) in sorted(now) {
        if sent.get(key) == Some(value) {
            continue;
        }
        match multi.iter_mut().find(|h| h.key.eq_ignore_ascii_case(key)) {
            Some(h) if h.values.is_empty() => h.values.push(value.clone()),
            Some(h) => h.values[0] = value.clone(),
            None => multi.push(pb::Header {
                key: key.clone(),
                values: vec![value.clone()],
            }),
        }
    }
    for key in sent.keys().filter(|k| !now.contains_key(*k)) {
        multi.retain(|h| !h.key.eq_ignore_ascii_case(key));
    }
}

/// Content-Length follows the body a plugin may have replaced.
fn fix_content_length(headers: &mut HeaderMap, len: usize) {
    if headers.contains_key(CONTENT_LENGTH) {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
}

/// Accepts what Go's `url.ParseRequestURI` accepts: an absolute path or an absolute URI
/// (`tyk://api/path` for internal looping is one).
fn check_url(url: &str) -> Result<(), String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("unparsable url `{url}`: {e}"))?;
    if url.starts_with('/') || uri.scheme().is_some() {
        Ok(())
    } else {
        Err(format!(
            "unparsable url `{url}`: expected /path?query or scheme://host/path"
        ))
    }
}

/// First value of each query parameter (Tyk's read-only `params`).
fn query_first_values(url: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    if let Some((_, query)) = url.split_once('?') {
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
    }
    out
}

fn body_string(body: &[u8], raw_body_only: bool) -> String {
    if raw_body_only {
        return String::new();
    }
    std::str::from_utf8(body)
        .map(str::to_string)
        .unwrap_or_default()
}

/// First value of each header, under Go's canonical names (`content-type` →
/// `Content-Type`), which is how plugin servers written for Tyk look them up.
fn first_values(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .keys()
        .filter_map(|k| {
            let v = headers.get(k)?;
            Some((canonical(k.as_str()), lossy(v)))
        })
        .collect()
}

fn all_values(headers: &HeaderMap) -> Vec<pb::Header> {
    headers
        .keys()
        .map(|k| pb::Header {
            key: canonical(k.as_str()),
            values: headers.get_all(k).iter().map(lossy).collect(),
        })
        .collect()
}

fn lossy(v: &HeaderValue) -> String {
    String::from_utf8_lossy(v.as_bytes()).into_owned()
}

pub(crate) use weir_core::headers::canonical;

fn header_name(name: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name `{name}`"))
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(value).map_err(|_| format!("invalid value for header `{name}`"))
}

/// Map entries in key order, so results do not depend on hash order.
fn sorted(map: &HashMap<String, String>) -> impl Iterator<Item = (&String, &String)> {
    let mut v: Vec<_> = map.iter().collect();
    v.sort();
    v.into_iter()
}

/// Turns an apply failure into the error the host reports.
pub(crate) fn bad_reply(hook: &str, reason: String) -> PluginError {
    PluginError::BadReply {
        hook: hook.to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::plugin::rewrite_query;

    fn pairs(map: &HashMap<String, String>) -> impl Iterator<Item = (&str, &str)> {
        map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    #[test]
    fn canonical_names() {
        assert_eq!(canonical("content-type"), "Content-Type");
        assert_eq!(canonical("x-API-key"), "X-Api-Key");
        assert_eq!(canonical("host"), "Host");
    }

    #[test]
    fn query_rewrite() {
        let add = HashMap::from([("b".to_string(), "x y".to_string())]);
        assert_eq!(
            rewrite_query("/p?a=1&b=2&c=%2F&b=3", &["a".into()], pairs(&add)),
            "/p?c=%2F&b=x+y"
        );
        assert_eq!(
            rewrite_query("/p?a=1", &["a".into()], pairs(&HashMap::new())),
            "/p"
        );
        assert_eq!(rewrite_query("/p", &[], pairs(&add)), "/p?b=x+y");
    }

    #[test]
    fn params_take_first_value() {
        let p = query_first_values("/x?a=1&a=2&b=%20");
        assert_eq!(p["a"], "1");
        assert_eq!(p["b"], " ");
    }

    #[test]
    fn urls() {
        assert!(check_url("/a/b?c=d").is_ok());
        assert!(check_url("tyk://other-api/path").is_ok());
        assert!(check_url("http://h/p").is_ok());
        assert!(check_url("no slash").is_err());
        assert!(check_url("relative/path").is_err());
    }

    #[test]
    fn header_sync() {
        let mut multi = vec![
            pb::Header {
                key: "A".into(),
                values: vec!["1".into(), "2".into()],
            },
            pb::Header {
                key: "B".into(),
                values: vec!["b".into()],
            },
        ];
        let sent = HashMap::from([("A".into(), "1".into()), ("B".into(), "b".into())]);
        let now = HashMap::from([("A".into(), "9".into()), ("C".into(), "c".into())]);
        sync_headers(&mut multi, &sent, &now);
        assert_eq!(multi.len(), 2);
        assert_eq!(multi[0].values, vec!["9".to_string(), "2".to_string()]);
        assert_eq!(multi[1].key, "C");
    }
}
