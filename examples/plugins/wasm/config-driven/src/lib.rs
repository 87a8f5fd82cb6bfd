//! Reads its plugin configuration (Weir passes the API's `config_data` JSON) and adds every
//! header listed under `"add_headers": {"name": "value", ...}` to the request.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { headers: Vec::new() }) });
}}

struct Root {
    headers: Vec<(String, String)>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let Some(raw) = self.get_plugin_configuration() else {
            proxy_wasm::hostcalls::log(LogLevel::Error, "config-driven: no configuration").ok();
            return false;
        };
        let Ok(serde_json::Value::Object(cfg)) = serde_json::from_slice(&raw) else {
            proxy_wasm::hostcalls::log(LogLevel::Error, "config-driven: configuration is not a JSON object").ok();
            return false;
        };
        if let Some(serde_json::Value::Object(add)) = cfg.get("add_headers") {
            self.headers = add
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())))
                .collect();
        }
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter { headers: self.headers.clone() }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Filter {
    headers: Vec<(String, String)>,
}

impl Context for Filter {}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        for (name, value) in &self.headers {
            self.add_http_request_header(name, value);
        }
        Action::Continue
    }
}
