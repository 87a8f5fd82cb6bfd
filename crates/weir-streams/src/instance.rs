//! A running stream instance: the input's task, the processing workers and the output, with
//! acknowledgements flowing back; and the activity count that decides when it is idle.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
        for link in &inst.plan.links {
            link.bind(inst.stats.link_metrics(&link.component));
        }
        if let Input::Source(source) = &inst.plan.input {
            tokio::spawn(source.clone().run(tx, stop.clone()));
        } else {
            drop(tx);
        }
        let procs = inst.plan.processors.clone();
        let output = inst.plan.output.clone();
        let threads = inst.plan.threads.max(1);
        let stats = inst.stats.clone();
        let grace = inst.plan.shutdown_timeout;
        tokio::spawn(async move {
            let pump = pump(rx, procs, output, threads, stats, WORTH_SPREADING_NS);
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

/// Processing cost (EWMA, ns) above which a message is worth handing to another worker: below
/// it, the hop to another task costs more than the processing it would spread (a spawn and
/// its wake-ups are a few microseconds; a typical mapping is about one).
const WORTH_SPREADING_NS: u64 = 20_000;

/// Processes in order on up to `threads` workers and writes to the output with up to its
/// `max_in_flight` writes outstanding; each write's outcome acknowledges its input message.
/// Messages whose processing is cheap run inline, in the reading task: spreading them over
/// threads only pays once processing costs more than the hand-over.
async fn pump(
    rx: mpsc::Receiver<Transaction>,
    procs: Arc<crate::processors::Chain>,
    output: Arc<dyn crate::outputs::Output>,
    threads: usize,
    stats: Arc<StreamStats>,
    spread_above_ns: u64,
) {
    let in_flight = output.max_in_flight().clamp(1, 4096);
    // Without processors there is nothing to run in parallel.
    let threads = if procs.is_empty() { 1 } else { threads };
    let cost = Arc::new(ProcessingCost::default());
    let received = stats.clone();
    let incoming =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|t| (t, rx)) });
    let processed = incoming
        .map(move |t: Transaction| {
            received.received.inc();
            let procs = procs.clone();
            let cost = cost.clone();
            async move {
                let Transaction { msg, ack, sync } = t;
                let out = if threads > 1 && cost.above(spread_above_ns) {
                    let sync2 = sync.clone();
                    let timed = async move { cost.timed(|| procs.run(msg, sync2.as_deref())) };
                    match tokio::spawn(timed).await {
                        Ok(out) => out,
                        Err(_) => {
                            ack.resolve(Err("a processor panicked".into()));
                            return None;
                        }
                    }
                } else if threads > 1 {
                    cost.timed(|| procs.run(msg, sync.as_deref()))
                } else {
                    // One worker: nothing to decide, so nothing to time.
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

/// A running average of what processing one message costs.
#[derive(Default)]
struct ProcessingCost(AtomicU64);

impl ProcessingCost {
    fn above(&self, ns: u64) -> bool {
        self.0.load(Ordering::Relaxed) >= ns
    }

    /// Runs `f`, folding its duration into the average (weight 1/16).
    fn timed<T>(&self, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        let ns = start.elapsed().as_nanos().min(u64::MAX as u128) as u64;
        let old = self.0.load(Ordering::Relaxed);
        let new = old - old / 16 + ns / 16;
        self.0.store(new, Ordering::Relaxed);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Ack, Message, Outcome, SyncSlot};
    use crate::outputs::Output;
    use futures_util::future::BoxFuture;
    use serde_json::{Value, json};
    use std::time::Duration;
    use tokio::sync::oneshot;

    fn stats() -> Arc<StreamStats> {
        Arc::new(
            crate::metrics::StreamMetrics::new(&prometheus::Registry::new()).stream("api", "s"),
        )
    }

    fn plan(pipeline: Value, output: Value) -> Plan {
        let cfg = json!({
            "input": {"http_server": {}},
            "pipeline": pipeline,
            "output": output,
        });
        Plan::build(&cfg, "s").unwrap()
    }

    /// Sends one message; gives back a receiver of its outcome and its sync slot.
    async fn send(inst: &Instance, content: &str) -> (oneshot::Receiver<Outcome>, Arc<SyncSlot>) {
        let (tx, rx) = oneshot::channel();
        let slot = Arc::new(SyncSlot::default());
        let t = Transaction {
            msg: Message {
                content: content.as_bytes().to_vec(),
                ..Message::default()
            },
            ack: Ack::new(move |o| {
                let _ = tx.send(o);
            }),
            sync: Some(slot.clone()),
        };
        assert!(inst.sender().expect("running").send(t).await.is_ok());
        (rx, slot)
    }

    async fn outcome(rx: oneshot::Receiver<Outcome>) -> Outcome {
        tokio::time::timeout(Duration::from_secs(5), rx)
            .await
            .expect("acknowledged in time")
            .expect("resolved, not lost")
    }

    #[tokio::test]
    async fn a_message_is_processed_delivered_and_acknowledged() {
        let inst = Instance::start(
            plan(
                json!({"processors": [{"mapping": "root = content().uppercase()"}]}),
                json!({"sync_response": {}}),
            ),
            stats(),
            "k".into(),
        );
        let (rx, slot) = send(&inst, "hi").await;
        assert_eq!(outcome(rx).await, Ok(()));
        assert_eq!(slot.take().unwrap().content, b"HI");
        assert_eq!(inst.stats.received.get(), 1);
        assert_eq!(inst.stats.sent.get(), 1);
        assert_eq!(inst.stats.errors.get(), 0);
    }

    #[tokio::test]
    async fn a_deleted_message_is_acknowledged_and_sent_nowhere() {
        let inst = Instance::start(
            plan(
                json!({"processors": [{"mapping": "root = deleted()"}]}),
                json!({"sync_response": {}}),
            ),
            stats(),
            "k".into(),
        );
        let (rx, slot) = send(&inst, "x").await;
        assert_eq!(outcome(rx).await, Ok(()));
        assert!(slot.take().is_none());
        assert_eq!(inst.stats.sent.get(), 0);
    }

    #[tokio::test]
    async fn an_output_refusal_is_a_nack() {
        let inst = Instance::start(
            plan(
                json!({}),
                json!({"switch": {"strict_mode": true, "cases": [
                    {"check": "false", "output": {"drop": {}}},
                ]}}),
            ),
            stats(),
            "k".into(),
        );
        let (rx, _) = send(&inst, "x").await;
        let err = outcome(rx).await.unwrap_err();
        assert!(err.contains("strict_mode"), "{err}");
        assert_eq!(inst.stats.errors.get(), 1);
        assert_eq!(inst.stats.sent.get(), 0);
    }

    #[tokio::test]
    async fn a_flagged_message_is_still_delivered_and_counted() {
        let inst = Instance::start(
            plan(
                json!({"processors": [{"mapping": "root = throw(\"bad\")"}]}),
                json!({"sync_response": {}}),
            ),
            stats(),
            "k".into(),
        );
        let (rx, slot) = send(&inst, "x").await;
        assert_eq!(outcome(rx).await, Ok(()));
        let reply = slot.take().unwrap();
        assert!(reply.error.unwrap().contains("bad"));
        assert_eq!(inst.stats.errors.get(), 1);
        assert_eq!(inst.stats.sent.get(), 1);
    }

    /// Records contents in the order `write` is called.
    struct InOrder(Arc<Mutex<Vec<String>>>);

    impl Output for InOrder {
        fn write(&self, msg: Message, _: Option<Arc<SyncSlot>>) -> BoxFuture<'static, Outcome> {
            self.0
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&msg.content).into_owned());
            Box::pin(async { Ok(()) })
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn several_workers_keep_the_input_order() {
        let mut p = plan(
            json!({"threads": 4, "processors": [
                {"mapping": "root = if content().number() % 3 == 0 { \"x\" + content() } else { content() }"},
            ]}),
            json!({"drop": {}}),
        );
        assert_eq!(p.threads, 4);
        let seen = Arc::new(Mutex::new(Vec::new()));
        p.output = Arc::new(InOrder(seen.clone()));
        let inst = Instance::start(p, stats(), "k".into());
        let mut acks = Vec::new();
        for i in 0..50 {
            acks.push(send(&inst, &i.to_string()).await.0);
        }
        for rx in acks {
            assert_eq!(outcome(rx).await, Ok(()));
        }
        let want: Vec<String> = (0..50)
            .map(|i| {
                if i % 3 == 0 {
                    format!("x{i}")
                } else {
                    i.to_string()
                }
            })
            .collect();
        assert_eq!(*seen.lock().unwrap(), want);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn messages_spread_over_workers_keep_the_input_order() {
        let p = plan(
            json!({"threads": 4, "processors": [{"mapping": "root = \"x\" + content()"}]}),
            json!({"drop": {}}),
        );
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel(QUEUE);
        // A threshold of 0: every message goes to another worker.
        let pumped = tokio::spawn(pump(
            rx,
            p.processors.clone(),
            Arc::new(InOrder(seen.clone())),
            4,
            stats(),
            0,
        ));
        for i in 0..200 {
            let t = Transaction {
                msg: Message {
                    content: i.to_string().into_bytes(),
                    ..Message::default()
                },
                ack: Ack::none(),
                sync: None,
            };
            tx.send(t).await.unwrap();
        }
        drop(tx);
        pumped.await.unwrap();
        let want: Vec<String> = (0..200).map(|i| format!("x{i}")).collect();
        assert_eq!(*seen.lock().unwrap(), want);
    }

    #[test]
    fn processing_cost_follows_what_processing_takes() {
        let cost = ProcessingCost::default();
        assert!(!cost.above(WORTH_SPREADING_NS));
        for _ in 0..64 {
            cost.timed(|| std::thread::sleep(Duration::from_micros(200)));
        }
        assert!(
            cost.above(WORTH_SPREADING_NS),
            "slow processing is worth spreading"
        );
        for _ in 0..256 {
            cost.timed(|| ());
        }
        assert!(
            !cost.above(WORTH_SPREADING_NS),
            "cheap processing runs inline again"
        );
    }

    #[tokio::test]
    async fn stop_closes_the_input_and_activity_marks_it_in_use() {
        let inst = Instance::start(plan(json!({}), json!({"drop": {}})), stats(), "k".into());
        assert_eq!(inst.stats.instances.get(), 1);
        let guard = inst.activity();
        assert_eq!(inst.active(), 1);
        assert!(!inst.idle_for(Duration::ZERO));
        drop(guard);
        assert_eq!(inst.active(), 0);
        assert!(inst.idle_for(Duration::ZERO));
        assert!(!inst.idle_for(Duration::from_secs(3600)));
        assert!(inst.sender().is_some());
        inst.stop();
        assert!(inst.sender().is_none());
        let stats = inst.stats.clone();
        drop(inst);
        assert_eq!(stats.instances.get(), 0);
    }
}
