//! The C callback table and how one event is handed to it.

use crate::socket::ws_socket;
use std::ffi::{c_char, c_void};
use wsnative_core::Event;

/// The kind of a message passed to `on_message`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum ws_message_type {
    /// UTF-8 text (validated by the library; not NUL-terminated).
    Text = 0,
    /// Binary data.
    Binary = 1,
}

/// The callbacks of one socket, passed to ws_new() (which copies the
/// struct). Any callback may be NULL. Every callback receives the socket and
/// `userdata`.
///
/// Threads: with WS_DISPATCH_IMMEDIATE the callbacks run on a library
/// thread; with WS_DISPATCH_QUEUED they run inside ws_poll() on the thread
/// that calls it. Either way the callbacks of one socket run one at a time,
/// in event order. Every pointer passed to a callback is borrowed for the
/// duration of that callback only: copy what you need to keep.
///
/// Every ws_* function may be called from inside a callback, including
/// ws_close() and ws_free() of the very socket whose callback is running.
/// Immediate callbacks must not block for long (they hold up other sockets)
/// and must not call ws_shutdown().
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub struct ws_callbacks {
    /// The connection is open: readyState is OPEN and ws_protocol() and
    /// ws_extensions() are set.
    pub on_open: Option<unsafe extern "C" fn(socket: *mut ws_socket, userdata: *mut c_void)>,
    /// A whole message arrived. `data` holds `len` bytes (a valid, never
    /// NULL pointer even when `len` is 0), borrowed until the callback
    /// returns. Text is valid UTF-8 and is NOT NUL-terminated.
    pub on_message: Option<
        unsafe extern "C" fn(
            socket: *mut ws_socket,
            data: *const u8,
            len: usize,
            kind: ws_message_type,
            userdata: *mut c_void,
        ),
    >,
    /// The connection was failed (handshake refused, TLS failure, protocol
    /// violation, connect timeout, ws_close() while CONNECTING, ...).
    /// `message` is a readable, NUL-terminated cause, borrowed until the
    /// callback returns. on_close (code 1006) always follows. Inside this
    /// callback, ws_error_cause() says why as a stable code, and for a
    /// refused handshake ws_error_http_status() and ws_error_http_header()
    /// give the server's answer.
    pub on_error:
        Option<unsafe extern "C" fn(socket: *mut ws_socket, message: *const c_char, userdata: *mut c_void)>,
    /// The connection is closed: readyState is CLOSED. Always the last
    /// callback of a socket, and called exactly once (also on ws_shutdown()),
    /// unless ws_free() came first. `code` is the server's close code, 1005
    /// when its Close frame had none, 1006 when the connection closed
    /// abnormally. `reason` is UTF-8 of `reason_len` bytes, also
    /// NUL-terminated, borrowed until the callback returns.
    pub on_close: Option<
        unsafe extern "C" fn(
            socket: *mut ws_socket,
            code: u16,
            reason: *const c_char,
            reason_len: usize,
            was_clean: bool,
            userdata: *mut c_void,
        ),
    >,
    /// Passed to every callback; owned by the application.
    pub userdata: *mut c_void,
    /// If not NULL, called exactly once with `userdata` after the socket's
    /// last callback: by ws_free() on the thread that calls it, or, when
    /// ws_free() is called inside one of the socket's callbacks, right after
    /// that callback returns, on the same thread. Not called when ws_new()
    /// fails.
    pub userdata_free: Option<unsafe extern "C" fn(userdata: *mut c_void)>,
}

/// `ws_callbacks` holds raw pointers owned by the application, which
/// promises (in the header) that they may be used from library threads.
pub(crate) struct Callbacks(pub(crate) ws_callbacks);
unsafe impl Send for Callbacks {}
unsafe impl Sync for Callbacks {}

impl Callbacks {
    pub(crate) fn none() -> Self {
        Callbacks(ws_callbacks {
            on_open: None,
            on_message: None,
            on_error: None,
            on_close: None,
            userdata: std::ptr::null_mut(),
            userdata_free: None,
        })
    }

    /// Calls the callback for `ev`.
    ///
    /// # Safety
    /// The callbacks must be valid function pointers (the application's promise).
    pub(crate) unsafe fn invoke(&self, socket: *mut ws_socket, ev: &Event) {
        let cb = &self.0;
        match ev {
            // Bookkeeping only (the core's view moved): no callback.
            Event::Closing => {}
            Event::Open => {
                if let Some(f) = cb.on_open {
                    f(socket, cb.userdata)
                }
            }
            Event::Message(m) => self.message(socket, &m.data, m.is_text),
            Event::Error { message, cause } => {
                if let Some(f) = cb.on_error {
                    let c = nul_terminated(message.replace('\0', " "));
                    crate::cause::during(cause.code, cause.response.as_ref(), || {
                        f(socket, c.as_ptr().cast(), cb.userdata)
                    })
                }
            }
            Event::Close { code, reason, was_clean } => {
                if let Some(f) = cb.on_close {
                    let c = nul_terminated(reason.clone());
                    f(socket, *code, c.as_ptr().cast(), reason.len(), *was_clean, cb.userdata)
                }
            }
        }
    }

    /// Calls on_message with a borrowed message.
    ///
    /// # Safety
    /// The callbacks must be valid (as promised to ws_new()).
    pub(crate) unsafe fn message(&self, socket: *mut ws_socket, data: &[u8], is_text: bool) {
        let cb = &self.0;
        if let Some(f) = cb.on_message {
            let kind = if is_text { ws_message_type::Text } else { ws_message_type::Binary };
            f(socket, data.as_ptr(), data.len(), kind, cb.userdata)
        }
    }

    /// Runs the userdata finalizer.
    ///
    /// # Safety
    /// Must be called at most once.
    pub(crate) unsafe fn finalize(&self) {
        if let Some(f) = self.0.userdata_free {
            f(self.0.userdata)
        }
    }
}

fn nul_terminated(s: String) -> Vec<u8> {
    let mut v = s.into_bytes();
    v.push(0);
    v
}
