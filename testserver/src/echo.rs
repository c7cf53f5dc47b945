//! Echo mode: every text message comes back as text and every binary message
//! as binary, unchanged; a client's Close is answered with the same code.
//!
//! Special request paths, each followed by plain echoing unless noted:
//!
//! | path | right after the handshake the server... |
//! | --- | --- |
//! | `/close/<code>` | sends Close(`code`, "bye"), waits for the reply, closes TCP |
//! | `/hello` | sends the text message `hello` |
//! | `/drop` | drops TCP without any close frame (and stops) |
//! | `/count/<n>/<size>` | sends `n` binary messages of `size` bytes (see [`count_payload`]) |
//! | `/headers` | sends one text message with the request headers, `name: value` per line, names lower-cased |

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::handshake::RequestInfo;

/// How long the server waits for the client's reply to a server-sent Close.
const CLOSE_REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// What a request path asks the echo server to do first.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Echo,
    Close(u16),
    Hello,
    Drop,
    Count { n: usize, size: usize },
    Headers,
}

fn action_for(path: &str) -> Action {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["close", code] => code.parse().map_or(Action::Echo, Action::Close),
        ["hello"] => Action::Hello,
        ["drop"] => Action::Drop,
        ["count", n, size] => match (n.parse(), size.parse()) {
            (Ok(n), Ok(size)) => Action::Count { n, size },
            _ => Action::Echo,
        },
        ["headers"] => Action::Headers,
        _ => Action::Echo,
    }
}

/// The payload of message number `index` (from 0) sent for `/count/<n>/<size>`:
/// byte `j` is `(index + j) % 256`.
pub fn count_payload(index: usize, size: usize) -> Vec<u8> {
    (0..size).map(|j| (index.wrapping_add(j) % 256) as u8).collect()
}

fn headers_text(request: &RequestInfo) -> String {
    request.headers.iter().map(|(name, value)| format!("{name}: {value}\n")).collect()
}

/// Serves one echo-mode connection whose handshake asked for `request`.
pub(crate) async fn run<S>(mut ws: WebSocketStream<S>, request: &RequestInfo)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let first = match action_for(&request.path) {
        Action::Echo => Ok(()),
        Action::Drop => return,
        Action::Close(code) => {
            let frame = CloseFrame { code: CloseCode::from(code), reason: "bye".into() };
            if ws.close(Some(frame)).await.is_ok() {
                // Reading drives the close handshake until the reply arrives.
                let _ = tokio::time::timeout(CLOSE_REPLY_TIMEOUT, async {
                    while let Some(Ok(_)) = ws.next().await {}
                })
                .await;
            }
            shutdown(ws).await;
            return;
        }
        Action::Hello => ws.send(Message::text("hello")).await,
        Action::Headers => ws.send(Message::text(headers_text(request))).await,
        Action::Count { n, size } => send_count(&mut ws, n, size).await,
    };
    if first.is_err() {
        return;
    }
    echo(&mut ws).await;
    shutdown(ws).await;
}

async fn send_count<S>(
    ws: &mut WebSocketStream<S>,
    n: usize,
    size: usize,
) -> Result<(), tokio_tungstenite::tungstenite::Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    for index in 0..n {
        ws.feed(Message::binary(count_payload(index, size))).await?;
    }
    ws.flush().await
}

/// Echoes data messages until the connection ends. Pings are answered and a
/// client's Close is replied to by tungstenite itself while reading.
async fn echo<S>(ws: &mut WebSocketStream<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(Ok(message)) = ws.next().await {
        let reply = match message {
            Message::Text(_) | Message::Binary(_) => message,
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) | Message::Frame(_) => continue,
        };
        if ws.send(reply).await.is_err() {
            break;
        }
    }
}

/// Closes the transport cleanly (FIN, and close_notify over TLS).
async fn shutdown<S>(mut ws: WebSocketStream<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.get_mut().shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(action_for("/"), Action::Echo);
        assert_eq!(action_for("/close/4000"), Action::Close(4000));
        assert_eq!(action_for("/close/x"), Action::Echo);
        assert_eq!(action_for("/hello"), Action::Hello);
        assert_eq!(action_for("/drop"), Action::Drop);
        assert_eq!(action_for("/count/3/10"), Action::Count { n: 3, size: 10 });
        assert_eq!(action_for("/headers"), Action::Headers);
        assert_eq!(action_for("/other"), Action::Echo);
    }

    #[test]
    fn payload_pattern() {
        assert_eq!(count_payload(0, 3), vec![0, 1, 2]);
        assert_eq!(count_payload(255, 2), vec![255, 0]);
    }
}
