//! HTTP/1.1 → HTTP/2 cleartext upgrade (RFC 7540 §3.2, `Upgrade: h2c`).
//!
//! hyper's HTTP/2 server cannot be handed an already-parsed request as stream 1, so after
//! answering `101 Switching Protocols` we replay the upgrading request to it as HTTP/2
//! bytes: the read side of the I/O object first yields a synthetic connection preface, a
//! SETTINGS frame carrying the client's `HTTP2-Settings`, a HEADERS frame and DATA frames
//! for stream 1, and only then the client's own bytes (minus the preface we already
//! checked). The write side goes to the client, with two corrections so that both ends
//! agree on connection state:
//!
//! * the server's ACK of the synthetic SETTINGS is dropped, because the client never sent
//!   that frame (the 101 acknowledges it implicitly) and would treat the extra ACK as a
//!   protocol error;
//! * connection-level WINDOW_UPDATE credit for the replayed body is withheld, because the
//!   client sent that body over HTTP/1.1 and never charged it to its HTTP/2 send window.
//!
//! The replayed body must fit in the initial 65,535-byte flow-control window (h2 only
//! widens its receive windows later), so [`wants_h2c_upgrade`] declines larger or
//! unsized bodies; such requests are then simply served over HTTP/1.1, which RFC 7540
//! allows.

use std::error::Error as StdError;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Incoming};
use hyper::server::conn::http2;
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// Largest request body that can be replayed as stream 1.
///
/// Until the client acknowledges the server's SETTINGS, h2 enforces the protocol's
/// initial 65,535-byte flow-control window on both the stream and the connection, and
/// the replayed DATA frames arrive before that acknowledgement can.
pub const MAX_UPGRADE_BODY: usize = 65_535;

/// The client connection preface (RFC 7540 §3.5).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long the client gets to send its preface after the 101, so a silent peer cannot
/// pin the task forever.
const PREFACE_TIMEOUT: Duration = Duration::from_secs(10);

/// Frame size every HTTP/2 endpoint must accept (SETTINGS_MAX_FRAME_SIZE default).
const MAX_FRAME: usize = 16_384;

const HTTP2_SETTINGS: &str = "http2-settings";

const FRAME_DATA: u8 = 0x0;
const FRAME_HEADERS: u8 = 0x1;
const FRAME_SETTINGS: u8 = 0x4;
const FRAME_WINDOW_UPDATE: u8 = 0x8;
const FRAME_CONTINUATION: u8 = 0x9;
const FLAG_END_STREAM: u8 = 0x1;
const FLAG_ACK: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;

/// True when the request asks for an h2c upgrade we can honour.
///
/// Requires HTTP/1.1, an `Upgrade` header listing `h2c`, exactly one `HTTP2-Settings`
/// header, and a `Connection` header naming both `Upgrade` and `HTTP2-Settings`. It also
/// requires the body, if any, to declare a `Content-Length` of at most
/// [`MAX_UPGRADE_BODY`]: a larger or chunked body could not be replayed as stream 1, and
/// declining here lets the request be served over HTTP/1.1 instead.
pub fn wants_h2c_upgrade<B>(req: &Request<B>) -> bool {
    if req.version() != Version::HTTP_11 {
        return false;
    }
    let headers = req.headers();
    if !has_token(headers, &header::UPGRADE, "h2c")
        || !has_token(headers, &header::CONNECTION, "upgrade")
        || !has_token(headers, &header::CONNECTION, HTTP2_SETTINGS)
        || headers.get_all(HTTP2_SETTINGS).iter().count() != 1
    {
        return false;
    }
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return false;
    }
    match headers.get(header::CONTENT_LENGTH) {
        None => true,
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .is_some_and(|n| n <= MAX_UPGRADE_BODY),
    }
}

/// Answers an h2c upgrade request.
///
/// Reads the request body (at most `min(max_body, MAX_UPGRADE_BODY)` bytes, else `413`
/// and no upgrade), then returns the `101 Switching Protocols` response to send and
/// spawns a task that serves HTTP/2 on the upgraded connection with `service`, the
/// upgrading request itself becoming stream 1. A malformed `HTTP2-Settings` value gets
/// `400`; `400` and `413` carry `Connection: close`. Every returned response has an empty body
/// (`B::default()`), so any default-constructible body type works.
///
/// The HTTP/1.1 connection must be served with upgrades enabled
/// (`serve_connection_with_upgrades`, or `.with_upgrades()` on hyper's http1 builder);
/// otherwise the 101 is sent but the HTTP/2 task only logs that no upgrade happened.
///
/// Stream 1 is rebuilt from the wire form of the request, so extensions set on the
/// original request (peer address, …) are not carried over. Failures after the 101
/// (wrong preface, HTTP/2 errors) are logged at debug level and close the connection.
pub async fn upgrade<S, B, RB>(
    mut req: Request<Incoming>,
    service: S,
    builder: http2::Builder<TokioExecutor>,
    max_body: usize,
) -> Response<B>
where
    S: Service<Request<Incoming>, Response = Response<RB>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    RB: Body + Send + 'static,
    RB::Data: Send,
    RB::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Default,
{
    let settings = match req
        .headers()
        .get(HTTP2_SETTINGS)
        .ok_or("missing")
        .and_then(|v| decode_settings(v.as_bytes()))
    {
        Ok(s) => s,
        Err(why) => {
            tracing::debug!(%why, "h2c upgrade: bad HTTP2-Settings header");
            return refuse(StatusCode::BAD_REQUEST);
        }
    };

    // Taken before the request is consumed; hyper resolves it once the 101 is written.
    let on_upgrade = hyper::upgrade::on(&mut req);
    let (parts, body) = req.into_parts();
    let limit = max_body.min(MAX_UPGRADE_BODY);
    let body = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            if err.is::<http_body_util::LengthLimitError>() {
                tracing::debug!(limit, "h2c upgrade: request body too large");
                return refuse(StatusCode::PAYLOAD_TOO_LARGE);
            }
            tracing::debug!(error = %err, "h2c upgrade: reading request body failed");
            return refuse(StatusCode::BAD_REQUEST);
        }
    };

    let mut replay = BytesMut::with_capacity(PREFACE.len() + 64 + body.len());
    replay.extend_from_slice(PREFACE);
    write_frame(&mut replay, FRAME_SETTINGS, 0, 0, &settings);
    encode_stream_one(&mut replay, &parts, &body);
    let replay = replay.freeze();
    let body_len = body.len() as u32;

    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(error) => {
                tracing::debug!(%error, "h2c upgrade: connection was not upgraded");
                return;
            }
        };
        let mut io = TokioIo::new(upgraded);
        let mut preface = [0u8; 24];
        match tokio::time::timeout(PREFACE_TIMEOUT, io.read_exact(&mut preface)).await {
            Ok(Ok(_)) if &preface == PREFACE => {}
            Ok(Ok(_)) => {
                tracing::debug!("h2c upgrade: client sent a wrong connection preface");
                return;
            }
            Ok(Err(error)) => {
                tracing::debug!(%error, "h2c upgrade: reading connection preface failed");
                return;
            }
            Err(_) => {
                tracing::debug!("h2c upgrade: timed out waiting for connection preface");
                return;
            }
        }
        let io = ReplayIo::new(replay, io, body_len);
        if let Err(error) = builder.serve_connection(TokioIo::new(io), service).await {
            tracing::debug!(%error, "h2c upgrade: HTTP/2 connection error");
        }
    });

    let mut resp = empty(StatusCode::SWITCHING_PROTOCOLS);
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("h2c"));
    resp
}

/// An error answer that also closes the HTTP/1.1 connection, since part of the request
/// (the body, or the upgrade the client is waiting on) may still be unread.
fn refuse<B: Default>(status: StatusCode) -> Response<B> {
    let mut resp = empty(status);
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

fn empty<B: Default>(status: StatusCode) -> Response<B> {
    let mut resp = Response::new(B::default());
    *resp.status_mut() = status;
    resp
}

/// Case-insensitive search for `token` in the comma-separated values of `name`.
fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Decodes the `HTTP2-Settings` value into a SETTINGS payload.
///
/// RFC 7540 says base64url without padding; padding is tolerated since being lenient
/// costs nothing here.
fn decode_settings(value: &[u8]) -> Result<Vec<u8>, &'static str> {
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let payload = ENGINE
        .decode(value.trim_ascii())
        .map_err(|_| "not base64url")?;
    if payload.len() % 6 != 0 {
        return Err("payload is not a whole number of settings");
    }
    if payload.len() > MAX_FRAME {
        return Err("payload larger than a frame");
    }
    Ok(payload)
}

fn write_frame(out: &mut BytesMut, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = payload.len() as u32;
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Headers that only describe the HTTP/1.1 hop; h2 rejects a request carrying them.
fn is_hop_by_hop(name: &HeaderName, value: &HeaderValue, conn_tokens: &[String]) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "upgrade"
            | "http2-settings"
            | "keep-alive"
            | "transfer-encoding"
            | "proxy-connection"
            | "host"
    ) || (name == header::TE && !value.as_bytes().eq_ignore_ascii_case(b"trailers"))
        || conn_tokens.iter().any(|t| name.as_str() == t)
}

/// HPACK-encodes the request head: pseudo-headers first, then the end-to-end headers.
fn encode_header_block(parts: &http::request::Parts) -> Vec<u8> {
    let mut block = Vec::with_capacity(256);
    let path = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .filter(|p| !p.is_empty())
        .unwrap_or("/");
    encode_literal(&mut block, b":method", parts.method.as_str().as_bytes());
    encode_literal(&mut block, b":scheme", b"http");
    encode_literal(&mut block, b":path", path.as_bytes());
    let authority = parts
        .headers
        .get(header::HOST)
        .map(HeaderValue::as_bytes)
        .or_else(|| parts.uri.authority().map(|a| a.as_str().as_bytes()));
    if let Some(authority) = authority {
        encode_literal(&mut block, b":authority", authority);
    }
    // Headers named in Connection are hop-by-hop too (RFC 9110 §7.6.1).
    let conn_tokens: Vec<String> = parts
        .headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .collect();
    for (name, value) in &parts.headers {
        if !is_hop_by_hop(name, value, &conn_tokens) {
            // HeaderName is already lower-case, as HTTP/2 requires.
            encode_literal(&mut block, name.as_str().as_bytes(), value.as_bytes());
        }
    }
    block
}

/// "Literal Header Field without Indexing — New Name" (RFC 7541 §6.2.2), no Huffman:
/// it leaves the decoder's dynamic table untouched, so nothing else has to agree with it.
fn encode_literal(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.push(0x00);
    encode_string(out, name);
    encode_string(out, value);
}

fn encode_string(out: &mut Vec<u8>, s: &[u8]) {
    encode_int(out, 0x00, 7, s.len());
    out.extend_from_slice(s);
}

/// HPACK integer with an N-bit prefix (RFC 7541 §5.1); `first` holds the bits above it.
fn encode_int(out: &mut Vec<u8>, first: u8, prefix_bits: u8, mut n: usize) {
    let max = (1usize << prefix_bits) - 1;
    if n < max {
        out.push(first | n as u8);
        return;
    }
    out.push(first | max as u8);
    n -= max;
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Appends stream 1: HEADERS (+ CONTINUATION if the block exceeds a frame) and DATA.
fn encode_stream_one(out: &mut BytesMut, parts: &http::request::Parts, body: &[u8]) {
    let block = encode_header_block(parts);
    let mut chunks = block.chunks(MAX_FRAME).peekable();
    let first = chunks.next().unwrap_or(&[]);
    let end_stream = if body.is_empty() { FLAG_END_STREAM } else { 0 };
    let end_headers = if chunks.peek().is_none() {
        FLAG_END_HEADERS
    } else {
        0
    };
    write_frame(out, FRAME_HEADERS, end_stream | end_headers, 1, first);
    while let Some(chunk) = chunks.next() {
        let flags = if chunks.peek().is_none() {
            FLAG_END_HEADERS
        } else {
            0
        };
        write_frame(out, FRAME_CONTINUATION, flags, 1, chunk);
    }
    let mut data = body.chunks(MAX_FRAME).peekable();
    while let Some(chunk) = data.next() {
        let flags = if data.peek().is_none() {
            FLAG_END_STREAM
        } else {
            0
        };
        write_frame(out, FRAME_DATA, flags, 1, chunk);
    }
}

/// Rewrites the start of the server's output frame by frame (see the module docs); once
/// both corrections are done it is inactive and bytes pass through untouched.
#[derive(Debug)]
struct WriteFilter {
    /// The ACK for the synthetic SETTINGS has not been dropped yet.
    swallow_ack: bool,
    /// Connection WINDOW_UPDATE credit still to withhold (the replayed body length).
    window_debt: u32,
    header: [u8; 9],
    header_len: usize,
    /// Payload bytes of the current frame still to copy verbatim.
    passing: usize,
    /// Collecting the payload of a connection WINDOW_UPDATE that may need rewriting.
    window_update: Option<([u8; 4], usize)>,
}

impl WriteFilter {
    fn new(window_debt: u32) -> Self {
        Self {
            swallow_ack: true,
            window_debt,
            header: [0; 9],
            header_len: 0,
            passing: 0,
            window_update: None,
        }
    }

    /// True when at a frame boundary with nothing left to correct.
    fn is_done(&self) -> bool {
        !self.swallow_ack
            && self.window_debt == 0
            && self.header_len == 0
            && self.passing == 0
            && self.window_update.is_none()
    }

    /// Consumes all of `input`, appending what should reach the client to `out`.
    fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while !input.is_empty() {
            if self.passing > 0 {
                let n = self.passing.min(input.len());
                out.extend_from_slice(&input[..n]);
                self.passing -= n;
                input = &input[n..];
            } else if let Some((mut payload, mut have)) = self.window_update.take() {
                let n = (4 - have).min(input.len());
                payload[have..have + n].copy_from_slice(&input[..n]);
                have += n;
                input = &input[n..];
                if have < 4 {
                    self.window_update = Some((payload, have));
                    continue;
                }
                let increment = u32::from_be_bytes(payload) & 0x7fff_ffff;
                if increment <= self.window_debt {
                    // A zero increment is a protocol error, so drop the whole frame.
                    self.window_debt -= increment;
                } else {
                    out.extend_from_slice(&self.header);
                    out.extend_from_slice(&(increment - self.window_debt).to_be_bytes());
                    self.window_debt = 0;
                }
            } else if self.is_done() {
                out.extend_from_slice(input);
                return;
            } else {
                let n = (9 - self.header_len).min(input.len());
                self.header[self.header_len..self.header_len + n].copy_from_slice(&input[..n]);
                self.header_len += n;
                input = &input[n..];
                if self.header_len < 9 {
                    continue;
                }
                self.header_len = 0;
                let h = self.header;
                let len = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
                let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
                if self.swallow_ack && h[3] == FRAME_SETTINGS && h[4] & FLAG_ACK != 0 && len == 0 {
                    self.swallow_ack = false;
                } else if self.window_debt > 0
                    && h[3] == FRAME_WINDOW_UPDATE
                    && stream == 0
                    && len == 4
                {
                    self.window_update = Some(([0; 4], 0));
                } else {
                    out.extend_from_slice(&h);
                    self.passing = len;
                }
            }
        }
    }
}

/// The upgraded connection as hyper's HTTP/2 server sees it: replayed bytes first on the
/// read side, the [`WriteFilter`] on the write side.
struct ReplayIo<T> {
    replay: Bytes,
    inner: T,
    filter: WriteFilter,
    /// Filtered bytes accepted from the caller but not yet written to `inner`.
    pending: Vec<u8>,
    pending_pos: usize,
}

impl<T: AsyncRead + AsyncWrite + Unpin> ReplayIo<T> {
    fn new(replay: Bytes, inner: T, body_len: u32) -> Self {
        Self {
            replay,
            inner,
            filter: WriteFilter::new(body_len),
            pending: Vec::new(),
            pending_pos: 0,
        }
    }

    /// Writes out `pending`; must finish before new bytes are taken, to keep order.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.pending_pos < self.pending.len() {
            let n = ready!(
                Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.pending_pos..])
            )?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending_pos += n;
        }
        self.pending.clear();
        self.pending_pos = 0;
        Poll::Ready(Ok(()))
    }

    /// Filters `bufs` into `pending` and starts writing it; the bytes count as written
    /// even if the inner write is pending, since flush/shutdown finish the job.
    fn accept(&mut self, cx: &mut Context<'_>, bufs: &[&[u8]]) -> Poll<io::Result<usize>> {
        let mut n = 0;
        for buf in bufs {
            self.filter.feed(buf, &mut self.pending);
            n += buf.len();
        }
        if let Poll::Ready(Err(e)) = self.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ReplayIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.replay.has_remaining() {
            let n = this.replay.len().min(buf.remaining());
            buf.put_slice(&this.replay[..n]);
            this.replay.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for ReplayIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if this.filter.is_done() {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        this.accept(cx, &[buf])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if this.filter.is_done() {
            return Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        }
        let slices: Vec<&[u8]> = bufs.iter().map(|b| &**b).collect();
        this.accept(cx, &slices)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minimal HPACK decoder for what we emit: literal-without-indexing, new name, no
    /// Huffman. Panics on anything else, which is what the tests want.
    fn decode_block(mut b: &[u8]) -> Vec<(String, String)> {
        fn int(b: &mut &[u8], prefix_bits: u8) -> usize {
            let max = (1usize << prefix_bits) - 1;
            let mut n = (b[0] as usize) & max;
            *b = &b[1..];
            if n < max {
                return n;
            }
            let mut shift = 0;
            loop {
                let byte = b[0];
                *b = &b[1..];
                n += ((byte & 0x7f) as usize) << shift;
                shift += 7;
                if byte & 0x80 == 0 {
                    return n;
                }
            }
        }
        fn string(b: &mut &[u8]) -> String {
            assert_eq!(b[0] & 0x80, 0, "no Huffman");
            let len = int(b, 7);
            let s = String::from_utf8(b[..len].to_vec()).unwrap();
            *b = &b[len..];
            s
        }
        let mut out = Vec::new();
        while !b.is_empty() {
            assert_eq!(b[0], 0x00, "literal without indexing, new name");
            b = &b[1..];
            let name = string(&mut b);
            let value = string(&mut b);
            out.push((name, value));
        }
        out
    }

    /// Splits a byte stream into (type, flags, stream, payload) frames.
    fn frames(mut b: &[u8]) -> Vec<(u8, u8, u32, Vec<u8>)> {
        let mut out = Vec::new();
        while !b.is_empty() {
            let len = u32::from_be_bytes([0, b[0], b[1], b[2]]) as usize;
            let stream = u32::from_be_bytes([b[5], b[6], b[7], b[8]]);
            out.push((b[3], b[4], stream, b[9..9 + len].to_vec()));
            b = &b[9 + len..];
        }
        out
    }

    fn parts(req: Request<()>) -> http::request::Parts {
        req.into_parts().0
    }

    fn upgrade_req() -> http::request::Builder {
        Request::builder()
            .uri("/x")
            .header("host", "h")
            .header("connection", "Upgrade, HTTP2-Settings")
            .header("upgrade", "h2c")
            .header("http2-settings", "AAMAAABkAAQAoAAAAAIAAAAA")
    }

    #[test]
    fn hpack_integers_follow_rfc7541_examples() {
        let mut v = Vec::new();
        encode_int(&mut v, 0, 5, 10);
        assert_eq!(v, [10]);
        v.clear();
        encode_int(&mut v, 0, 5, 1337);
        assert_eq!(v, [31, 154, 10]);
        v.clear();
        encode_int(&mut v, 0, 7, 127);
        assert_eq!(v, [127, 0]);
    }

    #[test]
    fn exact_bytes_for_small_get() {
        let p = parts(
            Request::builder()
                .uri("/a")
                .header("host", "h")
                .body(())
                .unwrap(),
        );
        let mut out = BytesMut::new();
        encode_stream_one(&mut out, &p, b"");
        let mut want = vec![0, 0, 0, FRAME_HEADERS, FLAG_END_STREAM | FLAG_END_HEADERS];
        want.extend_from_slice(&[0, 0, 0, 1]);
        let mut block = Vec::new();
        for (n, v) in [
            (&b":method"[..], &b"GET"[..]),
            (b":scheme", b"http"),
            (b":path", b"/a"),
            (b":authority", b"h"),
        ] {
            block.push(0);
            block.push(n.len() as u8);
            block.extend_from_slice(n);
            block.push(v.len() as u8);
            block.extend_from_slice(v);
        }
        want[2] = block.len() as u8;
        want.extend_from_slice(&block);
        assert_eq!(&out[..], &want[..]);
    }

    #[test]
    fn header_block_drops_hop_by_hop_and_keeps_order() {
        let p = parts(
            upgrade_req()
                .method("POST")
                .uri("/p?q=1")
                .header("keep-alive", "5")
                .header("te", "gzip")
                .header("X-Custom", "v1")
                .header("x-custom", "v2")
                .header("content-type", "text/plain")
                .body(())
                .unwrap(),
        );
        let got = decode_block(&encode_header_block(&p));
        let want: Vec<(String, String)> = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", "/p?q=1"),
            (":authority", "h"),
            ("x-custom", "v1"),
            ("x-custom", "v2"),
            ("content-type", "text/plain"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn connection_named_headers_are_dropped_and_te_trailers_kept() {
        let p = parts(
            Request::builder()
                .header("connection", "x-hop")
                .header("x-hop", "1")
                .header("te", "trailers")
                .body(())
                .unwrap(),
        );
        let got = decode_block(&encode_header_block(&p));
        assert!(got.iter().all(|(n, _)| n != "x-hop"));
        assert!(got.contains(&("te".into(), "trailers".into())));
    }

    #[test]
    fn long_values_use_multibyte_lengths_and_continuation() {
        let big = "v".repeat(20_000);
        let p = parts(
            Request::builder()
                .header("x-big", big.as_str())
                .body(())
                .unwrap(),
        );
        let mut out = BytesMut::new();
        encode_stream_one(&mut out, &p, b"");
        let f = frames(&out);
        assert_eq!(f.len(), 2);
        assert_eq!(
            (f[0].0, f[0].1, f[0].2),
            (FRAME_HEADERS, FLAG_END_STREAM, 1)
        );
        assert_eq!(f[0].3.len(), MAX_FRAME);
        assert_eq!(
            (f[1].0, f[1].1, f[1].2),
            (FRAME_CONTINUATION, FLAG_END_HEADERS, 1)
        );
        let block: Vec<u8> = f.iter().flat_map(|f| f.3.clone()).collect();
        let got = decode_block(&block);
        assert_eq!(got.last().unwrap(), &("x-big".to_string(), big));
    }

    #[test]
    fn body_is_split_into_data_frames() {
        let p = parts(Request::builder().method("POST").body(()).unwrap());
        let body = vec![7u8; MAX_FRAME * 2 + 5];
        let mut out = BytesMut::new();
        encode_stream_one(&mut out, &p, &body);
        let f = frames(&out);
        assert_eq!((f[0].0, f[0].1), (FRAME_HEADERS, FLAG_END_HEADERS));
        let data: Vec<_> = f[1..].iter().map(|f| (f.0, f.1, f.2, f.3.len())).collect();
        assert_eq!(
            data,
            [
                (FRAME_DATA, 0, 1, MAX_FRAME),
                (FRAME_DATA, 0, 1, MAX_FRAME),
                (FRAME_DATA, FLAG_END_STREAM, 1, 5)
            ]
        );
    }

    #[test]
    fn settings_header_decoding() {
        // curl's value: three settings, no padding.
        let s = decode_settings(b"AAMAAABkAAQAoAAAAAIAAAAA").unwrap();
        assert_eq!(s.len(), 18);
        assert_eq!(&s[..6], &[0, 3, 0, 0, 0, 100]);
        assert_eq!(decode_settings(b"").unwrap(), Vec::<u8>::new());
        assert_eq!(decode_settings(b"AAMAAABk").unwrap().len(), 6);
        assert!(decode_settings(b"!!!").is_err());
        assert!(decode_settings(b"AAMA").is_err()); // 3 bytes: not a whole setting
    }

    #[test]
    fn detects_upgrade_requests() {
        assert!(wants_h2c_upgrade(&upgrade_req().body(()).unwrap()));
        assert!(wants_h2c_upgrade(
            &upgrade_req()
                .header("content-length", "65535")
                .body(())
                .unwrap()
        ));
        assert!(!wants_h2c_upgrade(
            &upgrade_req()
                .header("content-length", "65536")
                .body(())
                .unwrap()
        ));
        assert!(!wants_h2c_upgrade(
            &upgrade_req()
                .header("transfer-encoding", "chunked")
                .body(())
                .unwrap()
        ));
        assert!(!wants_h2c_upgrade(
            &upgrade_req().header("http2-settings", "").body(()).unwrap()
        ));
        assert!(!wants_h2c_upgrade(
            &upgrade_req().version(Version::HTTP_10).body(()).unwrap()
        ));
        let no_settings_token = Request::builder()
            .header("connection", "upgrade")
            .header("upgrade", "websocket, h2c")
            .header("http2-settings", "")
            .body(())
            .unwrap();
        assert!(!wants_h2c_upgrade(&no_settings_token));
        let plain = Request::builder().body(()).unwrap();
        assert!(!wants_h2c_upgrade(&plain));
    }

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut b = BytesMut::new();
        write_frame(&mut b, kind, flags, stream, payload);
        b.to_vec()
    }

    #[test]
    fn write_filter_drops_first_ack_and_withholds_window_credit() {
        let server_settings = frame(FRAME_SETTINGS, 0, 0, &[0, 4, 0, 16, 0, 0]);
        let ack = frame(FRAME_SETTINGS, FLAG_ACK, 0, &[]);
        let wu_conn = frame(FRAME_WINDOW_UPDATE, 0, 0, &1000u32.to_be_bytes());
        let wu_stream = frame(FRAME_WINDOW_UPDATE, 0, 3, &1000u32.to_be_bytes());
        let wu_conn2 = frame(FRAME_WINDOW_UPDATE, 0, 0, &500u32.to_be_bytes());
        let data = frame(FRAME_DATA, FLAG_END_STREAM, 1, b"hello");
        let input = [
            server_settings.clone(),
            wu_conn,
            ack.clone(),
            wu_stream.clone(),
            wu_conn2,
            ack.clone(),
            data.clone(),
        ]
        .concat();
        let want = [
            server_settings,
            wu_stream,
            frame(FRAME_WINDOW_UPDATE, 0, 0, &300u32.to_be_bytes()),
            ack,
            data,
        ]
        .concat();
        // Every way of splitting the output into two writes must give the same result.
        for split in 0..=input.len() {
            let mut filter = WriteFilter::new(1200);
            let mut out = Vec::new();
            filter.feed(&input[..split], &mut out);
            filter.feed(&input[split..], &mut out);
            assert_eq!(out, want, "split at {split}");
            assert!(filter.is_done());
        }
    }

    #[tokio::test]
    async fn replay_io_reads_prefix_then_inner_and_filters_writes() {
        use tokio::io::AsyncWriteExt;
        let (client, server) = tokio::io::duplex(1024);
        let (mut client_r, mut client_w) = tokio::io::split(client);
        let mut io = ReplayIo::new(Bytes::from_static(b"synthetic|"), server, 0);
        client_w.write_all(b"client").await.unwrap();
        let mut got = vec![0u8; 16];
        io.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"synthetic|client");

        let ack = frame(FRAME_SETTINGS, FLAG_ACK, 0, &[]);
        io.write_all(&ack[..4]).await.unwrap();
        io.write_all(&ack[4..]).await.unwrap();
        io.write_all(&ack).await.unwrap();
        io.write_all(b"raw").await.unwrap();
        io.flush().await.unwrap();
        let mut echoed = vec![0u8; ack.len() + 3];
        client_r.read_exact(&mut echoed).await.unwrap();
        assert_eq!(echoed, [ack, b"raw".to_vec()].concat());
    }
}
