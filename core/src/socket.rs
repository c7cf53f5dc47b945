//! The application's handle on one WebSocket: the browser object's methods
//! and attributes. Every method only enqueues work for the connection task
//! and returns; none waits for the network or the runtime (`send()` copies
//! the message into the socket's send buffer under a lock that concurrent
//! senders and the task hold only briefly).

use crate::connection::{self, Command};
use crate::dispatch::EventQueue;
use crate::error::{Error, ErrorKind};
use crate::event::{Event, EventHandler, Handler, ReadyState};
use crate::flow::FlowControl;
use crate::options::{check_header, Options};
use crate::outgoing::Outgoing;
use crate::runtime;
use crate::validate::{check_close, check_protocols, parse_url, WsUrl};
use crate::view::View;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

/// State shared by the handle and the connection task.
pub(crate) struct Shared {
    /// The protocol's state, the connection task's own (see [`View`] for
    /// what the application reads).
    state: AtomicU8,
    pub(crate) view: View,
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
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn new_for_tests() -> Shared {
        Shared {
            state: AtomicU8::new(ReadyState::Connecting as u8),
            view: View::default(),
            outgoing: Outgoing::default(),
            protocol: OnceLock::new(),
            extensions: OnceLock::new(),
            url: parse_url("ws://fuzz.invalid/").expect("a valid URL"),
        }
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
    /// Every later event goes to `handler`, on a library thread, as the
    /// browser would fire it: the state the application reads
    /// ([`WebSocket::ready_state`], `protocol`, `extensions`) moves to the
    /// event's just before the handler runs, and the handler never sees
    /// `Event::Closing` nor a message that arrived after `close()`. The
    /// first event may arrive before this function returns.
    pub fn connect<S: AsRef<str>>(
        url: &str,
        protocols: &[S],
        options: Options,
        handler: EventHandler,
    ) -> Result<WebSocket, Error> {
        Self::start(url, protocols, options, Box::new(handler), None, true)
    }

    /// Like [`WebSocket::connect`], with a [`Handler`], which may take small
    /// messages borrowed from the read buffer.
    pub fn connect_with<S: AsRef<str>>(
        url: &str,
        protocols: &[S],
        options: Options,
        handler: Box<dyn Handler>,
    ) -> Result<WebSocket, Error> {
        Self::start(url, protocols, options, handler, None, true)
    }

    /// Like [`WebSocket::connect`], with every event appended to `queue`
    /// (whose limit becomes `options.max_queued_bytes`), to be dispatched by
    /// the application: see [`EventQueue`] and [`WebSocket::deliver`].
    pub fn connect_queued<S: AsRef<str>>(
        url: &str,
        protocols: &[S],
        options: Options,
        queue: &Arc<EventQueue>,
    ) -> Result<WebSocket, Error> {
        queue.set_limit(options.max_queued_bytes);
        Self::start(url, protocols, options, Box::new(queue.handler()), Some(Arc::clone(queue.flow())), false)
    }

    /// For a binding with its own queue: every event goes to `handler` as
    /// the connection produces it, charged to `flow` (see
    /// [`crate::flow::cost`]); the connection stops reading from the network
    /// while `flow` is at its limit (until the application calls
    /// `close()`). The binding releases each event's cost once dispatched,
    /// and calls [`WebSocket::deliver`] right before handing an event to the
    /// application.
    pub fn connect_with_flow<S: AsRef<str>>(
        url: &str,
        protocols: &[S],
        options: Options,
        handler: EventHandler,
        flow: Arc<FlowControl>,
    ) -> Result<WebSocket, Error> {
        let charged = Arc::clone(&flow);
        let mut handler = handler;
        let producer: EventHandler = Box::new(move |ev| {
            charged.charge(crate::flow::cost(&ev));
            handler(ev)
        });
        Self::start(url, protocols, options, Box::new(producer), Some(flow), false)
    }

    fn start<S: AsRef<str>>(
        url: &str,
        protocols: &[S],
        options: Options,
        handler: Box<dyn Handler>,
        flow: Option<Arc<FlowControl>>,
        immediate: bool,
    ) -> Result<WebSocket, Error> {
        let options = options.effective();
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
        // Found in the shared cache (checked the first time), built later
        // off this thread.
        let tls = if url.is_secure() { Some(crate::tls::trust(&options)?) } else { None };
        let handle = runtime::handle()?;
        let shared = Arc::new(Shared {
            state: AtomicU8::new(ReadyState::Connecting as u8),
            view: View::default(),
            outgoing: Outgoing::default(),
            protocol: OnceLock::new(),
            extensions: OnceLock::new(),
            url,
        });
        let (tx, rx) = unbounded_channel();
        let protocols: Vec<String> = protocols.iter().map(|p| p.as_ref().to_string()).collect();
        let registration = runtime::register(tx.clone());
        let task_shared = Arc::clone(&shared);
        // The task is the connection's future itself (the registration is
        // dropped when it ends): an `async move` block around it would hold
        // its arguments twice, once as the block's captures, and the options
        // alone are 160 bytes.
        let delivery = connection::Delivery { handler, immediate, flow };
        let run = connection::run(task_shared, protocols, options, tls, delivery, rx);
        handle.spawn(futures_util::FutureExt::map(run, move |()| drop(registration)));
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
        if self.shared.view.ready_state() == ReadyState::Connecting {
            return Err(Error::new(
                ErrorKind::InvalidState,
                "send() was called while the socket is still CONNECTING",
            ));
        }
        if self.shared.view.close_requested() {
            self.shared.outgoing.discard(len);
            return Ok(());
        }
        match self.shared.state() {
            ReadyState::Connecting => unreachable!("the application saw open before the connection did"),
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
    /// readyState becomes CLOSING at once; from CONNECTING (as the
    /// application saw it) the connection is failed, from OPEN the closing
    /// handshake starts.
    pub fn close(&self, code: Option<u16>, reason: Option<&str>) -> Result<(), Error> {
        check_close(code, reason)?;
        let Some(was) = self.shared.view.request_close() else { return Ok(()) };
        let _ = self.cmds.send(Command::Close {
            code,
            reason: reason.unwrap_or_default().to_string(),
            fail: was == ReadyState::Connecting,
        });
        Ok(())
    }

    /// Releases the socket while the handle still exists (a binding whose
    /// handle is shared with its event handler): an open connection is
    /// closed with 1001 in the background. Calling it again does nothing.
    pub fn release(&self) {
        let _ = self.cmds.send(Command::Release);
    }

    /// `readyState`, as of the last event dispatched to the application
    /// (and CLOSING from the moment it calls `close()`).
    pub fn ready_state(&self) -> ReadyState {
        self.shared.view.ready_state()
    }

    /// `url`: the parsed, serialized URL.
    pub fn url(&self) -> &str {
        self.shared.url.as_str()
    }

    /// `protocol`: "" until open, or when the server chose none.
    pub fn protocol(&self) -> &str {
        match self.ready_state() {
            ReadyState::Connecting => "",
            _ => self.shared.protocol.get().map_or("", String::as_str),
        }
    }

    /// `extensions`: "" until open.
    pub fn extensions(&self) -> &str {
        match self.ready_state() {
            ReadyState::Connecting => "",
            _ => self.shared.extensions.get().map_or("", String::as_str),
        }
    }

    /// `bufferedAmount`: bytes passed to send() and not yet written to the
    /// network, including those sent after closing.
    pub fn buffered_amount(&self) -> u64 {
        self.shared.outgoing.buffered()
    }

    /// True once the application has called `close()`.
    pub fn close_requested(&self) -> bool {
        self.shared.view.close_requested()
    }

    /// For a binding that dispatches queued events ([`WebSocket::connect_queued`],
    /// [`WebSocket::connect_with_flow`]): call it right before handing `event`
    /// to the application, one event at a time, in order. It moves the state
    /// the application reads to the event's (OPEN with `open`, CLOSING with
    /// `Event::Closing`, CLOSED with `error` or `close`) and says whether the
    /// application gets the event: not `Event::Closing`, not a message that
    /// arrived after `close()`, not `open` after `close()` during CONNECTING.
    pub fn deliver(&self, event: &Event) -> bool {
        self.shared.view.deliver(event)
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
