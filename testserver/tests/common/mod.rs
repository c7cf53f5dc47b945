//! Helpers shared by the integration tests: a tokio-tungstenite client with
//! bounded waits everywhere.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::{Request, Response};
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::WebSocketStream;

/// Upper bound for any single step of a test.
pub const STEP: Duration = Duration::from_secs(10);

/// Runs `future`, failing the test if it takes longer than [`STEP`].
pub async fn bounded<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(STEP, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out: {what}"),
    }
}

pub fn request(url: &str) -> Request {
    url.into_client_request().expect("client request")
}

fn port_of(request: &Request) -> u16 {
    request.uri().port_u16().expect("URL with a port")
}

/// Opens TCP to the request's port on 127.0.0.1 and does the WebSocket
/// handshake.
pub async fn connect_request(request: Request) -> (WebSocketStream<TcpStream>, Response) {
    let tcp = bounded("TCP connect", TcpStream::connect(("127.0.0.1", port_of(&request))))
        .await
        .expect("TCP connect");
    handshake(request, tcp).await
}

pub async fn handshake<S>(request: Request, stream: S) -> (WebSocketStream<S>, Response)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    bounded("WebSocket handshake", tokio_tungstenite::client_async(request, stream))
        .await
        .expect("WebSocket handshake")
}

pub async fn connect(url: &str) -> WebSocketStream<TcpStream> {
    connect_request(request(url)).await.0
}

/// The next item from the server, `None` when the stream ended.
pub async fn next<S>(ws: &mut WebSocketStream<S>) -> Option<Result<Message, Error>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    bounded("next message", ws.next()).await
}

/// The next data or close message, skipping pings and pongs.
pub async fn next_message<S>(ws: &mut WebSocketStream<S>) -> Message
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        match next(ws).await {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(message)) => return message,
            Some(Err(e)) => panic!("expected a message, got error {e}"),
            None => panic!("expected a message, the stream ended"),
        }
    }
}

pub async fn next_text<S>(ws: &mut WebSocketStream<S>) -> String
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match next_message(ws).await {
        Message::Text(text) => text.as_str().to_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// Waits until the stream ends, ignoring anything still arriving.
pub async fn until_end<S>(ws: &mut WebSocketStream<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    bounded("end of stream", async { while let Some(Ok(_)) = ws.next().await {} }).await;
}
