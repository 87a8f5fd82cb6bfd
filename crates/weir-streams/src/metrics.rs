//! Per-stream counters on the gateway's /metrics, labelled by API and stream.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::link::LinkMetrics;

/// The metric families, registered once.
pub struct StreamMetrics {
    received: IntCounterVec,
    sent: IntCounterVec,
    errors: IntCounterVec,
    dropped: IntGaugeVec,
    consumers: IntGaugeVec,
    instances: IntGaugeVec,
    connections_up: IntGaugeVec,
    connections_down: IntGaugeVec,
    reconnects: IntCounterVec,
}

/// One stream's handles (shared by all its instances).
pub struct StreamStats {
    /// Messages that entered the pipeline.
    pub received: IntCounter,
    /// Messages the output delivered.
    pub sent: IntCounter,
    /// Messages flagged by a processor or refused by the output.
    pub errors: IntCounter,
    /// Messages HTTP consumers skipped because they fell behind the retained log.
    pub dropped: IntGauge,
    /// HTTP consumers connected now.
    pub consumers: IntGauge,
    /// Instances running now.
    pub instances: IntGauge,
    links: [IntGaugeVec; 2],
    reconnects: IntCounterVec,
    labels: [String; 2],
}

impl StreamStats {
    /// The gauges of one connector of this stream (`component` is its dotted path).
    pub fn link_metrics(&self, component: &str) -> LinkMetrics {
        let l = &[self.labels[0].as_str(), self.labels[1].as_str(), component];
        LinkMetrics {
            up: self.links[0].with_label_values(l),
            down: self.links[1].with_label_values(l),
            reconnects: self.reconnects.with_label_values(l),
        }
    }
}

impl StreamMetrics {
    /// Creates the families and registers them (a family registered twice is kept once).
    pub fn new(registry: &Registry) -> Self {
        let labels = &["api_id", "stream"];
        let counter = |name: &str, help: &str| {
            IntCounterVec::new(Opts::new(name, help), labels).expect("static metric")
        };
        let gauge = |name: &str, help: &str| {
            IntGaugeVec::new(Opts::new(name, help), labels).expect("static metric")
        };
        let link_labels = &["api_id", "stream", "component"];
        let m = StreamMetrics {
            received: counter(
                "weir_stream_received_total",
                "Messages that entered a stream's pipeline",
            ),
            sent: counter(
                "weir_stream_sent_total",
                "Messages a stream's output delivered",
            ),
            errors: counter(
                "weir_stream_errors_total",
                "Messages flagged by a processor or refused by an output",
            ),
            dropped: gauge(
                "weir_stream_dropped",
                "Messages HTTP consumers skipped because they fell behind the retained log",
            ),
            consumers: gauge(
                "weir_stream_consumers",
                "HTTP consumers (GET, SSE, WebSocket) connected now",
            ),
            instances: gauge("weir_stream_instances", "Stream instances running now"),
            connections_up: IntGaugeVec::new(
                Opts::new(
                    "weir_stream_connections_up",
                    "Connections of a stream component to its broker or service that are up",
                ),
                link_labels,
            )
            .expect("static metric"),
            connections_down: IntGaugeVec::new(
                Opts::new(
                    "weir_stream_connections_down",
                    "Connections of a stream component that are lost and being retried",
                ),
                link_labels,
            )
            .expect("static metric"),
            reconnects: IntCounterVec::new(
                Opts::new(
                    "weir_stream_reconnects_total",
                    "Reconnections of a stream component after a lost or failed connection",
                ),
                link_labels,
            )
            .expect("static metric"),
        };
        for c in [&m.received, &m.sent, &m.errors, &m.reconnects] {
            let _ = registry.register(Box::new(c.clone()));
        }
        for g in [
            &m.dropped,
            &m.consumers,
            &m.instances,
            &m.connections_up,
            &m.connections_down,
        ] {
            let _ = registry.register(Box::new(g.clone()));
        }
        m
    }

    /// The handles of one stream.
    pub fn stream(&self, api_id: &str, stream: &str) -> StreamStats {
        let l = &[api_id, stream];
        StreamStats {
            received: self.received.with_label_values(l),
            sent: self.sent.with_label_values(l),
            errors: self.errors.with_label_values(l),
            dropped: self.dropped.with_label_values(l),
            consumers: self.consumers.with_label_values(l),
            instances: self.instances.with_label_values(l),
            links: [self.connections_up.clone(), self.connections_down.clone()],
            reconnects: self.reconnects.clone(),
            labels: [api_id.to_string(), stream.to_string()],
        }
    }
}
