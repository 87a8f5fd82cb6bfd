//! The browser-facing helpers of [`crate::grpc_web`]: the base64 side of
//! `application/grpc-web-text` (a streaming decoder for request bodies, the per-chunk encoder
//! for response bodies), the request body wrapper, and the CORS headers browsers need.
//!
//! A text-mode body is a sequence of base64 chunks. A sender may flush (and pad) a chunk at any
//! point, so `=` padding can appear in the middle of a stream (gRPC's PROTOCOL-WEB.md, "Text-encoded
//! streams"); because padding always completes a 4-character quad, quads stay aligned from the
//! start of the stream. Whitespace (line breaks from MIME-style encoders) is ignored.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http_body::{Body, Frame, SizeHint};

use crate::grpc_web::BoxError;

/// Why a text-mode body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(&'static str);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid gRPC-Web text body: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

/// Marks bytes that are not in the standard base64 alphabet.
const INVALID: u8 = 0xff;

/// Standard-alphabet value of each byte, or [`INVALID`].
const DECODE: [u8; 256] = {
    let mut t = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// Decodes base64 that arrives in arbitrary pieces: a quad split across chunks is completed
/// by the next chunk; padded quads may appear anywhere on a quad boundary.
#[derive(Debug, Default, Clone)]
pub struct Base64Decoder {
    quad: [u8; 4],
    len: usize,
}

impl Base64Decoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when no partial quad is waiting for more input.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Decodes `input`, appending whole quads to `out` and keeping a partial quad for later.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), DecodeError> {
        out.reserve(input.len() / 4 * 3 + 3);
        for &c in input {
            if c.is_ascii_whitespace() {
                continue;
            }
            if c != b'=' && DECODE[c as usize] == INVALID {
                return Err(DecodeError("a byte outside the base64 alphabet"));
            }
            self.quad[self.len] = c;
            self.len += 1;
            if self.len == 4 {
                self.len = 0;
                decode_quad(self.quad, out)?;
            }
        }
        Ok(())
    }

    /// Ends the stream: a trailing unpadded group of 2 or 3 characters is accepted.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        let n = std::mem::take(&mut self.len);
        match n {
            0 => Ok(()),
            1 => Err(DecodeError("the body ends in the middle of a base64 quad")),
            _ => {
                let mut quad = [b'='; 4];
                quad[..n].copy_from_slice(&self.quad[..n]);
                decode_quad(quad, out)
            }
        }
    }
}

/// Decodes one quad: `xxxx`, `xxx=` or `xx==`. Non-zero leftover bits are tolerated.
fn decode_quad(q: [u8; 4], out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let pads = match (q[2] == b'=', q[3] == b'=') {
        (false, false) => 0,
        (false, true) => 1,
        (true, true) => 2,
        (true, false) => return Err(DecodeError("misplaced padding")),
    };
    let mut v = [0u8; 4];
    for (i, slot) in v.iter_mut().enumerate().take(4 - pads) {
        *slot = DECODE[q[i] as usize];
        if *slot == INVALID {
            return Err(DecodeError("misplaced padding"));
        }
    }
    let n = (u32::from(v[0]) << 18)
        | (u32::from(v[1]) << 12)
        | (u32::from(v[2]) << 6)
        | u32::from(v[3]);
    let bytes = n.to_be_bytes();
    out.extend_from_slice(&bytes[1..4 - pads]);
    Ok(())
}

/// One response chunk as independently decodable, padded base64.
pub fn encode_chunk(data: &[u8]) -> Bytes {
    Bytes::from(STANDARD.encode(data))
}

/// The browser's request body on its way upstream: passed through (binary) or decoded from
/// base64 frame by frame (text). Needs `B: Unpin`; box a body that is not (`Pin<Box<B>>`).
pub struct GrpcWebRequestBody<B> {
    inner: B,
    decoder: Option<Base64Decoder>,
    done: bool,
}

impl<B> GrpcWebRequestBody<B> {
    /// Wraps a body; with a decoder, its data is base64 to decode.
    pub(crate) fn new(inner: B, decoder: Option<Base64Decoder>) -> Self {
        GrpcWebRequestBody {
            inner,
            decoder,
            done: false,
        }
    }
}

impl<B> Body for GrpcWebRequestBody<B>
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
            if this.done {
                return Poll::Ready(None);
            }
            let Some(decoder) = this.decoder.as_mut() else {
                return Pin::new(&mut this.inner).poll_frame(cx).map_err(Into::into);
            };
            let mut out = Vec::new();
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => decoder.push(&data, &mut out)?,
                    // Request trailers (rare from a browser) go on as they are.
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                None => {
                    this.done = true;
                    decoder.finish(&mut out)?;
                }
            }
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
            || (self.inner.is_end_stream() && self.decoder.as_ref().is_none_or(|d| d.is_empty()))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.decoder {
            None => self.inner.size_hint(),
            Some(_) => {
                // Four characters become at most three bytes.
                let inner = self.inner.size_hint();
                let mut hint = SizeHint::new();
                if let Some(upper) = inner.upper() {
                    hint.set_upper(upper / 4 * 3 + 3);
                }
                hint
            }
        }
    }
}

/// Response headers a browser may read anyway (CORS-safelisted) or that CORS itself sets.
fn needs_exposing(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "cache-control"
            | "content-language"
            | "content-length"
            | "content-type"
            | "expires"
            | "last-modified"
            | "pragma"
            | "vary"
            | "date"
            | "server"
            | "set-cookie"
    ) && !name.as_str().starts_with("access-control-")
}

/// Adds `Access-Control-Expose-Headers` for a gRPC-Web response: grpc-status, grpc-message,
/// grpc-status-details-bin, and every other (custom metadata) header the response carries,
/// merged with any list already there. Call it on the final response headers.
pub fn expose_headers(headers: &mut HeaderMap) {
    let mut names: Vec<String> = headers
        .get_all(header::ACCESS_CONTROL_EXPOSE_HEADERS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    let wanted = ["grpc-status", "grpc-message", "grpc-status-details-bin"];
    let present = headers.keys().filter(|n| needs_exposing(n));
    for name in wanted.into_iter().chain(present.map(HeaderName::as_str)) {
        if !names.iter().any(|n| n == name || n == "*") {
            names.push(name.to_string());
        }
    }
    if let Ok(v) = HeaderValue::from_str(&names.join(", ")) {
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
    }
}

/// Request headers a gRPC-Web client sends, always allowed by the default preflight.
const ALLOW_HEADERS: &[&str] = &[
    "content-type",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "authorization",
];

/// The default preflight answer (status 204) when the API has no CORS block: the origin
/// echoed (`*` without one), methods POST and OPTIONS, the gRPC-Web request headers plus
/// whatever `Access-Control-Request-Headers` asks for, max-age 86400. No credentials.
pub fn preflight_response_headers(req_headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    let origin = req_headers
        .get(header::ORIGIN)
        .cloned()
        .unwrap_or(HeaderValue::from_static("*"));
    out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    out.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    let mut allow: Vec<String> = ALLOW_HEADERS.iter().map(|s| s.to_string()).collect();
    let asked = req_headers
        .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase());
    for name in asked {
        if HeaderName::from_bytes(name.as_bytes()).is_ok() && !allow.contains(&name) {
            allow.push(name);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&allow.join(", ")) {
        out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
    }
    out.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    out.insert(header::VARY, HeaderValue::from_static("Origin"));
    out
}

/// Test helpers shared with `grpc_web`'s tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::VecDeque;
    use std::convert::Infallible;

    use super::*;

    /// A body that yields the given frames, each poll returning Pending once first (so
    /// nothing relies on frames being ready together).
    pub struct Frames {
        frames: VecDeque<Frame<Bytes>>,
        yielded: bool,
    }

    impl Frames {
        pub fn new(frames: Vec<Frame<Bytes>>) -> Self {
            Frames {
                frames: frames.into(),
                yielded: false,
            }
        }
        pub fn data(chunks: &[&[u8]]) -> Self {
            Self::new(
                chunks
                    .iter()
                    .map(|c| Frame::data(Bytes::copy_from_slice(c)))
                    .collect(),
            )
        }
    }

    impl Body for Frames {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            if !self.yielded {
                self.yielded = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.yielded = false;
            Poll::Ready(self.frames.pop_front().map(Ok))
        }
        fn is_end_stream(&self) -> bool {
            self.frames.is_empty()
        }
    }

    pub fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, HeaderValue::from_static(v));
        }
        h
    }

    /// Polls a body to its end; returns its frames (data as bytes, trailers as a map).
    pub fn drain<B: Body<Data = Bytes, Error = BoxError> + Unpin>(
        mut body: B,
    ) -> Result<(Vec<Bytes>, Option<http::HeaderMap>), BoxError> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let (mut data, mut trailers) = (Vec::new(), None);
        for _ in 0..10_000 {
            match Pin::new(&mut body).poll_frame(&mut cx) {
                Poll::Pending => continue,
                Poll::Ready(None) => {
                    assert!(body.is_end_stream());
                    return Ok((data, trailers));
                }
                Poll::Ready(Some(f)) => match f?.into_data() {
                    Ok(d) => data.push(d),
                    Err(f) => trailers = f.into_trailers().ok(),
                },
            }
        }
        panic!("body never ended");
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{Frames, drain, headers};
    use super::*;
    use crate::grpc_web::{grpc_web_mode, to_grpc_request};
    use http::{HeaderMap, HeaderValue, Request};

    fn text_mode() -> crate::grpc_web::GrpcWebMode {
        let mut h = HeaderMap::new();
        h.insert(
            "content-type",
            HeaderValue::from_static("application/grpc-web-text"),
        );
        grpc_web_mode(&h).unwrap()
    }

    fn msg_frame(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8];
        f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn text_request_decoded_at_every_split() {
        let raw = [msg_frame(b"hello"), msg_frame(&[0xff; 40])].concat();
        let text = STANDARD.encode(&raw);
        let t = text.as_bytes();
        for cut in 0..=t.len() {
            let req = Request::new(Frames::data(&[&t[..cut], b"", &t[cut..]]));
            let up = to_grpc_request(req, text_mode());
            let (data, _) = drain(up.into_body()).unwrap();
            assert!(data.iter().all(|d| !d.is_empty()));
            assert_eq!(data.concat(), raw, "cut={cut}");
        }
        // Two separately padded chunks, split inside the padding.
        let a = STANDARD.encode(msg_frame(b"ab"));
        let b = STANDARD.encode(msg_frame(b"cde"));
        assert!(a.ends_with('='));
        let joined = format!("{a}\r\n{b}");
        let (x, y) = joined.as_bytes().split_at(a.len() - 1);
        let req = Request::new(Frames::data(&[x, y]));
        let (data, _) = drain(to_grpc_request(req, text_mode()).into_body()).unwrap();
        assert_eq!(
            data.concat(),
            [msg_frame(b"ab"), msg_frame(b"cde")].concat()
        );
        // Garbage is an error, not silently dropped.
        let req = Request::new(Frames::data(&[b"AAAA", b"!!"]));
        assert!(drain(to_grpc_request(req, text_mode()).into_body()).is_err());
    }

    #[test]
    fn binary_request_passes_through() {
        let raw = msg_frame(b"xyz");
        let req = Request::new(Frames::data(&[&raw[..2], &raw[2..]]));
        let (data, _) = drain(
            to_grpc_request(
                req,
                crate::grpc_web::GrpcWebMode {
                    text: false,
                    response_text: false,
                    codec: crate::grpc_web::Codec::Unspecified,
                },
            )
            .into_body(),
        )
        .unwrap();
        assert_eq!(
            data,
            vec![
                Bytes::copy_from_slice(&raw[..2]),
                Bytes::copy_from_slice(&raw[2..])
            ]
        );
    }

    fn decode_pieces(pieces: &[&[u8]]) -> Result<Vec<u8>, DecodeError> {
        let mut d = Base64Decoder::new();
        let mut out = Vec::new();
        for p in pieces {
            d.push(p, &mut out)?;
        }
        d.finish(&mut out)?;
        Ok(out)
    }

    /// A gRPC frame (flag, length, payload) of `n` bytes of varying content.
    fn sample(n: usize) -> Vec<u8> {
        let payload: Vec<u8> = (0..n).map(|i| (i * 37 % 251) as u8).collect();
        let mut f = vec![0u8];
        f.extend_from_slice(&(n as u32).to_be_bytes());
        f.extend_from_slice(&payload);
        f
    }

    #[test]
    fn split_at_every_byte_boundary() {
        for n in [0, 1, 2, 3, 4, 5, 31, 100] {
            let raw = sample(n);
            let text = STANDARD.encode(&raw);
            let text = text.as_bytes();
            for cut in 0..=text.len() {
                let got = decode_pieces(&[&text[..cut], &text[cut..]]).unwrap();
                assert_eq!(got, raw, "n={n} cut={cut}");
            }
            // Every two cuts: three pieces.
            for a in 0..=text.len() {
                for b in a..=text.len() {
                    let got = decode_pieces(&[&text[..a], &text[a..b], &text[b..]]).unwrap();
                    assert_eq!(got, raw, "n={n} cuts={a},{b}");
                }
            }
        }
    }

    #[test]
    fn one_byte_at_a_time() {
        let raw = sample(77);
        let text = STANDARD.encode(&raw);
        let pieces: Vec<&[u8]> = text.as_bytes().chunks(1).collect();
        assert_eq!(decode_pieces(&pieces).unwrap(), raw);
    }

    #[test]
    fn padded_chunks_in_the_middle_of_a_stream() {
        // Three independently padded chunks, as a flushing sender produces them.
        let parts = [sample(1), sample(2), sample(6), sample(0)];
        let mut text = String::new();
        let mut raw = Vec::new();
        for p in &parts {
            text.push_str(&STANDARD.encode(p));
            raw.extend_from_slice(p);
        }
        assert!(
            text.trim_end_matches('=').contains('='),
            "padding mid-stream"
        );
        let t = text.as_bytes();
        for cut in 0..=t.len() {
            assert_eq!(
                decode_pieces(&[&t[..cut], &t[cut..]]).unwrap(),
                raw,
                "cut={cut}"
            );
        }
        // Single-byte chunks each padded on their own: "AA==" "AQ==" ...
        let bytes = [0u8, 1, 2, 255];
        let text: String = bytes.iter().map(|b| STANDARD.encode([*b])).collect();
        assert_eq!(decode_pieces(&[text.as_bytes()]).unwrap(), bytes);
    }

    #[test]
    fn whitespace_is_ignored() {
        let raw = sample(40);
        let text = STANDARD.encode(&raw);
        let mut spaced = Vec::new();
        for (i, c) in text.bytes().enumerate() {
            spaced.push(c);
            if i % 7 == 6 {
                spaced.extend_from_slice(b"\r\n");
            }
            if i % 11 == 3 {
                spaced.push(b' ');
            }
        }
        assert_eq!(decode_pieces(&[&spaced]).unwrap(), raw);
    }

    #[test]
    fn unpadded_tail_is_accepted() {
        let raw = b"ab".to_vec();
        assert_eq!(decode_pieces(&[b"YW", b"I"]).unwrap(), raw);
        assert_eq!(decode_pieces(&[b"YQ"]).unwrap(), b"a");
    }

    #[test]
    fn malformed_input_is_rejected() {
        assert!(decode_pieces(&[b"YW*="]).is_err());
        assert!(decode_pieces(&[b"Y=Jj"]).is_err());
        assert!(decode_pieces(&[b"YW=j"]).is_err());
        assert!(decode_pieces(&[b"=AAA"]).is_err());
        assert!(
            decode_pieces(&[b"YWJjZ"]).is_err(),
            "one dangling character"
        );
        assert!(decode_pieces(&[b"YWJj-_"]).is_err(), "url-safe alphabet");
    }

    #[test]
    fn encoded_chunks_are_padded() {
        assert_eq!(encode_chunk(b"a"), "YQ==");
        assert_eq!(encode_chunk(b"ab"), "YWI=");
        assert_eq!(encode_chunk(b""), "");
    }

    #[test]
    fn cors_expose_and_preflight() {
        let mut h = headers(&[
            ("content-type", "application/grpc-web"),
            ("x-test", "1"),
            ("access-control-expose-headers", "x-already"),
        ]);
        expose_headers(&mut h);
        assert_eq!(
            h["access-control-expose-headers"],
            "x-already, grpc-status, grpc-message, grpc-status-details-bin, x-test"
        );
        let req = headers(&[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "content-type,x-grpc-web,X-Custom-Meta",
            ),
        ]);
        let p = preflight_response_headers(&req);
        assert_eq!(p["access-control-allow-origin"], "https://app.example");
        assert_eq!(p["access-control-allow-methods"], "POST, OPTIONS");
        assert_eq!(
            p["access-control-allow-headers"],
            "content-type, x-grpc-web, x-user-agent, grpc-timeout, authorization, x-custom-meta"
        );
        assert_eq!(p["access-control-max-age"], "86400");
    }
}
