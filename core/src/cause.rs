//! Why a connection failed, as a stable code a program can act on, next to
//! the readable message of the error event.

use std::fmt;

/// The cause of an error event. The numbers are stable: new causes get new
/// numbers, none is ever renumbered (the C ABI and Python expose them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
#[non_exhaustive]
pub enum ErrorCode {
    /// A failure no other code describes. Not produced by this version
    /// (every failure it knows has its own code); kept, with its number,
    /// for causes a later version may not classify, so that programs
    /// handle it as they handle codes they do not know.
    Other = 1,
    /// The host name could not be resolved (or has no address).
    Dns = 2,
    /// Every address refused the TCP connection.
    ConnectionRefused = 3,
    /// TCP could not connect for another reason (unreachable network, ...).
    ConnectFailed = 4,
    /// The connect timeout ran out while resolving the host name.
    TimeoutDns = 10,
    /// ... while connecting TCP (to the server or to the proxy).
    TimeoutConnect = 11,
    /// ... while the proxy set up the tunnel.
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
    /// The TLS handshake failed for another reason (no common protocol
    /// version, the server refused our client certificate, ...).
    Tls = 25,
    /// The proxy could not be reached (refused, unresolvable, TLS to it).
    ProxyUnreachable = 30,
    /// The proxy asked for credentials, or refused the ones given
    /// (HTTP 407, SOCKS5 authentication failure).
    ProxyAuth = 31,
    /// The proxy refused to open the tunnel (an HTTP status other than 2xx
    /// and 407, a SOCKS5 error reply).
    ProxyRefused = 32,
    /// The proxy closed the connection before the tunnel was open.
    ProxyClosed = 33,
    /// The proxy's answer was not valid HTTP or SOCKS5.
    ProxyProtocol = 34,
    /// The server answered the opening handshake with a status other than
    /// 101; the status and headers are in [`HttpResponse`].
    HandshakeRefused = 40,
    /// The server answered 101 but the response breaks RFC 6455 (wrong
    /// accept key, subprotocol or extension not offered, ...).
    HandshakeInvalid = 41,
    /// The server closed the connection during the opening handshake.
    HandshakeClosed = 42,
    /// The server broke the WebSocket protocol after the handshake (1002).
    ProtocolViolation = 50,
    /// The server sent invalid UTF-8 in a text message or close reason (1007).
    InvalidUtf8 = 51,
    /// A message from the server is larger than the configured maximum (1009).
    MessageTooBig = 52,
    /// The port is on the browser's list of blocked ports.
    BlockedPort = 60,
    /// close() was called before the connection was established.
    ClosedWhileConnecting = 61,
    /// The socket was released while connecting (its handle dropped, or
    /// [`crate::WebSocket::release`]): seen by a handler that outlives the
    /// handle. The C and Python bindings deliver no events after a release.
    Released = 62,
    /// The library was shut down while connecting.
    ShutDown = 63,
}

impl ErrorCode {
    /// A short stable name (`"dns"`, `"timeout_tls"`, ...).
    pub fn name(self) -> &'static str {
        use ErrorCode::*;
        match self {
            Other => "other",
            Dns => "dns",
            ConnectionRefused => "connection_refused",
            ConnectFailed => "connect_failed",
            TimeoutDns => "timeout_dns",
            TimeoutConnect => "timeout_connect",
            TimeoutProxy => "timeout_proxy",
            TimeoutTls => "timeout_tls",
            TimeoutHandshake => "timeout_handshake",
            TlsCertUntrusted => "tls_cert_untrusted",
            TlsCertExpired => "tls_cert_expired",
            TlsCertNameMismatch => "tls_cert_name_mismatch",
            TlsCertRevoked => "tls_cert_revoked",
            TlsCertInvalid => "tls_cert_invalid",
            Tls => "tls",
            ProxyUnreachable => "proxy_unreachable",
            ProxyAuth => "proxy_auth",
            ProxyRefused => "proxy_refused",
            ProxyClosed => "proxy_closed",
            ProxyProtocol => "proxy_protocol",
            HandshakeRefused => "handshake_refused",
            HandshakeInvalid => "handshake_invalid",
            HandshakeClosed => "handshake_closed",
            ProtocolViolation => "protocol_violation",
            InvalidUtf8 => "invalid_utf8",
            MessageTooBig => "message_too_big",
            BlockedPort => "blocked_port",
            ClosedWhileConnecting => "closed_while_connecting",
            Released => "released",
            ShutDown => "shut_down",
        }
    }

    /// The code of a close code the client failed the connection with.
    pub(crate) fn of_violation(close_code: u16) -> ErrorCode {
        match close_code {
            1007 => ErrorCode::InvalidUtf8,
            1009 => ErrorCode::MessageTooBig,
            _ => ErrorCode::ProtocolViolation,
        }
    }
}

/// The server's answer to a refused opening handshake: its status and
/// headers, in order (a 401's `WWW-Authenticate`, a 429's `Retry-After`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl HttpResponse {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Why an error event happened, beside its message (boxed in the event, so
/// that events stay as small as before).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub code: ErrorCode,
    /// For [`ErrorCode::HandshakeRefused`]: the server's answer.
    pub response: Option<HttpResponse>,
}

impl Cause {
    pub fn new(code: ErrorCode) -> Box<Cause> {
        Box::new(Cause { code, response: None })
    }
}

/// A connection failure: its code, the readable message, and for a refused
/// handshake the server's response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: ErrorCode,
    pub message: String,
    pub response: Option<HttpResponse>,
}

impl Failure {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into(), response: None }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
