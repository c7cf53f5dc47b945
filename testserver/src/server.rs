//! [`TestServer`]: the server on its own thread and runtime, for plain
//! (non-async) tests.

use std::net::SocketAddr;
use std::thread::JoinHandle;

use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

use crate::{serve, tls, Mode};

/// A running server on 127.0.0.1 with an OS-chosen port. Dropping it stops the
/// server, closes every connection and joins its thread.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    tls: bool,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts a plain `ws://` server.
    pub fn start(mode: Mode) -> TestServer {
        Self::spawn(mode, None)
    }

    /// Starts a `wss://` server with the given PEM certificate and key.
    ///
    /// Panics if they cannot be used (this is a test helper).
    pub fn start_tls(mode: Mode, cert_pem: &[u8], key_pem: &[u8]) -> TestServer {
        let acceptor = tls::acceptor(cert_pem, key_pem).expect("TLS certificate and key");
        Self::spawn(mode, Some(acceptor))
    }

    fn spawn(mode: Mode, acceptor: Option<TlsAcceptor>) -> TestServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let tls = acceptor.is_some();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("wsnative-testserver-{}", addr.port()))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    tokio::select! {
                        _ = serve(listener, mode, acceptor) => {}
                        _ = stopped => {}
                    }
                });
            })
            .expect("spawn server thread");
        TestServer { addr, tls, stop: Some(stop), thread: Some(thread) }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT/` (or `wss://...` for a TLS server).
    pub fn url(&self) -> String {
        self.url_for("/")
    }

    /// The URL of `path` on this server, e.g. `url_for("/close/4000")`.
    pub fn url_for(&self, path: &str) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("{scheme}://{}{slash}{path}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // Don't turn a panic that is already unwinding into an abort.
            if thread.join().is_err() && !std::thread::panicking() {
                panic!("wsnative-testserver thread panicked");
            }
        }
    }
}
