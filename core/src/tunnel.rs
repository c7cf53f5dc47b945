//! Opening a tunnel through a proxy, on a stream already connected to it:
//! HTTP CONNECT (RFC 9110 9.3.6) with Basic authentication, and SOCKS5
//! (RFC 1928) with username/password authentication (RFC 1929).
//! Every message names the proxy (never its password).

use crate::cause::{ErrorCode, Failure};
use crate::proxy::{ProxyKind, ProxyUrl};
use base64::Engine;
use std::io;
use std::net::{IpAddr, SocketAddr};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest CONNECT response head accepted.
const MAX_CONNECT_RESPONSE: usize = 16 * 1024;

/// Asks `proxy` (connected through `stream`) for a tunnel to `host:port`.
/// `resolved` is the target's address for `socks5://` (local resolution).
pub(crate) async fn open<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
    resolved: Option<SocketAddr>,
) -> Result<(), Failure> {
    match proxy.kind {
        ProxyKind::Http | ProxyKind::Https => http_connect(stream, proxy, host, port).await,
        ProxyKind::Socks5 | ProxyKind::Socks5h => socks5(stream, proxy, host, port, resolved).await,
    }
}

fn io_failure(proxy: &ProxyUrl, e: io::Error) -> Failure {
    if matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    ) {
        closed(proxy)
    } else {
        Failure::new(ErrorCode::ProxyUnreachable, format!("the proxy {proxy} failed: {e}"))
    }
}

fn closed(proxy: &ProxyUrl) -> Failure {
    Failure::new(
        ErrorCode::ProxyClosed,
        format!("the proxy {proxy} closed the connection before the tunnel was open"),
    )
}

fn authority(host: &str, port: u16) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) => format!("[{host}]:{port}"),
        _ => format!("{host}:{port}"),
    }
}

async fn http_connect<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
) -> Result<(), Failure> {
    let target = authority(host, port);
    let mut req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some((user, pass)) = &proxy.credentials {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        req.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    req.push_str(concat!("User-Agent: wsnative/", env!("CARGO_PKG_VERSION"), "\r\n\r\n"));
    stream.write_all(req.as_bytes()).await.map_err(|e| io_failure(proxy, e))?;
    stream.flush().await.map_err(|e| io_failure(proxy, e))?;
    // Byte by byte: nothing after the head may be consumed here, it belongs
    // to the tunnel (a few hundred bytes, once per connection).
    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > MAX_CONNECT_RESPONSE {
            return Err(Failure::new(
                ErrorCode::ProxyProtocol,
                format!("the proxy {proxy} sent a CONNECT response larger than {MAX_CONNECT_RESPONSE} bytes"),
            ));
        }
        let mut b = [0u8; 1];
        match stream.read(&mut b).await.map_err(|e| io_failure(proxy, e))? {
            0 => return Err(closed(proxy)),
            _ => head.push(b[0]),
        }
    }
    let mut hdrs = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut hdrs);
    if !matches!(resp.parse(&head), Ok(httparse::Status::Complete(_))) {
        return Err(Failure::new(
            ErrorCode::ProxyProtocol,
            format!("the proxy {proxy} answered CONNECT with something that is not HTTP"),
        ));
    }
    let status = resp.code.unwrap_or(0);
    let reason = crate::handshake::shown(resp.reason.unwrap_or(""));
    match status {
        200..=299 => Ok(()),
        // 401: what some proxies (tinyproxy) answer to wrong credentials.
        401 | 407 => {
            let what =
                if proxy.credentials.is_some() { "refused the credentials" } else { "asks for credentials" };
            Err(Failure::new(ErrorCode::ProxyAuth, format!("the proxy {proxy} {what} ({status} {reason})")))
        }
        _ => Err(Failure::new(
            ErrorCode::ProxyRefused,
            format!("the proxy {proxy} refused the tunnel to {target}: {status} {reason}"),
        )),
    }
}

async fn socks5<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    proxy: &ProxyUrl,
    host: &str,
    port: u16,
    resolved: Option<SocketAddr>,
) -> Result<(), Failure> {
    let protocol = |m: &str| Failure::new(ErrorCode::ProxyProtocol, format!("the SOCKS5 proxy {proxy} {m}"));
    let methods: &[u8] = if proxy.credentials.is_some() { &[0x00, 0x02] } else { &[0x00] };
    let mut hello = vec![0x05, methods.len() as u8];
    hello.extend_from_slice(methods);
    stream.write_all(&hello).await.map_err(|e| io_failure(proxy, e))?;
    let mut choice = [0u8; 2];
    stream.read_exact(&mut choice).await.map_err(|e| io_failure(proxy, e))?;
    if choice[0] != 0x05 {
        return Err(protocol("answered with something that is not SOCKS5"));
    }
    match (choice[1], &proxy.credentials) {
        (0x00, _) => {}
        (0x02, Some((user, pass))) => {
            if user.len() > 255 || pass.len() > 255 {
                return Err(Failure::new(
                    ErrorCode::ProxyAuth,
                    format!("the SOCKS5 proxy {proxy}: user name or password longer than 255 bytes"),
                ));
            }
            let mut auth = vec![0x01, user.len() as u8];
            auth.extend_from_slice(user.as_bytes());
            auth.push(pass.len() as u8);
            auth.extend_from_slice(pass.as_bytes());
            stream.write_all(&auth).await.map_err(|e| io_failure(proxy, e))?;
            let mut status = [0u8; 2];
            stream.read_exact(&mut status).await.map_err(|e| io_failure(proxy, e))?;
            if status[1] != 0x00 {
                return Err(Failure::new(
                    ErrorCode::ProxyAuth,
                    format!("the SOCKS5 proxy {proxy} refused the credentials"),
                ));
            }
        }
        (0xff, None) => {
            return Err(Failure::new(
                ErrorCode::ProxyAuth,
                format!("the SOCKS5 proxy {proxy} asks for credentials"),
            ))
        }
        (0xff, Some(_)) => {
            return Err(Failure::new(
                ErrorCode::ProxyAuth,
                format!("the SOCKS5 proxy {proxy} accepts no authentication method offered"),
            ))
        }
        _ => return Err(protocol("chose an authentication method that was not offered")),
    }
    let mut req = vec![0x05, 0x01, 0x00];
    match resolved.map(|a| a.ip()).or_else(|| host.parse().ok()) {
        Some(IpAddr::V4(a)) => {
            req.push(0x01);
            req.extend_from_slice(&a.octets());
        }
        Some(IpAddr::V6(a)) => {
            req.push(0x04);
            req.extend_from_slice(&a.octets());
        }
        None => {
            if host.len() > 255 {
                return Err(protocol("cannot take a host name longer than 255 bytes"));
            }
            req.push(0x03);
            req.push(host.len() as u8);
            req.extend_from_slice(host.as_bytes());
        }
    }
    req.extend_from_slice(&port.to_be_bytes());
    stream.write_all(&req).await.map_err(|e| io_failure(proxy, e))?;
    let mut reply = [0u8; 4];
    stream.read_exact(&mut reply).await.map_err(|e| io_failure(proxy, e))?;
    if reply[0] != 0x05 {
        return Err(protocol("answered the request with something that is not SOCKS5"));
    }
    if reply[1] != 0x00 {
        let why = match reply[1] {
            0x01 => "general failure",
            0x02 => "connection not allowed by ruleset",
            0x03 => "network unreachable",
            0x04 => "host unreachable",
            0x05 => "connection refused",
            0x06 => "TTL expired",
            0x07 => "command not supported",
            0x08 => "address type not supported",
            _ => "unknown error",
        };
        return Err(Failure::new(
            ErrorCode::ProxyRefused,
            format!("the SOCKS5 proxy {proxy} refused the tunnel to {}: {why}", authority(host, port)),
        ));
    }
    let rest = match reply[3] {
        0x01 => 4 + 2,
        0x04 => 16 + 2,
        0x03 => {
            let mut n = [0u8; 1];
            stream.read_exact(&mut n).await.map_err(|e| io_failure(proxy, e))?;
            n[0] as usize + 2
        }
        _ => return Err(protocol("answered with an unknown address type")),
    };
    let mut bound = vec![0u8; rest];
    stream.read_exact(&mut bound).await.map_err(|e| io_failure(proxy, e))?;
    Ok(())
}

#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_reply(data: &[u8]) {
    let (choice, reply) = data.split_first().map_or((0, &[][..]), |(c, r)| (*c, r));
    let scheme = if choice & 1 == 1 { "socks5h" } else { "http" };
    let creds = if choice & 2 == 2 { "user:pass-word-secret@" } else { "" };
    let proxy = ProxyUrl::parse(&format!("{scheme}://{creds}127.0.0.1:1080")).unwrap();
    let host = if choice & 4 == 4 { "127.0.0.1" } else { "example.test" };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
    rt.block_on(async {
        let (mut client, mut server) = tokio::io::duplex(64 * 1024);
        server.write_all(reply).await.unwrap();
        drop(server);
        match open(&mut client, &proxy, host, 443, None).await {
            Ok(()) => {
                if choice & 1 == 1 {
                    assert!(
                        reply.len() >= 10 && reply[0] == 5 && reply[1] == 0,
                        "a SOCKS5 tunnel without success"
                    );
                } else {
                    let head = String::from_utf8_lossy(reply);
                    assert!(head.starts_with("HTTP/1.") && head.as_bytes().get(9) == Some(&b'2'), "{head:?}");
                }
            }
            Err(f) => assert!(!f.message.contains("pass-word-secret"), "the password in {:?}", f.message),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    fn proxy(url: &str) -> ProxyUrl {
        ProxyUrl::parse(url).unwrap()
    }

    async fn against(server_reply: &'static [u8], url: &str) -> (Result<(), Failure>, Vec<u8>) {
        let (mut client, mut server) = duplex(4096);
        let p = proxy(url);
        let task = tokio::spawn(async move {
            let mut got = vec![0u8; 512];
            let n = server.read(&mut got).await.unwrap();
            got.truncate(n);
            server.write_all(server_reply).await.unwrap();
            got
        });
        let r = open(&mut client, &p, "example.test", 443, None).await;
        drop(client);
        (r, task.await.unwrap())
    }

    #[tokio::test]
    async fn http_connect_outcomes() {
        let (r, req) = against(b"HTTP/1.1 200 Connection established\r\n\r\n", "http://u:p%20w@h:1").await;
        assert!(r.is_ok());
        let req = String::from_utf8(req).unwrap();
        assert!(req.starts_with("CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n"), "{req}");
        assert!(req.contains("Proxy-Authorization: Basic dTpwIHc=\r\n"), "{req}");
        let (r, _) =
            against(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n", "http://u:secret@h:1").await;
        let f = r.unwrap_err();
        assert_eq!(f.code, ErrorCode::ProxyAuth);
        assert!(f.message.contains("http://h:1") && !f.message.contains("secret"), "{}", f.message);
        let (r, _) = against(b"HTTP/1.1 403 Forbidden\r\n\r\n", "http://h:1").await;
        assert_eq!(r.unwrap_err().code, ErrorCode::ProxyRefused);
        let (r, _) = against(b"HTTP/1.1 200 O", "http://h:1").await;
        assert_eq!(r.unwrap_err().code, ErrorCode::ProxyClosed);
    }
}
