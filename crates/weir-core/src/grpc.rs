//! gRPC status codes (the numbers are fixed by the gRPC protocol).

/// A gRPC status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    /// 0
    Ok = 0,
    /// 1
    Cancelled = 1,
    /// 2
    Unknown = 2,
    /// 3
    InvalidArgument = 3,
    /// 4
    DeadlineExceeded = 4,
    /// 5
    NotFound = 5,
    /// 7
    PermissionDenied = 7,
    /// 8
    ResourceExhausted = 8,
    /// 12
    Unimplemented = 12,
    /// 13
    Internal = 13,
    /// 14
    Unavailable = 14,
    /// 16
    Unauthenticated = 16,
}

impl Code {
    /// The decimal form used in the `grpc-status` header.
    pub fn as_header_value(self) -> http::HeaderValue {
        http::HeaderValue::from(self as u8 as u16)
    }
}

/// True when a content type names gRPC proper (`application/grpc`, `application/grpc+proto`, ...),
/// not gRPC-Web.
pub fn is_grpc_content_type(value: &[u8]) -> bool {
    value.starts_with(b"application/grpc") && !value.starts_with(b"application/grpc-web")
}
