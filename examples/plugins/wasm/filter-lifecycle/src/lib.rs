//! An Envoy-style filter that shows what the host does across one request's life:
//!
//! - its root sets a timer (the plugin configuration's text, in ms; 0 = none) and counts ticks
//!   in shared data `ticks`;
//! - each request's context remembers its id from the request phase and reports it on the
//!   response (`x-request-context`, `x-response-context`);
//! - `proxy_on_log` counts itself in shared data `logs`, reported on the next responses
//!   (`x-logs-before`), so a test can see it ran once per request;
//! - `x-deny: <status>` answers locally; the response callbacks still run on that answer
//!   (`x-seen-status`);
//! - `x-grpc-check: <text>` calls `test.Check/Check` (or `x-grpc-method`) on upstream
//!   `grpc` and puts the answer or the status in request headers;
//! - `x-grpc-stream: a,b,c` streams the pieces to `test.Check/Echo` and collects the echoes.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use std::time::Duration;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root) });
}}

struct Root;

fn bump(key: &str, ctx: &dyn Context) -> u64 {
    let (value, cas) = ctx.get_shared_data(key);
    let n = value
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        + 1;
    let _ = ctx.set_shared_data(key, Some(n.to_string().as_bytes()), cas);
    n
}

fn read(key: &str, ctx: &dyn Context) -> String {
    ctx.get_shared_data(key)
        .0
        .and_then(|v| String::from_utf8(v).ok())
        .unwrap_or_else(|| "0".into())
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let text = self
            .get_plugin_configuration()
            .and_then(|c| String::from_utf8(c).ok())
            .unwrap_or_default();
        let ms: u64 = text.trim().parse().unwrap_or(0);
        if ms > 0 {
            self.set_tick_period(Duration::from_millis(ms));
        }
        true
    }

    fn on_tick(&mut self) {
        bump("ticks", self);
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter {
            id: context_id,
            seen_request: false,
            streamed: Vec::new(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Filter {
    id: u32,
    seen_request: bool,
    streamed: Vec<String>,
}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _n: usize, _eos: bool) -> Action {
        self.seen_request = true;
        self.set_http_request_header("x-request-context", Some(&self.id.to_string()));
        if let Some(status) = self.get_http_request_header("x-deny") {
            let code = status.parse().unwrap_or(403);
            self.send_http_response(code, vec![("x-denied-by", "filter-lifecycle")], Some(b"denied\n"));
            return Action::Pause;
        }
        if let Some(text) = self.get_http_request_header("x-grpc-check") {
            let method = self
                .get_http_request_header("x-grpc-method")
                .unwrap_or_else(|| "Check".into());
            let call = self.dispatch_grpc_call(
                "grpc",
                "test.Check",
                &method,
                vec![("x-from", b"filter-lifecycle")],
                Some(text.as_bytes()),
                Duration::from_secs(2),
            );
            return match call {
                Ok(_) => Action::Pause,
                Err(status) => {
                    self.set_http_request_header("x-grpc-error", Some(&format!("{status:?}")));
                    Action::Continue
                }
            };
        }
        if let Some(pieces) = self.get_http_request_header("x-grpc-stream") {
            let Ok(token) = self.open_grpc_stream("grpc", "test.Check", "Echo", vec![]) else {
                self.set_http_request_header("x-grpc-error", Some("stream refused"));
                return Action::Continue;
            };
            let pieces: Vec<&str> = pieces.split(',').collect();
            for (i, piece) in pieces.iter().enumerate() {
                self.send_grpc_stream_message(token, Some(piece.as_bytes()), i + 1 == pieces.len());
            }
            return Action::Pause;
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _n: usize, _eos: bool) -> Action {
        self.set_http_response_header("x-response-context", Some(&self.id.to_string()));
        self.set_http_response_header("x-saw-request", Some(if self.seen_request { "yes" } else { "no" }));
        self.set_http_response_header("x-logs-before", Some(&read("logs", self)));
        self.set_http_response_header("x-ticks", Some(&read("ticks", self)));
        if let Some(status) = self.get_http_response_header(":status") {
            self.set_http_response_header("x-seen-status", Some(&status));
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        bump("logs", self);
    }
}

impl Context for Filter {
    fn on_grpc_call_response(&mut self, _token: u32, status: u32, size: usize) {
        if status == 0 {
            let answer = self.get_grpc_call_response_body(0, size).unwrap_or_default();
            self.set_http_request_header("x-grpc-answer", Some(&String::from_utf8_lossy(&answer)));
        } else {
            let (code, message) = self.get_grpc_status();
            self.set_http_request_header("x-grpc-status", Some(&format!("{code} {}", message.unwrap_or_default())));
        }
        self.resume_http_request();
    }

    fn on_grpc_stream_initial_metadata(&mut self, _token: u32, _n: u32) {
        if let Some(v) = self.get_grpc_stream_initial_metadata_value("x-echo") {
            self.streamed.push(format!("meta:{}", String::from_utf8_lossy(&v)));
        }
    }

    fn on_grpc_stream_message(&mut self, _token: u32, size: usize) {
        let m = self.get_grpc_stream_message(0, size).unwrap_or_default();
        self.streamed.push(String::from_utf8_lossy(&m).into_owned());
    }

    fn on_grpc_stream_close(&mut self, _token: u32, status: u32) {
        self.set_http_request_header("x-stream", Some(&self.streamed.join(",")));
        self.set_http_request_header("x-stream-status", Some(&status.to_string()));
        self.resume_http_request();
    }
}
