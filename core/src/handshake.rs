//! The opening handshake, client side (RFC 6455 4.1 and 4.2.2), written out
//! by hand so that every check the browser makes is made here.

use crate::cause::{ErrorCode, Failure, HttpResponse};
use crate::deflate::{self, DeflateOffer, DeflateParams};
use crate::validate::WsUrl;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tungstenite::handshake::derive_accept_key;

/// Largest response head accepted.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
/// First allocation for the response head (a typical one is 130 to 300 bytes).
const RESPONSE_HEAD_CAPACITY: usize = 1024;

pub(crate) struct Accepted {
    pub protocol: String,
    pub extensions: String,
    /// permessage-deflate, when the server accepted it.
    pub deflate: Option<DeflateParams>,
    /// Bytes that followed the response head (the first frames).
    pub leftover: Vec<u8>,
}

/// What the request asks for besides the URL.
pub(crate) struct Request<'a> {
    pub protocols: &'a [String],
    pub headers: &'a [(String, String)],
    /// permessage-deflate, when offered.
    pub deflate: Option<&'a DeflateOffer>,
}

pub(crate) fn request(url: &WsUrl, key: &str, req: &Request<'_>) -> Vec<u8> {
    let Request { protocols, headers, .. } = *req;
    let mut r = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n",
        url.resource(),
        url.host_header()
    );
    if let Some(offer) = req.deflate {
        r.push_str(&format!("Sec-WebSocket-Extensions: {}\r\n", offer.header_value()));
    }
    if !protocols.is_empty() {
        r.push_str(&format!("Sec-WebSocket-Protocol: {}\r\n", protocols.join(", ")));
    }
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("user-agent")) {
        r.push_str(concat!("User-Agent: wsnative/", env!("CARGO_PKG_VERSION"), "\r\n"));
    }
    for (n, v) in headers {
        r.push_str(&format!("{n}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.into_bytes()
}

pub(crate) async fn perform<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    url: &WsUrl,
    req: &Request<'_>,
) -> Result<Accepted, Failure> {
    let key = tungstenite::handshake::client::generate_key();
    let closed = |m: String| Failure::new(ErrorCode::HandshakeClosed, m);
    stream
        .write_all(&request(url, &key, req))
        .await
        .map_err(|e| closed(format!("cannot send the handshake request: {e}")))?;
    stream.flush().await.map_err(|e| closed(format!("cannot send the handshake request: {e}")))?;

    // Read straight into the heap buffer: an array on the stack here would
    // live in every connection's task for its whole life.
    let mut buf = Vec::with_capacity(RESPONSE_HEAD_CAPACITY);
    let head_len = loop {
        if let Some(i) = find_head_end(&buf) {
            break i;
        }
        if buf.len() > MAX_RESPONSE_HEAD {
            return Err(Failure::new(
                ErrorCode::HandshakeInvalid,
                format!("the server's handshake response is larger than {MAX_RESPONSE_HEAD} bytes"),
            ));
        }
        if buf.len() == buf.capacity() {
            buf.reserve(buf.len());
        }
        let n = stream.read_buf(&mut buf).await.map_err(|e| {
            // A TLS alert here is the server refusing the connection after
            // the TLS handshake (TLS 1.3: a missing or refused client
            // certificate).
            let code = if crate::tls::is_tls_error(&e) { ErrorCode::Tls } else { ErrorCode::HandshakeClosed };
            Failure::new(code, format!("reading the handshake response: {e}"))
        })?;
        if n == 0 {
            return Err(closed("the server closed the connection during the handshake".into()));
        }
    };
    let accepted = check_response(&buf[..head_len], &key, req.protocols, req.deflate)?;
    Ok(Accepted { leftover: buf[head_len..].to_vec(), ..accepted })
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Checks a complete response head against the request.
/// The most characters of a server-controlled value an error message shows.
const SHOWN_CHARS: usize = 80;

/// A server-controlled value as an error message shows it: control
/// characters escaped, and at most [`SHOWN_CHARS`] characters, with the
/// full length when cut (a hostile server must not make messages huge).
pub(crate) fn shown(v: &str) -> String {
    let mut out: String = v.chars().take(SHOWN_CHARS).flat_map(char::escape_debug).collect();
    if v.chars().nth(SHOWN_CHARS).is_some() {
        out.push_str(&format!("... ({} bytes)", v.len()));
    }
    out
}

pub(crate) fn check_response(
    head: &[u8],
    key: &str,
    protocols: &[String],
    offer: Option<&DeflateOffer>,
) -> Result<Accepted, Failure> {
    let invalid = |m: String| Failure::new(ErrorCode::HandshakeInvalid, m);
    let mut hdrs = [httparse::EMPTY_HEADER; 128];
    let mut resp = httparse::Response::new(&mut hdrs);
    match resp.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(invalid("the handshake response is incomplete".into())),
        Err(e) => return Err(invalid(format!("the handshake response is not valid HTTP: {e}"))),
    }
    let code = resp.code.unwrap_or(0);
    if code != 101 {
        let reason = resp.reason.unwrap_or("");
        let extra = if (300..400).contains(&code) { " (redirects are not followed)" } else { "" };
        let reason = shown(reason);
        let headers = resp
            .headers
            .iter()
            .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned()))
            .collect();
        return Err(Failure {
            code: ErrorCode::HandshakeRefused,
            message: format!("the server answered {code} {reason} instead of 101 Switching Protocols{extra}"),
            response: Some(HttpResponse { status: code, headers }),
        });
    }
    check_upgrade(&resp, key, protocols, offer).map_err(invalid)
}

/// Checks a 101 response (RFC 6455 4.2.2).
fn check_upgrade(
    resp: &httparse::Response<'_, '_>,
    key: &str,
    protocols: &[String],
    offer: Option<&DeflateOffer>,
) -> Result<Accepted, String> {
    let values = |name: &str| -> Vec<&[u8]> {
        resp.headers.iter().filter(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value).collect()
    };
    let single = |name: &str| -> Result<Option<String>, String> {
        let v = values(name);
        match v.len() {
            0 => Ok(None),
            1 => std::str::from_utf8(v[0])
                .map(|s| Some(s.trim().to_string()))
                .map_err(|_| format!("the '{name}' response header is not valid text")),
            _ => Err(format!("the response has more than one '{name}' header")),
        }
    };
    match single("Upgrade")? {
        Some(u) if u.eq_ignore_ascii_case("websocket") => {}
        Some(u) => return Err(format!("the 'Upgrade' response header is '{}', not 'websocket'", shown(&u))),
        None => return Err("the response has no 'Upgrade: websocket' header".into()),
    }
    let connection_upgrade = values("Connection").iter().any(|v| {
        std::str::from_utf8(v).is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")))
    });
    if !connection_upgrade {
        return Err("the response has no 'Connection: Upgrade' header".into());
    }
    let expected = derive_accept_key(key.as_bytes());
    match single("Sec-WebSocket-Accept")? {
        Some(a) if a == expected => {}
        Some(_) => {
            return Err("the 'Sec-WebSocket-Accept' response header does not match the key sent".into())
        }
        None => return Err("the response has no 'Sec-WebSocket-Accept' header".into()),
    }
    let protocol = match single("Sec-WebSocket-Protocol")? {
        Some(p) if protocols.contains(&p) => p,
        Some(p) if protocols.is_empty() => {
            return Err(format!("the server selected the subprotocol '{}' but none was requested", shown(&p)))
        }
        Some(p) => {
            return Err(format!("the server selected the subprotocol '{}', which was not offered", shown(&p)))
        }
        None if !protocols.is_empty() => {
            return Err("subprotocols were offered but the server selected none".into());
        }
        None => String::new(),
    };
    let ext_values = values("Sec-WebSocket-Extensions")
        .into_iter()
        .map(|v| {
            std::str::from_utf8(v)
                .map(|s| s.trim_matches([' ', '\t']))
                .map_err(|_| "the 'Sec-WebSocket-Extensions' response header is not valid text".to_string())
        })
        .collect::<Result<Vec<&str>, String>>()?;
    let deflate = deflate::check_response(&ext_values, offer)?;
    let extensions = if deflate.is_some() { ext_values.join(", ") } else { String::new() };
    Ok(Accepted { protocol, extensions, deflate, leftover: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_values_in_errors_are_bounded() {
        let long = "p".repeat(65536);
        let head = resp(&format!("Sec-WebSocket-Protocol: {long}\r\n"));
        let e = check_response(head.as_bytes(), KEY, &["chat".to_string()], None).err().unwrap().message;
        assert!(e.len() < 200, "{} characters", e.len());
        assert!(e.contains("(65536 bytes)"), "{e}");
    }

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn resp(extra: &str) -> String {
        format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n{extra}\r\n")
    }

    #[test]
    fn a_refusal_keeps_status_and_headers() {
        let head = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 30\r\n\r\n";
        let f = check_response(head.as_bytes(), KEY, &[], None).err().unwrap();
        assert_eq!(f.code, ErrorCode::HandshakeRefused);
        let r = f.response.unwrap();
        assert_eq!((r.status, r.header("retry-after")), (429, Some("30")));
        let f = check(&resp("").replace(ACCEPT, "AAAAAAAAAAAAAAAAAAAAAAAAAAA="), &[]).err().unwrap();
        assert_eq!(f.code, ErrorCode::HandshakeInvalid);
    }

    fn check(r: &str, protocols: &[&str]) -> Result<Accepted, Failure> {
        let p: Vec<String> = protocols.iter().map(|s| s.to_string()).collect();
        check_response(r.as_bytes(), KEY, &p, None)
    }

    #[test]
    fn accepts_a_correct_response() {
        assert!(check(&resp(""), &[]).is_ok());
        let a = check(&resp("Sec-WebSocket-Protocol: b\r\n"), &["a", "b"]).unwrap();
        assert_eq!(a.protocol, "b");
        let lower = resp("")
            .replace("Upgrade: websocket", "upgrade: WebSocket")
            .replace("Connection: Upgrade", "connection: keep-alive, upgrade");
        assert!(check(&lower, &[]).is_ok());
        assert!(check(&resp("").replace("HTTP/1.1", "HTTP/1.0"), &[]).is_ok());
    }

    #[test]
    fn rejects_every_violation() {
        let cases: Vec<(String, Vec<&str>)> = vec![
            (resp("").replace("101 Switching Protocols", "200 OK"), vec![]),
            (resp("").replace("101 Switching Protocols", "302 Found"), vec![]),
            (resp("").replace("Upgrade: websocket\r\n", ""), vec![]),
            (resp("").replace("Upgrade: websocket", "Upgrade: h2c"), vec![]),
            (resp("").replace("Connection: Upgrade\r\n", ""), vec![]),
            (resp("").replace(ACCEPT, "AAAAAAAAAAAAAAAAAAAAAAAAAAA="), vec![]),
            (resp("").replace(&format!("Sec-WebSocket-Accept: {ACCEPT}\r\n"), ""), vec![]),
            (resp(&format!("Sec-WebSocket-Accept: {ACCEPT}\r\n")), vec![]),
            (resp("Sec-WebSocket-Protocol: x\r\n"), vec![]),
            (resp("Sec-WebSocket-Protocol: c\r\n"), vec!["a", "b"]),
            (resp("Sec-WebSocket-Protocol: a, b\r\n"), vec!["a", "b"]),
            (resp(""), vec!["a"]),
            (resp("Sec-WebSocket-Extensions: permessage-deflate\r\n"), vec![]),
            ("HTTP/2 101\r\n\r\n".to_string(), vec![]),
        ];
        for (r, p) in cases {
            assert!(check(&r, &p).is_err(), "accepted: {r:?} {p:?}");
        }
    }

    #[test]
    fn request_shape() {
        let url = crate::validate::parse_url("ws://h:81/p?q=1").unwrap();
        let offer = DeflateOffer::default();
        let req = Request {
            protocols: &["a".into(), "b".into()],
            headers: &[("Origin".into(), "x".into())],
            deflate: Some(&offer),
        };
        let r = String::from_utf8(request(&url, KEY, &req)).unwrap();
        assert!(
            r.contains("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"),
            "{r}"
        );
        assert!(r.starts_with("GET /p?q=1 HTTP/1.1\r\nHost: h:81\r\n"), "{r}");
        assert!(r.contains("Sec-WebSocket-Protocol: a, b\r\n"));
        assert!(r.contains("Origin: x\r\n") && r.ends_with("\r\n\r\n"));
        let creds = crate::validate::parse_url("ws://u:p@h/").unwrap();
        let req = Request { protocols: &[], headers: &[], deflate: None };
        let r = String::from_utf8(request(&creds, KEY, &req)).unwrap();
        assert!(!r.contains("Sec-WebSocket-Extensions"), "{r}");
        assert!(r.contains("Host: h\r\n") && !r.contains("u:p"), "{r}");
    }
}
