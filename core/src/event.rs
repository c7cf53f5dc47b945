//! What a socket reports, in the browser's vocabulary.

use bytes::Bytes;

/// `WebSocket.readyState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ReadyState {
    Connecting = 0,
    Open = 1,
    Closing = 2,
    Closed = 3,
}

impl ReadyState {
    pub(crate) fn from_u8(v: u8) -> ReadyState {
        match v {
            0 => ReadyState::Connecting,
            1 => ReadyState::Open,
            2 => ReadyState::Closing,
            _ => ReadyState::Closed,
        }
    }
}

/// A complete message. Text payloads are valid UTF-8 (checked by the
/// library), binary ones are any bytes. The payload is reference counted: it
/// is not copied on its way to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub data: Bytes,
    pub is_text: bool,
}

impl Message {
    /// The text of a text message (`None` for binary).
    pub fn text(&self) -> Option<&str> {
        if self.is_text {
            // The frame layer validated the bytes when the message arrived.
            std::str::from_utf8(&self.data).ok()
        } else {
            None
        }
    }
}

/// One event of a socket, in the order the browser fires them: `Open`, any
/// number of `Message`, then optionally `Error`, then exactly one `Close`,
/// which is always last (with the bookkeeping `Closing` before it when the
/// server starts the closing handshake).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Open,
    Message(Message),
    /// The connection was failed. `message` says why, readably (the browser
    /// gives scripts no detail; native programs get one).
    Error {
        message: String,
        /// Why, as a stable code; for a refused opening handshake, the
        /// server's status and headers.
        cause: Box<crate::cause::Cause>,
    },
    Close {
        code: u16,
        reason: String,
        was_clean: bool,
    },
    /// Not an event the browser fires: the server started the closing
    /// handshake, after every message it sent before. Dispatching it moves
    /// the application's `readyState` to CLOSING, in order with the events
    /// ([`crate::WebSocket::deliver`] returns false for it: no handler runs).
    Closing,
}

/// Receives a socket's events. Runs on a library (runtime) thread: it must
/// not block for long, and must not wait on the runtime.
pub type EventHandler = Box<dyn FnMut(Event) + Send + 'static>;
