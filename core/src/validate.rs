//! Synchronous validation shared by every binding: the constructor's URL and
//! protocol list, and `close()`'s code and reason (WHATWG HTML, "WebSocket").

use crate::error::{Error, ErrorKind};
use url::Url;

/// A URL that passed the constructor's checks.
#[derive(Debug, Clone)]
pub struct WsUrl {
    pub(crate) url: Url,
    /// The serialization the application sees (`WebSocket.url`).
    pub(crate) serialized: String,
}

impl WsUrl {
    pub fn as_str(&self) -> &str {
        &self.serialized
    }

    pub fn is_secure(&self) -> bool {
        self.url.scheme() == "wss"
    }

    pub fn host(&self) -> &str {
        match self.url.host() {
            Some(url::Host::Ipv6(_)) => {
                let h = self.url.host_str().unwrap_or_default();
                h.trim_start_matches('[').trim_end_matches(']')
            }
            _ => self.url.host_str().unwrap_or_default(),
        }
    }

    pub fn port(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(if self.is_secure() { 443 } else { 80 })
    }

    /// The value of the `Host` request header: host, plus the port when it is
    /// not the scheme's default.
    pub(crate) fn host_header(&self) -> String {
        let host = self.url.host_str().unwrap_or_default();
        match self.url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        }
    }

    /// Path and query for the request line ("resource name").
    pub(crate) fn resource(&self) -> String {
        let mut r = self.url.path().to_string();
        if r.is_empty() {
            r.push('/');
        }
        if let Some(q) = self.url.query() {
            r.push('?');
            r.push_str(q);
        }
        r
    }
}

/// Parses and checks a URL the way `new WebSocket(url)` does.
pub fn parse_url(input: &str) -> Result<WsUrl, Error> {
    let mut url = Url::parse(input)
        .map_err(|e| Error::syntax(format!("the URL '{}' is invalid: {e}", redact(input))))?;
    let scheme = match url.scheme() {
        "ws" | "http" => "ws",
        "wss" | "https" => "wss",
        other => {
            return Err(Error::syntax(format!(
                "the URL's scheme must be 'ws', 'wss', 'http' or 'https'; '{other}' is not allowed"
            )))
        }
    };
    if url.fragment().is_some() {
        return Err(Error::syntax(format!(
            "the URL '{}' contains a fragment identifier ('#'), which is not allowed",
            redact(input)
        )));
    }
    if url.scheme() != scheme {
        // http(s) -> ws(s): both are special schemes, so set_scheme succeeds.
        url.set_scheme(scheme)
            .map_err(|_| Error::new(ErrorKind::Internal, "cannot rewrite the URL scheme"))?;
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::syntax("the URL has no host"));
    }
    let serialized = url.to_string();
    Ok(WsUrl { url, serialized })
}

/// The URL with any `user:password@` replaced, for messages and logs.
pub fn redact(input: &str) -> String {
    match Url::parse(input) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Ok(_) => input.to_string(),
        Err(_) => match (input.find("://"), input.rfind('@')) {
            (Some(s), Some(at)) if at > s => format!("{}***@{}", &input[..s + 3], &input[at + 1..]),
            _ => input.to_string(),
        },
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Checks a subprotocol list: non-empty RFC 7230 tokens, no duplicates.
pub fn check_protocols<S: AsRef<str>>(protocols: &[S]) -> Result<(), Error> {
    for (i, p) in protocols.iter().enumerate() {
        let p = p.as_ref();
        if p.is_empty() || !p.bytes().all(is_tchar) {
            return Err(Error::syntax(format!(
                "the subprotocol '{}' is not a valid token (RFC 7230 tchar characters only, not empty)",
                p.escape_debug()
            )));
        }
        if protocols[..i].iter().any(|q| q.as_ref() == p) {
            return Err(Error::syntax(format!("the subprotocol '{p}' is listed twice")));
        }
    }
    Ok(())
}

/// Checks the arguments of `close(code, reason)`.
pub fn check_close(code: Option<u16>, reason: Option<&str>) -> Result<(), Error> {
    if let Some(c) = code {
        if c != 1000 && !(3000..=4999).contains(&c) {
            return Err(Error::new(
                ErrorKind::InvalidAccess,
                format!("the close code must be 1000 or in 3000..=4999, not {c}"),
            ));
        }
    }
    if let Some(r) = reason {
        if r.len() > 123 {
            return Err(Error::syntax(format!(
                "the close reason is {} bytes of UTF-8; at most 123 are allowed",
                r.len()
            )));
        }
    }
    Ok(())
}

/// Is `code` a close code a server may send (RFC 6455 7.4 and the IANA
/// registry)?
pub fn is_valid_received_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The close codes Chromium accepts from a server (measured with headless
/// Chromium 156: every code but 1005, 1006 and 1015, which it answers with
/// 1002 and reports as close 1006).
pub fn is_valid_received_close_code_chromium(code: u16) -> bool {
    !matches!(code, 1005 | 1006 | 1015)
}

/// Ports the Fetch standard blocks ("bad ports"); used only when the
/// application asks for the browser's port blocking.
pub fn is_blocked_port(port: u16) -> bool {
    const BAD: &[u16] = &[
        0, 1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102,
        103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512,
        513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719,
        1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697,
        10080,
    ];
    BAD.contains(&port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_serialization_matches_the_browser() {
        assert_eq!(parse_url("ws://example.com").unwrap().as_str(), "ws://example.com/");
        assert_eq!(parse_url("http://example.com:80/a?b").unwrap().as_str(), "ws://example.com/a?b");
        assert_eq!(parse_url("HTTPS://Example.COM:443").unwrap().as_str(), "wss://example.com/");
        assert_eq!(parse_url("ws://[::1]:9000/x").unwrap().as_str(), "ws://[::1]:9000/x");
        assert_eq!(parse_url("ws://[::1]:9000/x").unwrap().host(), "::1");
        assert_eq!(parse_url("wss://u:p@h/").unwrap().as_str(), "wss://u:p@h/");
    }

    #[test]
    fn url_rejections_are_syntax_errors() {
        for bad in ["ftp://x/", "ws://x/#", "ws://x/#frag", "not a url", "ws://", "file:///tmp"] {
            let e = parse_url(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Syntax, "{bad}");
        }
    }

    #[test]
    fn credentials_are_redacted_from_messages() {
        assert_eq!(redact("ws://user:secret@h:1/p"), "ws://h:1/p");
        let e = parse_url("ws://user:secret@h:99999/").unwrap_err();
        assert!(!e.message().contains("secret"), "{e}");
    }

    #[test]
    fn protocol_list_rules() {
        assert!(check_protocols(&["chat", "v2.json"]).is_ok());
        assert!(check_protocols::<&str>(&[]).is_ok());
        for bad in [&["a", "a"][..], &[""], &["a b"], &["a,b"], &["é"], &["a\r\n"]] {
            assert_eq!(check_protocols(bad).unwrap_err().kind(), ErrorKind::Syntax);
        }
    }

    #[test]
    fn close_argument_rules() {
        assert!(check_close(None, None).is_ok());
        assert!(check_close(Some(1000), Some("bye")).is_ok());
        assert!(check_close(Some(4999), Some(&"x".repeat(123))).is_ok());
        for c in [999, 1001, 1005, 2999, 5000] {
            assert_eq!(check_close(Some(c), None).unwrap_err().kind(), ErrorKind::InvalidAccess);
        }
        assert_eq!(check_close(Some(1000), Some(&"é".repeat(62))).unwrap_err().kind(), ErrorKind::Syntax);
    }

    #[test]
    fn received_close_codes() {
        for ok in [1000, 1003, 1007, 1014, 3000, 4999] {
            assert!(is_valid_received_close_code(ok), "{ok}");
        }
        for bad in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            assert!(!is_valid_received_close_code(bad), "{bad}");
        }
    }
}
