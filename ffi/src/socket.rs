//! `ws_socket`: one WebSocket, with the browser object's methods.

use crate::boundary::{bytes, c_str, ffi_result, ffi_value, non_null};
use crate::callbacks::{ws_callbacks, Callbacks};
use crate::handles::{self, Missing, SocketRef};
use crate::options::{ws_dispatch, ws_options};
use crate::result::{fail, fail_with, ws_result};
use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use wsnative_core::{runtime, validate, Event, EventQueue, Handler, Options, ReadyState, WebSocket};

/// The largest message ws_send_text() and ws_send_binary() accept:
/// `PTRDIFF_MAX - 14` bytes (WS_MAX_SEND_LENGTH in the header), so that the
/// frame (payload, plus at most 14 bytes of header and masking key) fits in
/// one buffer.
pub(crate) const MAX_SEND_LENGTH: usize = isize::MAX as usize - 14;

/// `readyState` values.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum ws_state {
    Connecting = 0,
    Open = 1,
    Closing = 2,
    Closed = 3,
}

/// One WebSocket. Opaque: create with ws_new(), release with ws_free().
///
/// Methods: ws_new, ws_send_text, ws_send_binary, ws_close, ws_ready_state,
/// ws_url, ws_protocol, ws_extensions, ws_buffered_amount, ws_poll, ws_free.
///
/// Every method may be called from any thread, concurrently, and from inside
/// any callback. A `ws_socket *` is a handle, not an address: never
/// dereference it. A call that is in progress when ws_free() is called on
/// another thread keeps the socket alive until it returns; a call made with
/// a socket after ws_free() has returned fails with WS_RESULT_UNKNOWN_SOCKET
/// (getters return what they return for NULL): handles are never reused.
#[allow(non_camel_case_types)]
pub struct ws_socket {
    _private: [u8; 0],
}

/// What a `ws_socket` handle names (see `handles`).
pub(crate) struct Socket {
    /// The handle, as passed to callbacks.
    handle: usize,
    /// `runtime::fork_generation()` when it was created: an older value
    /// means the socket was inherited from the parent process through
    /// fork(), and is dead here.
    generation: u64,
    core: OnceLock<WebSocket>,
    callbacks: Callbacks,
    url: OnceLock<CString>,
    protocol: OnceLock<CString>,
    extensions: OnceLock<CString>,
    /// Held while a callback of this socket runs (and by ws_new until the
    /// socket is complete).
    dispatch_lock: Mutex<()>,
    freed: AtomicBool,
    finalize_after_callback: AtomicBool,
    queue: Option<Arc<EventQueue>>,
}

thread_local! {
    /// Sockets whose callback is running on this thread (innermost last).
    static DISPATCHING: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

fn inside_callback_of(s: &Socket) -> bool {
    DISPATCHING.with(|d| d.borrow().contains(&s.handle))
}

struct PopDispatching;
impl Drop for PopDispatching {
    fn drop(&mut self) {
        DISPATCHING.with(|d| d.borrow_mut().pop());
    }
}

impl Socket {
    fn core(&self) -> &WebSocket {
        self.core.get().expect("ws_new completes the socket before returning it")
    }

    /// Created in the parent process, before this process was forked.
    pub(crate) fn inherited(&self) -> bool {
        self.generation != runtime::fork_generation()
    }

    /// Under the dispatch lock, takes the next event from `next` and
    /// delivers it: taking and delivering are one step, so concurrent
    /// pollers keep the order. `queued`: the event comes from the socket's
    /// queue, and the state the application reads moves here (immediate
    /// events arrive with it already moved by the core).
    fn dispatch_next(&self, queued: bool, next: impl FnOnce() -> Option<Event>) -> Dispatched {
        let Some(guard) = self.lock_unless_freed() else { return Dispatched::Freed };
        let Some(ev) = next() else { return Dispatched::Empty };
        let delivered = if queued {
            self.core().deliver(&ev)
        } else {
            // The core moved the state before calling; checked again here,
            // right before the callback: a message must not start after a
            // ws_close() on another thread has returned.
            !(matches!(ev, Event::Message(_)) && self.core().close_requested())
        };
        // SAFETY: the application promised valid callbacks in ws_new().
        self.run_callback(guard, delivered, |s| unsafe { self.callbacks.invoke(s, &ev) })
    }

    /// An immediate message lent by the core: `data` is valid for this call.
    fn dispatch_lent(&self, data: &[u8], is_text: bool) {
        let Some(guard) = self.lock_unless_freed() else { return };
        // As in dispatch_next: no message starts after ws_close() returned.
        let delivered = !self.core().close_requested();
        // SAFETY: the application promised valid callbacks in ws_new().
        self.run_callback(guard, delivered, |s| unsafe { self.callbacks.message(s, data, is_text) });
    }

    /// The dispatch lock, unless the socket has been freed.
    fn lock_unless_freed(&self) -> Option<std::sync::MutexGuard<'_, ()>> {
        let guard = self.dispatch_lock.lock().unwrap_or_else(|e| e.into_inner());
        (!self.freed.load(Ordering::Acquire)).then_some(guard)
    }

    /// Runs `call` (the callback) when `delivered`, marked as dispatching
    /// on this thread, then releases the dispatch lock and finalizes the
    /// socket if the callback freed it.
    fn run_callback(
        &self,
        guard: std::sync::MutexGuard<'_, ()>,
        delivered: bool,
        call: impl FnOnce(*mut ws_socket),
    ) -> Dispatched {
        if delivered {
            DISPATCHING.with(|d| d.borrow_mut().push(self.handle));
            let _pop = PopDispatching;
            call(self.handle as *mut ws_socket);
        }
        drop(guard);
        // Set only by ws_free() inside that callback, on this thread: a
        // plain load sees it, and spares the swap when it is not set.
        if self.finalize_after_callback.load(Ordering::Relaxed)
            && self.finalize_after_callback.swap(false, Ordering::AcqRel)
        {
            // ws_free() was called inside that callback.
            unsafe { self.callbacks.finalize() };
            return Dispatched::Freed;
        }
        if delivered {
            Dispatched::Delivered
        } else {
            Dispatched::Dropped
        }
    }
}

/// The core's handler for a socket in immediate mode: the callbacks run
/// as the events arrive, small messages borrowed from the read buffer.
struct Immediate(Arc<Socket>);

impl Handler for Immediate {
    fn event(&mut self, ev: Event) {
        self.0.dispatch_next(false, || Some(ev));
    }

    fn borrows(&self) -> bool {
        true
    }

    fn message(&mut self, data: &[u8], is_text: bool) {
        self.0.dispatch_lent(data, is_text);
    }
}

/// What one dispatch step did.
#[derive(PartialEq, Eq)]
enum Dispatched {
    /// A callback ran.
    Delivered,
    /// The event was dropped (a message after ws_close()).
    Dropped,
    /// No event was waiting.
    Empty,
    /// The socket was freed: stop.
    Freed,
}

/// Creates a socket and starts connecting, like `new WebSocket(url,
/// protocols)`. Returns at once; never waits on the network.
///
/// - `url`: NUL-terminated UTF-8, borrowed for the call. ws://, wss://,
///   http:// and https:// are accepted (the latter two become ws and wss).
/// - `protocols`: `protocol_count` NUL-terminated subprotocol names, borrowed
///   for the call; NULL when `protocol_count` is 0.
/// - `options`: borrowed for the call (copied); NULL for every default.
/// - `callbacks`: borrowed for the call (the struct is copied); NULL for
///   none. The function pointers and `userdata` must stay valid until the
///   userdata finalizer runs (or, without one, until ws_free() returns).
/// - `out`: receives an owned socket, written BEFORE any callback can run,
///   so a callback may read it through userdata. To avoid a memory leak the
///   socket must eventually be released with ws_free(). Set to NULL on
///   failure.
///
/// Errors (synchronous, as the browser's constructor throws):
/// WS_RESULT_SYNTAX_ERROR (invalid URL, scheme other than ws/wss/http/https,
/// a fragment, an invalid or repeated subprotocol), WS_RESULT_INVALID_OPTION,
/// WS_RESULT_INVALID_UTF8, WS_RESULT_NULL_ARGUMENT, WS_RESULT_SHUT_DOWN,
/// WS_RESULT_INVALID_LENGTH (a `protocol_count` no array can have).
/// Everything else (refused port, unknown host, TLS failure, handshake
/// refused) is reported by on_error then on_close 1006.
///
/// # Safety
/// Pointers must be NULL or valid as described.
#[no_mangle]
pub unsafe extern "C" fn ws_new(
    url: *const c_char,
    protocols: *const *const c_char,
    protocol_count: usize,
    options: *const ws_options,
    callbacks: *const ws_callbacks,
    out: *mut *mut ws_socket,
) -> ws_result {
    ffi_result!({
        non_null!(out, "out");
        *out = std::ptr::null_mut();
        let (url, names) = match url_and_protocols(url, protocols, protocol_count) {
            Ok(v) => v,
            Err(r) => return r,
        };
        let (opts, mode) = match options.as_ref() {
            Some(o) => (o.core.clone(), o.dispatch),
            None => (Options::default(), ws_dispatch::Immediate),
        };
        let cbs = match callbacks.as_ref() {
            Some(c) => Callbacks(*c),
            None => Callbacks::none(),
        };
        let Some(reserved) = handles::reserve() else {
            return fail(ws_result::InternalError, "too many sockets: every handle is in use");
        };
        let queue = (mode == ws_dispatch::Queued).then(EventQueue::new);
        let sock = Arc::new(Socket {
            handle: reserved.handle(),
            generation: runtime::fork_generation(),
            core: OnceLock::new(),
            callbacks: cbs,
            url: OnceLock::new(),
            protocol: OnceLock::new(),
            extensions: OnceLock::new(),
            dispatch_lock: Mutex::new(()),
            freed: AtomicBool::new(false),
            finalize_after_callback: AtomicBool::new(false),
            queue: queue.clone(),
        });
        // Immediate callbacks wait on this lock until the socket is complete
        // and `*out` is written.
        let guard = sock.dispatch_lock.lock().unwrap_or_else(|e| e.into_inner());
        let started = match &queue {
            Some(q) => WebSocket::connect_queued(url, &names, opts, q),
            None => WebSocket::connect_with(url, &names, opts, Box::new(Immediate(Arc::clone(&sock)))),
        };
        let core = match started {
            Ok(c) => c,
            Err(e) => return fail_with(e),
        };
        let _ = sock.url.set(CString::new(core.url()).unwrap_or_default());
        let _ = sock.core.set(core);
        *out = reserved.publish(Arc::clone(&sock)) as *mut ws_socket;
        drop(guard);
        ws_result::Ok
    })
}

/// Checks what `new WebSocket(url, protocols)` checks before it connects,
/// without connecting: WS_RESULT_OK when ws_new() with these arguments
/// would not fail synchronously for them, otherwise the same result code
/// and message (ws_last_error()) ws_new() would give: WS_RESULT_SYNTAX_ERROR,
/// WS_RESULT_INVALID_UTF8, WS_RESULT_NULL_ARGUMENT or
/// WS_RESULT_INVALID_LENGTH. For bindings whose constructor throws before
/// the program connects (a C# `new WebSocket(url)` followed by `Connect()`).
///
/// `url` and `protocols` are as for ws_new(), borrowed for the call. Any
/// thread; never blocks.
///
/// # Safety
/// Pointers must be NULL or valid as described.
#[no_mangle]
pub unsafe extern "C" fn ws_validate(
    url: *const c_char,
    protocols: *const *const c_char,
    protocol_count: usize,
) -> ws_result {
    ffi_result!({
        let (url, names) = match url_and_protocols(url, protocols, protocol_count) {
            Ok(v) => v,
            Err(r) => return r,
        };
        match validate::parse_url(url).and_then(|_| validate::check_protocols(&names)) {
            Ok(()) => ws_result::Ok,
            Err(e) => fail_with(e),
        }
    })
}

/// The URL and subprotocol names of ws_new() and ws_validate(), as UTF-8.
///
/// # Safety
/// As for ws_new().
unsafe fn url_and_protocols<'a>(
    url: *const c_char,
    protocols: *const *const c_char,
    protocol_count: usize,
) -> Result<(&'a str, Vec<&'a str>), ws_result> {
    if url.is_null() {
        return Err(fail(ws_result::NullArgument, "the argument 'url' is NULL"));
    }
    if protocol_count > 0 && protocols.is_null() {
        return Err(fail(ws_result::NullArgument, "the argument 'protocols' is NULL"));
    }
    let url = c_str(url, "URL")?;
    if protocol_count > MAX_PROTOCOLS {
        return Err(fail(
            ws_result::InvalidLength,
            &format!("protocol_count {protocol_count} is larger than any array can be"),
        ));
    }
    let mut names = Vec::with_capacity(protocol_count.min(16));
    for i in 0..protocol_count {
        let p = *protocols.add(i);
        if p.is_null() {
            return Err(fail(ws_result::NullArgument, &format!("protocols[{i}] is NULL")));
        }
        names.push(c_str(p, "subprotocol")?);
    }
    Ok((url, names))
}

/// More subprotocol names than any array of pointers can hold.
const MAX_PROTOCOLS: usize = isize::MAX as usize / std::mem::size_of::<*const c_char>();

/// Looks up the socket a handle names, for the duration of the call (see
/// `handles`): NULL, freed and inherited (fork) handles fail with their
/// result code and message.
fn lookup(socket: *const ws_socket) -> Result<SocketRef, ws_result> {
    match handles::acquire(socket as usize) {
        Ok(s) if s.inherited() => Err(fail(
            ws_result::ForkedSocket,
            "the socket was created by the parent process before fork(): in this process it can only be freed",
        )),
        Ok(s) => Ok(s),
        Err(Missing::Null) => Err(fail(ws_result::NullArgument, "the argument 'socket' is NULL")),
        Err(Missing::Unknown) => Err(fail(
            ws_result::UnknownSocket,
            "the socket was freed with ws_free() (or the value is not a socket)",
        )),
    }
}

/// `let s = socket_or!(socket, |r| value)`: the live socket for the rest of
/// the call, or returns `value` (made from the failure's ws_result) from
/// the enclosing closure.
macro_rules! socket_or {
    ($p:expr, $on_fail:expr) => {
        match lookup($p) {
            Ok(s) => s,
            Err(r) => return $on_fail(r),
        }
    };
}

/// Refuses a message no send can take, before the buffer is touched.
fn check_send_length(len: usize) -> Result<(), ws_result> {
    if len > MAX_SEND_LENGTH {
        return Err(fail(
            ws_result::InvalidLength,
            &format!("len {len} is larger than the largest message, WS_MAX_SEND_LENGTH ({MAX_SEND_LENGTH})"),
        ));
    }
    Ok(())
}

/// Sends a text message (`len` bytes of UTF-8 at `text`, copied; NUL bytes
/// are allowed and no terminator is needed). Like the browser's send():
/// WS_RESULT_INVALID_STATE_ERROR while CONNECTING (nothing queued); queued
/// while OPEN (ws_buffered_amount() grows by `len`); while CLOSING or CLOSED
/// the data is discarded but ws_buffered_amount() still grows.
/// WS_RESULT_INVALID_UTF8 if the bytes are not UTF-8 (nothing queued).
/// WS_RESULT_INVALID_LENGTH if `len` is above WS_MAX_SEND_LENGTH (checked
/// first; the buffer is not read). Never waits for the network: the message
/// is masked into the socket's send buffer and written by a library thread
/// (sends to one socket from several threads take turns for that copy), or
/// written by the calling thread itself with writes that never block, when
/// nothing else waits: a burst of small messages from any thread, or a
/// large message from the socket's own callback once the library has read
/// everything the server sent (what the socket does not take at once stays
/// in the send buffer).
///
/// # Safety
/// `socket` must come from ws_new(); `text` must point to `len` bytes (NULL
/// is fine when `len` is 0).
#[no_mangle]
pub unsafe extern "C" fn ws_send_text(socket: *mut ws_socket, text: *const c_char, len: usize) -> ws_result {
    ffi_result!({
        let s = socket_or!(socket, |r| r);
        if let Err(r) = check_send_length(len) {
            return r;
        }
        let b = match bytes(text.cast(), len, "text") {
            Ok(b) => b,
            Err(r) => return r,
        };
        match s.core().send_text_bytes(b) {
            Ok(()) => ws_result::Ok,
            Err(e) => fail_with(e),
        }
    })
}

/// Sends a binary message (`len` bytes at `data`, copied). Same states,
/// length limit and bufferedAmount rules as ws_send_text(). Never waits for
/// the network (see ws_send_text()).
///
/// # Safety
/// `socket` must come from ws_new(); `data` must point to `len` bytes (NULL
/// is fine when `len` is 0).
#[no_mangle]
pub unsafe extern "C" fn ws_send_binary(socket: *mut ws_socket, data: *const u8, len: usize) -> ws_result {
    ffi_result!({
        let s = socket_or!(socket, |r| r);
        if let Err(r) = check_send_length(len) {
            return r;
        }
        let b = match bytes(data, len, "data") {
            Ok(b) => b,
            Err(r) => return r,
        };
        match s.core().send_binary(b) {
            Ok(()) => ws_result::Ok,
            Err(e) => fail_with(e),
        }
    })
}

/// Starts the closing handshake, like the browser's close(code, reason).
/// `code` 0 means no code; otherwise it must be 1000 or 3000..=4999
/// (WS_RESULT_INVALID_ACCESS_ERROR). `reason` is NULL for none, or
/// NUL-terminated UTF-8 of at most 123 bytes (WS_RESULT_SYNTAX_ERROR), copied.
/// While CONNECTING, the connection is failed (on_error, then on_close
/// 1006). While OPEN, a Close frame is sent after the messages already
/// queued, readyState becomes CLOSING and messages that arrive afterwards
/// are dropped. While CLOSING or CLOSED, nothing happens. Never blocks.
///
/// # Safety
/// `socket` must come from ws_new(); `reason` NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ws_close(socket: *mut ws_socket, code: u16, reason: *const c_char) -> ws_result {
    ffi_result!({
        let s = socket_or!(socket, |r| r);
        let reason = if reason.is_null() {
            None
        } else {
            match c_str(reason, "close reason") {
                Ok(r) => Some(r),
                Err(r) => return r,
            }
        };
        let code = (code != 0).then_some(code);
        match s.core().close(code, reason) {
            Ok(()) => ws_result::Ok,
            Err(e) => fail_with(e),
        }
    })
}

/// ws_close() with a reason of `reason_len` bytes of UTF-8 that may hold
/// NUL characters, as the browser's reason may (U+0000 is a valid
/// character): `reason` is NULL only when `reason_len` is 0 (no reason).
/// Same rules, results and effects as ws_close(); invalid UTF-8 is
/// WS_RESULT_INVALID_UTF8. The bytes are copied. Never blocks.
///
/// # Safety
/// `socket` must come from ws_new(); `reason` must point to `reason_len`
/// readable bytes (NULL is fine when `reason_len` is 0).
#[no_mangle]
pub unsafe extern "C" fn ws_close_with_reason(
    socket: *mut ws_socket,
    code: u16,
    reason: *const u8,
    reason_len: usize,
) -> ws_result {
    ffi_result!({
        let s = socket_or!(socket, |r| r);
        let reason = match bytes(reason, reason_len, "reason") {
            Ok(b) => b,
            Err(r) => return r,
        };
        let Ok(reason) = std::str::from_utf8(reason) else {
            return fail(ws_result::InvalidUtf8, "the close reason is not valid UTF-8");
        };
        let code = (code != 0).then_some(code);
        match s.core().close(code, (!reason.is_empty()).then_some(reason)) {
            Ok(()) => ws_result::Ok,
            Err(e) => fail_with(e),
        }
    })
}

/// The socket's readyState, as the application has been told it (as in the
/// browser, which changes it in the task that fires the event): OPEN once
/// on_open has been dispatched; CLOSING at once when ws_close() is called,
/// or, when the server starts the closing handshake, once every message
/// that came before its Close has been dispatched; CLOSED when on_error (a
/// failed connection) or on_close is dispatched. With WS_DISPATCH_QUEUED it
/// changes only inside ws_poll() or ws_close(); with WS_DISPATCH_IMMEDIATE a
/// callback reads the state of its own event. WS_STATE_CLOSED for NULL, for
/// a freed socket and for a socket inherited through fork().
///
/// # Safety
/// `socket` must be NULL or come from ws_new().
#[no_mangle]
pub unsafe extern "C" fn ws_ready_state(socket: *const ws_socket) -> ws_state {
    ffi_value!(ws_state::Closed, {
        let s = socket_or!(socket, |_| ws_state::Closed);
        match s.core().ready_state() {
            ReadyState::Connecting => ws_state::Connecting,
            ReadyState::Open => ws_state::Open,
            ReadyState::Closing => ws_state::Closing,
            ReadyState::Closed => ws_state::Closed,
        }
    })
}

/// The parsed, serialized URL (`ws://host` becomes `ws://host/`; http and
/// https become ws and wss; credentials are kept). Borrowed from the
/// socket: valid until ws_free(). "" for NULL, for a freed socket and for a
/// socket inherited through fork().
///
/// # Safety
/// `socket` must be NULL or come from ws_new().
#[no_mangle]
pub unsafe extern "C" fn ws_url(socket: *const ws_socket) -> *const c_char {
    ffi_value!(c"".as_ptr(), {
        let s = socket_or!(socket, |_| c"".as_ptr());
        s.url.get().map_or(c"".as_ptr(), |u| u.as_ptr())
    })
}

fn cached(cell: &OnceLock<CString>, value: &str) -> *const c_char {
    cell.get_or_init(|| CString::new(value).unwrap_or_default()).as_ptr()
}

/// The subprotocol the server selected: "" until on_open has been
/// dispatched (see ws_ready_state()) and when none was selected. Borrowed from the socket: valid until ws_free(). "" for NULL,
/// for a freed socket and for a socket inherited through fork().
///
/// # Safety
/// `socket` must be NULL or come from ws_new().
#[no_mangle]
pub unsafe extern "C" fn ws_protocol(socket: *const ws_socket) -> *const c_char {
    ffi_value!(c"".as_ptr(), {
        let s = socket_or!(socket, |_| c"".as_ptr());
        if s.core().ready_state() == ReadyState::Connecting {
            return c"".as_ptr();
        }
        cached(&s.protocol, s.core().protocol())
    })
}

/// The negotiated extensions: "" until on_open has been dispatched (and, in
/// this version, always).
/// Borrowed from the socket: valid until ws_free(). "" for NULL, for a freed
/// socket and for a socket inherited through fork().
///
/// # Safety
/// `socket` must be NULL or come from ws_new().
#[no_mangle]
pub unsafe extern "C" fn ws_extensions(socket: *const ws_socket) -> *const c_char {
    ffi_value!(c"".as_ptr(), {
        let s = socket_or!(socket, |_| c"".as_ptr());
        if s.core().ready_state() == ReadyState::Connecting {
            return c"".as_ptr();
        }
        cached(&s.extensions, s.core().extensions())
    })
}

/// bufferedAmount: bytes passed to ws_send_*() not yet written to the
/// network, counting sends made while CLOSING or CLOSED (never reset).
/// Exact at the moment of the call; 0 for NULL, for a freed socket and for a
/// socket inherited through fork().
///
/// # Safety
/// `socket` must be NULL or come from ws_new().
#[no_mangle]
pub unsafe extern "C" fn ws_buffered_amount(socket: *const ws_socket) -> u64 {
    ffi_value!(0, {
        let s = socket_or!(socket, |_| 0);
        s.core().buffered_amount()
    })
}

/// Dispatches the queued events of a WS_DISPATCH_QUEUED socket, in order, on
/// the calling thread, and returns how many callbacks it ran (0 or more).
///
/// `timeout_ms`: 0 returns at once when no event is waiting (never blocks);
/// a positive value waits up to that long for the first event; a negative
/// value waits until an event arrives, or returns 0 once the socket is
/// CLOSED and its last event (on_close) has been dispatched, or once another
/// thread has freed it. Messages that arrived after ws_close() are dropped
/// here and not counted. Several threads may poll the same socket: callbacks
/// still run one at a time, in order. Events that arrive while it
/// dispatches are dispatched too, up to 65536 per call.
///
/// A socket in immediate mode has no queue: returns 0. A negative return is
/// a negated ws_result: -WS_RESULT_NULL_ARGUMENT, -WS_RESULT_UNKNOWN_SOCKET
/// (freed), -WS_RESULT_FORKED_SOCKET (inherited through fork()), or
/// -WS_RESULT_WOULD_DEADLOCK when called from inside a callback of the same
/// socket. Calling ws_free() from a callback, or from another thread, stops
/// the dispatch.
///
/// # Safety
/// `socket` must be NULL or come from ws_new().
#[no_mangle]
pub unsafe extern "C" fn ws_poll(socket: *mut ws_socket, timeout_ms: i32) -> i32 {
    ffi_value!(-(ws_result::Panic as i32), {
        // Counted as a call in progress: a callback may ws_free() the socket
        // meanwhile.
        let s = socket_or!(socket, |r: ws_result| -(r as i32));
        if inside_callback_of(&s) {
            return -(fail(
                ws_result::WouldDeadlock,
                "ws_poll() was called inside a callback of the same socket",
            ) as i32);
        }
        let Some(queue) = s.queue.as_ref() else { return 0 };
        let waiting = match timeout_ms {
            0 => !queue.is_empty(),
            t if t > 0 => queue.wait_nonempty(Duration::from_millis(t as u64)),
            _ => loop {
                if queue.wait_nonempty(Duration::from_millis(100)) {
                    break true;
                }
                // on_close was already dispatched, or the socket was freed:
                // nothing will ever come.
                if s.freed.load(Ordering::Acquire)
                    || (s.core().ready_state() == ReadyState::Closed && queue.is_empty())
                {
                    break false;
                }
            },
        };
        if !waiting {
            return 0;
        }
        let mut n = 0;
        for _ in 0..65536 {
            match s.dispatch_next(true, || queue.pop(None)) {
                Dispatched::Delivered => n += 1,
                Dispatched::Dropped => {}
                Dispatched::Empty | Dispatched::Freed => break,
            }
        }
        n
    })
}

/// Releases a socket. Calling with NULL is fine, and so is calling it again
/// with a socket already freed (nothing happens); the socket must not be
/// used afterwards (calls then fail with WS_RESULT_UNKNOWN_SOCKET).
///
/// An open connection is closed in the background (Close 1001, "going
/// away", as when a browser leaves a page); no callback of this socket runs
/// after ws_free() returns, and the library touches none of the caller's
/// memory afterwards, except that when ws_free() is called inside one of
/// this socket's own callbacks, the release completes when that callback
/// returns. The userdata finalizer then runs exactly once (see
/// ws_callbacks).
///
/// Calls on this socket in progress on other threads (a ws_send_binary()
/// copying a large message, a ws_poll() waiting) are not waited for: they
/// keep the socket's memory alive until they return, their callbacks do not
/// run, and whatever they queue is released with the socket.
///
/// In a process forked from the one that created the socket, ws_free()
/// releases this process's copy: the finalizer runs, on the calling thread;
/// nothing is sent and the parent's connection is not affected.
///
/// Deadlock potential: called on another thread while one of this
/// socket's callbacks runs, ws_free() waits for that callback to return; a
/// callback that itself waits for the thread calling ws_free() deadlocks.
///
/// # Safety
/// `socket` must be NULL or come from ws_new().
#[no_mangle]
pub unsafe extern "C" fn ws_free(socket: *mut ws_socket) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let Ok(s) = handles::acquire(socket as usize) else { return };
        if s.inherited() {
            // The parent's runtime has no thread here: touch nothing of it
            // (not even a lock), and keep the socket as it is, forever.
            if s.retire(true) && !s.freed.swap(true, Ordering::AcqRel) {
                s.callbacks.finalize();
            }
            return;
        }
        if !s.retire(false) || s.freed.swap(true, Ordering::AcqRel) {
            return; // another thread freed it first
        }
        s.core().release();
        if inside_callback_of(&s) {
            s.finalize_after_callback.store(true, Ordering::Release);
        } else {
            // Wait for a callback running on another thread to return.
            drop(s.dispatch_lock.lock().unwrap_or_else(|e| e.into_inner()));
            s.callbacks.finalize();
        }
    }));
}
