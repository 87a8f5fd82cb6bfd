//! Custom authentication: a request without `x-api-key: secret` is answered 401; otherwise the
//! filter authenticates it by setting Weir's session and token properties.

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

const SESSION: &str = r#"{"rate":100,"per":60,"org_id":"wasm-org","meta_data":{"plan":"gold"},"alias":"wasm-user"}"#;

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        match self.get_http_request_header("x-api-key") {
            Some(key) if key == "secret" => {
                self.set_property(vec!["weir", "session"], Some(SESSION.as_bytes()));
                self.set_property(vec!["weir", "metadata", "token"], Some(key.as_bytes()));
                self.set_property(vec!["weir", "metadata", "via"], Some(b"auth-reject"));
                Action::Continue
            }
            _ => {
                self.send_http_response(
                    401,
                    vec![("content-type", "application/json"), ("www-authenticate", "ApiKey")],
                    Some(br#"{"error":"missing or bad x-api-key"}"#),
                );
                Action::Pause
            }
        }
    }
}
