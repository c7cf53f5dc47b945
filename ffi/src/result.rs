//! Result codes and the calling thread's last error message.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use wsnative_core::{Error, ErrorKind};

/// The result of every fallible function. 0 is success. The values are part
/// of the ABI and are never renumbered; new codes are only appended.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum ws_result {
    /// Success.
    Ok = 0,
    /// The browser's DOMException "SyntaxError": an invalid URL, scheme,
    /// fragment, subprotocol list, or a close reason over 123 bytes.
    SyntaxError = 1,
    /// The browser's DOMException "InvalidStateError": sending while the
    /// socket is still CONNECTING.
    InvalidStateError = 2,
    /// The browser's DOMException "InvalidAccessError": a close code other
    /// than 1000 or 3000..=4999.
    InvalidAccessError = 3,
    /// A required pointer argument was NULL.
    NullArgument = 4,
    /// Text passed to a send or close function is not valid UTF-8.
    InvalidUtf8 = 5,
    /// An option value is invalid (a header with CR/LF, an unreadable CA
    /// bundle, a zero size, ...).
    InvalidOption = 6,
    /// ws_shutdown() has been called: no new socket can be created.
    ShutDown = 7,
    /// The call would deadlock: ws_shutdown() from a callback, or ws_poll()
    /// from inside a callback of the same socket.
    WouldDeadlock = 8,
    /// An unexpected internal failure (a bug): the message says more.
    InternalError = 9,
    /// A Rust panic was caught at the boundary (a bug): the message says more.
    Panic = 10,
    /// The socket was freed with ws_free() (or the value was never a
    /// socket). Getters return what they return for NULL instead.
    UnknownSocket = 11,
    /// A length no buffer can have: a message longer than
    /// WS_MAX_SEND_LENGTH, or any length above PTRDIFF_MAX. Nothing was read.
    InvalidLength = 12,
    /// The socket was created in the parent process, before fork(): in the
    /// child only ws_free() works on it (see the header's threading section).
    ForkedSocket = 13,
}

impl ws_result {
    pub(crate) fn name(self) -> &'static std::ffi::CStr {
        match self {
            ws_result::Ok => c"OK",
            ws_result::SyntaxError => c"SyntaxError",
            ws_result::InvalidStateError => c"InvalidStateError",
            ws_result::InvalidAccessError => c"InvalidAccessError",
            ws_result::NullArgument => c"NullArgument",
            ws_result::InvalidUtf8 => c"InvalidUtf8",
            ws_result::InvalidOption => c"InvalidOption",
            ws_result::ShutDown => c"ShutDown",
            ws_result::WouldDeadlock => c"WouldDeadlock",
            ws_result::InternalError => c"InternalError",
            ws_result::Panic => c"Panic",
            ws_result::UnknownSocket => c"UnknownSocket",
            ws_result::InvalidLength => c"InvalidLength",
            ws_result::ForkedSocket => c"ForkedSocket",
        }
    }
}

impl From<ErrorKind> for ws_result {
    fn from(k: ErrorKind) -> Self {
        match k {
            ErrorKind::Syntax => ws_result::SyntaxError,
            ErrorKind::InvalidState => ws_result::InvalidStateError,
            ErrorKind::InvalidAccess => ws_result::InvalidAccessError,
            ErrorKind::InvalidUtf8 => ws_result::InvalidUtf8,
            ErrorKind::InvalidOption => ws_result::InvalidOption,
            ErrorKind::ShutDown => ws_result::ShutDown,
            ErrorKind::WouldDeadlock => ws_result::WouldDeadlock,
            ErrorKind::Internal => ws_result::InternalError,
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Records `message` as this thread's last error and returns `code`.
pub(crate) fn fail(code: ws_result, message: &str) -> ws_result {
    let c = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
    code
}

pub(crate) fn fail_with(e: Error) -> ws_result {
    fail(e.kind().into(), e.message())
}

pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}
