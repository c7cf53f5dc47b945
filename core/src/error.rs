//! Errors returned synchronously by the API (the browser's DOMExceptions plus
//! the native ones). Connection failures are never errors here: they arrive
//! as events.

use std::fmt;

/// The kind of a synchronous failure. Each maps one to one onto a
/// DOMException name of the browser or a native condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// DOMException "SyntaxError": bad URL, scheme, fragment, protocol list,
    /// close reason too long.
    Syntax,
    /// DOMException "InvalidStateError": `send` while CONNECTING.
    InvalidState,
    /// DOMException "InvalidAccessError": a close code other than 1000 or
    /// 3000..=4999.
    InvalidAccess,
    /// Text handed to a send or close call is not valid UTF-8.
    InvalidUtf8,
    /// An option value is out of range or malformed (CR/LF in a header, an
    /// unreadable CA bundle, ...).
    InvalidOption,
    /// The library runtime has been shut down.
    ShutDown,
    /// The call would deadlock (for example a blocking call made on a
    /// library thread).
    WouldDeadlock,
    /// A bug or an unexpected condition inside the library.
    Internal,
}

impl ErrorKind {
    /// The DOMException (or native) name of this kind.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Syntax => "SyntaxError",
            ErrorKind::InvalidState => "InvalidStateError",
            ErrorKind::InvalidAccess => "InvalidAccessError",
            ErrorKind::InvalidUtf8 => "InvalidUtf8Error",
            ErrorKind::InvalidOption => "InvalidOptionError",
            ErrorKind::ShutDown => "ShutDownError",
            ErrorKind::WouldDeadlock => "WouldDeadlockError",
            ErrorKind::Internal => "InternalError",
        }
    }
}

/// A synchronous failure: a kind and a readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into() }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn syntax(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Syntax, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.message)
    }
}

impl std::error::Error for Error {}
