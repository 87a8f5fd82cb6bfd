//! RabbitMQ for stream tests. Starting a RabbitMQ per test takes too long, so tests share
//! the machine's server on 127.0.0.1:5672 (guest/guest; `scripts/setup-brokers.sh` installs
//! and starts it) and keep apart by giving every queue and exchange a name of their own.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the shared RabbitMQ listens.
pub const RABBITMQ_ADDR: &str = "127.0.0.1:5672";

/// `amqp://guest:guest@127.0.0.1:5672/%2f` (the default virtual host), once the server
/// answers. Panics, naming the fix, when nothing listens there.
pub fn rabbitmq_url() -> String {
    let addr: SocketAddr = RABBITMQ_ADDR.parse().expect("address");
    if let Err(e) = TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
        panic!(
            "RabbitMQ is not answering on {addr} ({e}): run scripts/setup-brokers.sh as root \
             (test.sh does); it installs Debian's rabbitmq-server and starts it"
        );
    }
    format!("amqp://guest:guest@{RABBITMQ_ADDR}/%2f")
}

/// A queue or exchange name no other test (or earlier run) uses: `<prefix>-<pid>-<time>-<n>`.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{}-{nanos:x}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_keep_the_prefix() {
        let (a, b) = (unique_name("q"), unique_name("q"));
        assert_ne!(a, b);
        assert!(a.starts_with("q-"), "{a}");
    }
}
