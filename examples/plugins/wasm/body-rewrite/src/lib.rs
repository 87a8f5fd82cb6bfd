//! Replaces the word `apple` with `orange` in the request body and `upstream` with `wasm` in
//! the response body.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

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

fn replace(body: Option<Vec<u8>>, from: &str, to: &str) -> Option<Vec<u8>> {
    let text = String::from_utf8(body?).ok()?;
    text.contains(from).then(|| text.replace(from, to).into_bytes())
}

impl HttpContext for Filter {
    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !end_of_stream {
            return Action::Pause;
        }
        if let Some(new) = replace(self.get_http_request_body(0, body_size), "apple", "orange") {
            self.set_http_request_body(0, body_size, &new);
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !end_of_stream {
            return Action::Pause;
        }
        if let Some(new) = replace(self.get_http_response_body(0, body_size), "upstream", "wasm") {
            self.set_http_response_body(0, body_size, &new);
        }
        self.set_http_response_header("x-body-rewritten", Some("true"));
        Action::Continue
    }
}
