use std::convert::Infallible;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::{StreamExt as _, stream};
use http_body_util::{BodyExt as _, StreamBody};
use tokio::sync::Semaphore;

use super::*;
use crate::grpc_frame::encode_frame;

const METHOD: &str = "/pkg.Svc/Method";

/// A hook from a closure; it yields once first, so every call really is pending once.
struct FnHook<F>(F);

impl<F> MessageHook for FnHook<F>
where
    F: Fn(&mut StreamMessage) -> MessageVerdict + Send + Sync,
{
    fn on_message<'a>(&'a self, msg: &'a mut StreamMessage) -> BoxFuture<'a, MessageVerdict> {
        Box::pin(async move {
            tokio::task::yield_now().await;
            (self.0)(msg)
        })
    }
}

fn hook(
    f: impl Fn(&mut StreamMessage) -> MessageVerdict + Send + Sync + 'static,
) -> Arc<dyn MessageHook> {
    Arc::new(FnHook(f))
}

/// A hook that records what it sees and passes everything.
fn recorder() -> (Arc<dyn MessageHook>, Arc<Mutex<Vec<StreamMessage>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let h = hook(move |m| {
        s.lock().unwrap().push(m.clone());
        MessageVerdict::Pass
    });
    (h, seen)
}

fn config(direction: Direction, encoding: Encoding, max: usize) -> StreamConfig {
    StreamConfig {
        direction,
        method: METHOD.into(),
        encoding,
        max_message_size: max,
    }
}

fn plain() -> StreamConfig {
    config(Direction::FromUpstream, Encoding::Identity, 1024)
}

type TestBody = StreamBody<stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

/// An in-memory body: these chunks, then these trailers.
fn body(chunks: Vec<Vec<u8>>, trailers: Option<HeaderMap>) -> TestBody {
    let mut frames: Vec<_> = chunks
        .into_iter()
        .map(|c| Ok(Frame::data(c.into())))
        .collect();
    frames.extend(trailers.map(|t| Ok(Frame::trailers(t))));
    StreamBody::new(stream::iter(frames))
}

fn trailers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        h.append(*n, HeaderValue::from_static(v));
    }
    h
}

fn wire(payloads: &[&[u8]]) -> Vec<u8> {
    payloads
        .iter()
        .flat_map(|p| encode_frame(false, p).to_vec())
        .collect()
}

struct Drained {
    frames: Vec<Bytes>,
    trailers: Option<HeaderMap>,
    error: Option<BoxError>,
}

impl Drained {
    fn bytes(&self) -> Vec<u8> {
        self.frames.concat()
    }
    /// The messages sent, as (compressed flag, payload as sent).
    fn messages(&self) -> Vec<(bool, Bytes)> {
        let mut d = FrameDecoder::new(usize::MAX);
        d.push(&self.bytes());
        let mut out = Vec::new();
        while let Some(m) = d.next_message().unwrap() {
            out.push((m.compressed, m.payload()));
        }
        d.finish().unwrap();
        out
    }
    fn status(&self) -> (&str, Option<&str>) {
        let t = self.trailers.as_ref().expect("trailers");
        let get = |n: &str| t.get(n).map(|v| v.to_str().unwrap());
        (
            get("grpc-status").expect("grpc-status"),
            get("grpc-message"),
        )
    }
}

async fn drain<B: Body<Data = Bytes, Error = BoxError> + Unpin>(mut b: B) -> Drained {
    let mut d = Drained {
        frames: Vec::new(),
        trailers: None,
        error: None,
    };
    while let Some(f) = b.frame().await {
        match f {
            Ok(f) => match f.into_data() {
                Ok(data) => d.frames.push(data),
                Err(f) => {
                    assert!(d.trailers.is_none(), "one trailers frame at most");
                    d.trailers = Some(f.into_trailers().unwrap());
                }
            },
            Err(e) => {
                d.error = Some(e);
                break;
            }
        }
    }
    assert!(b.frame().await.is_none(), "stays ended");
    assert!(b.is_end_stream());
    d
}

#[tokio::test]
async fn every_chunk_boundary() {
    let big = vec![9u8; 200];
    let payloads: [&[u8]; 4] = [b"", b"a", b"hello", &big];
    let w = wire(&payloads);
    let t = trailers(&[("grpc-status", "0"), ("x-trailer", "kept")]);
    let mut splits: Vec<Vec<Vec<u8>>> = (0..=w.len())
        .map(|cut| vec![w[..cut].to_vec(), w[cut..].to_vec()])
        .collect();
    splits.push(w.iter().map(|b| vec![*b]).collect());
    for chunks in splits {
        let (h, seen) = recorder();
        let (b, outcome) = MessageHookBody::new(body(chunks, Some(t.clone())), h, plain());
        let out = drain(b).await;
        assert!(out.error.is_none());
        assert_eq!(out.bytes(), w, "unchanged messages go out as they came");
        assert_eq!(out.frames.len(), 4, "one frame per message");
        assert_eq!(out.trailers.as_ref(), Some(&t));
        assert!(outcome.get().is_none());
        let seen = seen.lock().unwrap();
        let got: Vec<&[u8]> = seen.iter().map(|m| &m.payload[..]).collect();
        assert_eq!(got, payloads);
        for (i, m) in seen.iter().enumerate() {
            assert_eq!(m.index, i as u64);
            assert_eq!(&*m.method, METHOD);
            assert_eq!(m.direction, Direction::FromUpstream);
        }
    }
}

#[tokio::test]
async fn replace_and_drop() {
    let h = hook(|m| match m.index {
        0 => {
            m.payload = Bytes::from_static(b"REPLACED, and longer");
            MessageVerdict::Pass
        }
        1 => MessageVerdict::Drop,
        _ => MessageVerdict::Pass,
    });
    let w = wire(&[b"one", b"two", b"three"]);
    let (b, outcome) = MessageHookBody::new(body(vec![w], None), h, plain());
    let out = drain(b).await;
    let msgs: Vec<Bytes> = out.messages().into_iter().map(|(_, p)| p).collect();
    assert_eq!(msgs, [&b"REPLACED, and longer"[..], b"three"]);
    assert!(out.trailers.is_none(), "no inner trailers, none added");
    assert!(outcome.get().is_none());

    // Dropping everything, many messages in one always-ready chunk, still ends.
    let many: Vec<&[u8]> = vec![b"x"; 1000];
    let (b, _) = MessageHookBody::new(
        body(vec![wire(&many)], Some(trailers(&[("grpc-status", "0")]))),
        hook(|_| MessageVerdict::Drop),
        plain(),
    );
    let out = drain(b).await;
    assert!(out.frames.is_empty());
    assert_eq!(out.status(), ("0", None));
}

/// A body yielding these chunks lazily, counting how many it produced.
fn counted(
    chunks: Vec<Vec<u8>>,
    count: Arc<AtomicUsize>,
) -> impl Body<Data = Bytes, Error = Infallible> + Unpin {
    let s = stream::iter(chunks).map(move |c| {
        count.fetch_add(1, Ordering::SeqCst);
        Ok::<_, Infallible>(Frame::data(Bytes::from(c)))
    });
    StreamBody::new(s)
}

#[tokio::test]
async fn end_verdict_sends_status_and_stops_reading() {
    let h = hook(|m| match m.index {
        1 => MessageVerdict::End {
            code: 9,
            message: "no ü, 100%".into(),
        },
        _ => MessageVerdict::Pass,
    });
    let produced = Arc::new(AtomicUsize::new(0));
    let chunks = (0..10)
        .map(|i| wire(&[format!("m{i}").as_bytes()]))
        .collect();
    let (b, outcome) = MessageHookBody::new(counted(chunks, produced.clone()), h, plain());
    let out = drain(b).await;
    assert_eq!(out.messages(), [(false, Bytes::from_static(b"m0"))]);
    assert_eq!(out.status(), ("9", Some("no %C3%BC, 100%25")));
    assert_eq!(
        produced.load(Ordering::SeqCst),
        2,
        "nothing read after the end"
    );
    let status = outcome.get().unwrap();
    assert_eq!((status.code, status.message.as_str()), (9, "no ü, 100%"));
}

#[tokio::test]
async fn request_direction_fails_instead_of_ending_cleanly() {
    let h = hook(|_| MessageVerdict::End {
        code: 7,
        message: "denied".into(),
    });
    let cfg = config(Direction::ToUpstream, Encoding::Identity, 1024);
    let (b, outcome) = MessageHookBody::new(body(vec![wire(&[b"a", b"b"])], None), h, cfg);
    let out = drain(b).await;
    assert!(out.frames.is_empty() && out.trailers.is_none());
    let err = out.error.expect("error");
    let status = err.downcast_ref::<StreamStatus>().expect("a StreamStatus");
    assert_eq!((status.code, status.message.as_str()), (7, "denied"));
    assert_eq!(outcome.get(), Some(status));
}

#[tokio::test]
async fn oversized_message_is_resource_exhausted_before_buffering() {
    let (h, seen) = recorder();
    let produced = Arc::new(AtomicUsize::new(0));
    let mut first = wire(&[b"small"]);
    first.extend_from_slice(&[0, 0, 0, 0x10, 0]); // announces 4096 bytes
    let chunks = vec![
        first,
        vec![0; 1024],
        vec![0; 1024],
        vec![0; 1024],
        vec![0; 1024],
    ];
    let cfg = config(Direction::FromUpstream, Encoding::Identity, 1000);
    let (b, outcome) = MessageHookBody::new(counted(chunks, produced.clone()), h, cfg);
    let out = drain(b).await;
    assert_eq!(out.messages().len(), 1, "the message before still went out");
    assert_eq!(seen.lock().unwrap().len(), 1);
    let (status, msg) = out.status();
    assert_eq!(status, "8");
    assert!(msg.unwrap().contains("4096"), "{msg:?}");
    assert_eq!(produced.load(Ordering::SeqCst), 1, "payload never read");
    assert_eq!(outcome.get().unwrap().code, code::RESOURCE_EXHAUSTED);
}

#[tokio::test]
async fn malformed_framing_is_internal() {
    // A bad flag, with upstream trailers after it: ours replace them.
    let mut w = wire(&[b"ok"]);
    w.extend_from_slice(&[2, 0, 0, 0, 1, b'x']);
    let t = trailers(&[("grpc-status", "0")]);
    let (b, outcome) = MessageHookBody::new(body(vec![w], Some(t.clone())), recorder().0, plain());
    let out = drain(b).await;
    assert_eq!(out.messages().len(), 1);
    assert_eq!(out.status().0, "13");
    assert_eq!(outcome.get().unwrap().code, code::INTERNAL);

    // Ending inside a message, with and without trailers.
    for t in [Some(t), None] {
        let mut w = wire(&[b"ok"]);
        w.extend_from_slice(&[0, 0, 0, 0, 9, b'x']);
        let (b, _) = MessageHookBody::new(body(vec![w], t), recorder().0, plain());
        let out = drain(b).await;
        assert_eq!(out.messages().len(), 1);
        let (status, msg) = out.status();
        assert_eq!(status, "13");
        assert!(msg.unwrap().contains("ended inside a message"));
    }
}

#[tokio::test]
async fn gzip_round_trip() {
    let gz = Encoding::Gzip;
    let mut w = gz
        .encode(b"first message, compressed", true)
        .unwrap()
        .to_vec();
    let second = gz.encode(b"second, left alone", true).unwrap();
    w.extend_from_slice(&second);
    w.extend_from_slice(&encode_frame(false, b"third, not compressed"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    let h = hook(move |m| {
        s2.lock().unwrap().push(m.clone());
        if m.index != 1 {
            m.payload = m.payload.to_ascii_uppercase().into();
        }
        MessageVerdict::Pass
    });
    // Split the compressed frames in awkward places too.
    let chunks = vec![w[..3].to_vec(), w[3..20].to_vec(), w[20..].to_vec()];
    let cfg = config(Direction::ToUpstream, Encoding::Gzip, 1024);
    let (b, _) = MessageHookBody::new(body(chunks, None), h, cfg);
    let out = drain(b).await;
    assert!(out.error.is_none());
    let seen: Vec<Bytes> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|m| m.payload.clone())
        .collect();
    assert_eq!(
        seen,
        [
            &b"first message, compressed"[..],
            b"second, left alone",
            b"third, not compressed"
        ],
        "the hook sees plain payloads"
    );
    let msgs = out.messages();
    assert_eq!(msgs.len(), 3);
    let raw = |(c, p): &(bool, Bytes)| RawMessage {
        compressed: *c,
        frame: encode_frame(*c, p),
    };
    assert!(msgs[0].0, "recompressed");
    assert_eq!(
        gz.decode(&raw(&msgs[0]), 1024).unwrap(),
        &b"FIRST MESSAGE, COMPRESSED"[..]
    );
    assert_eq!(
        out.frames[1], second,
        "an unchanged message is not recompressed"
    );
    assert_eq!(
        msgs[2],
        (false, Bytes::from_static(b"THIRD, NOT COMPRESSED"))
    );
}

#[tokio::test]
async fn compression_errors() {
    // A gzip bomb: small on the wire, over the limit inflated.
    let bomb = Encoding::Gzip.encode(&vec![0u8; 1 << 20], true).unwrap();
    assert!(bomb.len() < 16 * 1024, "{}", bomb.len());
    let cfg = config(Direction::FromUpstream, Encoding::Gzip, 16 * 1024);
    let (b, _) = MessageHookBody::new(body(vec![bomb.to_vec()], None), recorder().0, cfg);
    assert_eq!(drain(b).await.status().0, "8");

    // A compressed message under an encoding the gateway does not know.
    let frame = encode_frame(true, b"?").to_vec();
    let cfg = config(Direction::FromUpstream, Encoding::Other("br".into()), 1024);
    let (b, outcome) = MessageHookBody::new(body(vec![frame.clone()], None), recorder().0, cfg);
    let out = drain(b).await;
    assert_eq!(out.status(), ("12", Some("unsupported grpc-encoding `br`")));
    assert_eq!(outcome.get().unwrap().code, code::UNIMPLEMENTED);

    // Compressed without any encoding declared.
    let (b, _) = MessageHookBody::new(body(vec![frame], None), recorder().0, plain());
    assert_eq!(drain(b).await.status().0, "13");
}

#[tokio::test]
async fn inner_errors_and_panics() {
    let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
        Ok(Frame::data(encode_frame(false, b"a"))),
        Err(std::io::Error::other("upstream reset")),
    ];
    let inner = StreamBody::new(stream::iter(frames));
    let (b, outcome) = MessageHookBody::new(inner, recorder().0, plain());
    let out = drain(b).await;
    assert_eq!(out.messages().len(), 1);
    assert_eq!(out.error.unwrap().to_string(), "upstream reset");
    assert!(outcome.get().is_none(), "not the wrapper's doing");

    let h = hook(|_| panic!("plugin bug"));
    let (b, _) = MessageHookBody::new(body(vec![wire(&[b"a"])], None), h, plain());
    assert_eq!(
        drain(b).await.status(),
        ("13", Some("message hook panicked"))
    );
}

#[tokio::test]
async fn back_pressure_reads_no_further_than_the_consumer() {
    let produced = Arc::new(AtomicUsize::new(0));
    let chunks = (0..1000)
        .map(|i| wire(&[format!("message {i}").as_bytes()]))
        .collect();
    let (mut b, _) = MessageHookBody::new(counted(chunks, produced.clone()), recorder().0, plain());
    for i in 0..10 {
        let f = b.frame().await.unwrap().unwrap();
        assert_eq!(
            f.into_data().unwrap(),
            encode_frame(false, format!("message {i}").as_bytes())
        );
    }
    let n = produced.load(Ordering::SeqCst);
    assert!(
        n <= 12,
        "read {n} messages ahead of a consumer that took 10"
    );

    // A slow hook holds the stream: nothing is read while it decides.
    let gate = Arc::new(Semaphore::new(0));
    struct Gated(Arc<Semaphore>);
    impl MessageHook for Gated {
        fn on_message<'a>(&'a self, _: &'a mut StreamMessage) -> BoxFuture<'a, MessageVerdict> {
            Box::pin(async move {
                self.0.acquire().await.unwrap().forget();
                MessageVerdict::Pass
            })
        }
    }
    let produced = Arc::new(AtomicUsize::new(0));
    let chunks = (0..5).map(|_| wire(&[b"m"])).collect();
    let (mut b, _) = MessageHookBody::new(
        counted(chunks, produced.clone()),
        Arc::new(Gated(gate.clone())),
        plain(),
    );
    for _ in 0..3 {
        assert!(b.frame().now_or_never().is_none(), "waits for the hook");
    }
    assert_eq!(produced.load(Ordering::SeqCst), 1);
    gate.add_permits(1);
    assert!(b.frame().await.unwrap().unwrap().is_data());
    assert!(b.frame().now_or_never().is_none());
    assert_eq!(produced.load(Ordering::SeqCst), 2);
    gate.add_permits(10);
    // The rest is decided at once: one batch carrying the four remaining messages.
    let rest: Vec<u8> = drain(b).await.frames.concat();
    assert_eq!(rest, encode_frame(false, b"m").repeat(4));
}

#[tokio::test]
async fn decided_messages_go_out_in_batches() {
    // 1,000 small messages that arrive together leave in a few DATA frames, not 1,000, when
    // the hook answers at once (a hook that has to wait gets what is decided flushed first).
    struct Counting(AtomicUsize);
    impl MessageHook for Counting {
        fn on_message<'a>(&'a self, _: &'a mut StreamMessage) -> BoxFuture<'a, MessageVerdict> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(std::future::ready(MessageVerdict::Pass))
        }
    }
    let counting = Arc::new(Counting(AtomicUsize::new(0)));
    let h: Arc<dyn MessageHook> = counting.clone();
    let msgs: Vec<Vec<u8>> = (0..1000).map(|i| format!("m{i}").into_bytes()).collect();
    let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
    let (b, _) = MessageHookBody::new(body(vec![wire(&refs)], None), h, plain());
    let d = drain(b).await;
    assert_eq!(counting.0.load(Ordering::SeqCst), 1000);
    assert!(d.frames.len() <= 2, "{} frames", d.frames.len());
    assert_eq!(d.frames.concat(), wire(&refs));
}

#[test]
fn status_trailers_encoding() {
    let s = StreamStatus {
        code: 3,
        message: "tab\there".into(),
    };
    let t = s.trailers();
    assert_eq!(t["grpc-status"], "3");
    assert_eq!(t["grpc-message"], "tab%09here");
    let t = StreamStatus {
        code: 0,
        message: String::new(),
    }
    .trailers();
    assert!(!t.contains_key("grpc-message"));
}

#[test]
fn fits_the_proxy_body_types() {
    // The gateway boxes it into ProxyBody::Boxed / RequestBody::Boxed, which need Send.
    fn boxed(b: MessageHookBody<hyper::body::Incoming>) -> crate::body::ProxyBody {
        crate::body::ProxyBody::Boxed(b.boxed_unsync())
    }
    let _ = boxed;
}
