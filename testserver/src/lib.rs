//! A small WebSocket *server* used by wsnative's tests and by `make demo`.
//!
//! Two modes are available:
//!
//! * [`Mode::Echo`] echoes every message back unchanged and offers a few special
//!   request paths that tests use to provoke particular server behaviour
//!   (see [`echo`]).
//! * [`Mode::Chat`] speaks the JSON chat protocol of MDN's
//!   "Writing WebSocket client applications" guide (see [`chat`]).
//!
//! Blocking tests use [`TestServer`], which runs the server on its own thread
//! with its own tokio runtime; async users can call [`serve`] directly.

pub mod chat;
pub mod echo;
mod handshake;
mod server;
pub mod tls;

pub use server::TestServer;
pub use tls::{ca_signed_with_crls, self_signed, self_signed_expired, CaSigned};

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// What the server does with each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Echo every message back; special paths such as `/close/<code>`.
    Echo,
    /// MDN's JSON chat protocol, shared between all connections of one server.
    Chat,
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "echo" => Ok(Mode::Echo),
            "chat" => Ok(Mode::Chat),
            other => Err(format!("unknown mode {other:?} (expected echo or chat)")),
        }
    }
}

/// How long a client may take to finish the TLS and WebSocket handshakes.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections on `listener` forever, serving each one in `mode`,
/// over TLS when `tls` is given.
///
/// The future never completes on its own; dropping it stops accepting and
/// aborts every connection it started.
pub async fn serve(listener: TcpListener, mode: Mode, tls: Option<TlsAcceptor>) {
    let chat = Arc::new(chat::Chat::new());
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _peer)) => {
                    connections.spawn(connection(tcp, mode, tls.clone(), chat.clone()));
                }
                // e.g. out of file descriptors: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn connection(tcp: TcpStream, mode: Mode, tls: Option<TlsAcceptor>, chat: Arc<chat::Chat>) {
    let _ = tcp.set_nodelay(true);
    match tls {
        None => websocket(tcp, mode, chat).await,
        Some(acceptor) => {
            if let Ok(Ok(stream)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                websocket(stream, mode, chat).await;
            }
        }
    }
}

async fn websocket<S>(stream: S, mode: Mode, chat: Arc<chat::Chat>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Ok(Ok((ws, request))) = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake::accept(stream)).await
    else {
        return;
    };
    match mode {
        Mode::Echo => echo::run(ws, &request).await,
        Mode::Chat => chat::run(ws, &chat).await,
    }
}
