//! Gateway-level gRPC options: tyk.conf's `coprocess_options` block.

use std::path::PathBuf;

/// Where the plugin server listens, parsed from `coprocess_grpc_server`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServerAddress {
    /// `tcp://host:port` (also `host:port`, `http://host:port`, `dns:///host:port`).
    Tcp(String),
    /// `unix:///path/to.sock`.
    Unix(PathBuf),
}

impl ServerAddress {
    /// Parses Tyk's `coprocess_grpc_server` value.
    ///
    /// ```
    /// use weir_plugin_grpc::ServerAddress;
    /// assert_eq!(
    ///     ServerAddress::parse("tcp://127.0.0.1:5555").unwrap(),
    ///     ServerAddress::Tcp("127.0.0.1:5555".into())
    /// );
    /// assert_eq!(
    ///     ServerAddress::parse("unix:///tmp/p.sock").unwrap(),
    ///     ServerAddress::Unix("/tmp/p.sock".into())
    /// );
    /// ```
    pub fn parse(raw: &str) -> Result<ServerAddress, OptionsError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(OptionsError::new("coprocess_grpc_server is empty"));
        }
        if let Some(path) = raw.strip_prefix("unix://") {
            // `unix:///abs.sock` leaves `/abs.sock`; `unix://rel.sock` is a relative path.
            if path.is_empty() {
                return Err(OptionsError::new(format!(
                    "coprocess_grpc_server `{raw}`: unix:// needs a socket path"
                )));
            }
            return Ok(ServerAddress::Unix(PathBuf::from(path)));
        }
        // grpc-go's `dns:///` resolver: tonic resolves names on every connect, which is what
        // it offers (no client-side load balancing).
        let host_port = ["tcp://", "http://", "dns:///"]
            .iter()
            .find_map(|p| raw.strip_prefix(p))
            .unwrap_or(raw);
        if host_port.contains("://") {
            return Err(OptionsError::new(format!(
                "coprocess_grpc_server `{raw}`: unsupported scheme (use tcp://host:port or unix:///path.sock)"
            )));
        }
        let valid = host_port
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !valid {
            return Err(OptionsError::new(format!(
                "coprocess_grpc_server `{raw}`: expected tcp://host:port or unix:///path.sock"
            )));
        }
        Ok(ServerAddress::Tcp(host_port.to_string()))
    }
}

impl std::fmt::Display for ServerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerAddress::Tcp(hp) => write!(f, "tcp://{hp}"),
            ServerAddress::Unix(p) => write!(f, "unix://{}", p.display()),
        }
    }
}

/// The gRPC driver's options (tyk.conf `coprocess_options`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GrpcOptions {
    /// The plugin server.
    pub server: ServerAddress,
    /// Largest reply accepted, in bytes (grpc-go's default: 4 MiB).
    pub recv_max_size: usize,
    /// Largest request sent, in bytes (grpc-go's default: unlimited).
    pub send_max_size: usize,
    /// `:authority` to send instead of the server address.
    pub authority: Option<String>,
}

/// grpc-go's default receive limit, which Tyk keeps when `grpc_recv_max_size` is 0.
pub const DEFAULT_RECV_MAX_SIZE: usize = 4 * 1024 * 1024;

impl GrpcOptions {
    /// Options for a server with Tyk's default limits.
    pub fn new(server: ServerAddress) -> GrpcOptions {
        GrpcOptions {
            server,
            recv_max_size: DEFAULT_RECV_MAX_SIZE,
            send_max_size: usize::MAX,
            authority: None,
        }
    }

    /// Reads the `coprocess_options` JSON object: `coprocess_grpc_server` (required),
    /// `grpc_recv_max_size`, `grpc_send_max_size` (0 or absent = defaults) and
    /// `grpc_authority`. Other keys (`enable_coprocess`, `python_path_prefix`, ...) are not
    /// this driver's business and are ignored.
    ///
    /// ```
    /// let o = weir_plugin_grpc::GrpcOptions::from_json(&serde_json::json!({
    ///     "enable_coprocess": true,
    ///     "coprocess_grpc_server": "tcp://127.0.0.1:5555",
    ///     "grpc_recv_max_size": 0,
    ///     "grpc_send_max_size": 1024
    /// })).unwrap();
    /// assert_eq!(o.recv_max_size, 4 * 1024 * 1024);
    /// assert_eq!(o.send_max_size, 1024);
    /// ```
    pub fn from_json(value: &serde_json::Value) -> Result<GrpcOptions, OptionsError> {
        let obj = value
            .as_object()
            .ok_or_else(|| OptionsError::new("coprocess_options must be a JSON object"))?;
        let server = match obj.get("coprocess_grpc_server") {
            Some(serde_json::Value::String(s)) => ServerAddress::parse(s)?,
            Some(other) => {
                return Err(OptionsError::new(format!(
                    "coprocess_grpc_server must be a string, got {other}"
                )));
            }
            None => {
                return Err(OptionsError::new(
                    "coprocess_options.coprocess_grpc_server is required by the grpc driver",
                ));
            }
        };
        let mut options = GrpcOptions::new(server);
        if let Some(n) = size(obj, "grpc_recv_max_size")? {
            options.recv_max_size = n;
        }
        if let Some(n) = size(obj, "grpc_send_max_size")? {
            options.send_max_size = n;
        }
        options.authority = match obj.get("grpc_authority") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) if s.is_empty() => None,
            Some(serde_json::Value::String(s)) => {
                s.parse::<http::uri::Authority>().map_err(|e| {
                    OptionsError::new(format!(
                        "grpc_authority `{s}` is not a valid authority: {e}"
                    ))
                })?;
                Some(s.clone())
            }
            Some(other) => {
                return Err(OptionsError::new(format!(
                    "grpc_authority must be a string, got {other}"
                )));
            }
        };
        Ok(options)
    }
}

/// A size option; `None` when absent or 0 (keep the default).
fn size(
    obj: &serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Result<Option<usize>, OptionsError> {
    match obj.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(0) => Ok(None),
            Some(n) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
            None => Err(OptionsError::new(format!(
                "{key} must be a non-negative integer (bytes), got {v}"
            ))),
        },
    }
}

/// A bad `coprocess_options` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OptionsError(String);

impl OptionsError {
    fn new(msg: impl Into<String>) -> OptionsError {
        OptionsError(msg.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn addresses() {
        assert_eq!(
            ServerAddress::parse("tcp://localhost:9111").unwrap(),
            ServerAddress::Tcp("localhost:9111".into())
        );
        assert_eq!(
            ServerAddress::parse("127.0.0.1:1").unwrap(),
            ServerAddress::Tcp("127.0.0.1:1".into())
        );
        assert_eq!(
            ServerAddress::parse("dns:///plugins:80").unwrap(),
            ServerAddress::Tcp("plugins:80".into())
        );
        assert!(ServerAddress::parse("tcp://nohost").is_err());
        assert!(ServerAddress::parse("tcp://h:99999").is_err());
        assert!(ServerAddress::parse("ftp://h:1").is_err());
        assert!(ServerAddress::parse("unix://").is_err());
        assert!(ServerAddress::parse("").is_err());
    }

    #[test]
    fn options_from_json() {
        let o = GrpcOptions::from_json(&json!({
            "coprocess_grpc_server": "unix:///run/p.sock",
            "grpc_recv_max_size": 100,
            "grpc_authority": "plugins.local"
        }))
        .unwrap();
        assert_eq!(o.server, ServerAddress::Unix("/run/p.sock".into()));
        assert_eq!(o.recv_max_size, 100);
        assert_eq!(o.send_max_size, usize::MAX);
        assert_eq!(o.authority.as_deref(), Some("plugins.local"));

        let err = GrpcOptions::from_json(&json!({"enable_coprocess": true})).unwrap_err();
        assert!(err.to_string().contains("coprocess_grpc_server"), "{err}");
        let err = GrpcOptions::from_json(&json!({
            "coprocess_grpc_server": "tcp://a:1", "grpc_send_max_size": -5
        }))
        .unwrap_err();
        assert!(err.to_string().contains("grpc_send_max_size"), "{err}");
        let err = GrpcOptions::from_json(&json!({
            "coprocess_grpc_server": "tcp://a:1", "grpc_authority": "bad authority"
        }))
        .unwrap_err();
        assert!(err.to_string().contains("grpc_authority"), "{err}");
    }
}
