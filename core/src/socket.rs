//! The application's handle on one WebSocket: the browser object's methods
//! and attributes. Every method only enqueues work for the connection task
//! and returns; none waits for the network or the runtime (`send()` copies
//! the message into the socket's send buffer under a lock that concurrent
//! senders and the task hold only briefly).

use crate::connection::{self, Command};
use crate::dispatch::EventQueue;
use crate::error::{Error, ErrorKind};
use crate::event::{Event, EventHandler, ReadyState};
use crate::options::{check_header, Options};
use crate::outgoing::Outgoing;
use crate::runtime;
use crate::validate::{check_close, check_protocols, parse_url, WsUrl};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

/// State shared by the handle and the connection task.
pub(crate) struct Shared {
    state: AtomicU8,
    pub(crate) close_requested: AtomicBool,
    /// Frames send() encoded, waiting for the task.
    pub(crate) outgoing: Outgoing,
    pub(crate) protocol: OnceLock<String>,
    pub(crate) extensions: OnceLock<String>,
    pub(crate) url: WsUrl,
}

impl Shared {
    pub(crate) fn state(&self) -> ReadyState {
        ReadyState::from_u8(self.state.load(Ordering::Acquire))
    }

    pub(crate) fn set_state(&self, s: ReadyState) {
        self.state.store(s as u8, Ordering::Release);
    }

    /// A socket state for engine tests that bypass connect.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn new_for_tests() -> Shared {
        Shared {
            state: AtomicU8::new(ReadyState::Connecting as u8),
            close_requested: AtomicBool::new(false),
            outgoing: Outgoing::default(),
            protocol: OnceLock::new(),
            extensions: OnceLock::new(),
            url: parse_url("ws://fuzz.invalid/").expect("a valid URL"),
        }
    }

    pub(crate) fn transition(&self, from: ReadyState, to: ReadyState) -> bool {
        self.state.compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }
}

/// One WebSocket, as in the browser. Cheap to share between threads
/// (`Sync`); cloning is not offered so that release is explicit. Dropping
/// the handle releases the socket: an open connection is closed with 1001
/// in the background, and events keep arriving at the handler until `Close`.
pub struct WebSocket {
    shared: Arc<Shared>,
    cmds: UnboundedSender<Command>,
}

impl WebSocket {
    /// `new WebSocket(url, protocols)`: validates synchronously (SyntaxError
    /// and InvalidOption errors), then starts connecting in the background.
    /// Every later event goes to `handler`, on a library thread; the first
    /// one may arrive before this function returns.
    pub fn connect<S: AsRef<str>>(
        url: &str,
        protocols: &[S],
        options: Options,
        handler: EventHandler,
    ) -> Result<WebSocket, Error> {
        Self::start(url, protocols, options, handler, None)
    }

    /// Like [`WebSocket::connect`], with every event appended to `queue`, and
    /// flow control: reading from the network pauses while the queue holds
    /// `options.max_queued_bytes` of messages (0: no limit).
    pub fn connect_queued<S: AsRef<str>>(
        url: &str,
        protocols: &[S],
        options: Options,
        queue: &Arc<EventQueue>,
    ) -> Result<WebSocket, Error> {
        queue.set_limit(options.max_queued_bytes);
        Self::start(url, protocols, options, queue.handler(), Some(Arc::clone(queue)))
    }

    fn start<S: AsRef<str>>(
        url: &str,
        protocols: &[S],
        options: Options,
        handler: EventHandler,
        flow: Option<Arc<EventQueue>>,
    ) -> Result<WebSocket, Error> {
        let url = parse_url(url)?;
        check_protocols(protocols)?;
        for (n, v) in &options.headers {
            check_header(n, v)?;
        }
        if options.max_message_size == 0 {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                "the maximum message size must be at least 1 byte",
            ));
        }
        let tls = if url.is_secure() {
            Some(crate::tls::client_config(
                options.ca.as_ref(),
                options.dangerously_accept_invalid_certificates,
            )?)
        } else {
            None
        };
        let handle = runtime::handle()?;
        let shared = Arc::new(Shared {
            state: AtomicU8::new(ReadyState::Connecting as u8),
            close_requested: AtomicBool::new(false),
            outgoing: Outgoing::default(),
            protocol: OnceLock::new(),
            extensions: OnceLock::new(),
            url,
        });
        let (tx, rx) = unbounded_channel();
        let protocols: Vec<String> = protocols.iter().map(|p| p.as_ref().to_string()).collect();
        let registration = runtime::register(tx.clone());
        let task_shared = Arc::clone(&shared);
        handle.spawn(async move {
            let _registration = registration;
            connection::run(task_shared, protocols, options, tls, handler, flow, rx).await;
        });
        Ok(WebSocket { shared, cmds: tx })
    }

    /// `send(text)`.
    pub fn send_text(&self, text: &str) -> Result<(), Error> {
        self.send(true, text.as_bytes())
    }

    /// `send(text)` for bytes the caller has not checked: InvalidUtf8 when
    /// they are not UTF-8 (nothing is queued then).
    pub fn send_text_bytes(&self, text: &[u8]) -> Result<(), Error> {
        let s = std::str::from_utf8(text).map_err(|e| {
            Error::new(
                ErrorKind::InvalidUtf8,
                format!("the text is not valid UTF-8 (at byte {})", e.valid_up_to()),
            )
        })?;
        self.send_text(s)
    }

    /// `send(binary)`. The bytes are copied (and masked) into the socket's
    /// send buffer before this returns.
    pub fn send_binary(&self, data: &[u8]) -> Result<(), Error> {
        self.send(false, data)
    }

    fn send(&self, text: bool, payload: &[u8]) -> Result<(), Error> {
        let len = payload.len() as u64;
        match self.shared.state() {
            ReadyState::Connecting => Err(Error::new(
                ErrorKind::InvalidState,
                "send() was called while the socket is still CONNECTING",
            )),
            ReadyState::Open => {
                // If the task has ended meanwhile, the frame is never
                // written: discarded, but still counted.
                self.shared.outgoing.push(text, payload);
                Ok(())
            }
            ReadyState::Closing | ReadyState::Closed => {
                self.shared.outgoing.discard(len);
                Ok(())
            }
        }
    }

    /// `close(code, reason)`.
    pub fn close(&self, code: Option<u16>, reason: Option<&str>) -> Result<(), Error> {
        check_close(code, reason)?;
        loop {
            let s = self.shared.state();
            match s {
                ReadyState::Closing | ReadyState::Closed => return Ok(()),
                ReadyState::Connecting | ReadyState::Open => {
                    if self.shared.transition(s, ReadyState::Closing) {
                        break;
                    }
                }
            }
        }
        self.shared.close_requested.store(true, Ordering::Release);
        let _ = self.cmds.send(Command::Close { code, reason: reason.unwrap_or_default().to_string() });
        Ok(())
    }

    /// Releases the socket while the handle still exists (a binding whose
    /// handle is shared with its event handler): an open connection is
    /// closed with 1001 in the background. Calling it again does nothing.
    pub fn release(&self) {
        let _ = self.cmds.send(Command::Release);
    }

    pub fn ready_state(&self) -> ReadyState {
        self.shared.state()
    }

    /// `url`: the parsed, serialized URL.
    pub fn url(&self) -> &str {
        self.shared.url.as_str()
    }

    /// `protocol`: "" until open, or when the server chose none.
    pub fn protocol(&self) -> &str {
        match self.shared.state() {
            ReadyState::Connecting => "",
            _ => self.shared.protocol.get().map_or("", String::as_str),
        }
    }

    /// `extensions`: "" until open.
    pub fn extensions(&self) -> &str {
        match self.shared.state() {
            ReadyState::Connecting => "",
            _ => self.shared.extensions.get().map_or("", String::as_str),
        }
    }

    /// `bufferedAmount`: bytes passed to send() and not yet written to the
    /// network, including those sent after closing.
    pub fn buffered_amount(&self) -> u64 {
        self.shared.outgoing.buffered()
    }

    /// True once the application has called `close()`. A dispatcher that
    /// queues events drops `Message` events from then on, as the browser does.
    pub fn close_requested(&self) -> bool {
        self.shared.close_requested.load(Ordering::Acquire)
    }

    /// Whether a queued event must still be delivered now.
    pub fn should_deliver(&self, event: &Event) -> bool {
        !(matches!(event, Event::Message(_)) && self.close_requested())
    }
}

impl Drop for WebSocket {
    fn drop(&mut self) {
        let _ = self.cmds.send(Command::Release);
    }
}

impl std::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("url", &crate::validate::redact(self.url()))
            .field("ready_state", &self.ready_state())
            .finish()
    }
}
