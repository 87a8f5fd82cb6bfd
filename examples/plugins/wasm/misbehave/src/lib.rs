//! A filter that misbehaves on demand, for the host's fault tests. The `x-misbehave` header
//! selects: `loop` (never returns), `panic` (traps), `alloc` (allocates far past any sane
//! memory limit), `reply` (answers 200 itself), `inspect` (copies properties into request
//! headers and rewrites `:path`), `shared` (counts calls in shared data with CAS, round-trips
//! a shared queue, increments a counter metric, and reports all three in headers). Anything else sets `x-misbehave-ok: 1` and continues.
//!
//! As a stream hook (`proxy_on_grpc_message`, written against the raw ABI on purpose) the
//! message text selects: `panic`, `loop`, `action:N` (returns action N), `end-bad` (tries
//! status 99, then reports the host's answer as the new message), `inspect` (replaces the
//! message with what the host tells about the call); anything else passes unchanged.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::hostcalls;
use proxy_wasm::types::{Action, ContextType, LogLevel, MetricType, Status};
use std::hint::black_box;
use weir_grpc_ext::{ACTION_PASS, end_stream, get_message, set_message};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root) });
}}

struct Root;

impl Context for Root {}

impl RootContext for Root {
    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Filter;

impl Context for Filter {}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        match self.get_http_request_header("x-misbehave").as_deref() {
            Some("loop") => {
                let mut n = 0u64;
                loop {
                    n = black_box(n.wrapping_add(1));
                }
            }
            Some("panic") => panic!("misbehave: asked to panic"),
            Some("alloc") => {
                let big = vec![7u8; black_box(1 << 30)];
                black_box(&big);
            }
            Some("reply") => {
                self.send_http_response(200, vec![("x-from", "wasm")], Some(b"Hello from wasm"));
                return Action::Pause;
            }
            Some("inspect") => {
                for (header, path) in [
                    ("x-prop-path", vec!["request", "path"]),
                    ("x-prop-url-path", vec!["request", "url_path"]),
                    ("x-prop-method", vec!["request", "method"]),
                    ("x-prop-host", vec!["request", "host"]),
                    ("x-prop-api", vec!["weir", "api_id"]),
                    ("x-prop-org", vec!["weir", "org_id"]),
                    ("x-prop-plugin", vec!["plugin_name"]),
                    ("x-prop-ua", vec!["request", "headers", "user-agent"]),
                ] {
                    let value = self.get_property(path).map(|v| String::from_utf8_lossy(&v).into_owned());
                    self.set_http_request_header(header, Some(value.as_deref().unwrap_or("<none>")));
                }
                let authority = self.get_http_request_header(":authority").unwrap_or_default();
                self.set_http_request_header("x-authority", Some(&authority));
                self.set_http_request_header(":path", Some("/rewritten?by=wasm"));
            }
            Some("shared") => self.shared(),
            _ => self.set_http_request_header("x-misbehave-ok", Some("1")),
        }
        Action::Continue
    }
}

impl Filter {
    fn shared(&self) {
        let hits = loop {
            let (value, cas) = self.get_shared_data("hits");
            let n = value
                .and_then(|v| String::from_utf8(v).ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
                + 1;
            match self.set_shared_data("hits", Some(n.to_string().as_bytes()), cas) {
                Ok(()) => break n,
                Err(Status::CasMismatch) => continue,
                Err(e) => panic!("set_shared_data: {e:?}"),
            }
        };
        let stale = self.set_shared_data("hits", Some(b"0"), Some(u32::MAX - 7));
        let queue = hostcalls::register_shared_queue("jobs").unwrap();
        hostcalls::enqueue_shared_queue(queue, Some(format!("job-{hits}").as_bytes())).unwrap();
        let job = hostcalls::dequeue_shared_queue(queue).unwrap().unwrap_or_default();
        let empty = hostcalls::dequeue_shared_queue(queue);
        let metric = hostcalls::define_metric(MetricType::Counter, "misbehave_calls").unwrap();
        hostcalls::increment_metric(metric, 1).unwrap();
        let count = hostcalls::get_metric(metric).unwrap();
        self.set_http_request_header("x-hits", Some(&hits.to_string()));
        self.set_http_request_header("x-stale-cas", Some(&format!("{stale:?}")));
        self.set_http_request_header("x-job", Some(&String::from_utf8_lossy(&job)));
        self.set_http_request_header("x-queue-after", Some(&format!("{empty:?}")));
        self.set_http_request_header("x-metric", Some(&count.to_string()));
    }
}

#[link(wasm_import_module = "env")]
unsafe extern "C" {
    // Declared here too: the SDK's wrapper panics on the BAD_ARGUMENT the probe expects.
    fn proxy_replace_header_map_value(map: u32, kp: *const u8, kl: usize, vp: *const u8, vl: usize) -> u32;
}

/// Stream hook entry point, raw: the host's numbers are visible in tests.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_grpc_message(_context_id: u32, direction: u32, size: u32) -> u32 {
    let msg = get_message().unwrap_or_default();
    match msg.as_slice() {
        b"panic" => panic!("misbehave: asked to panic in a message hook"),
        b"loop" => {
            let mut n = 0u64;
            loop {
                n = black_box(n.wrapping_add(1));
            }
        }
        b"end-bad" => {
            let answer = format!("{:?}", end_stream(99, "nope"));
            set_message(answer.as_bytes()).unwrap();
            ACTION_PASS
        }
        b"inspect" => {
            let prop = |path: Vec<&str>| {
                proxy_wasm::hostcalls::get_property(path)
                    .ok()
                    .flatten()
                    .map(|v| String::from_utf8_lossy(&v).into_owned())
                    .unwrap_or_else(|| "<none>".into())
            };
            let header = |name: &str| {
                proxy_wasm::hostcalls::get_map_value(proxy_wasm::types::MapType::HttpRequestHeaders, name)
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| "<none>".into())
            };
            let (k, v) = ("x-new", "1");
            // SAFETY: both slices outlive the call.
            let write = unsafe { proxy_replace_header_map_value(0, k.as_ptr(), k.len(), v.as_ptr(), v.len()) };
            let report = [
                format!("direction={direction}"),
                format!("size={size}"),
                format!("method={}", prop(vec!["grpc", "method"])),
                format!("dir={}", prop(vec!["grpc", "direction"])),
                format!("index={}", prop(vec!["grpc", "index"])),
                format!("path={}", header(":path")),
                format!("tag={}", header("x-enrich-tag")),
                format!("api={}", prop(vec!["weir", "api_id"])),
                format!("plugin={}", prop(vec!["plugin_name"])),
                format!("session={}", prop(vec!["weir", "session"]).contains("\"alias\":\"cam-user\"")),
                format!("write={write}"),
            ];
            set_message(report.join(" ").as_bytes()).unwrap();
            ACTION_PASS
        }
        m => match std::str::from_utf8(m).ok().and_then(|m| m.strip_prefix("action:")) {
            Some(n) => n.parse().unwrap_or(ACTION_PASS),
            None => ACTION_PASS,
        },
    }
}
