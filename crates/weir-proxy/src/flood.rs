//! HTTP/2 control-frame floods: a peer that sends SETTINGS or PING frames without end makes
//! the server answer each one forever. The inbound bytes of a connection are watched (frame
//! headers only, nothing is copied or changed); past [`MAX_CONTROL_FRAMES`] in
//! [`WINDOW`], the connection is told to go away (hyper sends GOAWAY) and closed a moment
//! later; a peer that still floods past twice the limit a second after that has its reads cut
//! at once. Envoy closes flooding connections the same way.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// SETTINGS and PING frames (not acknowledgements) allowed per window.
pub const MAX_CONTROL_FRAMES: u32 = 1000;
/// The window over which control frames are counted.
pub const WINDOW: Duration = Duration::from_secs(10);

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const FRAME_SETTINGS: u8 = 0x4;
const FRAME_PING: u8 = 0x6;
const FLAG_ACK: u8 = 0x1;

/// Raised once a connection floods; the connection's task sends GOAWAY when it is.
#[derive(Default)]
pub struct FloodSignal {
    raised: AtomicBool,
    notify: Notify,
}

impl FloodSignal {
    fn raise(&self) {
        if !self.raised.swap(true, Ordering::SeqCst) {
            self.notify.notify_waiters();
        }
    }

    /// Resolves once the connection has flooded.
    pub async fn raised(&self) {
        loop {
            let notified = self.notify.notified();
            if self.raised.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

/// Where the reader is in the inbound byte stream.
enum Position {
    /// Matching the HTTP/2 preface; `n` bytes matched so far.
    Preface(usize),
    /// Not HTTP/2 (HTTP/1.1, or bytes that are not a preface): nothing to watch.
    Off,
    /// Reading a frame header; `have` of its 9 bytes so far.
    Header { buf: [u8; 9], have: usize },
    /// Skipping a frame's payload.
    Payload(usize),
}

/// A connection's byte stream, watched for control-frame floods.
pub struct FloodWatch<T> {
    inner: T,
    position: Position,
    window_start: Instant,
    in_window: u32,
    raised_at: Option<Instant>,
    signal: Arc<FloodSignal>,
}

impl<T> FloodWatch<T> {
    /// Watches `inner`; `signal` is raised when it floods.
    pub fn new(inner: T, signal: Arc<FloodSignal>) -> Self {
        FloodWatch {
            inner,
            position: Position::Preface(0),
            window_start: Instant::now(),
            in_window: 0,
            raised_at: None,
            signal,
        }
    }

    /// Reads the frame headers in `bytes`; an error once the peer floods past twice the limit.
    fn observe(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match &mut self.position {
                Position::Off => return Ok(()),
                Position::Preface(n) => {
                    let want = &PREFACE[*n..];
                    let take = want.len().min(bytes.len());
                    if bytes[..take] != want[..take] {
                        self.position = Position::Off;
                        return Ok(());
                    }
                    *n += take;
                    bytes = &bytes[take..];
                    if *n == PREFACE.len() {
                        self.position = Position::Header {
                            buf: [0; 9],
                            have: 0,
                        };
                    }
                }
                Position::Header { buf, have } => {
                    let take = (9 - *have).min(bytes.len());
                    buf[*have..*have + take].copy_from_slice(&bytes[..take]);
                    *have += take;
                    bytes = &bytes[take..];
                    if *have == 9 {
                        let len = usize::from(buf[0]) << 16
                            | usize::from(buf[1]) << 8
                            | usize::from(buf[2]);
                        let (kind, flags) = (buf[3], buf[4]);
                        self.position = if len == 0 {
                            Position::Header {
                                buf: [0; 9],
                                have: 0,
                            }
                        } else {
                            Position::Payload(len)
                        };
                        if matches!(kind, FRAME_SETTINGS | FRAME_PING) && flags & FLAG_ACK == 0 {
                            self.count_control_frame()?;
                        }
                    }
                }
                Position::Payload(left) => {
                    let take = (*left).min(bytes.len());
                    *left -= take;
                    bytes = &bytes[take..];
                    if *left == 0 {
                        self.position = Position::Header {
                            buf: [0; 9],
                            have: 0,
                        };
                    }
                }
            }
        }
        Ok(())
    }

    fn count_control_frame(&mut self) -> io::Result<()> {
        let now = Instant::now();
        if now.duration_since(self.window_start) > WINDOW {
            self.window_start = now;
            self.in_window = 0;
        }
        self.in_window += 1;
        if self.in_window > MAX_CONTROL_FRAMES && self.raised_at.is_none() {
            self.raised_at = Some(now);
            self.signal.raise();
        }
        let insisting = self
            .raised_at
            .is_some_and(|at| now.duration_since(at) >= Duration::from_secs(1));
        if self.in_window > 2 * MAX_CONTROL_FRAMES && insisting {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "HTTP/2 control-frame flood (SETTINGS/PING)",
            ));
        }
        Ok(())
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for FloodWatch<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            this.observe(&buf.filled()[before..])?;
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for FloodWatch<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut f = vec![
            (len >> 16) as u8,
            (len >> 8) as u8,
            len as u8,
            kind,
            flags,
            0,
            0,
            0,
            0,
        ];
        f.extend_from_slice(payload);
        f
    }

    fn watch() -> (FloodWatch<()>, Arc<FloodSignal>) {
        let signal = Arc::new(FloodSignal::default());
        (FloodWatch::new((), signal.clone()), signal)
    }

    #[tokio::test]
    async fn http11_is_not_parsed() {
        let (mut w, signal) = watch();
        let ping = frame(FRAME_PING, 0, &[0; 8]);
        w.observe(b"GET / HTTP/1.1\r\n").unwrap();
        for _ in 0..3 * MAX_CONTROL_FRAMES {
            w.observe(&ping).unwrap();
        }
        assert!(!signal.raised.load(Ordering::SeqCst));
    }

    #[tokio::test(start_paused = true)]
    async fn a_ping_flood_raises_the_signal_then_cuts_the_connection() {
        let (mut w, signal) = watch();
        w.observe(PREFACE).unwrap();
        let ping = frame(FRAME_PING, 0, &[7; 8]);
        let ack = frame(FRAME_PING, FLAG_ACK, &[7; 8]);
        let data = frame(0x0, 0, &[1; 100]);
        // Acknowledgements and data do not count; byte-by-byte delivery parses the same.
        for _ in 0..5000 {
            w.observe(&ack).unwrap();
        }
        for b in data.iter() {
            w.observe(std::slice::from_ref(b)).unwrap();
        }
        for _ in 0..MAX_CONTROL_FRAMES {
            w.observe(&ping).unwrap();
        }
        assert!(
            !signal.raised.load(Ordering::SeqCst),
            "at the limit is fine"
        );
        w.observe(&ping).unwrap();
        assert!(signal.raised.load(Ordering::SeqCst));
        let settings = frame(FRAME_SETTINGS, 0, &[0, 3, 0, 0, 0, 100]);
        for _ in 0..MAX_CONTROL_FRAMES {
            w.observe(&settings)
                .expect("a burst is answered while GOAWAY goes out");
        }
        tokio::time::advance(Duration::from_secs(2)).await;
        w.window_start = Instant::now();
        w.in_window = 2 * MAX_CONTROL_FRAMES;
        let mut cut = false;
        for _ in 0..MAX_CONTROL_FRAMES {
            if w.observe(&settings).is_err() {
                cut = true;
                break;
            }
        }
        assert!(cut, "twice the limit cuts the connection");
    }
}
