//! A server thread with its own Tokio runtime, stopped on drop.

use std::future::Future;
use std::net::SocketAddr;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

/// Owns a background thread running one server future; dropping it stops
/// the server (and every connection task it spawned) and joins the thread.
pub(crate) struct ServerThread {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerThread {
    /// Binds `127.0.0.1:0` now (so the port is listening when this returns)
    /// and runs `serve(listener)` on a fresh runtime in a new thread.
    pub(crate) fn spawn<F, Fut>(name: &str, serve: F) -> ServerThread
    where
        F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = std_listener.local_addr().expect("local_addr");
        std_listener.set_nonblocking(true).expect("set_nonblocking");
        let (tx, rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("testkit-{name}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .expect("build runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(std_listener).expect("from_std listener");
                    tokio::select! {
                        _ = serve(listener) => {}
                        _ = rx => {}
                    }
                });
                rt.shutdown_background();
            })
            .expect("spawn server thread");
        ServerThread {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// The bound address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
