//! Asks an authorisation service before letting a request through: dispatches
//! `GET /check?key=<x-api-key>` to the host-configured upstream `authz`, pauses, and on the
//! answer either adds `x-authz: <body>` and resumes (200) or answers 403.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};
use std::time::Duration;

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

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let key = self.get_http_request_header("x-api-key").unwrap_or_default();
        let path = format!("/check?key={key}");
        match self.dispatch_http_call(
            "authz",
            vec![(":method", "GET"), (":path", &path), (":authority", "authz")],
            None,
            vec![],
            Duration::from_secs(2),
        ) {
            Ok(_) => Action::Pause,
            Err(status) => {
                self.send_http_response(500, vec![], Some(format!("callout failed: {status:?}").as_bytes()));
                Action::Pause
            }
        }
    }
}

impl Context for Filter {
    fn on_http_call_response(&mut self, _token: u32, num_headers: usize, body_size: usize, _trailers: usize) {
        let status = self.get_http_call_response_header(":status");
        let body = self.get_http_call_response_body(0, body_size).unwrap_or_default();
        if num_headers > 0 && status.as_deref() == Some("200") {
            self.set_http_request_header("x-authz", Some(&String::from_utf8_lossy(&body)));
            self.resume_http_request();
        } else {
            self.send_http_response(403, vec![("x-authz-status", status.as_deref().unwrap_or("none"))], Some(b"denied by authz"));
        }
    }
}
