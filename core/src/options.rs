//! Per-socket options. New fields get defaults, so bindings that build an
//! `Options` with `..Default::default()` keep compiling.

use crate::deflate::DeflateOffer;
use crate::error::{Error, ErrorKind};
use crate::proxy::Proxy;
use std::sync::Arc;
use std::time::Duration;

/// Default limit for one received message (64 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 << 20;
/// Default flow-control limit of a queued socket (64 MiB).
pub const DEFAULT_MAX_QUEUED_BYTES: u64 = 64 << 20;
/// Default time allowed for name resolution, TCP connect, the proxy, TLS
/// and the opening handshake, together.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time the closing handshake may take before the client drops TCP.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// After a complete closing handshake, how long to wait for the server to
/// close TCP before closing it ourselves (the browser's 2 seconds).
pub const TCP_CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Chromium's closing-handshake timeout, used in the Chromium-compatible mode.
pub const CHROMIUM_CLOSE_TIMEOUT: Duration = Duration::from_secs(60);

/// Extra trust anchors for `wss://`.
#[derive(Debug, Clone, Default)]
pub struct CaBundle {
    /// PEM-encoded certificates (the contents of one or more PEM files).
    pub pem: Vec<u8>,
    /// When true, only these anchors are trusted (not the system roots nor
    /// the bundled webpki roots).
    pub exclusive: bool,
}

/// A client certificate for mutual TLS: its chain (leaf first) and its
/// private key, both PEM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientCert {
    pub chain_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

/// Options of one socket.
#[derive(Debug, Clone)]
pub struct Options {
    /// Extra request headers, sent in order after the library's own.
    pub headers: Vec<(String, String)>,
    pub connect_timeout: Duration,
    pub close_timeout: Duration,
    /// Largest message accepted from the server; larger ones fail the
    /// connection with 1009.
    pub max_message_size: usize,
    /// Extra trust anchors (with the operating system's trust store), or
    /// the only ones (`exclusive`). Default: the operating system's trust
    /// store (the bundled webpki roots where it has none).
    pub ca: Option<CaBundle>,
    /// Certificate revocation lists (PEM, one or more `X509 CRL` blocks),
    /// checked against the certificates the exclusive CA bundle signs: a
    /// server certificate they list is refused (`TlsCertRevoked`). Needs
    /// an exclusive `ca` (the operating system's verifier takes no CRLs).
    pub ca_crl_pem: Option<Vec<u8>>,
    /// The certificate presented when the server asks for one (mutual TLS;
    /// shared: options are copied per socket, and kept by each connection).
    pub client_cert: Option<Arc<ClientCert>>,
    /// The proxy: from the environment by default (as curl reads it).
    pub proxy: Proxy,
    /// Apply the browser's list of blocked ports (off by default).
    pub block_unsafe_ports: bool,
    /// With queued dispatch ([`crate::WebSocket::connect_queued`]): stop
    /// reading from the network while this many message bytes wait in the
    /// queue (0: no limit). Default 64 MiB.
    pub max_queued_bytes: u64,
    /// DANGEROUS: accept any server certificate (expired, self-signed,
    /// untrusted, for another host), so anyone on the path can read and
    /// change the traffic. For tests against servers with throwaway
    /// certificates only. Off by default; never on by accident.
    pub dangerously_accept_invalid_certificates: bool,
    /// Behave as Chromium does where wsnative deliberately differs
    /// (SPEC.md, README "Deliberate differences"): the browser's blocked
    /// ports are refused (whatever `block_unsafe_ports` says), the closing
    /// handshake may take Chromium's 60 s (whatever `close_timeout` says),
    /// close codes from the server are accepted as Chromium accepts them
    /// (every code from 1000 up except 1005, 1006 and 1015), and invalid
    /// UTF-8 fails the connection with 1002 instead of 1007. Off by default.
    pub chromium_compat: bool,
    /// permessage-deflate (RFC 7692): the offer made to the server, or
    /// None for no compression. Default: Chromium's offer,
    /// `permessage-deflate; client_max_window_bits`.
    pub permessage_deflate: Option<DeflateOffer>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            headers: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            ca: None,
            ca_crl_pem: None,
            client_cert: None,
            proxy: Proxy::FromEnvironment,
            block_unsafe_ports: false,
            dangerously_accept_invalid_certificates: false,
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
            chromium_compat: false,
            permessage_deflate: Some(DeflateOffer::default()),
        }
    }
}

impl Options {
    /// The options in force: the Chromium-compatible mode overrides the
    /// port blocking and the close timeout.
    pub(crate) fn effective(mut self) -> Options {
        if self.chromium_compat {
            self.block_unsafe_ports = true;
            self.close_timeout = CHROMIUM_CLOSE_TIMEOUT;
        }
        self
    }
}

/// Headers the library writes itself; the application may not set them.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "sec-websocket-accept",
    "content-length",
    "transfer-encoding",
];

/// Checks one extra request header: a token name, a value without CR, LF or
/// NUL, and not a header the handshake itself owns.
pub fn check_header(name: &str, value: &str) -> Result<(), Error> {
    let bad = |m: String| Err(Error::new(ErrorKind::InvalidOption, m));
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        return bad(format!("the header name '{}' is not a valid HTTP token", name.escape_debug()));
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return bad(format!("the value of header '{name}' contains CR, LF or NUL"));
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return bad(format!("the header '{name}' is set by the library and cannot be overridden"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_rules() {
        assert!(check_header("Origin", "https://example.com").is_ok());
        assert!(check_header("X-Token", "").is_ok());
        for (n, v) in [
            ("X", "a\r\nInjected: 1"),
            ("X", "a\nb"),
            ("Bad Name", "v"),
            ("", "v"),
            ("Host", "h"),
            ("sec-websocket-key", "k"),
        ] {
            assert_eq!(check_header(n, v).unwrap_err().kind(), ErrorKind::InvalidOption, "{n}: {v}");
        }
    }
}
