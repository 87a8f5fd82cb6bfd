//! A TCP forwarder in front of a real database server, to take it away and bring it back:
//! `Down` closes every connection (new ones are closed as soon as they open), `Stall` holds
//! connections open and silent (a database slower than any timeout), `Up` forwards.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Up,
    Down,
    Stall,
}

pub struct Proxy {
    pub port: u16,
    mode: watch::Sender<Mode>,
    // Dropping the runtime stops the forwarder.
    _runtime: tokio::runtime::Runtime,
}

impl Proxy {
    /// A forwarder on a free loopback port to `target` (`host:port`), starting `Up`.
    pub fn start(target: &str) -> Proxy {
        let target: SocketAddr = target.parse().expect("host:port");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("a loopback port");
        let port = listener.local_addr().expect("its address").port();
        let (mode, watcher) = watch::channel(Mode::Up);
        runtime.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, target, watcher.clone()));
            }
        });
        Proxy {
            port,
            mode,
            _runtime: runtime,
        }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

/// Serves one connection in the mode current when it opened, until the mode changes.
async fn serve(mut client: TcpStream, target: SocketAddr, mut mode: watch::Receiver<Mode>) {
    let now = *mode.borrow_and_update();
    match now {
        Mode::Down => {}
        Mode::Stall => {
            let _ = mode.changed().await;
        }
        Mode::Up => {
            let Ok(Ok(mut server)) =
                tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(target)).await
            else {
                return;
            };
            tokio::select! {
                _ = copy_bidirectional(&mut client, &mut server) => {}
                _ = mode.changed() => {}
            }
        }
    }
    // Both sockets close here.
}
