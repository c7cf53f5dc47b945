//! `ws_error_code`: why a connection was failed, and for a refused opening
//! handshake the server's status and headers, readable inside on_error.

use crate::boundary::{c_str, ffi_value};
use std::cell::RefCell;
use std::ffi::{c_char, CString};
use wsnative_core::{ErrorCode, HttpResponse};

/// Why a connection was failed (see ws_error_cause()). The values are part
/// of the ABI and are never renumbered; new causes are only added.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum ws_error_code {
    /// No error: ws_error_cause() was called outside on_error.
    None = 0,
    /// A failure no other code describes. Not produced by this version
    /// (every failure it knows has its own code); a program should treat it
    /// as it treats codes it does not know.
    Other = 1,
    /// The host name could not be resolved.
    Dns = 2,
    /// Every address of the server refused the TCP connection.
    ConnectionRefused = 3,
    /// TCP could not connect for another reason (network unreachable, ...).
    ConnectFailed = 4,
    /// The connect timeout ran out while resolving the host name.
    TimeoutDns = 10,
    /// ... while connecting TCP (to the server or to the proxy).
    TimeoutConnect = 11,
    /// ... while the proxy opened the tunnel.
    TimeoutProxy = 12,
    /// ... during the TLS handshake.
    TimeoutTls = 13,
    /// ... during the opening (HTTP upgrade) handshake.
    TimeoutHandshake = 14,
    /// The server's certificate is not signed by a trusted authority.
    TlsCertUntrusted = 20,
    /// The server's certificate has expired or is not yet valid.
    TlsCertExpired = 21,
    /// The server's certificate is not valid for the host name.
    TlsCertNameMismatch = 22,
    /// The server's certificate was revoked.
    TlsCertRevoked = 23,
    /// Another problem with the server's certificate.
    TlsCertInvalid = 24,
    /// The TLS handshake failed for another reason (the server refused the
    /// client certificate, no common protocol version, not TLS, ...).
    Tls = 25,
    /// The proxy could not be reached.
    ProxyUnreachable = 30,
    /// The proxy asked for credentials or refused them (HTTP 407, SOCKS5).
    ProxyAuth = 31,
    /// The proxy refused to open the tunnel.
    ProxyRefused = 32,
    /// The proxy closed the connection before the tunnel was open.
    ProxyClosed = 33,
    /// The proxy's answer was not valid HTTP or SOCKS5.
    ProxyProtocol = 34,
    /// The server answered the opening handshake with a status other than
    /// 101: see ws_error_http_status() and ws_error_http_header().
    HandshakeRefused = 40,
    /// The server's 101 response breaks RFC 6455.
    HandshakeInvalid = 41,
    /// The server closed the connection during the opening handshake.
    HandshakeClosed = 42,
    /// The server broke the WebSocket protocol (the library sent 1002).
    ProtocolViolation = 50,
    /// The server sent invalid UTF-8 (the library sent 1007).
    InvalidUtf8 = 51,
    /// A message from the server exceeded the maximum size (1009 sent).
    MessageTooBig = 52,
    /// The port is on the browser's list of blocked ports.
    BlockedPort = 60,
    /// ws_close() was called before the connection was established.
    ClosedWhileConnecting = 61,
    /// The socket was freed while connecting. Never seen by a C program (no
    /// callback runs after ws_free()); kept for the Rust core's handlers.
    Released = 62,
    /// ws_shutdown() was called while connecting.
    ShutDown = 63,
}

impl From<ErrorCode> for ws_error_code {
    fn from(c: ErrorCode) -> Self {
        use ws_error_code as W;
        match c {
            ErrorCode::Dns => W::Dns,
            ErrorCode::ConnectionRefused => W::ConnectionRefused,
            ErrorCode::ConnectFailed => W::ConnectFailed,
            ErrorCode::TimeoutDns => W::TimeoutDns,
            ErrorCode::TimeoutConnect => W::TimeoutConnect,
            ErrorCode::TimeoutProxy => W::TimeoutProxy,
            ErrorCode::TimeoutTls => W::TimeoutTls,
            ErrorCode::TimeoutHandshake => W::TimeoutHandshake,
            ErrorCode::TlsCertUntrusted => W::TlsCertUntrusted,
            ErrorCode::TlsCertExpired => W::TlsCertExpired,
            ErrorCode::TlsCertNameMismatch => W::TlsCertNameMismatch,
            ErrorCode::TlsCertRevoked => W::TlsCertRevoked,
            ErrorCode::TlsCertInvalid => W::TlsCertInvalid,
            ErrorCode::Tls => W::Tls,
            ErrorCode::ProxyUnreachable => W::ProxyUnreachable,
            ErrorCode::ProxyAuth => W::ProxyAuth,
            ErrorCode::ProxyRefused => W::ProxyRefused,
            ErrorCode::ProxyClosed => W::ProxyClosed,
            ErrorCode::ProxyProtocol => W::ProxyProtocol,
            ErrorCode::HandshakeRefused => W::HandshakeRefused,
            ErrorCode::HandshakeInvalid => W::HandshakeInvalid,
            ErrorCode::HandshakeClosed => W::HandshakeClosed,
            ErrorCode::ProtocolViolation => W::ProtocolViolation,
            ErrorCode::InvalidUtf8 => W::InvalidUtf8,
            ErrorCode::MessageTooBig => W::MessageTooBig,
            ErrorCode::BlockedPort => W::BlockedPort,
            ErrorCode::ClosedWhileConnecting => W::ClosedWhileConnecting,
            ErrorCode::Released => W::Released,
            ErrorCode::ShutDown => W::ShutDown,
            _ => W::Other,
        }
    }
}

/// The cause of the error being delivered on this thread.
struct Current {
    code: ws_error_code,
    status: u16,
    headers: Vec<(CString, CString)>,
}

thread_local! {
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
}

fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

/// Makes the cause of an error readable by the getters while `f` (the
/// on_error callback) runs on this thread.
pub(crate) fn during<R>(code: ErrorCode, response: Option<&HttpResponse>, f: impl FnOnce() -> R) -> R {
    let current = Current {
        code: code.into(),
        status: response.map_or(0, |r| r.status),
        headers: response
            .map_or_else(Vec::new, |r| r.headers.iter().map(|(n, v)| (cstring(n), cstring(v))).collect()),
    };
    struct Restore(Option<Current>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            let _ = CURRENT.try_with(|c| *c.borrow_mut() = prev);
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.borrow_mut().replace(current)));
    f()
}

/// Inside on_error: why the connection was failed. Outside on_error (or on
/// another thread than the one running it): WS_ERROR_CODE_NONE. Never fails.
#[no_mangle]
pub extern "C" fn ws_error_cause() -> ws_error_code {
    ffi_value!(ws_error_code::None, {
        CURRENT
            .try_with(|c| c.borrow().as_ref().map(|c| c.code))
            .ok()
            .flatten()
            .unwrap_or(ws_error_code::None)
    })
}

/// Inside on_error for WS_ERROR_CODE_HANDSHAKE_REFUSED: the HTTP status the
/// server answered (401, 403, 429, 503, ...). 0 otherwise.
#[no_mangle]
pub extern "C" fn ws_error_http_status() -> u16 {
    ffi_value!(0, { CURRENT.try_with(|c| c.borrow().as_ref().map_or(0, |c| c.status)).unwrap_or(0) })
}

/// Inside on_error for WS_ERROR_CODE_HANDSHAKE_REFUSED: the value of the
/// server's first response header named `name` (case-insensitive), for
/// example "WWW-Authenticate" or "Retry-After". NULL when there is no such
/// header, outside on_error, or when `name` is NULL or not UTF-8. The
/// returned string is borrowed until on_error returns: copy it to keep it.
///
/// # Safety
/// `name` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ws_error_http_header(name: *const c_char) -> *const c_char {
    ffi_value!(std::ptr::null(), {
        if name.is_null() {
            return std::ptr::null();
        }
        let Ok(name) = c_str(name, "name") else {
            return std::ptr::null();
        };
        CURRENT
            .try_with(|c| {
                let c = c.borrow();
                let headers = &c.as_ref()?.headers;
                let found = headers.iter().find(|(n, _)| n.to_bytes().eq_ignore_ascii_case(name.as_bytes()));
                found.map(|(_, v)| v.as_ptr())
            })
            .ok()
            .flatten()
            .unwrap_or(std::ptr::null())
    })
}

/// A stable short name of an error code ("dns", "timeout_tls",
/// "handshake_refused", ...); "unknown" for a value that is not a
/// ws_error_code, "none" for WS_ERROR_CODE_NONE. Static storage: never free.
#[no_mangle]
pub extern "C" fn ws_error_code_str(code: u32) -> *const c_char {
    let name: &'static std::ffi::CStr = match code {
        0 => c"none",
        1 => c"other",
        2 => c"dns",
        3 => c"connection_refused",
        4 => c"connect_failed",
        10 => c"timeout_dns",
        11 => c"timeout_connect",
        12 => c"timeout_proxy",
        13 => c"timeout_tls",
        14 => c"timeout_handshake",
        20 => c"tls_cert_untrusted",
        21 => c"tls_cert_expired",
        22 => c"tls_cert_name_mismatch",
        23 => c"tls_cert_revoked",
        24 => c"tls_cert_invalid",
        25 => c"tls",
        30 => c"proxy_unreachable",
        31 => c"proxy_auth",
        32 => c"proxy_refused",
        33 => c"proxy_closed",
        34 => c"proxy_protocol",
        40 => c"handshake_refused",
        41 => c"handshake_invalid",
        42 => c"handshake_closed",
        50 => c"protocol_violation",
        51 => c"invalid_utf8",
        52 => c"message_too_big",
        60 => c"blocked_port",
        61 => c"closed_while_connecting",
        62 => c"released",
        63 => c"shut_down",
        _ => c"unknown",
    };
    name.as_ptr()
}
