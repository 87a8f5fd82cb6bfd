//! gRPC length-prefixed messages: a streaming decoder, an encoder, and per-message
//! compression (`grpc-encoding`).
//!
//! On the wire every message is a 5-byte prefix (1 byte compressed flag, 4 bytes big-endian
//! length) and then the payload (gRPC's PROTOCOL-HTTP2.md, "Length-Prefixed-Message"). HTTP/2
//! DATA frames cut that stream anywhere, so [`FrameDecoder`] accepts chunks of any size and
//! hands out whole messages. Limits are checked on the prefix, before the payload is buffered,
//! and again on the decompressed size, so neither a large length nor a gzip bomb makes the
//! gateway hold more than the configured maximum.

use std::io::{Read, Write};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::HeaderMap;

/// gRPC status codes this module and its users report (fixed by the gRPC protocol).
pub mod code {
    /// The call succeeded.
    pub const OK: u8 = 0;
    /// A message was larger than allowed.
    pub const RESOURCE_EXHAUSTED: u8 = 8;
    /// The message encoding is not supported.
    pub const UNIMPLEMENTED: u8 = 12;
    /// Broken framing or corrupt compressed data.
    pub const INTERNAL: u8 = 13;
    /// A service the call needs (a plugin server) could not be reached.
    pub const UNAVAILABLE: u8 = 14;
}

/// The size of the prefix in front of every message.
pub const PREFIX_LEN: usize = 5;

/// The usual default for the largest message (gRPC's own receive limit is 4 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// Why a stream of messages could not be decoded (or a message encoded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The prefix announces a message larger than the limit.
    #[error("message of {len} bytes is larger than the limit of {max} bytes")]
    TooLarge {
        /// The announced length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// The message decompresses to more than the limit.
    #[error("decompressed message is larger than the limit of {max} bytes")]
    DecompressedTooLarge {
        /// The limit.
        max: usize,
    },
    /// The compressed flag is neither 0 nor 1.
    #[error("invalid compressed flag {0}")]
    BadFlag(u8),
    /// The stream ended inside a message.
    #[error("stream ended inside a message ({buffered} bytes of an unfinished message)")]
    Truncated {
        /// Bytes of the unfinished message (prefix included).
        buffered: usize,
    },
    /// A message is flagged compressed but the stream declares no encoding (or `identity`).
    #[error("compressed message on a stream without grpc-encoding")]
    CompressedWithoutEncoding,
    /// A message is flagged compressed with an encoding the gateway does not support.
    #[error("unsupported grpc-encoding `{0}`")]
    UnsupportedEncoding(String),
    /// The compressed data is corrupt (or compressing failed).
    #[error("bad {encoding} data: {reason}")]
    Codec {
        /// The encoding.
        encoding: &'static str,
        /// What went wrong.
        reason: String,
    },
}

impl FrameError {
    /// The gRPC status code to end the call with: RESOURCE_EXHAUSTED for size limits,
    /// UNIMPLEMENTED for an unknown encoding, INTERNAL for everything else.
    pub fn code(&self) -> u8 {
        match self {
            FrameError::TooLarge { .. } | FrameError::DecompressedTooLarge { .. } => {
                code::RESOURCE_EXHAUSTED
            }
            FrameError::UnsupportedEncoding(_) => code::UNIMPLEMENTED,
            _ => code::INTERNAL,
        }
    }
}

/// One message as it was on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// The compressed flag was 1.
    pub compressed: bool,
    /// The whole frame, prefix included, so an unchanged message can be sent on as it came.
    pub frame: Bytes,
}

impl RawMessage {
    /// The payload as sent (still compressed when `compressed`).
    pub fn payload(&self) -> Bytes {
        self.frame.slice(PREFIX_LEN..)
    }
}

/// Decodes length-prefixed messages from chunks cut anywhere.
///
/// Buffers at most one unfinished message (< `PREFIX_LEN + max`) plus the last chunk pushed:
/// a caller that pushes a chunk only when [`FrameDecoder::next_message`] returned `None`
/// keeps that bound.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: BytesMut,
    max: usize,
}

impl FrameDecoder {
    /// A decoder refusing messages larger than `max_message_size` bytes.
    pub fn new(max_message_size: usize) -> Self {
        FrameDecoder {
            buf: BytesMut::new(),
            max: max_message_size,
        }
    }

    /// Appends a chunk of the stream.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next whole message, `None` when more bytes are needed. The prefix is checked as
    /// soon as its 5 bytes are there, so an oversized or malformed message is reported before
    /// its payload is read.
    pub fn next_message(&mut self) -> Result<Option<RawMessage>, FrameError> {
        if self.buf.len() < PREFIX_LEN {
            return Ok(None);
        }
        let flag = self.buf[0];
        if flag > 1 {
            return Err(FrameError::BadFlag(flag));
        }
        let len = (&self.buf[1..PREFIX_LEN]).get_u32();
        if len as u64 > self.max as u64 {
            return Err(FrameError::TooLarge {
                len: len.into(),
                max: self.max,
            });
        }
        let total = PREFIX_LEN + len as usize;
        if self.buf.len() < total {
            return Ok(None);
        }
        Ok(Some(RawMessage {
            compressed: flag == 1,
            frame: self.buf.split_to(total).freeze(),
        }))
    }

    /// Bytes held that are not yet a whole message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Checks the stream may end here: an unfinished message is an error.
    pub fn finish(&self) -> Result<(), FrameError> {
        match self.buf.len() {
            0 => Ok(()),
            buffered => Err(FrameError::Truncated { buffered }),
        }
    }
}

/// Frames a payload: prefix (flag, big-endian length) and payload. No compression is applied;
/// `compressed` only sets the flag. The payload must be under 4 GiB ([`Encoding::encode`]
/// checks that).
pub fn encode_frame(compressed: bool, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(PREFIX_LEN + payload.len());
    out.put_u8(u8::from(compressed));
    out.put_u32(payload.len() as u32);
    out.put_slice(payload);
    out.freeze()
}

/// The message encoding of one direction of a call (its `grpc-encoding` header).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Encoding {
    /// No header, or `identity`: compressed messages are an error.
    #[default]
    Identity,
    /// `gzip`.
    Gzip,
    /// Anything else: uncompressed messages still pass, compressed ones are UNIMPLEMENTED.
    Other(String),
}

impl Encoding {
    /// The encoding the `grpc-encoding` header in `headers` declares.
    pub fn from_headers(headers: &HeaderMap) -> Encoding {
        let Some(v) = headers.get("grpc-encoding") else {
            return Encoding::Identity;
        };
        let v = String::from_utf8_lossy(v.as_bytes())
            .trim()
            .to_ascii_lowercase();
        match v.as_str() {
            "" | "identity" => Encoding::Identity,
            "gzip" => Encoding::Gzip,
            _ => Encoding::Other(v),
        }
    }

    /// The payload of `msg` in plain form, refusing to produce more than `max` bytes.
    pub fn decode(&self, msg: &RawMessage, max: usize) -> Result<Bytes, FrameError> {
        if !msg.compressed {
            return Ok(msg.payload());
        }
        match self {
            Encoding::Identity => Err(FrameError::CompressedWithoutEncoding),
            Encoding::Other(name) => Err(FrameError::UnsupportedEncoding(name.clone())),
            Encoding::Gzip => {
                // Multi-member, as Go's and Java's gzip readers accept. Reading one byte past
                // the limit tells "exactly max" from "more", without inflating any further.
                let payload = &msg.frame[PREFIX_LEN..];
                let reader = flate2::read::MultiGzDecoder::new(payload);
                let mut out = Vec::new();
                reader
                    .take(max as u64 + 1)
                    .read_to_end(&mut out)
                    .map_err(|e| codec_error(&e))?;
                if out.len() > max {
                    return Err(FrameError::DecompressedTooLarge { max });
                }
                Ok(out.into())
            }
        }
    }

    /// A whole frame for `payload`, compressed with this encoding when `compress` (the flag of
    /// the message it replaces, so per-message compression choices are kept).
    pub fn encode(&self, payload: &[u8], compress: bool) -> Result<Bytes, FrameError> {
        // The prefix has 32 bits for the length; a hook could hand back more.
        if payload.len() > u32::MAX as usize {
            return Err(FrameError::TooLarge {
                len: payload.len() as u64,
                max: u32::MAX as usize,
            });
        }
        if !compress {
            return Ok(encode_frame(false, payload));
        }
        match self {
            Encoding::Identity => Err(FrameError::CompressedWithoutEncoding),
            Encoding::Other(name) => Err(FrameError::UnsupportedEncoding(name.clone())),
            Encoding::Gzip => {
                // Fast level: the gateway re-compresses on the request path, where CPU matters
                // more than a few percent of size.
                let mut out = Vec::with_capacity(PREFIX_LEN + payload.len() / 2);
                out.extend_from_slice(&[1, 0, 0, 0, 0]);
                let mut w = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
                w.write_all(payload).map_err(|e| codec_error(&e))?;
                let mut out = w.finish().map_err(|e| codec_error(&e))?;
                let len = (out.len() - PREFIX_LEN) as u32;
                out[1..PREFIX_LEN].copy_from_slice(&len.to_be_bytes());
                Ok(out.into())
            }
        }
    }
}

fn codec_error(e: &std::io::Error) -> FrameError {
    FrameError::Codec {
        encoding: "gzip",
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(payloads: &[&[u8]]) -> Vec<u8> {
        payloads
            .iter()
            .flat_map(|p| encode_frame(false, p).to_vec())
            .collect()
    }

    fn drain(d: &mut FrameDecoder) -> Vec<Bytes> {
        let mut out = Vec::new();
        while let Some(m) = d.next_message().unwrap() {
            out.push(m.payload());
        }
        out
    }

    #[test]
    fn every_split_point_and_byte_by_byte() {
        let big = vec![7u8; 300];
        let payloads: [&[u8]; 4] = [b"", b"a", b"hello w", &big];
        let wire = stream(&payloads);
        for cut in 0..=wire.len() {
            let mut d = FrameDecoder::new(1024);
            d.push(&wire[..cut]);
            let mut got = drain(&mut d);
            d.push(&wire[cut..]);
            got.extend(drain(&mut d));
            assert_eq!(got, payloads, "cut at {cut}");
            d.finish().unwrap();
        }
        let mut d = FrameDecoder::new(1024);
        let mut got = Vec::new();
        for b in &wire {
            d.push(std::slice::from_ref(b));
            got.extend(drain(&mut d));
            assert!(d.buffered() < PREFIX_LEN + 300);
        }
        assert_eq!(got, payloads);
    }

    #[test]
    fn limits_and_malformed_framing() {
        // The limit is checked on the prefix alone: no payload byte is needed.
        let mut d = FrameDecoder::new(10);
        d.push(&[0, 0, 0, 0, 11]);
        let e = d.next_message().unwrap_err();
        assert_eq!(e, FrameError::TooLarge { len: 11, max: 10 });
        assert_eq!(e.code(), code::RESOURCE_EXHAUSTED);
        let mut d = FrameDecoder::new(10);
        d.push(&encode_frame(false, &[1; 10]));
        assert_eq!(d.next_message().unwrap().unwrap().payload().len(), 10);
        // u32::MAX must not overflow anything.
        let mut d = FrameDecoder::new(usize::MAX);
        d.push(&[1, 0xff, 0xff, 0xff, 0xff, 1]);
        assert!(d.next_message().unwrap().is_none());

        let mut d = FrameDecoder::new(10);
        d.push(&[2, 0, 0, 0, 0]);
        let e = d.next_message().unwrap_err();
        assert_eq!(
            (e.clone(), e.code()),
            (FrameError::BadFlag(2), code::INTERNAL)
        );

        let mut d = FrameDecoder::new(10);
        d.push(&[0, 0, 0, 0, 3, b'a']);
        assert!(d.next_message().unwrap().is_none());
        let e = d.finish().unwrap_err();
        assert_eq!(e, FrameError::Truncated { buffered: 6 });
        assert_eq!(e.code(), code::INTERNAL);
        let mut d = FrameDecoder::new(10);
        d.push(&[0, 0]);
        assert!(d.finish().is_err(), "a partial prefix is truncation too");
    }

    #[test]
    fn gzip_round_trip_and_flags() {
        let gz = Encoding::Gzip;
        let plain = b"hello hello hello hello".repeat(10);
        let frame = gz.encode(&plain, true).unwrap();
        assert_eq!(frame[0], 1);
        assert!(frame.len() < plain.len());
        let mut d = FrameDecoder::new(1024);
        d.push(&frame);
        let raw = d.next_message().unwrap().unwrap();
        assert!(raw.compressed);
        assert_eq!(gz.decode(&raw, 1024).unwrap(), plain);
        // Uncompressed messages pass under any encoding, and stay uncompressed.
        let frame = gz.encode(b"x", false).unwrap();
        assert_eq!(&frame[..], &[0, 0, 0, 0, 1, b'x']);
        let raw = RawMessage {
            compressed: false,
            frame,
        };
        let other = Encoding::Other("br".into());
        assert_eq!(other.decode(&raw, 10).unwrap(), &b"x"[..]);

        let raw = RawMessage {
            compressed: true,
            frame: encode_frame(true, b"zz"),
        };
        let e = other.decode(&raw, 10).unwrap_err();
        assert_eq!(e.code(), code::UNIMPLEMENTED);
        let e = Encoding::Identity.decode(&raw, 10).unwrap_err();
        assert_eq!(
            (e.clone(), e.code()),
            (FrameError::CompressedWithoutEncoding, code::INTERNAL)
        );
        let e = gz.decode(&raw, 10).unwrap_err();
        assert_eq!(e.code(), code::INTERNAL, "{e}");
    }

    #[test]
    fn gzip_bomb_is_stopped_at_the_limit() {
        let zeros = vec![0u8; 1 << 20];
        let frame = Encoding::Gzip.encode(&zeros, true).unwrap();
        assert!(frame.len() < 10_000, "compresses well: {}", frame.len());
        let raw = RawMessage {
            compressed: true,
            frame,
        };
        let e = Encoding::Gzip.decode(&raw, 64 * 1024).unwrap_err();
        assert_eq!(e, FrameError::DecompressedTooLarge { max: 64 * 1024 });
        assert_eq!(e.code(), code::RESOURCE_EXHAUSTED);
        assert_eq!(Encoding::Gzip.decode(&raw, 1 << 20).unwrap().len(), 1 << 20);
    }

    #[test]
    fn encoding_from_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(Encoding::from_headers(&h), Encoding::Identity);
        for (v, want) in [
            ("identity", Encoding::Identity),
            ("gzip", Encoding::Gzip),
            ("GZip ", Encoding::Gzip),
            ("snappy", Encoding::Other("snappy".into())),
        ] {
            h.insert("grpc-encoding", v.parse().unwrap());
            assert_eq!(Encoding::from_headers(&h), want, "{v}");
        }
    }
}
