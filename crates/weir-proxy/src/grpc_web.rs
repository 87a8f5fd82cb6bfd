//! gRPC-Web for browsers (`proxy.enable_grpc_web`): translation between gRPC-Web
//! (any HTTP version, status in the body) and gRPC over HTTP/2 (status in trailers).
//!
//! The protocol is gRPC's PROTOCOL-WEB.md. A request's body is the same length-prefixed messages
//! as gRPC (base64 in `application/grpc-web-text`). The response carries the upstream's HTTP/2
//! trailers as a last body frame whose flag byte is `0x80` and whose payload is the trailers as
//! HTTP/1 header lines. Bodies stream both ways: nothing is buffered beyond one frame.
//!
//! Use, per request: [`grpc_web_mode`] says whether a request is gRPC-Web; [`to_grpc_request`]
//! rewrites it for the upstream; [`to_grpc_web_response`] rewrites whatever answer comes back
//! (the upstream's, or a gateway error in gRPC form); [`expose_headers`] and
//! [`preflight_response_headers`] give browsers the CORS they need.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};

use crate::grpc_web_text::{Base64Decoder, encode_chunk};
pub use crate::grpc_web_text::{GrpcWebRequestBody, expose_headers, preflight_response_headers};

/// Error type of the translated bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The message codec named by the content type's `+suffix`; passed through unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// No suffix (protobuf by convention).
    Unspecified,
    /// `+proto`.
    Proto,
    /// `+json`.
    Json,
}

impl Codec {
    fn suffix(self) -> &'static str {
        match self {
            Codec::Unspecified => "",
            Codec::Proto => "+proto",
            Codec::Json => "+json",
        }
    }
}

/// Which gRPC-Web variant a request uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrpcWebMode {
    /// The request body is base64 (`application/grpc-web-text`).
    pub text: bool,
    /// The response body is to be base64: a text request, or `Accept: application/grpc-web-text`.
    pub response_text: bool,
    /// The message codec.
    pub codec: Codec,
}

/// Which gRPC-Web variant a request uses: `None` for anything else (including gRPC proper and
/// unknown codecs such as `+thrift`). Content types `application/grpc-web[+proto|+json]` are
/// binary, `application/grpc-web-text[+proto|+json]` text; parameters (`; charset=...`) are
/// ignored. `Accept: application/grpc-web-text` asks for a text response to a binary request.
pub fn grpc_web_mode(headers: &HeaderMap) -> Option<GrpcWebMode> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let ct = ct.split(';').next()?.trim().to_ascii_lowercase();
    let rest = ct.strip_prefix("application/grpc-web")?;
    let (text, rest) = match rest.strip_prefix("-text") {
        Some(r) => (true, r.strip_prefix("-base64").unwrap_or(r)),
        None => (false, rest),
    };
    let codec = match rest {
        "" => Codec::Unspecified,
        "+proto" => Codec::Proto,
        "+json" => Codec::Json,
        _ => return None,
    };
    let accepts_text = headers.get_all(header::ACCEPT).iter().any(|v| {
        v.to_str()
            .is_ok_and(|s| s.to_ascii_lowercase().contains("application/grpc-web-text"))
    });
    Some(GrpcWebMode {
        text,
        response_text: text || accepts_text,
        codec,
    })
}

/// Headers only the browser side uses; the upstream never sees them.
const BROWSER_ONLY: &[&str] = &["x-grpc-web", "accept", "content-transfer-encoding"];

/// The request to send upstream: content type `application/grpc` (codec suffix kept),
/// `te: trailers`, `x-grpc-web`/`accept` dropped, `grpc-timeout` and all other metadata kept.
/// In text mode the body is decoded from base64 as it streams, and `content-length` is removed.
pub fn to_grpc_request<B>(req: Request<B>, mode: GrpcWebMode) -> Request<GrpcWebRequestBody<B>> {
    let (mut parts, body) = req.into_parts();
    let h = &mut parts.headers;
    for name in BROWSER_ONLY {
        h.remove(*name);
    }
    let ct = match mode.codec {
        Codec::Unspecified => "application/grpc",
        Codec::Proto => "application/grpc+proto",
        Codec::Json => "application/grpc+json",
    };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    h.insert(header::TE, HeaderValue::from_static("trailers"));
    if mode.text {
        h.remove(header::CONTENT_LENGTH);
    }
    let decoder = mode.text.then(Base64Decoder::new);
    Request::from_parts(parts, GrpcWebRequestBody::new(body, decoder))
}

/// gRPC status codes used here (fixed by the gRPC protocol).
const UNKNOWN: u8 = 2;
const INTERNAL: u8 = 13;

/// Headers of a trailers-only response that describe the HTTP exchange, not the call; all
/// other headers of such a response are trailing metadata and go into the trailer frame too.
const NOT_METADATA: &[HeaderName] = &[
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_ENCODING,
    header::DATE,
    header::SERVER,
    header::VARY,
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::TRAILER,
    header::TE,
    header::SET_COOKIE,
    header::CACHE_CONTROL,
    header::ALT_SVC,
    header::STRICT_TRANSPORT_SECURITY,
];

/// The response to send to the browser: status 200, content type `application/grpc-web`
/// (or `-text`, with the request's codec suffix), the upstream's messages streamed through
/// (binary) or base64-encoded chunk by chunk (text: every chunk is padded, so each decodes on
/// its own), and the upstream's trailers appended as a `0x80` trailer frame.
///
/// A trailers-only answer (grpc-status in the headers, as tonic sends errors and the gateway
/// sends its own gRPC errors) gets its trailers in a trailer frame; an error status is also
/// kept in the headers (custom metadata is not, to avoid duplicates), an OK status is not
/// (connect-web rejects a body after `grpc-status: 0` in the headers). A non-200 or non-gRPC answer becomes a trailers-only error with the gRPC code the
/// HTTP status maps to (401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 UNIMPLEMENTED,
/// 429/502/503/504 UNAVAILABLE, else UNKNOWN), its body dropped. An upstream body that ends
/// without trailers ends with grpc-status 2 (UNKNOWN); one that fails mid-stream, with 13.
pub fn to_grpc_web_response<B>(
    resp: Response<B>,
    mode: GrpcWebMode,
) -> Response<GrpcWebResponseBody<B>> {
    let (mut parts, body) = resp.into_parts();
    let h = &mut parts.headers;
    let is_grpc = h
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if !h.contains_key("grpc-status") && (parts.status != StatusCode::OK || !is_grpc) {
        let (code, msg) = if parts.status != StatusCode::OK {
            let msg = format!("upstream answered HTTP {}", parts.status.as_u16());
            (http_status_to_grpc(parts.status), msg)
        } else {
            (
                UNKNOWN,
                "upstream answered without a gRPC content type".into(),
            )
        };
        h.insert("grpc-status", HeaderValue::from(u16::from(code)));
        h.insert("grpc-message", HeaderValue::try_from(msg).expect("ASCII"));
        h.remove(header::CONTENT_ENCODING);
    }
    let state = if h.contains_key("grpc-status") {
        let trailers = trailers_only_metadata(h);
        // An error status stays in the headers too; other metadata goes only in the frame, so
        // clients that merge headers and trailers (connect-web) do not see each value twice.
        // An OK status goes only in the frame: connect-web rejects a body after a header OK.
        let ok = h.get("grpc-status").is_some_and(|v| v == "0");
        for name in trailers.keys() {
            if ok || !STATUS.contains(&name.as_str()) {
                h.remove(name);
            }
        }
        State::Last(trailer_frame(&trailers))
    } else {
        State::Streaming
    };
    let ct = format!(
        "application/grpc-web{}{}",
        if mode.response_text { "-text" } else { "" },
        mode.codec.suffix()
    );
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::try_from(ct).expect("ASCII"),
    );
    h.remove(header::CONTENT_LENGTH);
    h.remove(header::TRAILER);
    parts.status = StatusCode::OK;
    let body = GrpcWebResponseBody {
        inner: body,
        text: mode.response_text,
        state,
    };
    Response::from_parts(parts, body)
}

/// The gRPC code for an HTTP status without a grpc-status (gRPC's http-grpc-status-mapping).
fn http_status_to_grpc(status: StatusCode) -> u8 {
    match status.as_u16() {
        400 => INTERNAL,
        401 => 16,
        403 => 7,
        404 => 12,
        429 | 502..=504 => 14,
        _ => UNKNOWN,
    }
}

/// The status trailers, first in a trailer frame and kept as headers in trailers-only answers.
const STATUS: [&str; 3] = ["grpc-status", "grpc-message", "grpc-status-details-bin"];

/// The trailing metadata of a trailers-only response: the status first, then every header
/// that is not about the HTTP exchange itself.
fn trailers_only_metadata(h: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in STATUS {
        for v in h.get_all(name) {
            out.append(name, v.clone());
        }
    }
    for (name, v) in h {
        if !STATUS.contains(&name.as_str())
            && !NOT_METADATA.contains(name)
            && !name.as_str().starts_with("access-control-")
        {
            out.append(name, v.clone());
        }
    }
    out
}

/// Encodes trailers as a gRPC-Web trailer frame: flag `0x80`, 4-byte big-endian length, then
/// one `name:value\r\n` line per value, names lower-case (as `http` stores them).
pub fn trailer_frame(trailers: &HeaderMap) -> Bytes {
    let len: usize = trailers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 3)
        .sum();
    let mut buf = BytesMut::with_capacity(5 + len);
    buf.put_u8(0x80);
    buf.put_u32(len as u32);
    for (name, value) in trailers {
        buf.put_slice(name.as_str().as_bytes());
        buf.put_u8(b':');
        buf.put_slice(value.as_bytes());
        buf.put_slice(b"\r\n");
    }
    buf.freeze()
}

/// A trailer frame carrying only a status and message.
fn status_frame(code: u8, message: &'static str) -> Bytes {
    let mut t = HeaderMap::new();
    t.insert("grpc-status", HeaderValue::from(u16::from(code)));
    t.insert("grpc-message", HeaderValue::from_static(message));
    trailer_frame(&t)
}

enum State {
    /// Passing the upstream's frames on.
    Streaming,
    /// One frame left to send (the trailer frame), then the end.
    Last(Bytes),
    Done,
}

/// The upstream's response body as gRPC-Web: data frames through (or base64), trailers as a
/// final `0x80` frame. Needs `B: Unpin`; box a body that is not (`Pin<Box<B>>`).
pub struct GrpcWebResponseBody<B> {
    inner: B,
    text: bool,
    state: State,
}

impl<B> GrpcWebResponseBody<B> {
    fn out(&self, data: Bytes) -> Frame<Bytes> {
        Frame::data(if self.text { encode_chunk(&data) } else { data })
    }
}

impl<B> Body for GrpcWebResponseBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            match std::mem::replace(&mut this.state, State::Done) {
                State::Done => return Poll::Ready(None),
                State::Last(frame) => return Poll::Ready(Some(Ok(this.out(frame)))),
                State::Streaming => {}
            }
            let polled = Pin::new(&mut this.inner).poll_frame(cx);
            let Poll::Ready(polled) = polled else {
                this.state = State::Streaming;
                return Poll::Pending;
            };
            match polled {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        this.state = State::Streaming;
                        if !data.is_empty() {
                            return Poll::Ready(Some(Ok(this.out(data))));
                        }
                    }
                    Err(frame) => match frame.into_trailers() {
                        Ok(trailers) => this.state = State::Last(trailer_frame(&trailers)),
                        Err(_) => this.state = State::Streaming,
                    },
                },
                Some(Err(_)) => {
                    this.state = State::Last(status_frame(INTERNAL, "upstream stream failed"));
                }
                None => {
                    let msg = "upstream response ended without trailers";
                    this.state = State::Last(status_frame(UNKNOWN, msg));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match &self.state {
            State::Done => SizeHint::with_exact(0),
            State::Last(f) if !self.text => SizeHint::with_exact(f.len() as u64),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    use super::*;
    use crate::grpc_web_text::testing::{Frames, drain, headers};

    fn mode(ct: &'static str) -> GrpcWebMode {
        grpc_web_mode(&headers(&[("content-type", ct)])).unwrap()
    }

    fn msg_frame(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8];
        f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn modes_from_content_type_and_accept() {
        let m = mode("application/grpc-web");
        assert_eq!(
            (m.text, m.response_text, m.codec),
            (false, false, Codec::Unspecified)
        );
        let m = mode("application/grpc-web+proto");
        assert_eq!((m.text, m.codec), (false, Codec::Proto));
        let m = mode("Application/gRPC-Web-Text+proto; charset=utf-8");
        assert_eq!(
            (m.text, m.response_text, m.codec),
            (true, true, Codec::Proto)
        );
        assert!(mode("application/grpc-web-text").text);
        assert_eq!(mode("application/grpc-web+json").codec, Codec::Json);
        let h = headers(&[
            ("content-type", "application/grpc-web+proto"),
            ("accept", "application/grpc-web-text"),
        ]);
        let m = grpc_web_mode(&h).unwrap();
        assert_eq!((m.text, m.response_text), (false, true));
        for ct in [
            "application/grpc",
            "application/grpc+proto",
            "application/json",
            "application/grpc-web+thrift",
            "application/grpc-webx",
        ] {
            assert!(
                grpc_web_mode(&headers(&[("content-type", ct)])).is_none(),
                "{ct}"
            );
        }
        assert!(grpc_web_mode(&HeaderMap::new()).is_none());
    }

    #[test]
    fn request_headers_for_upstream() {
        let mut req = Request::new(Frames::data(&[]));
        *req.headers_mut() = headers(&[
            ("content-type", "application/grpc-web-text+proto"),
            ("accept", "application/grpc-web-text"),
            ("x-grpc-web", "1"),
            ("x-user-agent", "grpc-web-javascript/0.1"),
            ("grpc-timeout", "5S"),
            ("content-length", "12"),
            ("x-test", "abc"),
        ]);
        let m = grpc_web_mode(req.headers()).unwrap();
        let up = to_grpc_request(req, m);
        let h = up.headers();
        assert_eq!(h["content-type"], "application/grpc+proto");
        assert_eq!(h["te"], "trailers");
        assert_eq!(h["grpc-timeout"], "5S");
        assert_eq!(h["x-test"], "abc");
        for gone in ["x-grpc-web", "accept", "content-length"] {
            assert!(!h.contains_key(gone), "{gone}");
        }
        // Binary: the length does not change, so it stays.
        let mut req = Request::new(Frames::data(&[]));
        *req.headers_mut() = headers(&[
            ("content-type", "application/grpc-web"),
            ("content-length", "5"),
        ]);
        let up = to_grpc_request(req, mode("application/grpc-web"));
        assert_eq!(up.headers()["content-length"], "5");
        assert_eq!(up.headers()["content-type"], "application/grpc");
    }

    #[test]
    fn trailer_frame_encoding() {
        let t = headers(&[
            ("grpc-status", "0"),
            ("grpc-message", "ok"),
            ("x-trailer", "a"),
            ("x-trailer", "b"),
        ]);
        let f = trailer_frame(&t);
        let body = b"grpc-status:0\r\ngrpc-message:ok\r\nx-trailer:a\r\nx-trailer:b\r\n";
        assert_eq!(f[0], 0x80);
        assert_eq!(&f[1..5], &(body.len() as u32).to_be_bytes());
        assert_eq!(&f[5..], body);
        assert_eq!(&trailer_frame(&HeaderMap::new())[..], &[0x80, 0, 0, 0, 0]);
    }

    fn upstream(
        pairs: &[(&'static str, &'static str)],
        frames: Vec<Frame<Bytes>>,
    ) -> Response<Frames> {
        let mut r = Response::new(Frames::new(frames));
        *r.headers_mut() = headers(pairs);
        r
    }

    #[test]
    fn streamed_response_with_trailers() {
        let (m1, m2) = (msg_frame(b"one"), msg_frame(b"two"));
        let frames = vec![
            Frame::data(Bytes::from(m1.clone())),
            Frame::data(Bytes::new()),
            Frame::data(Bytes::from(m2.clone())),
            Frame::trailers(headers(&[("grpc-status", "0"), ("x-trailer", "done")])),
        ];
        let resp = upstream(
            &[
                ("content-type", "application/grpc"),
                ("x-test", "1"),
                ("content-length", "9"),
            ],
            frames,
        );
        let out = to_grpc_web_response(resp, mode("application/grpc-web+proto"));
        assert_eq!(out.status(), 200);
        assert_eq!(out.headers()["content-type"], "application/grpc-web+proto");
        assert_eq!(out.headers()["x-test"], "1");
        assert!(!out.headers().contains_key("content-length"));
        let (data, trailers) = drain(out.into_body()).unwrap();
        assert!(
            trailers.is_none(),
            "trailers go in the body, not as HTTP trailers"
        );
        assert_eq!(data.len(), 3);
        assert_eq!(data[0], m1);
        assert_eq!(data[1], m2);
        assert_eq!(&data[2][5..], b"grpc-status:0\r\nx-trailer:done\r\n");
    }

    #[test]
    fn text_response_chunks_decode_alone() {
        let frames = vec![
            Frame::data(Bytes::from(msg_frame(b"ab"))),
            Frame::data(Bytes::from(msg_frame(b"bbb"))),
            Frame::trailers(headers(&[("grpc-status", "0")])),
        ];
        let resp = upstream(&[("content-type", "application/grpc+proto")], frames);
        let out = to_grpc_web_response(resp, mode("application/grpc-web-text+proto"));
        assert_eq!(
            out.headers()["content-type"],
            "application/grpc-web-text+proto"
        );
        let (data, _) = drain(out.into_body()).unwrap();
        let decoded: Vec<Vec<u8>> = data.iter().map(|c| STANDARD.decode(c).unwrap()).collect();
        assert_eq!(decoded[0], msg_frame(b"ab"));
        assert_eq!(decoded[1], msg_frame(b"bbb"));
        assert_eq!(decoded[2], trailer_frame(&headers(&[("grpc-status", "0")])));
        assert!(data[0].ends_with(b"="), "padding inside the stream");
    }

    #[test]
    fn trailers_only_response() {
        let resp = upstream(
            &[
                ("content-type", "application/grpc"),
                ("grpc-status", "3"),
                ("grpc-message", "you%20asked"),
                ("x-trailer", "done"),
                ("date", "today"),
            ],
            vec![],
        );
        let out = to_grpc_web_response(resp, mode("application/grpc-web"));
        assert_eq!(out.status(), 200);
        assert_eq!(out.headers()["grpc-status"], "3", "kept as headers");
        assert_eq!(out.headers()["grpc-message"], "you%20asked");
        assert!(
            !out.headers().contains_key("x-trailer"),
            "metadata only in the frame"
        );
        assert_eq!(out.headers()["content-type"], "application/grpc-web");
        let (data, _) = drain(out.into_body()).unwrap();
        assert_eq!(data.len(), 1);
        assert_eq!(
            &data[0][5..],
            b"grpc-status:3\r\ngrpc-message:you%20asked\r\nx-trailer:done\r\n"
        );
    }

    #[test]
    fn trailers_only_ok_moves_to_the_frame() {
        let h = [("content-type", "application/grpc"), ("grpc-status", "0")];
        let out = to_grpc_web_response(upstream(&h, vec![]), mode("application/grpc-web"));
        assert!(!out.headers().contains_key("grpc-status"));
        let (data, _) = drain(out.into_body()).unwrap();
        assert_eq!(&data[0][5..], b"grpc-status:0\r\n");
    }

    #[test]
    fn missing_trailers_and_broken_upstreams() {
        let resp = upstream(
            &[("content-type", "application/grpc")],
            vec![Frame::data(Bytes::from(msg_frame(b"x")))],
        );
        let (data, _) =
            drain(to_grpc_web_response(resp, mode("application/grpc-web")).into_body()).unwrap();
        assert_eq!(data.len(), 2);
        assert_eq!(
            &data[1][5..],
            b"grpc-status:2\r\ngrpc-message:upstream response ended without trailers\r\n"
        );

        // Non-gRPC error answers become trailers-only gRPC errors.
        let mut resp = upstream(
            &[("content-type", "text/html"), ("content-length", "3")],
            vec![Frame::data(Bytes::from_static(b"bad"))],
        );
        *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        let out = to_grpc_web_response(resp, mode("application/grpc-web-text"));
        assert_eq!(out.status(), 200);
        assert_eq!(out.headers()["grpc-status"], "14");
        let (data, _) = drain(out.into_body()).unwrap();
        let t = STANDARD.decode(&data[0]).unwrap();
        assert_eq!(
            &t[5..],
            b"grpc-status:14\r\ngrpc-message:upstream answered HTTP 503\r\n"
        );
        let resp = upstream(&[("content-type", "application/json")], vec![]);
        let out = to_grpc_web_response(resp, mode("application/grpc-web"));
        assert_eq!(out.headers()["grpc-status"], "2");
    }
}
