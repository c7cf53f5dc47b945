//! Entry points for the fuzz targets in `fuzz/` (not part of the API): each
//! takes arbitrary bytes, feeds one parser of untrusted input, and panics
//! only on a broken invariant.

use crate::validate::{check_close, check_protocols, parse_url, redact};

/// URL and protocol-list parsing: never panics; a parsed URL serializes to
/// a fixed point; a redacted string never contains the password.
pub fn url_and_protocols(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\n');
    let url = parts.next().unwrap_or_default();
    if let Ok(u) = parse_url(url) {
        let again = parse_url(u.as_str()).expect("a serialized URL parses again");
        assert_eq!(again.as_str(), u.as_str(), "serialization is not a fixed point");
        let redacted = parse_url(&redact(u.as_str())).expect("a redacted URL parses");
        assert!(redacted.url.username().is_empty() && redacted.url.password().is_none(), "credentials kept");
    }
    let protocols: Vec<&str> = parts.collect();
    if check_protocols(&protocols).is_ok() {
        for p in &protocols {
            assert!(
                !p.is_empty()
                    && p.bytes().all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
            );
        }
    }
}

/// Option values: header checks, CA bundles, close arguments.
pub fn option_values(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (name, value) = text.split_once('\n').unwrap_or((&text, ""));
    if crate::options::check_header(name, value).is_ok() {
        assert!(!value.contains(['\r', '\n', '\0']), "CR/LF/NUL accepted in a header value");
    }
    let _ = crate::tls::parse_ca_pem(data);
    let _ = crate::tls::parse_client_cert(data, data);
    if let Ok(p) = crate::proxy::ProxyUrl::parse(name) {
        // What names the proxy never carries the credentials (no userinfo).
        let shown = format!("{p} {p:?}");
        assert!(!shown.contains('@'), "credentials shown: {shown}");
    }
    let _ = crate::proxy::bypasses(name, value);
    if data.len() >= 2 {
        let code = u16::from_be_bytes([data[0], data[1]]);
        let reason = String::from_utf8_lossy(&data[2..]);
        if check_close(Some(code), Some(&reason)).is_ok() {
            assert!(code == 1000 || (3000..=4999).contains(&code));
            assert!(reason.len() <= 123);
        }
    }
}

/// The server's handshake response, checked against a fixed request.
pub fn handshake_response(data: &[u8]) {
    let offered = ["chat".to_string(), "superchat".to_string()];
    let protocols: &[String] = if data.first().is_some_and(|b| b & 1 == 1) { &offered } else { &[] };
    let offer = crate::deflate::DeflateOffer::default();
    let offered = data.first().is_some_and(|b| b & 2 == 2).then_some(&offer);
    if let Ok(a) = crate::handshake::check_response(data, "dGhlIHNhbXBsZSBub25jZQ==", protocols, offered) {
        assert!(protocols.is_empty() && a.protocol.is_empty() || protocols.contains(&a.protocol));
        assert_eq!(a.extensions.is_empty(), a.deflate.is_none());
        if let Some(d) = a.deflate {
            assert!(offered.is_some(), "an extension that was not offered");
            assert!(
                (8..=15).contains(&d.server_max_window_bits) && (8..=15).contains(&d.client_max_window_bits)
            );
        }
    }
}

/// A proxy's answer to the tunnel request: `data[0]` chooses the proxy
/// (bit 0: SOCKS5, else HTTP CONNECT; bit 1: with credentials; bit 2: a
/// target given as an address), the rest is what the proxy sends before it
/// closes. Never panics; a tunnel is only reported open after a 2xx status
/// line or a SOCKS5 success reply; no message shows the password.
pub fn proxy_reply(data: &[u8]) {
    crate::tunnel::fuzz_reply(data);
}

/// The server's byte stream after the handshake, through the whole engine.
/// The first byte chooses client actions (bit 0: send a message, bit 1:
/// close(1000), bit 2: the server keeps TCP open for 10 s of virtual time,
/// bit 3: permessage-deflate negotiated, bit 4: small messages lent from
/// the read buffer).
pub fn server_stream(data: &[u8]) {
    let (actions, bytes) = data.split_first().map_or((0, &[][..]), |(a, b)| (*a, b));
    crate::connection::fuzz_server_stream(actions, bytes);
}

/// The inflate path: `data[1..]` is the payload of a compressed message
/// (permessage-deflate negotiated), sent twice (the second inflates with
/// the first one's context), each time cut into 1 to 4 frames (bits 1-2 of
/// `data[0]`), as text (bit 0) or binary, read with a 64 KiB message
/// limit (bit 3: Chromium's close codes; bits 4-5: small messages copied,
/// shared or lent). Every message delivered is within the limit and, as text, valid
/// UTF-8; anything else fails with 1002, 1007 or 1009.
pub fn inflate(data: &[u8]) {
    crate::incoming::fuzz_inflate(data, 64 << 10);
}
