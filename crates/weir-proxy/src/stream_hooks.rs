//! Stream hooks on a proxied gRPC call: the API's `grpc_message` hooks run, through its plugin
//! driver, on every message of the call in both directions ([`MessageHookBody`] does the
//! framing). Only calls of APIs that declare stream hooks are wrapped; the rest keep the
//! zero-copy pass-through.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Response, header};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt as _;
use weir_core::plugin::{
    BoxFuture, GrpcMessage, MessageDirection, MessageVerdict, PluginChain, PluginError, Session,
};

use crate::body::{BoxError, ProxyBody, RequestBody};
use crate::grpc_frame::{Encoding, code};
use crate::message_hooks::{
    MessageHook, MessageHookBody, StreamConfig, StreamMessage, StreamOutcome, StreamStatus,
};

/// Runs an API's stream hooks, in declaration order, on the messages of one call.
pub struct PluginMessageHook {
    chain: PluginChain,
    /// The stream hooks' names, shared with every message instead of copied into each.
    names: Vec<Arc<str>>,
    headers: Arc<HeaderMap>,
    session: Option<Arc<Session>>,
}

impl PluginMessageHook {
    /// The hooks of `chain` for one call with these request headers and session.
    pub fn new(chain: PluginChain, headers: HeaderMap, session: Option<Session>) -> Self {
        PluginMessageHook {
            names: chain
                .grpc_message
                .iter()
                .map(|d| Arc::from(d.name.as_str()))
                .collect(),
            chain,
            headers: Arc::new(headers),
            session: session.map(Arc::new),
        }
    }

    /// A plugin fault ends this call only, with a status that names the hook.
    fn fault(&self, hook: &str, error: PluginError) -> MessageVerdict {
        tracing::warn!(
            api_id = %self.chain.spec.api_id,
            driver = %self.chain.driver,
            hook,
            error = %error,
            "stream hook failed; ending the call"
        );
        let code = match error {
            PluginError::Unavailable { .. } => code::UNAVAILABLE,
            _ => code::INTERNAL,
        };
        MessageVerdict::End {
            code,
            message: format!("stream hook failed: {error}"),
        }
    }
}

impl MessageHook for PluginMessageHook {
    fn on_message<'a>(&'a self, msg: &'a mut StreamMessage) -> BoxFuture<'a, MessageVerdict> {
        Box::pin(async move {
            for name in &self.names {
                let mut grpc = GrpcMessage {
                    hook: name.clone(),
                    direction: msg.direction,
                    method: msg.method.clone(),
                    payload: msg.payload.clone(),
                    index: msg.index,
                    headers: self.headers.clone(),
                    session: self.session.clone(),
                    spec: self.chain.spec.clone(),
                };
                let outcome = {
                    let mut call = self.chain.plugin.on_grpc_message(&mut grpc);
                    // In-process drivers answer on the first poll: arm the deadline's timer
                    // only for a hook that has to wait (a timer per message is not free).
                    match std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await {
                        Poll::Ready(r) => Ok(r),
                        Poll::Pending => tokio::time::timeout(self.chain.timeout, call).await,
                    }
                };
                let verdict = match outcome {
                    Ok(Ok(v)) => v,
                    Ok(Err(e)) => return self.fault(name, e),
                    Err(_) => {
                        let e = PluginError::Timeout {
                            hook: name.to_string(),
                            limit: self.chain.timeout,
                        };
                        return self.fault(name, e);
                    }
                };
                // The next hook sees this one's replacement (or the very same bytes).
                msg.payload = grpc.payload;
                if verdict != MessageVerdict::Pass {
                    return verdict;
                }
            }
            MessageVerdict::Pass
        })
    }
}

/// One call's stream hooks: wraps its request body on the way up and its response body on
/// the way back.
pub struct HookedCall {
    hook: Arc<dyn MessageHook>,
    method: Arc<str>,
    max_message_size: usize,
    request_outcome: Option<StreamOutcome>,
}

impl HookedCall {
    /// Stream hooks for the call to `method` (`/package.Service/Method`).
    pub fn new(hook: PluginMessageHook, method: &str, max_message_size: usize) -> Self {
        HookedCall {
            hook: Arc::new(hook),
            method: Arc::from(method),
            max_message_size,
            request_outcome: None,
        }
    }

    /// Wraps the request body (`headers` are the request's, for its `grpc-encoding`).
    pub fn wrap_request(&mut self, body: RequestBody, headers: &HeaderMap) -> RequestBody {
        let config = StreamConfig {
            direction: MessageDirection::ToUpstream,
            method: self.method.clone(),
            encoding: Encoding::from_headers(headers),
            max_message_size: self.max_message_size,
        };
        let (body, outcome) = MessageHookBody::new(body, self.hook.clone(), config);
        self.request_outcome = Some(outcome);
        RequestBody::Boxed(body.boxed_unsync())
    }

    /// The upstream's answer as the client gets it: its messages through the hooks, and, if
    /// a hook (or bad framing) ended the call on the request side, that status instead of
    /// whatever the cut-off upstream call produced.
    pub fn wrap_response(&self, resp: Response<ProxyBody>) -> Response<ProxyBody> {
        let request_status = self.request_outcome.clone();
        if let Some(status) = request_status.as_ref().and_then(StreamOutcome::get) {
            // Ended before the upstream answered (a unary or server-streaming request).
            return status_only(status);
        }
        if !is_grpc_response(&resp) {
            return resp;
        }
        let (parts, body) = resp.into_parts();
        let config = StreamConfig {
            direction: MessageDirection::FromUpstream,
            method: self.method.clone(),
            encoding: Encoding::from_headers(&parts.headers),
            max_message_size: self.max_message_size,
        };
        let (body, _) = MessageHookBody::new(body, self.hook.clone(), config);
        let body = match request_status {
            Some(request) => ProxyBody::Boxed(
                RequestStatusBody {
                    inner: body,
                    request,
                    done: false,
                }
                .boxed_unsync(),
            ),
            None => ProxyBody::Boxed(body.boxed_unsync()),
        };
        Response::from_parts(parts, body)
    }
}

/// A gRPC response with messages to hook. A trailers-only answer (its status in the headers,
/// no body) is left alone: wrapping would make its body look unfinished and hide the status.
fn is_grpc_response(resp: &Response<ProxyBody>) -> bool {
    resp.status() == http::StatusCode::OK
        && !resp.headers().contains_key("grpc-status")
        && resp
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| weir_core::grpc::is_grpc_content_type(v.as_bytes()))
}

/// A trailers-only gRPC answer carrying `status`.
fn status_only(status: &StreamStatus) -> Response<ProxyBody> {
    let mut resp = Response::new(ProxyBody::empty());
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    h.extend(status.trailers());
    resp
}

/// A response body that, once the request side of the call was ended by a hook, ends with
/// that status: the upstream saw its request stream reset, so whatever it answers next (an
/// error, a reset, a status of its own) is not what the client should see.
struct RequestStatusBody<B> {
    inner: B,
    request: StreamOutcome,
    done: bool,
}

impl<B> Body for RequestStatusBody<B>
where
    B: Body<Data = Bytes, Error = BoxError> + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None | Some(Err(_))) => true,
            Poll::Ready(Some(Ok(frame))) => frame.is_trailers(),
            Poll::Pending => false,
        };
        if ended && let Some(status) = this.request.get() {
            this.done = true;
            return Poll::Ready(Some(Ok(Frame::trailers(status.trailers()))));
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use http_body_util::Full;
    use weir_core::plugin::{ApiSpecInfo, HookContext, HookDecl, HookKind, LoadedPlugin};

    use super::*;
    use crate::grpc_frame::encode_frame;

    /// An in-process plugin: each hook name maps to what it does to a message.
    struct Scripted {
        seen: Mutex<Vec<(String, Bytes, Option<String>)>>,
    }

    impl LoadedPlugin for Scripted {
        fn call<'a>(&'a self, _: &'a mut HookContext) -> BoxFuture<'a, Result<(), PluginError>> {
            Box::pin(async { Ok(()) })
        }

        fn on_grpc_message<'a>(
            &'a self,
            msg: &'a mut GrpcMessage,
        ) -> BoxFuture<'a, Result<MessageVerdict, PluginError>> {
            Box::pin(async move {
                let tag = msg
                    .headers
                    .get("x-tag")
                    .map(|v| v.to_str().unwrap().to_string());
                self.seen
                    .lock()
                    .unwrap()
                    .push((msg.hook.to_string(), msg.payload.clone(), tag));
                match &*msg.hook {
                    "append-a" | "append-b" => {
                        let mut p = msg.payload.to_vec();
                        p.push(msg.hook.as_bytes()[7]);
                        msg.payload = Bytes::from(p);
                        Ok(MessageVerdict::Pass)
                    }
                    "drop" => Ok(MessageVerdict::Drop),
                    "slow" => {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        Ok(MessageVerdict::Pass)
                    }
                    "down" => Err(PluginError::Unavailable {
                        hook: msg.hook.to_string(),
                        reason: "connection refused".into(),
                    }),
                    _ => Ok(MessageVerdict::Pass),
                }
            })
        }
    }

    fn chain(hooks: &[&str]) -> (PluginChain, Arc<Scripted>) {
        let plugin = Arc::new(Scripted {
            seen: Mutex::new(Vec::new()),
        });
        let chain = PluginChain {
            plugin: plugin.clone(),
            pre: vec![],
            auth: None,
            post_key_auth: vec![],
            post: vec![],
            response: vec![],
            grpc_message: hooks
                .iter()
                .map(|n| HookDecl {
                    kind: HookKind::GrpcMessage,
                    name: n.to_string(),
                    path: None,
                    raw_body_only: false,
                    require_session: false,
                })
                .collect(),
            timeout: Duration::from_millis(100),
            spec: Arc::new(ApiSpecInfo::default()),
            driver: "test".into(),
        };
        (chain, plugin)
    }

    fn message(payload: &'static [u8]) -> StreamMessage {
        StreamMessage {
            direction: MessageDirection::FromUpstream,
            method: Arc::from("/pkg.Svc/M"),
            payload: Bytes::from_static(payload),
            index: 0,
        }
    }

    fn hook_of(chain: PluginChain) -> PluginMessageHook {
        let mut headers = HeaderMap::new();
        headers.insert("x-tag", http::HeaderValue::from_static("t1"));
        PluginMessageHook::new(chain, headers, None)
    }

    #[tokio::test]
    async fn hooks_run_in_order_each_on_the_previous_replacement() {
        let (chain, plugin) = chain(&["append-a", "append-b"]);
        let hook = hook_of(chain);
        let mut msg = message(b"x");
        assert_eq!(hook.on_message(&mut msg).await, MessageVerdict::Pass);
        assert_eq!(&msg.payload[..], b"xab");
        let seen = plugin.seen.lock().unwrap();
        assert_eq!(seen[0].0, "append-a");
        assert_eq!(&seen[1].1[..], b"xa");
        assert_eq!(
            seen[1].2.as_deref(),
            Some("t1"),
            "hooks see the request headers"
        );
    }

    #[tokio::test]
    async fn a_drop_stops_the_chain() {
        let (chain, plugin) = chain(&["drop", "append-a"]);
        let mut msg = message(b"x");
        assert_eq!(
            hook_of(chain).on_message(&mut msg).await,
            MessageVerdict::Drop
        );
        assert_eq!(plugin.seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn plugin_faults_end_the_call_with_a_status_naming_the_hook() {
        let (slow, _) = chain(&["slow"]);
        let MessageVerdict::End {
            code,
            message: text,
        } = hook_of(slow).on_message(&mut message(b"x")).await
        else {
            panic!("expected End");
        };
        assert_eq!(code, code::INTERNAL);
        assert!(text.contains("slow") && text.contains("deadline"), "{text}");

        let (down, _) = chain(&["down"]);
        let verdict = hook_of(down).on_message(&mut message(b"x")).await;
        assert!(
            matches!(verdict, MessageVerdict::End { code: code::UNAVAILABLE, ref message } if message.contains("down")),
            "{verdict:?}"
        );
    }

    #[tokio::test]
    async fn a_request_ended_by_bad_framing_answers_with_its_status() {
        let (chain, _) = chain(&["pass"]);
        let mut call = HookedCall::new(hook_of(chain), "/pkg.Svc/M", 8);
        let oversized = encode_frame(false, &[7u8; 64]);
        let body = RequestBody::Buffered(Full::new(oversized));
        let body = call.wrap_request(body, &HeaderMap::new());
        assert!(body.collect().await.is_err(), "the upstream sees a reset");
        let upstream_answer = Response::new(ProxyBody::empty());
        let resp = call.wrap_response(upstream_answer);
        assert_eq!(resp.headers()["grpc-status"], "8");
        assert_eq!(resp.headers()["content-type"], "application/grpc");
    }
}
