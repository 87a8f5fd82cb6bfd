//! Cameras: one OS thread each, owning its scene and detector, ticking at the frame rate and
//! broadcasting one event per frame to every subscriber. A camera nobody watches sleeps.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;
use tracing::{debug, info, warn};

use crate::detector::{Detection, Detector};
use crate::proto::{BoundingBox, DetectedObject, DetectionEvent};
use crate::scene::Scene;

/// Footage a camera fast-forwards (unpublished) on first activation to learn its background:
/// 300 simulation frames, 10 s at 30 fps.
pub const PREROLL_FRAMES: usize = 300;

/// Memory the pre-roll may hold in sampled frames.
const PREROLL_BUDGET_BYTES: usize = 32 << 20;

/// Frames a subscriber may fall behind before it starts skipping (about two seconds at 30 fps).
const BACKLOG: usize = 64;

/// Frame size and rate shared by every camera.
#[derive(Debug, Clone, Copy)]
pub struct CameraSettings {
    pub width: usize,
    pub height: usize,
    pub fps: u32,
}

/// One camera as the gRPC side sees it: an id and a way to subscribe.
pub struct Camera {
    id: String,
    tx: broadcast::Sender<DetectionEvent>,
    /// The camera thread waits on this while it has no subscribers.
    idle: Mutex<()>,
    wake: Condvar,
    stop: Arc<AtomicBool>,
    /// Frames rendered and analysed so far (published ones; the pre-roll is not counted).
    frames: AtomicU64,
}

impl Camera {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Joins this camera's stream, waking its thread if it was idle.
    pub fn subscribe(&self) -> broadcast::Receiver<DetectionEvent> {
        let rx = self.tx.subscribe();
        // Notify under the lock so the thread cannot miss it between its check and its wait.
        let _guard = lock(&self.idle);
        self.wake.notify_all();
        rx
    }

    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    pub fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }
}

/// All cameras of this processor and their threads.
pub struct CameraHub {
    cameras: HashMap<String, Arc<Camera>>,
    ids: Vec<String>,
    stop: Arc<AtomicBool>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// `cam-01`, `cam-02`, ... with at least two digits, more when there are 100 cameras or more.
pub fn camera_ids(count: usize) -> Vec<String> {
    let digits = count.to_string().len().max(2);
    (1..=count).map(|i| format!("cam-{i:0digits$}")).collect()
}

impl CameraHub {
    /// Creates `count` cameras and starts their (initially idle) threads.
    pub fn start(count: usize, settings: CameraSettings) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let ids = camera_ids(count);
        let mut cameras: HashMap<String, Arc<Camera>> = HashMap::with_capacity(count);
        let mut threads = Vec::with_capacity(count);
        for id in &ids {
            let (tx, _) = broadcast::channel(BACKLOG);
            let cam = Arc::new(Camera {
                id: id.clone(),
                tx,
                idle: Mutex::new(()),
                wake: Condvar::new(),
                stop: stop.clone(),
                frames: AtomicU64::new(0),
            });
            let worker = cam.clone();
            let spawned = std::thread::Builder::new()
                .name(id.clone())
                .spawn(move || run(&worker, settings));
            match spawned {
                Ok(handle) => threads.push(handle),
                Err(e) => {
                    // Stop what already started before reporting.
                    stop.store(true, Ordering::SeqCst);
                    for c in cameras.values() {
                        wake_for_stop(c);
                    }
                    threads.into_iter().for_each(|t: JoinHandle<()>| {
                        let _ = t.join();
                    });
                    return Err(e);
                }
            }
            cameras.insert(id.clone(), cam);
        }
        Ok(Self {
            cameras,
            ids,
            stop,
            threads: Mutex::new(threads),
        })
    }

    pub fn get(&self, id: &str) -> Option<Arc<Camera>> {
        self.cameras.get(id).cloned()
    }

    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Stops every camera thread and waits for them. Blocking; call it off the async threads.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        for cam in self.cameras.values() {
            wake_for_stop(cam);
        }
        let threads = std::mem::take(&mut *lock(&self.threads));
        for t in threads {
            if t.join().is_err() {
                warn!("a camera thread had panicked");
            }
        }
    }
}

impl Drop for CameraHub {
    fn drop(&mut self) {
        self.stop();
    }
}

fn wake_for_stop(cam: &Camera) {
    let _guard = lock(&cam.idle);
    cam.wake.notify_all();
}

/// A poisoned lock only means another thread panicked while holding `()`: carry on.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The camera thread: wait for a subscriber, then render + detect + broadcast at `fps`.
fn run(cam: &Camera, settings: CameraSettings) {
    let mut scene = Scene::new(&cam.id, settings.width, settings.height);
    let mut detector = Detector::new(scene.width(), scene.height());
    let mut frame = Vec::with_capacity(scene.width() * scene.height());
    let period = Duration::from_secs_f64(1.0 / f64::from(settings.fps.max(1)));
    let mut last_ts = 0i64;
    let mut frames = 0u64;
    let mut trained = false;
    debug!(camera = %cam.id, objects = scene.movers().len(), "camera ready");

    'outer: loop {
        // Idle until someone subscribes (or we are told to stop).
        {
            let mut guard = lock(&cam.idle);
            while cam.tx.receiver_count() == 0 {
                if cam.stop.load(Ordering::SeqCst) {
                    break 'outer;
                }
                guard = cam.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
            }
        }
        info!(camera = %cam.id, subscribers = cam.tx.receiver_count(), "camera active");
        if !trained {
            let started = Instant::now();
            learn_background(&mut scene, &mut detector, &mut frame);
            trained = true;
            info!(camera = %cam.id, ms = started.elapsed().as_millis() as u64,
                  frames = PREROLL_FRAMES, "background learned from fast-forwarded footage");
        }
        let mut next = Instant::now();
        while cam.tx.receiver_count() > 0 {
            if cam.stop.load(Ordering::SeqCst) {
                break 'outer;
            }
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            }
            // Capture time is when the frame is taken; kept strictly increasing per camera.
            let ts = unix_ms().max(last_ts + 1);
            last_ts = ts;
            scene.render(&mut frame);
            scene.step();
            let found = detector.process(&frame);
            let event = to_event(&cam.id, ts, &found);
            // An error here only means the last subscriber just left; the loop notices.
            let _ = cam.tx.send(event);
            frames += 1;
            cam.frames.store(frames, Ordering::Relaxed);

            next += period;
            let behind = Instant::now().saturating_duration_since(next);
            if behind > period {
                // Fell behind (machine busy): drop the missed ticks instead of bursting.
                let missed = behind.as_nanos() / period.as_nanos().max(1);
                warn!(camera = %cam.id, missed = missed as u64, "camera behind its frame clock");
                next = Instant::now();
            }
        }
        info!(camera = %cam.id, frames, "camera idle (no subscribers)");
    }
    debug!(camera = %cam.id, frames, "camera stopped");
}

/// Fast-forwards [`PREROLL_FRAMES`] of the scene without publishing them and seeds the
/// detector's background with their per-pixel median (see [`Detector::seed_with_median`]).
pub fn learn_background(scene: &mut Scene, detector: &mut Detector, frame: &mut Vec<u8>) {
    let bytes = (scene.width() * scene.height()).max(1);
    // An odd count in 9..=61, so the median is one sample and big frames stay within budget.
    let count = (PREROLL_BUDGET_BYTES / bytes).clamp(9, 61) | 1;
    let stride = (PREROLL_FRAMES / count).max(1);
    let mut samples = Vec::with_capacity(count);
    for i in 0..PREROLL_FRAMES {
        scene.render(frame);
        scene.step();
        if i % stride == 0 && samples.len() < count {
            samples.push(frame.clone());
        }
    }
    detector.seed_with_median(&samples);
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn to_event(camera_id: &str, timestamp_ms: i64, found: &[Detection]) -> DetectionEvent {
    DetectionEvent {
        camera_id: camera_id.to_owned(),
        timestamp_ms,
        objects: found
            .iter()
            .map(|d| DetectedObject {
                label: d.label.to_owned(),
                confidence: d.confidence,
                r#box: Some(BoundingBox {
                    x_min: d.x_min as i32,
                    y_min: d.y_min as i32,
                    x_max: d.x_max as i32,
                    y_max: d.y_max as i32,
                }),
            })
            .collect(),
        // Left empty on purpose: the gateway's plugin enriches these.
        camera_location: String::new(),
        camera_status: String::new(),
        install_date: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_two_digits_or_more() {
        assert_eq!(camera_ids(3), ["cam-01", "cam-02", "cam-03"]);
        let many = camera_ids(120);
        assert_eq!(many[0], "cam-001");
        assert_eq!(many[119], "cam-120");
        assert!(camera_ids(0).is_empty());
    }

    #[test]
    fn camera_runs_only_while_watched() {
        let settings = CameraSettings {
            width: 160,
            height: 120,
            fps: 100,
        };
        let hub = CameraHub::start(2, settings).expect("threads");
        let cam = hub.get("cam-01").expect("cam-01");
        let mut rx = cam.subscribe();
        let first = rx.blocking_recv().expect("event");
        let second = rx.blocking_recv().expect("event");
        assert_eq!(first.camera_id, "cam-01");
        assert!(second.timestamp_ms > first.timestamp_ms);
        drop(rx);
        assert_eq!(cam.subscribers(), 0);
        // Within a frame or two the thread notices and stops rendering.
        std::thread::sleep(Duration::from_millis(100));
        let idle_at = cam.frames();
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(cam.frames(), idle_at, "an unwatched camera must not render");
        assert_eq!(hub.get("cam-02").expect("cam-02").frames(), 0);
        // A new subscriber wakes it again.
        let mut again = cam.subscribe();
        assert!(again.blocking_recv().is_ok());
        hub.stop();
    }

    #[test]
    fn slow_subscriber_skips_without_holding_back_others() {
        let settings = CameraSettings {
            width: 64,
            height: 64,
            fps: 200,
        };
        let hub = CameraHub::start(1, settings).expect("threads");
        let cam = hub.get("cam-01").expect("cam-01");
        let mut slow = cam.subscribe();
        let mut fast = cam.subscribe();
        // The fast one reads well past the backlog while the slow one reads nothing.
        let mut last = 0;
        for _ in 0..BACKLOG + 20 {
            let e = fast
                .blocking_recv()
                .expect("fast subscriber keeps getting frames");
            assert!(e.timestamp_ms > last);
            last = e.timestamp_ms;
        }
        match slow.blocking_recv() {
            Err(broadcast::error::RecvError::Lagged(n)) => assert!(n >= 20, "skipped {n}"),
            other => panic!("expected a lag, got {other:?}"),
        }
        assert!(
            slow.blocking_recv().is_ok(),
            "after skipping, the slow one goes on"
        );
        hub.stop();
    }
}
