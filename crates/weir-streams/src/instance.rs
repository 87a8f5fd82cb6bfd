//! A running stream instance: the input's task, the processing workers and the output, with
//! acknowledgements flowing back; and the activity count that decides when it is idle.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::build::Plan;
use crate::inputs::Input;
use crate::message::Transaction;
use crate::metrics::StreamStats;

/// Transactions queued between the input and the workers.
const QUEUE: usize = 64;

/// One running copy of a stream (one per distinct substituted config).
pub struct Instance {
    /// The compiled stream.
    pub plan: Plan,
    /// Where an `http_server` input sends its messages; gone once stopping.
    sender: Mutex<Option<mpsc::Sender<Transaction>>>,
    stop: CancellationToken,
    active: AtomicUsize,
    last_active: Mutex<Instant>,
    /// Counters.
    pub stats: Arc<StreamStats>,
    /// The consumer group or other identity shown in the control API.
    pub key: String,
    /// When it started.
    pub started: Instant,
}

impl Instance {
    /// Starts the input and the pipeline on the current runtime.
    pub fn start(plan: Plan, stats: Arc<StreamStats>, key: String) -> Arc<Instance> {
        let (tx, rx) = mpsc::channel(QUEUE);
        let stop = CancellationToken::new();
        let inst = Arc::new(Instance {
            sender: Mutex::new(matches!(plan.input, Input::HttpServer(_)).then(|| tx.clone())),
            plan,
            stop: stop.clone(),
            active: AtomicUsize::new(0),
            last_active: Mutex::new(Instant::now()),
            stats,
            key,
            started: Instant::now(),
        });
        inst.stats.instances.inc();
        if let Input::Kafka(k) = &inst.plan.input {
            let k = k.clone();
            let stop = stop.clone();
            let stats = inst.stats.clone();
            tokio::spawn(async move {
                k.run(tx, stop).await;
                drop(stats);
            });
        } else {
            drop(tx);
        }
        let procs = inst.plan.processors.clone();
        let output = inst.plan.output.clone();
        let threads = inst.plan.threads.max(1);
        let stats = inst.stats.clone();
        let grace = inst.plan.shutdown_timeout;
        tokio::spawn(async move {
            let pump = pump(rx, procs, output, threads, stats);
            tokio::pin!(pump);
            tokio::select! {
                _ = &mut pump => {}
                _ = async { stop.cancelled().await; tokio::time::sleep(grace).await } => {
                    tracing::warn!("stream instance did not drain within shutdown_timeout; unacknowledged messages will be delivered again");
                }
            }
        });
        inst
    }

    /// The sender of an `http_server` input, while running.
    pub fn sender(&self) -> Option<mpsc::Sender<Transaction>> {
        self.sender
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Marks the instance in use until the guard drops.
    pub fn activity(self: &Arc<Self>) -> ActivityGuard {
        self.active.fetch_add(1, Ordering::Relaxed);
        ActivityGuard(self.clone())
    }

    /// True when nothing has used it for `idle`.
    pub fn idle_for(&self, idle: std::time::Duration) -> bool {
        self.active.load(Ordering::Relaxed) == 0
            && self
                .last_active
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .elapsed()
                >= idle
    }

    /// Requests and connections using it now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Stops reading; what is in flight is delivered (within `shutdown_timeout`), then the
    /// input closes (a Kafka consumer leaves its group).
    pub fn stop(&self) {
        self.sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.stop.cancel();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.stop.cancel();
        self.stats.instances.dec();
    }
}

/// Held while a request or connection uses an instance.
pub struct ActivityGuard(Arc<Instance>);

impl ActivityGuard {
    /// The instance.
    pub fn instance(&self) -> &Arc<Instance> {
        &self.0
    }
}

impl Drop for ActivityGuard {
    fn drop(&mut self) {
        *self.0.last_active.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Processes in order on `threads` workers and writes to the output with up to its
/// `max_in_flight` writes outstanding; each write's outcome acknowledges its input message.
async fn pump(
    rx: mpsc::Receiver<Transaction>,
    procs: Arc<crate::processors::Chain>,
    output: Arc<dyn crate::outputs::Output>,
    threads: usize,
    stats: Arc<StreamStats>,
) {
    let in_flight = output.max_in_flight().clamp(1, 4096);
    let received = stats.clone();
    let incoming =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|t| (t, rx)) });
    let processed = incoming
        .map(move |t: Transaction| {
            received.received.inc();
            let procs = procs.clone();
            async move {
                let Transaction { msg, ack, sync } = t;
                let out = if threads > 1 {
                    let sync2 = sync.clone();
                    match tokio::spawn(async move { procs.run(msg, sync2.as_deref()) }).await {
                        Ok(out) => out,
                        Err(_) => {
                            ack.resolve(Err("a processor panicked".into()));
                            return None;
                        }
                    }
                } else {
                    procs.run(msg, sync.as_deref())
                };
                Some((out, ack, sync))
            }
        })
        // Results come out in input order whatever worker finished first.
        .buffered(threads);
    processed
        .filter_map(|item| async move { item })
        .map(|(out, ack, sync)| {
            let write = out.map(|msg| {
                if msg.error.is_some() {
                    stats.errors.inc();
                }
                output.write(msg, sync)
            });
            let stats = stats.clone();
            async move {
                match write {
                    // Deleted by a processor: acknowledged, sent nowhere.
                    None => ack.resolve(Ok(())),
                    Some(w) => {
                        let outcome = w.await;
                        match &outcome {
                            Ok(()) => stats.sent.inc(),
                            Err(_) => stats.errors.inc(),
                        }
                        ack.resolve(outcome);
                    }
                }
            }
        })
        .buffer_unordered(in_flight)
        .for_each(|()| async {})
        .await;
}
