//! Entry points for the fuzz targets (`fuzz/`) and for replaying their corpus in the tests:
//! each takes arbitrary bytes and must return without panicking, whatever they are.

use http::{HeaderMap, HeaderValue};

use crate::grpc_frame::{Encoding, FrameDecoder};
use crate::grpc_web_text::Base64Decoder;

/// Largest message the harness lets a decoder hold (keeps a run's memory small).
const MAX_MESSAGE: usize = 1 << 20;

/// gRPC length-prefixed framing, fed in pieces whose sizes the input's first byte picks, then
/// each message decompressed (identity or gzip, by the second byte).
pub fn grpc_frames(data: &[u8]) {
    let [step, coding, rest @ ..] = data else {
        return;
    };
    let mut headers = HeaderMap::new();
    if coding & 1 == 1 {
        headers.insert("grpc-encoding", HeaderValue::from_static("gzip"));
    }
    let encoding = Encoding::from_headers(&headers);
    let mut decoder = FrameDecoder::new(MAX_MESSAGE);
    for chunk in rest.chunks(usize::from(*step).max(1)) {
        decoder.push(chunk);
        while let Ok(Some(msg)) = decoder.next_message() {
            let _ = encoding.decode(&msg, MAX_MESSAGE);
        }
    }
    let _ = decoder.finish();
}

/// gRPC-Web text mode: base64 in arbitrary pieces, then the decoded bytes as gRPC frames.
pub fn grpc_web_text(data: &[u8]) {
    let [step, rest @ ..] = data else {
        return;
    };
    let mut base64 = Base64Decoder::new();
    let mut decoded = Vec::new();
    for chunk in rest.chunks(usize::from(*step).max(1)) {
        if base64.push(chunk, &mut decoded).is_err() {
            return;
        }
    }
    if base64.finish(&mut decoded).is_err() {
        return;
    }
    let mut framed = vec![7u8, 0];
    framed.extend_from_slice(&decoded);
    grpc_frames(&framed);
}
