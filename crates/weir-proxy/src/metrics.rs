//! Prometheus metrics. Handles for each API are resolved once when its definition is
//! compiled, so the request path touches atomics only.

use std::sync::OnceLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// Latency buckets in seconds: sub-millisecond resolution for a proxy, up to the 30 s default timeout.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// Every metric the gateway exports.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    request_duration: HistogramVec,
    upstream_duration: HistogramVec,
    /// Client connections open now.
    pub open_connections: IntGauge,
    reloads: IntCounterVec,
    /// API definitions that failed to load at the last reload.
    pub definition_errors: IntGauge,
}

impl Metrics {
    /// Creates and registers all metrics.
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "weir_requests_total",
                "Requests answered, by API and status code",
            ),
            &["api_id", "code"],
        )
        .expect("static metric definition");
        let request_duration = HistogramVec::new(
            HistogramOpts::new(
                "weir_request_duration_seconds",
                "Time from request head to response head, by API",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["api_id"],
        )
        .expect("static metric definition");
        let upstream_duration = HistogramVec::new(
            HistogramOpts::new(
                "weir_upstream_duration_seconds",
                "Time the upstream took to send its response head, by API",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["api_id"],
        )
        .expect("static metric definition");
        let open_connections =
            IntGauge::new("weir_open_connections", "Client connections open now")
                .expect("static metric definition");
        let reloads = IntCounterVec::new(
            Opts::new(
                "weir_reloads_total",
                "Reloads of the API definitions, by result",
            ),
            &["result"],
        )
        .expect("static metric definition");
        let definition_errors = IntGauge::new(
            "weir_definition_errors",
            "API definitions that failed to load at the last reload",
        )
        .expect("static metric definition");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(request_duration.clone()),
            Box::new(upstream_duration.clone()),
            Box::new(open_connections.clone()),
            Box::new(reloads.clone()),
            Box::new(definition_errors.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Metrics {
            registry,
            requests,
            request_duration,
            upstream_duration,
            open_connections,
            reloads,
            definition_errors,
        }
    }

    /// The registry behind `/metrics`, for metrics registered elsewhere (the stream engine).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Resolves the handles for one API (or for "" = requests that matched no API).
    pub fn for_api(&self, api_id: &str) -> ApiMetrics {
        ApiMetrics {
            api_id: api_id.to_string(),
            requests: self.requests.clone(),
            by_status: (0..600).map(|_| OnceLock::new()).collect(),
            request_duration: self.request_duration.with_label_values(&[api_id]),
            upstream_duration: self.upstream_duration.with_label_values(&[api_id]),
        }
    }

    /// Counts a reload.
    pub fn reloaded(&self, ok: bool) {
        self.reloads
            .with_label_values(&[if ok { "ok" } else { "partial" }])
            .inc();
    }

    /// The text exposition format for /metrics.
    pub fn render(&self) -> String {
        let mut families = self.registry.gather();
        families.extend(plugin_events());
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&families, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// `weir_plugin_events_total{api_id, name}`: the counters plugins keep through the native
/// ABI's `count`. They live in weir-core (the plugin drivers cannot reach this registry), so
/// they are copied into a fresh family at each scrape; none yet means no family at all (the
/// encoder refuses an empty one).
fn plugin_events() -> Vec<prometheus::proto::MetricFamily> {
    let counters = weir_core::plugin::plugin_counters();
    if counters.is_empty() {
        return Vec::new();
    }
    let Ok(events) = IntCounterVec::new(
        Opts::new(
            "weir_plugin_events_total",
            "Events counted by plugins, by API and counter name",
        ),
        &["api_id", "name"],
    ) else {
        return Vec::new();
    };
    for c in counters {
        events
            .with_label_values(&[c.api_id.as_str(), c.name.as_str()])
            .inc_by(c.value);
    }
    prometheus::core::Collector::collect(&events)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// One API's metric handles.
pub struct ApiMetrics {
    api_id: String,
    requests: IntCounterVec,
    by_status: Vec<OnceLock<IntCounter>>,
    /// Request head to response head.
    pub request_duration: Histogram,
    /// Upstream response-head latency.
    pub upstream_duration: Histogram,
}

impl ApiMetrics {
    /// Counts one answered request with its status code.
    pub fn count(&self, status: u16) {
        match self.by_status.get(status as usize) {
            Some(cell) => cell
                .get_or_init(|| {
                    self.requests
                        .with_label_values(&[self.api_id.as_str(), &status.to_string()])
                })
                .inc(),
            None => self
                .requests
                .with_label_values(&[self.api_id.as_str(), &status.to_string()])
                .inc(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_counters_are_rendered() {
        weir_core::plugin::plugin_counter_add("metrics-render-test", "enriched", 41);
        weir_core::plugin::plugin_counter_add("metrics-render-test", "enriched", 1);
        weir_core::plugin::plugin_counter_add("metrics-render-test", "cache_miss", 0);
        let text = Metrics::new().render();
        assert!(
            text.contains("# TYPE weir_plugin_events_total counter"),
            "{text}"
        );
        assert!(
            text.contains(
                "weir_plugin_events_total{api_id=\"metrics-render-test\",name=\"enriched\"} 42"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "weir_plugin_events_total{api_id=\"metrics-render-test\",name=\"cache_miss\"} 0"
            ),
            "{text}"
        );
        assert!(text.contains("weir_open_connections"), "{text}");
    }
}
