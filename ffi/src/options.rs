//! `ws_options`: an opaque, growable set of socket options.

use crate::boundary::{bytes, c_str, ffi_result, non_null};
use crate::result::{fail, fail_with, ws_result};
use std::ffi::c_char;
use std::time::Duration;
use wsnative_core::options::check_header;
use wsnative_core::tls::{parse_client_cert, read_ca_file, MAX_CA_BUNDLE};
use wsnative_core::{CaBundle, ClientCert, DeflateOffer, Options, Proxy, ProxyUrl};

/// How a socket's callbacks are run.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum ws_dispatch {
    /// Callbacks run on a library thread as soon as each event happens
    /// (the default). They must return quickly and must not block.
    Immediate = 0,
    /// Events wait in the socket's queue, in order, until the application
    /// calls ws_poll() on a thread of its choice.
    Queued = 1,
}

/// Options for ws_new(). Create with ws_options_new(), set what you need,
/// pass to ws_new() (which copies them: the same options may serve any
/// number of sockets), release with ws_options_free().
///
/// Methods: ws_options_new, ws_options_free, ws_options_add_header,
/// ws_options_set_connect_timeout_ms, ws_options_set_close_timeout_ms,
/// ws_options_set_max_message_size, ws_options_set_ca_file,
/// ws_options_set_ca_pem, ws_options_set_ca_crl_pem, ws_options_set_dispatch,
/// ws_options_set_block_unsafe_ports,
/// ws_options_set_dangerously_accept_invalid_certificates,
/// ws_options_set_max_queued_bytes, ws_options_set_chromium_compat,
/// ws_options_set_compression, ws_options_set_compression_window_bits,
/// ws_options_set_compression_no_context_takeover, ws_options_set_proxy,
/// ws_options_set_client_cert_pem.
///
/// Thread safety: an options object may be read by several ws_new() calls at
/// once, but must not be modified while another thread uses it.
#[allow(non_camel_case_types)]
pub struct ws_options {
    pub(crate) core: Options,
    pub(crate) dispatch: ws_dispatch,
    /// The compression offer, kept while compression is off.
    pub(crate) offer: DeflateOffer,
}

impl ws_options {
    fn set_offer(&mut self, on: bool, offer: DeflateOffer) {
        self.offer = offer;
        self.core.permessage_deflate = on.then_some(offer);
    }
}

/// Creates an options object with every default: no extra headers, connect
/// timeout 30 s, close timeout 5 s, max message size 64 MiB, system and
/// bundled CA roots, immediate dispatch, no port blocking, compression
/// offered as Chromium offers it.
///
/// Returns an owned pointer (never NULL): to avoid a memory leak it must
/// eventually be released with ws_options_free().
#[no_mangle]
pub extern "C" fn ws_options_new() -> *mut ws_options {
    let core = Options::default();
    let offer = core.permessage_deflate.unwrap_or_default();
    Box::into_raw(Box::new(ws_options { core, dispatch: ws_dispatch::Immediate, offer }))
}

/// Releases an options object. Calling with NULL is fine. Must not be called
/// twice with the same value. Sockets created with it are not affected.
///
/// # Safety
/// `options` must be NULL or a pointer returned by ws_options_new().
#[no_mangle]
pub unsafe extern "C" fn ws_options_free(options: *mut ws_options) {
    if !options.is_null() {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(Box::from_raw(options))));
    }
}

/// Adds a request header sent with the opening handshake (for example
/// `Origin`, `Authorization` or `Cookie`; none of these is sent otherwise).
/// Both strings are borrowed for the duration of the call (copied).
///
/// Returns WS_RESULT_INVALID_OPTION when the name is not an HTTP token, the
/// value contains CR, LF or NUL, or the header is one the handshake sets
/// itself (Host, Upgrade, Connection, Sec-WebSocket-*).
///
/// # Safety
/// `name` and `value` must be NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn ws_options_add_header(
    options: *mut ws_options,
    name: *const c_char,
    value: *const c_char,
) -> ws_result {
    ffi_result!({
        non_null!(options, "options");
        non_null!(name, "name");
        non_null!(value, "value");
        let name = match c_str(name, "header name") {
            Ok(s) => s,
            Err(r) => return r,
        };
        let value = match c_str(value, "header value") {
            Ok(s) => s,
            Err(r) => return r,
        };
        if let Err(e) = check_header(name, value) {
            return fail_with(e);
        }
        (*options).core.headers.push((name.to_string(), value.to_string()));
        ws_result::Ok
    })
}

/// Time allowed for DNS, TCP connect, TLS and the opening handshake
/// together; when it runs out the socket gets error then close 1006.
/// Must be at least 1 ms.
///
/// # Safety
/// `options` must be NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn ws_options_set_connect_timeout_ms(options: *mut ws_options, ms: u64) -> ws_result {
    ffi_result!({
        non_null!(options, "options");
        if ms == 0 {
            return fail(ws_result::InvalidOption, "the connect timeout must be at least 1 ms");
        }
        (*options).core.connect_timeout = Duration::from_millis(ms);
        ws_result::Ok
    })
}

/// Time the closing handshake may take after ws_close() (or after the
/// server's Close) before the library drops TCP and reports close 1006
/// (default 5000 ms; the browser waits longer). Must be at least 1 ms.
///
/// # Safety
/// `options` must be NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn ws_options_set_close_timeout_ms(options: *mut ws_options, ms: u64) -> ws_result {
    ffi_result!({
        non_null!(options, "options");
        if ms == 0 {
            return fail(ws_result::InvalidOption, "the close timeout must be at least 1 ms");
        }
        (*options).core.close_timeout = Duration::from_millis(ms);
        ws_result::Ok
    })
}

/// Largest message accepted from the server, in bytes (default 64 MiB). A
/// larger message fails the connection: the library sends Close 1009 and
/// the application gets error then close 1006. Must be at least 1.
///
/// # Safety
/// `options` must be NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn ws_options_set_max_message_size(
    options: *mut ws_options,
    bytes: usize,
) -> ws_result {
    ffi_result!({
        non_null!(options, "options");
        if bytes == 0 {
            return fail(ws_result::InvalidOption, "the maximum message size must be at least 1 byte");
        }
        (*options).core.max_message_size = bytes;
        ws_result::Ok
    })
}

/// `len` bytes of PEM at `pem` (`what`: "the CA bundle is"), at most
/// 16 MiB.
unsafe fn pem_bytes<'a>(pem: *const u8, len: usize, what: &str) -> Result<&'a [u8], ws_result> {
    let pem = bytes(pem, len, "pem")?;
    if pem.len() as u64 > MAX_CA_BUNDLE {
        return Err(fail(ws_result::InvalidOption, &format!("{what} larger than 16 MiB ({len} bytes)")));
    }
    Ok(pem)
}

fn set_ca(options: &mut ws_options, pem: Vec<u8>, exclusive: bool) -> ws_result {
    if let Err(e) = wsnative_core::tls::parse_ca_pem(&pem) {
        return fail_with(e);
    }
    options.core.ca = Some(CaBundle { pem, exclusive });
    ws_result::Ok
}

/// Trusts the certificates of a PEM file for wss:// in addition to the
/// operating system's trust store, or instead of it when `exclusive` is
/// true. The trust configuration is built once per distinct setting, on a
/// library thread (not in ws_new()), and shared, so sessions resume.
/// The file is read now; `path` is borrowed for the call.
///
/// Returns WS_RESULT_INVALID_OPTION, with the reason in ws_last_error(), if
/// the file cannot be read, is not a regular file (a directory, a device
/// such as /dev/zero, a FIFO or a socket: refused without being read, so
/// the call never blocks), is larger than 16 MiB, or holds no PEM
/// certificate.
///
/// # Safety
/// `options` must be a live options object; `path` a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ws_options_set_ca_file(
    options: *mut ws_options,
    path: *const c_char,
    exclusive: bool,
) -> ws_result {
    ffi_result!({
        non_null!(options, "options");
        non_null!(path, "path");
        let path = std::ffi::CStr::from_ptr(path);
        #[cfg(unix)]
        let path = std::path::Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(
            path.to_bytes(),
        ));
        #[cfg(not(unix))]
        let path_string = path.to_string_lossy().into_owned();
        #[cfg(not(unix))]
        let path = std::path::Path::new(&path_string);
        match read_ca_file(path) {
            Ok(pem) => set_ca(&mut *options, pem, exclusive),
            Err(message) => fail(ws_result::InvalidOption, &message),
        }
    })
}

/// Like ws_options_set_ca_file() with the PEM text in memory (`len` bytes at
/// `pem`, copied). WS_RESULT_INVALID_OPTION above 16 MiB;
/// WS_RESULT_INVALID_LENGTH above PTRDIFF_MAX (nothing is read).
///
/// # Safety
/// `options` must be a live options object; `pem` must point to `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn ws_options_set_ca_pem(
    options: *mut ws_options,
    pem: *const u8,
    len: usize,
    exclusive: bool,
) -> ws_result {
    ffi_result!({
        non_null!(options, "options");
        match pem_bytes(pem, len, "the CA bundle is") {
            Ok(pem) => set_ca(&mut *options, pem.to_vec(), exclusive),
            Err(r) => r,
        }
    })
}

/// Checks the server certificates that an exclusive CA bundle signs
/// against these certificate revocation lists (`len` bytes of PEM at `pem`,
/// one or more `X509 CRL` blocks, copied; they replace any set before): a
/// revoked certificate fails the connection with
/// WS_ERROR_CODE_TLS_CERT_REVOKED. Every certificate of the chain whose
/// issuer published one of these lists is checked; one whose issuer has
/// none here is not refused for that. The operating system's verifier takes
/// no lists, so they need an exclusive bundle (ws_options_set_ca_file() or
/// ws_options_set_ca_pem() with `exclusive` true): ws_new() returns
/// WS_RESULT_INVALID_OPTION otherwise. `pem` NULL with `len` 0 removes them.
///
/// Returns WS_RESULT_INVALID_OPTION, with the reason in ws_last_error(), if
/// the text holds no PEM CRL or is larger than 16 MiB;
/// WS_RESULT_INVALID_LENGTH above PTRDIFF_MAX (nothing is read).
///
/// # Safety
/// `options` must be a live options object; `pem` must point to `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn ws_options_set_ca_crl_pem(
    options: *mut ws_options,
    pem: *const u8,
    len: usize,
) -> ws_result {
    ffi_result!({
        non_null!(options, "options");
        if pem.is_null() && len == 0 {
            (*options).core.ca_crl_pem = None;
            return ws_result::Ok;
        }
        let pem = match pem_bytes(pem, len, "the revocation lists are") {
            Ok(p) => p,
            Err(r) => return r,
        };
        if let Err(e) = wsnative_core::tls::parse_crl_pem(pem) {
            return fail_with(e);
        }
        (*options).core.ca_crl_pem = Some(pem.to_vec());
        ws_result::Ok
    })
}

/// Chooses immediate or queued dispatch: `mode` is WS_DISPATCH_IMMEDIATE or
/// WS_DISPATCH_QUEUED (see ws_dispatch); anything else is
/// WS_RESULT_INVALID_OPTION.
///
/// # Safety
/// `options` must be NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn ws_options_set_dispatch(options: *mut ws_options, mode: u32) -> ws_result {
    ffi_result!({
        non_null!(options, "options");
        (*options).dispatch = match mode {
            0 => ws_dispatch::Immediate,
            1 => ws_dispatch::Queued,
            _ => return fail(ws_result::InvalidOption, &format!("unknown dispatch mode {mode}")),
        };
        ws_result::Ok
    })
}

/// Applies the browser's list of blocked ports (Fetch "bad ports"): a URL on
/// such a port fails with error then close 1006. Off by default, since a
/// native program may talk to any port.
///
/// # Safety
/// `options` must be NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn ws_options_set_block_unsafe_ports(
    options: *mut ws_options,
    block: bool,
) -> ws_result {
    ffi_result!({
        non_null!(options, "options");
        (*options).core.block_unsafe_ports = block;
        ws_result::Ok
    })
}

/// DANGEROUS. When `accept` is true, wss:// connections accept ANY server
/// certificate: expired, self-signed, untrusted or issued for another host.
/// Anyone between the program and the server can then read and change the
/// traffic. Meant for tests against servers with throwaway certificates;
/// prefer ws_options_set_ca_file() with the test CA. Off by default.
///
/// # Safety
/// `options` must be NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn ws_options_set_dangerously_accept_invalid_certificates(
    options: *mut ws_options,
    accept: bool,
) -> ws_result {
    ffi_result!({
        non_null!(options, "options");
        (*options).core.dangerously_accept_invalid_certificates = accept;
        ws_result::Ok
    })
}

/// With WS_DISPATCH_QUEUED: while the events waiting in the socket's queue
/// (not yet dispatched by ws_poll()) cost `bytes` or more, the library stops
/// reading from the network, so a server that sends faster than the
/// application polls is held back by TCP flow control instead of filling
/// memory. Each event counts at its real cost: its payload (message bytes,
/// error text, close reason) plus 96 bytes, so a storm of empty messages is
/// bounded too. 0 means no limit. Default 64 MiB. A single message larger
/// than the limit is still delivered. After ws_close() the limit no longer
/// applies (queued messages are then dropped anyway). Pongs never pile up
/// either way: only the answer to the most recent ping waits for a server
/// that does not read: beyond 4 KiB of them, the answer to the most recent
/// ping replaces the last one waiting (RFC 6455 5.5.3).
///
/// # Safety
/// `options` must be NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn ws_options_set_max_queued_bytes(options: *mut ws_options, bytes: u64) -> ws_result {
    ffi_result!({
        non_null!(options, "options");
        (*options).core.max_queued_bytes = bytes;
        ws_result::Ok
    })
}

/// The Chromium-compatible mode: when `on` is true the socket behaves as
/// Chromium does where wsnative deliberately differs (README, "Deliberate
/// differences from the browser"): the browser's blocked ports are refused
/// (ws_options_set_block_unsafe_ports() is then ignored), the closing
/// handshake may take Chromium's 60 s (ws_options_set_close_timeout_ms() is
/// then ignored), close codes from the server are accepted as Chromium
/// accepts them (all but 1005, 1006 and 1015), and invalid UTF-8 fails the
/// connection with close code 1002 instead of 1007. Off by default.
///
/// # Safety
/// `options` must be NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn ws_options_set_chromium_compat(options: *mut ws_options, on: bool) -> ws_result {
    ffi_result!({
        non_null!(options, "options");
        (*options).core.chromium_compat = on;
        ws_result::Ok
    })
}

/// Compression (permessage-deflate, RFC 7692). When `on` (the default) the
/// client offers it exactly as Chromium does,
/// `Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits`;
/// a server that accepts it sends and receives compressed messages, and
/// ws_extensions() shows its answer. The message size limit
/// (ws_options_set_max_message_size) applies to the decompressed size.
/// `on` false: nothing is offered, and a server that answers with an
/// extension anyway fails the connection. The window bits and context
/// takeover settings below are kept while compression is off.
///
/// # Safety
/// `options` must be NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn ws_options_set_compression(options: *mut ws_options, on: bool) -> ws_result {
    ffi_result!({
        non_null!(options, "options");
        let o = &mut *options;
        o.set_offer(on, o.offer);
        ws_result::Ok
    })
}

/// The window sizes in the compression offer, as base-2 logarithms.
/// `client_max_window_bits`: 0 (the default, as Chromium) offers the
/// parameter without a value (the server may then limit the client's
/// window); 8 to 15 caps the window the client compresses with.
/// `server_max_window_bits`: 0 (the default, as Chromium) leaves it out;
/// 8 to 15 asks the server to compress with no larger a window, and a
/// server that does not agree fails the connection. Any other value returns
/// WS_RESULT_INVALID_OPTION and changes nothing. Does not turn compression
/// on if it was turned off.
///
/// # Safety
/// `options` must be NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn ws_options_set_compression_window_bits(
    options: *mut ws_options,
    client_max_window_bits: u32,
    server_max_window_bits: u32,
) -> ws_result {
    ffi_result!({
        non_null!(options, "options");
        for (name, b) in [
            ("client_max_window_bits", client_max_window_bits),
            ("server_max_window_bits", server_max_window_bits),
        ] {
            if b != 0 && !(8..=15).contains(&b) {
                return fail(ws_result::InvalidOption, &format!("{name} must be 0 or from 8 to 15, not {b}"));
            }
        }
        let bits = |b: u32| -> Option<u8> { (b != 0).then_some(b as u8) };
        let o = &mut *options;
        match DeflateOffer::new(
            bits(client_max_window_bits),
            bits(server_max_window_bits),
            o.offer.client_no_context_takeover,
        ) {
            Ok(offer) => {
                o.set_offer(o.core.permessage_deflate.is_some(), offer);
                ws_result::Ok
            }
            Err(e) => fail(ws_result::InvalidOption, e.message()),
        }
    })
}

/// When `on` the compression offer includes `client_no_context_takeover`:
/// the client compresses every message on its own, so the server needs no
/// window per connection for it (smaller messages are less compressed).
/// Off by default (Chromium does not offer it). Does not turn compression
/// on if it was turned off.
///
/// # Safety
/// `options` must be NULL or a live options object.
#[no_mangle]
pub unsafe extern "C" fn ws_options_set_compression_no_context_takeover(
    options: *mut ws_options,
    on: bool,
) -> ws_result {
    ffi_result!({
        non_null!(options, "options");
        let o = &mut *options;
        let offer = DeflateOffer { client_no_context_takeover: on, ..o.offer };
        o.set_offer(o.core.permessage_deflate.is_some(), offer);
        ws_result::Ok
    })
}

/// Chooses the proxy of the sockets made with these options. `proxy_url`:
/// - NULL: from the environment, as curl reads it (the default):
///   `https_proxy`/`HTTPS_PROXY` for wss://, `http_proxy` for ws://, then
///   `all_proxy`/`ALL_PROXY`; `no_proxy`/`NO_PROXY` lists hosts (suffixes),
///   IP addresses and CIDR blocks to reach directly, or `*` for all.
///   As in curl, loopback destinations go through that proxy too unless
///   `no_proxy` names them;
/// - "" (empty): no proxy, whatever the environment says;
/// - a proxy URL: `http://[user:password@]host[:port]` (HTTP CONNECT, Basic
///   authentication), `https://...` (the same over TLS to the proxy, which
///   is verified with these options' trust settings), `socks5://...`
///   (SOCKS5, the host resolved locally) or `socks5h://...` (resolved by
///   the proxy). Credentials are percent-decoded. Default port: 1080 (443
///   for https://), as in curl.
///
/// The environment is read when each connection starts, on a library
/// thread: do not change it (setenv) while sockets are being created.
///
/// `proxy_url` is borrowed for the call (copied). A proxy that refuses, asks
/// for credentials or closes before the tunnel is open fails the connection
/// (on_error, whose message names the proxy but never its password, then
/// on_close 1006; ws_error_cause() says which failure).
///
/// Returns WS_RESULT_INVALID_OPTION when the URL does not parse or its
/// scheme is not one of the above.
///
/// # Safety
/// `options` must be a live options object; `proxy_url` NULL or a
/// NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ws_options_set_proxy(
    options: *mut ws_options,
    proxy_url: *const c_char,
) -> ws_result {
    ffi_result!({
        non_null!(options, "options");
        if proxy_url.is_null() {
            (*options).core.proxy = Proxy::FromEnvironment;
            return ws_result::Ok;
        }
        let url = match c_str(proxy_url, "proxy URL") {
            Ok(s) => s,
            Err(r) => return r,
        };
        if url.trim().is_empty() {
            (*options).core.proxy = Proxy::Direct;
            return ws_result::Ok;
        }
        match ProxyUrl::parse(url) {
            Ok(p) => {
                (*options).core.proxy = Proxy::Url(std::sync::Arc::new(p));
                ws_result::Ok
            }
            Err(e) => fail_with(e),
        }
    })
}

/// Presents a client certificate when a wss:// server asks for one (mutual
/// TLS): `chain_pem` holds the certificate chain (leaf first) and `key_pem`
/// its private key (PKCS#8, PKCS#1 or SEC1), both PEM, copied. Passing NULL
/// for both removes the client certificate.
///
/// Returns WS_RESULT_INVALID_OPTION when either is not valid PEM, the chain
/// holds no certificate or the key no private key, or a length is over
/// 16 MiB; WS_RESULT_NULL_ARGUMENT when only one of the two is NULL.
///
/// # Safety
/// `options` must be a live options object; each pointer NULL or valid for
/// its length.
#[no_mangle]
pub unsafe extern "C" fn ws_options_set_client_cert_pem(
    options: *mut ws_options,
    chain_pem: *const u8,
    chain_len: usize,
    key_pem: *const u8,
    key_len: usize,
) -> ws_result {
    ffi_result!({
        non_null!(options, "options");
        if chain_pem.is_null() && key_pem.is_null() {
            (*options).core.client_cert = None;
            return ws_result::Ok;
        }
        non_null!(chain_pem, "chain_pem");
        non_null!(key_pem, "key_pem");
        if chain_len as u64 > MAX_CA_BUNDLE || key_len as u64 > MAX_CA_BUNDLE {
            return fail(ws_result::InvalidOption, "the client certificate or key is larger than 16 MiB");
        }
        let chain = match bytes(chain_pem, chain_len, "chain_pem") {
            Ok(b) => b.to_vec(),
            Err(r) => return r,
        };
        let key = match bytes(key_pem, key_len, "key_pem") {
            Ok(b) => b.to_vec(),
            Err(r) => return r,
        };
        if let Err(e) = parse_client_cert(&chain, &key) {
            return fail_with(e);
        }
        (*options).core.client_cert =
            Some(std::sync::Arc::new(ClientCert { chain_pem: chain, key_pem: key }));
        ws_result::Ok
    })
}
