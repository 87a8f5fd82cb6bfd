//! `log`: writes a line per message through the gateway's logger.

use serde::Deserialize;
use serde_json::Value;

use super::{Origin, Processor};
use crate::error::StreamError;
use crate::message::{Message, SyncSlot};

/// Bento's `log` fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL` (logged as error), `ALL`/`NONE`.
    pub level: String,
    /// The line, with `${! }` interpolations.
    pub message: String,
    /// A Bloblang mapping whose result becomes structured fields.
    pub fields_mapping: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "INFO".into(),
            message: String::new(),
            fields_mapping: String::new(),
        }
    }
}

#[derive(Clone, Copy)]
enum Level {
    Off,
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Logs, then passes the message on unchanged.
pub struct LogProcessor {
    level: Level,
    message: bloblang::Interpolation,
    fields: Option<bloblang::Mapping>,
    origin: Origin,
}

impl LogProcessor {
    /// Reads the config.
    pub fn new(body: &Value, origin: Origin) -> Result<Self, StreamError> {
        let cfg: LogConfig = crate::config::typed(body, &origin.path)?;
        let level = match cfg.level.to_ascii_uppercase().as_str() {
            "NONE" | "OFF" => Level::Off,
            "TRACE" | "ALL" => Level::Trace,
            "DEBUG" => Level::Debug,
            "INFO" => Level::Info,
            "WARN" => Level::Warn,
            "ERROR" | "FATAL" => Level::Error,
            other => {
                return Err(StreamError::new(
                    format!("{}.level", origin.path),
                    format!("unknown level `{other}`"),
                ));
            }
        };
        let message =
            crate::config::interpolation(&cfg.message, &format!("{}.message", origin.path))?;
        let fields = if cfg.fields_mapping.trim().is_empty() {
            None
        } else {
            Some(crate::config::mapping(
                &cfg.fields_mapping,
                &format!("{}.fields_mapping", origin.path),
            )?)
        };
        Ok(LogProcessor {
            level,
            message,
            fields,
            origin,
        })
    }
}

impl Processor for LogProcessor {
    fn process(&self, msg: Message, _: Option<&SyncSlot>) -> Option<Message> {
        if matches!(self.level, Level::Off) {
            return Some(msg);
        }
        let line = self
            .message
            .render(&msg)
            .unwrap_or_else(|e| format!("(log message failed: {e})"));
        let fields = match &self.fields {
            Some(m) => match m.run_message(&msg) {
                Ok(out) => out
                    .content(b"")
                    .ok()
                    .flatten()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default(),
                Err(e) => format!("(fields_mapping failed: {e})"),
            },
            None => String::new(),
        };
        let path = self.origin.path.as_str();
        match self.level {
            Level::Trace => tracing::trace!(processor = path, fields, "{line}"),
            Level::Debug => tracing::debug!(processor = path, fields, "{line}"),
            Level::Info => tracing::info!(processor = path, fields, "{line}"),
            Level::Warn => tracing::warn!(processor = path, fields, "{line}"),
            Level::Error => tracing::error!(processor = path, fields, "{line}"),
            Level::Off => {}
        }
        Some(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{chain, msg, try_chain};
    use serde_json::json;

    #[test]
    fn log_does_not_change_the_message() {
        for level in [
            "TRACE", "debug", "INFO", "WARN", "ERROR", "FATAL", "ALL", "NONE",
        ] {
            let c = chain(json!([{"log": {
                "level": level,
                "message": "got ${! this.a } from ${! meta(\"k\") }",
                "fields_mapping": "root.a = this.a\nroot.m = @k",
            }}]));
            let mut m = msg(r#"{"a":1}"#);
            m.metadata.insert("k", bloblang::Value::String("v".into()));
            m.error = Some("kept".into());
            assert_eq!(c.run(m.clone(), None), Some(m), "level {level}");
        }
    }

    #[test]
    fn a_failing_interpolation_or_fields_mapping_does_not_change_the_message() {
        let c = chain(json!([{"log": {
            "message": "${! this.a.b.c.number() }",
            "fields_mapping": "root = throw(\"no\")",
        }}]));
        let m = msg("not json");
        assert_eq!(c.run(m.clone(), None), Some(m));
    }

    #[test]
    fn log_defaults() {
        let m = msg("x");
        assert_eq!(chain(json!([{"log": {}}])).run(m.clone(), None), Some(m));
    }

    #[test]
    fn log_config_errors_name_the_field() {
        let e = try_chain(json!([{"log": {"level": "LOUD"}}]))
            .err()
            .unwrap();
        assert_eq!(e.path, "p[0].log.level");
        assert!(e.reason.contains("LOUD"));
        let e = try_chain(json!([{"log": {"message": "${! this.( }"}}]))
            .err()
            .unwrap();
        assert_eq!(e.path, "p[0].log.message");
        let e = try_chain(json!([{"log": {"fields_mapping": "root = ("}}]))
            .err()
            .unwrap();
        assert_eq!(e.path, "p[0].log.fields_mapping");
        let e = try_chain(json!([{"log": {"fields": {"a": "b"}}}]))
            .err()
            .unwrap();
        assert_eq!(e.path, "p[0].log.fields");
        assert!(e.reason.contains("unknown field"), "{}", e.reason);
    }
}
