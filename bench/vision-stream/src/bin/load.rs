//! The load generator:
//!
//! ```text
//! load --target URL [--streams N] [--messages M] [--camera IDS] [--expect-location TEXT]
//!      [--window BYTES] [--timeout SECS]
//!      [--cameras N] [--millis] [--duration SECS [--warmup SECS]]
//! ```
//!
//! Opens N concurrent `StreamDetections` calls (one HTTP/2 connection, as one gRPC client
//! channel does), each asking for M events (`x-count` metadata), reads them all and prints
//! one line on stdout:
//!
//! ```text
//! streams=N messages=TOTAL seconds=S msgs_per_s=R p50_us=A p99_us=B max_us=C enriched=E
//! ```
//!
//! msgs_per_s is all messages over the time from the first call to the end of the last; the
//! percentiles (nearest rank) are of (receive time − the event's `timestamp_ms`, which the
//! origin sets in microseconds) over every message; enriched counts events with a non-empty
//! camera_location. With `--expect-location`, every event's camera_location must equal TEXT
//! ("" for a proxy without the hook) and the first event is printed on stderr: the bench's
//! check that a variant does what it claims. Any failure (a short stream, a gRPC error, a
//! mismatch, the timeout) exits 1 with the reason on stderr.
//!
//! `--window` sets the client's HTTP/2 receive windows (each stream's and the connection's;
//! default 0: hyper's 2 MiB per stream, 5 MiB per connection). The origin sends as fast as
//! flow control allows, so the bytes in flight fill the windows of every hop and a message's
//! latency is mostly its wait in those queues: a smaller window means a shorter queue.
//!
//! For a live upstream such as examples/vision/processor (bench/vision.sh): `--cameras N` makes
//! stream i ask for camera i mod N, named as the processor names them (`cam-01`.., three
//! digits from 100 cameras up), instead of `--camera`; `--millis` reads `timestamp_ms` as
//! milliseconds (the processor's capture time) rather than the origin's microseconds;
//! `--duration SECS` reads every stream for `--warmup` (default 0) + SECS seconds instead of a
//! message count (no `x-count`), counts only the messages received in the last SECS seconds
//! (msgs_per_s is over SECS), and prints `load: measuring` and `load: measured` on stderr when
//! that window opens and closes. A stream that ends before then is a failure.

use std::time::{Duration, Instant};

use tonic::Request;
use tonic::transport::{Channel, Endpoint};
use vision_stream::now_us;
use vision_stream::pb::DetectionRequest;
use vision_stream::pb::vision_service_client::VisionServiceClient;

struct Args {
    target: String,
    streams: usize,
    messages: u64,
    camera: String,
    expect_location: Option<String>,
    window: u32,
    timeout: Duration,
    cameras: usize,
    millis: bool,
    duration: Option<Duration>,
    warmup: Duration,
}

const USAGE: &str = "usage: load --target URL [--streams N] [--messages M] [--camera IDS] \
                     [--expect-location TEXT] [--window BYTES] [--timeout SECS] [--cameras N] [--millis] \
                     [--duration SECS [--warmup SECS]]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        target: String::new(),
        streams: 1,
        messages: 100_000,
        camera: "cam-1".to_owned(),
        expect_location: None,
        window: 0,
        timeout: Duration::from_secs(600),
        cameras: 0,
        millis: false,
        duration: None,
        warmup: Duration::ZERO,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.to_owned());
        }
        if flag == "--millis" {
            args.millis = true;
            continue;
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value; {USAGE}"))?;
        let number =
            |v: &str| -> Result<u64, String> { v.parse().map_err(|e| format!("{flag} {v}: {e}")) };
        match flag.as_str() {
            "--target" => args.target = value,
            "--streams" => args.streams = number(&value)? as usize,
            "--messages" => args.messages = number(&value)?,
            "--camera" => args.camera = value,
            "--expect-location" => args.expect_location = Some(value),
            "--window" => {
                args.window = u32::try_from(number(&value)?)
                    .map_err(|_| format!("--window {value}: at most {}", u32::MAX))?;
            }
            "--timeout" => args.timeout = Duration::from_secs(number(&value)?),
            "--cameras" => args.cameras = number(&value)? as usize,
            "--duration" => args.duration = Some(Duration::from_secs(number(&value)?)),
            "--warmup" => args.warmup = Duration::from_secs(number(&value)?),
            _ => return Err(format!("unknown argument {flag}; {USAGE}")),
        }
    }
    if args.target.is_empty() {
        return Err(USAGE.to_owned());
    }
    if args.streams == 0 || args.messages == 0 {
        return Err("--streams and --messages must be at least 1".to_owned());
    }
    if args.duration == Some(Duration::ZERO) {
        return Err("--duration must be at least 1".to_owned());
    }
    Ok(args)
}

/// Camera ids as the processor names them: `cam-01`.., three digits from 100 cameras up.
fn camera_id(i: usize, cameras: usize) -> String {
    let width = cameras.to_string().len().max(2);
    format!("cam-{:0width$}", i % cameras + 1)
}

/// In `--duration` mode: when the counted window opens and when reading stops.
#[derive(Clone, Copy)]
struct Window {
    from: tokio::time::Instant,
    until: tokio::time::Instant,
}

/// What one call saw.
struct StreamResult {
    latencies_us: Vec<i64>,
    enriched: u64,
}

async fn one_stream(
    channel: Channel,
    messages: u64,
    camera: String,
    expect_location: Option<String>,
    print_first: bool,
    millis: bool,
    window: Option<Window>,
) -> Result<StreamResult, String> {
    let mut client = VisionServiceClient::new(channel);
    let mut request = Request::new(DetectionRequest { camera_id: camera });
    if window.is_none() {
        request.metadata_mut().insert(
        "x-count",
        messages
            .to_string()
            .parse()
            .expect("digits are valid metadata"),
        );
    }
    let mut stream = client
        .stream_detections(request)
        .await
        .map_err(|s| format!("call failed: {s}"))?
        .into_inner();
    let capacity = if window.is_some() { 4096 } else { messages };
    let mut result = StreamResult {
        latencies_us: Vec::with_capacity(usize::try_from(capacity).unwrap_or(0)),
        enriched: 0,
    };
    let mut received = 0u64;
    loop {
        let next = match window {
            None => stream.message().await,
            Some(w) => match tokio::time::timeout_at(w.until, stream.message()).await {
                Ok(next) => next,
                Err(_) => return Ok(result), // the window closed: done
            },
        };
        let Some(event) = next.map_err(|s| format!("after {received} messages: {s}"))? else {
            break;
        };
        // Taken first, so the checks below do not count as latency.
        let now = now_us();
        received += 1;
        let sent_us = if millis { event.timestamp_ms * 1000 } else { event.timestamp_ms };
        if let Some(w) = window
            && tokio::time::Instant::now() < w.from
        {
            continue; // warm-up: not counted
        }
        let latency = now - sent_us;
        result.latencies_us.push(latency.max(0));
        if !event.camera_location.is_empty() {
            result.enriched += 1;
        }
        if let Some(expected) = &expect_location {
            if print_first && result.latencies_us.len() == 1 {
                eprintln!("first event: {event:?}");
            }
            if event.camera_location != *expected {
                return Err(format!(
                    "event {} has camera_location {:?}, expected {expected:?}: {event:?}",
                    result.latencies_us.len(),
                    event.camera_location
                ));
            }
        }
    }
    if window.is_some() {
        return Err(format!("stream ended after {received} messages, before --duration"));
    }
    let got = result.latencies_us.len() as u64;
    if got != messages {
        return Err(format!("stream ended after {got} of {messages} messages"));
    }
    Ok(result)
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], p: f64) -> i64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn run(args: Args) -> Result<String, String> {
    let mut endpoint = Endpoint::from_shared(args.target.clone())
        .map_err(|e| format!("--target {}: {e}", args.target))?;
    if args.window > 0 {
        endpoint = endpoint
            .initial_stream_window_size(args.window)
            .initial_connection_window_size(args.window);
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", args.target))?;
    let start = Instant::now();
    let window = args.duration.map(|d| {
        let now = tokio::time::Instant::now();
        Window {
            from: now + args.warmup,
            until: now + args.warmup + d,
        }
    });
    if let Some(w) = window {
        tokio::spawn(async move {
            tokio::time::sleep_until(w.from).await;
            eprintln!("load: measuring");
            tokio::time::sleep_until(w.until).await;
            eprintln!("load: measured");
        });
    }
    let tasks: Vec<_> = (0..args.streams)
        .map(|i| {
            tokio::spawn(one_stream(
                channel.clone(),
                args.messages,
                if args.cameras > 0 {
                    camera_id(i, args.cameras)
                } else {
                    args.camera.clone()
                },
                args.expect_location.clone(),
                i == 0,
                args.millis,
                window,
            ))
        })
        .collect();
    let mut latencies = Vec::new();
    let mut enriched = 0;
    for (i, task) in tasks.into_iter().enumerate() {
        let result = task
            .await
            .map_err(|e| format!("stream {i}: task failed: {e}"))?
            .map_err(|e| format!("stream {i}: {e}"))?;
        if latencies.is_empty() {
            latencies = result.latencies_us;
        } else {
            latencies.extend_from_slice(&result.latencies_us);
        }
        enriched += result.enriched;
    }
    let seconds = match args.duration {
        Some(d) => d.as_secs_f64(),
        None => start.elapsed().as_secs_f64(),
    };
    latencies.sort_unstable();
    let total = latencies.len();
    if total == 0 {
        return Err("no message received in the measured window".to_owned());
    }
    Ok(format!(
        "streams={} messages={total} seconds={seconds:.3} msgs_per_s={:.0} p50_us={} p99_us={} \
         max_us={} enriched={enriched}",
        args.streams,
        total as f64 / seconds,
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        latencies[total - 1],
    ))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("load: {e}");
            std::process::exit(2);
        }
    };
    let timeout = args.timeout;
    match tokio::time::timeout(timeout, run(args)).await {
        Ok(Ok(line)) => println!("{line}"),
        Ok(Err(e)) => {
            eprintln!("load: {e}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("load: not done after {} s (--timeout)", timeout.as_secs());
            std::process::exit(1);
        }
    }
}
