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

/// Receives the events of a socket dispatched immediately
/// ([`crate::WebSocket::connect_with`]), on a library (runtime) thread, with
/// the same rules as an [`EventHandler`]. A handler that does not keep
/// messages may take the small ones borrowed ([`Handler::borrows`]): a
/// message that arrived in one frame, whole within one read from the
/// network, is then passed as a slice of the read buffer, with no
/// allocation and no reference count.
pub trait Handler: Send + 'static {
    /// Every event, except the messages passed to [`Handler::message`].
    fn event(&mut self, ev: Event);

    /// Whether small messages go to [`Handler::message`]; asked once,
    /// before the connection opens. By default they come as
    /// [`Event::Message`], whose payload is reference counted.
    fn borrows(&self) -> bool {
        false
    }

    /// A complete message whose bytes are borrowed for this call only
    /// (text already checked as UTF-8). Called only when
    /// [`Handler::borrows`] says so; by default the bytes are copied into an
    /// [`Event::Message`].
    fn message(&mut self, data: &[u8], is_text: bool) {
        self.event(Event::Message(Message { data: Bytes::copy_from_slice(data), is_text }))
    }
}

impl Handler for EventHandler {
    fn event(&mut self, ev: Event) {
        self(ev)
    }
}
