//! A small client: subscribes to cameras of a running processor (or a gateway in front of it)
//! for a while and prints, per camera, how many events and objects arrived and the last labels.
//!
//! cargo run --release --example watch -- --addr http://127.0.0.1:50051 --cameras 8 --seconds 10

use std::time::Duration;

use clap::Parser;
use weir_vision_processor::camera::camera_ids;
use weir_vision_processor::proto::DetectionRequest;
use weir_vision_processor::proto::vision_service_client::VisionServiceClient;

#[derive(Debug, Parser)]
struct Args {
    /// Where the VisionService is (h2c).
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    addr: String,
    /// Watch cam-01 .. cam-NN.
    #[arg(long, default_value_t = 8)]
    cameras: usize,
    /// Streams opened per camera (they share the camera's one detection pipeline).
    #[arg(long, default_value_t = 1)]
    subscribers: usize,
    /// How long to watch.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

#[derive(Default, Debug)]
struct Tally {
    events: u64,
    objects: u64,
    first_ms: i64,
    last_ms: i64,
    last_labels: Vec<String>,
    error: Option<String>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let channel = match tonic::transport::Endpoint::from_shared(args.addr.clone()) {
        Ok(e) => match e.connect().await {
            Ok(c) => c,
            Err(err) => {
                eprintln!("cannot connect to {}: {err}", args.addr);
                std::process::exit(1);
            }
        },
        Err(err) => {
            eprintln!("bad address {}: {err}", args.addr);
            std::process::exit(2);
        }
    };
    let window = Duration::from_secs(args.seconds);
    let tasks: Vec<_> = camera_ids(args.cameras)
        .into_iter()
        .flat_map(|id| std::iter::repeat_n(id, args.subscribers.max(1)))
        .map(|id| {
            let mut client = VisionServiceClient::new(channel.clone());
            tokio::spawn(async move {
                let mut t = Tally::default();
                let request = DetectionRequest {
                    camera_id: id.clone(),
                };
                let mut stream = match client.stream_detections(request).await {
                    Ok(r) => r.into_inner(),
                    Err(status) => {
                        t.error = Some(status.to_string());
                        return (id, t);
                    }
                };
                let deadline = tokio::time::Instant::now() + window;
                while let Ok(next) = tokio::time::timeout_at(deadline, stream.message()).await {
                    match next {
                        Ok(Some(e)) => {
                            if t.events == 0 {
                                t.first_ms = e.timestamp_ms;
                            }
                            t.events += 1;
                            t.objects += e.objects.len() as u64;
                            t.last_ms = e.timestamp_ms;
                            t.last_labels = e.objects.iter().map(|o| o.label.clone()).collect();
                        }
                        Ok(None) => break,
                        Err(status) => {
                            t.error = Some(status.to_string());
                            break;
                        }
                    }
                }
                (id, t)
            })
        })
        .collect();
    for task in tasks {
        let Ok((id, t)) = task.await else { continue };
        let span_s = (t.last_ms - t.first_ms).max(1) as f64 / 1000.0;
        match t.error {
            Some(e) => println!("{id}: error {e}"),
            None => println!(
                "{id}: {} events ({:.1}/s), {:.2} objects/event, last: {}",
                t.events,
                t.events.saturating_sub(1) as f64 / span_s,
                t.objects as f64 / t.events.max(1) as f64,
                t.last_labels.join(", ")
            ),
        }
    }
}
