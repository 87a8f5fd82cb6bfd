//! The engine's one error type: where in a stream's config, and why.

/// A stream config problem, or a stream that could not start.
///
/// `path` is dotted from the API document's `x-tyk-streaming` block, such as
/// `streams.Worker.input.kafka.topics`, so the gateway can name the field in its refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct StreamError {
    /// Dotted path of the offending field.
    pub path: String,
    /// What is wrong, in words.
    pub reason: String,
}

impl StreamError {
    /// Builds an error at `path`.
    pub fn new(path: impl Into<String>, reason: impl Into<String>) -> Self {
        StreamError {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
