//! The server side of the opening handshake: picks a subprotocol and keeps
//! what the request said, for the special paths of echo mode.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Error;
use tokio_tungstenite::WebSocketStream;

/// What the client asked for in its handshake request.
#[derive(Debug, Clone, Default)]
pub(crate) struct RequestInfo {
    /// The request path, without any query string.
    pub path: String,
    /// Every request header in the order received, names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl RequestInfo {
    fn from_request(request: &Request) -> Self {
        let headers = request
            .headers()
            .iter()
            .map(|(name, value)| {
                (name.as_str().to_ascii_lowercase(), String::from_utf8_lossy(value.as_bytes()).into_owned())
            })
            .collect();
        RequestInfo { path: request.uri().path().to_owned(), headers }
    }
}

/// The first protocol the client offered in `Sec-WebSocket-Protocol`, if any.
fn first_offered_protocol(request: &Request) -> Option<&str> {
    request
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .find(|protocol| !protocol.is_empty())
}

fn config() -> WebSocketConfig {
    // Generous limits: client tests send large messages on purpose.
    WebSocketConfig::default().max_message_size(Some(256 << 20)).max_frame_size(Some(256 << 20))
}

/// Performs the server handshake on `stream`, selecting the first offered
/// subprotocol.
// The callback's error type is fixed by tungstenite's `Callback` trait.
#[allow(clippy::result_large_err)]
pub(crate) async fn accept<S>(stream: S) -> Result<(WebSocketStream<S>, RequestInfo), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut info = RequestInfo::default();
    let callback = |request: &Request, mut response: Response| -> Result<Response, ErrorResponse> {
        info = RequestInfo::from_request(request);
        if let Some(protocol) = first_offered_protocol(request) {
            if let Ok(value) = HeaderValue::from_str(protocol) {
                response.headers_mut().insert("sec-websocket-protocol", value);
            }
        }
        Ok(response)
    };
    let ws = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config())).await?;
    Ok((ws, info))
}
