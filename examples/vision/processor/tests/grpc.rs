//! The processor over real gRPC (h2c) on a free loopback port: in-process for the stream
//! checks, and as the built binary for the CLI contract (LISTENING line, SIGTERM).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::Code;
use tonic::transport::Channel;
use weir_vision_processor::proto::vision_service_client::VisionServiceClient;
use weir_vision_processor::proto::{DetectionEvent, DetectionRequest};
use weir_vision_processor::{Config, Error, serve};

const W: i32 = 320;
const H: i32 = 240;

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), Error>>,
}

async fn start(cameras: usize) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let config = Config {
        cameras,
        fps: 30,
        width: W as usize,
        height: H as usize,
    };
    let task = tokio::spawn(serve(listener, config, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        stop: Some(stop),
        task,
    }
}

async fn client(addr: SocketAddr) -> VisionServiceClient<Channel> {
    VisionServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect")
}

/// Reads up to `n` events from `camera`, giving up after `within`.
async fn collect(
    addr: SocketAddr,
    camera: &str,
    n: usize,
    within: Duration,
) -> Vec<DetectionEvent> {
    let mut c = client(addr).await;
    let mut stream = c
        .stream_detections(DetectionRequest {
            camera_id: camera.into(),
        })
        .await
        .expect("stream")
        .into_inner();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while events.len() < n {
        match tokio::time::timeout_at(deadline, stream.message()).await {
            Ok(Ok(Some(e))) => events.push(e),
            Ok(Ok(None)) => break,
            Ok(Err(status)) => panic!("{camera}: {status}"),
            Err(_) => break,
        }
    }
    events
}

fn check_camera(camera: &str, events: &[DetectionEvent]) {
    assert!(
        events.len() >= 20,
        "{camera}: only {} events in 3 s",
        events.len()
    );
    for w in events.windows(2) {
        assert!(
            w[1].timestamp_ms > w[0].timestamp_ms,
            "{camera}: timestamps not increasing"
        );
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    // The camera learns its background before it publishes, so every frame shows objects.
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.camera_id, camera);
        assert!(
            (now_ms - e.timestamp_ms).abs() < 10_000,
            "capture time is wall-clock ms"
        );
        assert!(e.camera_location.is_empty() && e.camera_status.is_empty());
        assert!(e.install_date.is_empty());
        assert!(!e.objects.is_empty(), "{camera}: event {i} has no objects");
        for o in &e.objects {
            let b = o.r#box.expect("box");
            assert!(
                0 <= b.x_min && b.x_min <= b.x_max && b.x_max < W,
                "{camera}: {b:?}"
            );
            assert!(
                0 <= b.y_min && b.y_min <= b.y_max && b.y_max < H,
                "{camera}: {b:?}"
            );
            assert!((0.0..=1.0).contains(&o.confidence), "{o:?}");
            assert!(!o.label.is_empty());
        }
    }
    let boxes = |e: &DetectionEvent| {
        let mut v: Vec<_> = e
            .objects
            .iter()
            .filter_map(|o| o.r#box)
            .map(|b| (b.x_min, b.y_min, b.x_max, b.y_max))
            .collect();
        v.sort_unstable();
        v
    };
    let (early, late) = (boxes(&events[0]), boxes(&events[events.len() - 1]));
    assert_ne!(early, late, "{camera}: boxes did not move");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_cameras_stream_moving_detections() {
    let mut server = start(8).await;
    let addr = server.addr;
    let window = Duration::from_secs(3);
    let (a, b) = tokio::join!(
        collect(addr, "cam-01", 30, window),
        collect(addr, "cam-02", 30, window)
    );
    check_camera("cam-01", &a);
    check_camera("cam-02", &b);
    // Different cameras, different scenes.
    let last = |e: &[DetectionEvent]| e.last().map(|e| e.objects.clone());
    assert_ne!(last(&a), last(&b));

    let _ = server.stop.take().map(|s| s.send(()));
    let result = tokio::time::timeout(Duration::from_secs(5), &mut server.task).await;
    assert!(
        matches!(result, Ok(Ok(Ok(())))),
        "clean shutdown: {result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_camera_is_not_found() {
    let server = start(8).await;
    let mut c = client(server.addr).await;
    let status = c
        .stream_detections(DetectionRequest {
            camera_id: "cam-99".into(),
        })
        .await
        .expect_err("cam-99 does not exist");
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(
        status.message(),
        "no camera cam-99 (this processor has cam-01..cam-08)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_of_one_camera_share_its_frames() {
    let server = start(2).await;
    let addr = server.addr;
    let window = Duration::from_secs(3);
    let (a, b, c) = tokio::join!(
        collect(addr, "cam-02", 15, window),
        collect(addr, "cam-02", 15, window),
        collect(addr, "cam-02", 15, window)
    );
    // One pipeline: the same frames (same capture times) reach every subscriber.
    let stamps = |e: &[DetectionEvent]| e.iter().map(|e| e.timestamp_ms).collect::<Vec<_>>();
    let (sa, sb, sc) = (stamps(&a), stamps(&b), stamps(&c));
    let common = sa
        .iter()
        .filter(|t| sb.contains(t) && sc.contains(t))
        .count();
    assert!(common >= 10, "{sa:?} {sb:?} {sc:?}");
    for e in b.iter().filter(|e| sa.contains(&e.timestamp_ms)) {
        let same = a
            .iter()
            .find(|x| x.timestamp_ms == e.timestamp_ms)
            .expect("same frame");
        assert_eq!(same, e);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_open_streams() {
    let mut server = start(1).await;
    let mut c = client(server.addr).await;
    let mut stream = c
        .stream_detections(DetectionRequest {
            camera_id: "cam-01".into(),
        })
        .await
        .expect("stream")
        .into_inner();
    assert!(stream.message().await.expect("event").is_some());
    let _ = server.stop.take().map(|s| s.send(()));
    let ended = tokio::time::timeout(Duration::from_secs(3), async {
        while let Ok(Some(_)) = stream.message().await {}
    })
    .await;
    assert!(ended.is_ok(), "stream still open after shutdown");
    let result = tokio::time::timeout(Duration::from_secs(5), &mut server.task).await;
    assert!(
        matches!(result, Ok(Ok(Ok(())))),
        "clean shutdown: {result:?}"
    );
}

/// The binary: prints `LISTENING <addr>`, serves, and exits 0 on SIGTERM mid-stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_prints_listening_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vision-processor"))
        .args(["--listen", "127.0.0.1:0", "--cameras", "3", "--fps", "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn vision-processor");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .expect("join")
    .expect("read LISTENING line");
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("LISTENING ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .expect("address");

    let mut c = client(addr).await;
    let status = c
        .stream_detections(DetectionRequest {
            camera_id: "cam-4".into(),
        })
        .await
        .expect_err("no cam-4");
    assert_eq!(
        status.message(),
        "no camera cam-4 (this processor has cam-01..cam-03)"
    );
    let mut stream = c
        .stream_detections(DetectionRequest {
            camera_id: "cam-03".into(),
        })
        .await
        .expect("stream")
        .into_inner();
    assert!(stream.message().await.expect("event").is_some());

    // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            panic!("vision-processor ignored SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
}
