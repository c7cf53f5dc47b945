//! The byte stream under the WebSocket, before the connect deadline: the
//! proxy (if any), TCP by Happy Eyeballs, the proxy's tunnel, then TLS.
//! A direct connection does exactly what it did before proxies existed.

use crate::cause::{ErrorCode, Failure};
use crate::happy_eyeballs;
use crate::options::Options;
use crate::proxy::{self, ProxyKind, ProxyUrl};
use crate::read_ahead::ReadAhead;
use crate::stream::MaybeTls;
use crate::tls::{self, Trust};
use crate::tunnel;
use crate::validate::WsUrl;
use std::future::Future;
use std::net::IpAddr;
use tokio::time::{timeout_at, Instant};

/// Opens the stream to `url` before `deadline` (the connect timeout's, so
/// that a phase that runs out reports its own timeout); `trust` is the
/// socket's TLS configuration (for wss://), found when the socket was
/// created.
pub(crate) async fn open(
    url: &WsUrl,
    options: &Options,
    trust: Option<&Trust>,
    deadline: Instant,
) -> Result<MaybeTls, Failure> {
    let proxy =
        proxy::choose(&options.proxy, url).map_err(|m| Failure::new(ErrorCode::ProxyUnreachable, m))?;
    let Some(proxy) = proxy else {
        let tcp = happy_eyeballs::connect(url.host(), url.port(), deadline).await?;
        if !url.is_secure() {
            return Ok(MaybeTls::Plain(tcp));
        }
        let config = trusted(trust, options)?.config().await?;
        let tls = tls::handshake(ReadAhead::new(tcp), url.host(), config, deadline).await?;
        return Ok(MaybeTls::Tls(Box::new(tls)));
    };
    // Boxed: direct connections carry none of the proxy path's state.
    Box::pin(via_proxy(url, options, trust, &proxy, deadline)).await
}

fn trusted(trust: Option<&Trust>, options: &Options) -> Result<Trust, Failure> {
    match trust {
        Some(t) => Ok(t.clone()),
        None => tls::trust(options).map_err(|e| Failure::new(ErrorCode::Tls, e.message())),
    }
}

async fn via_proxy(
    url: &WsUrl,
    options: &Options,
    trust: Option<&Trust>,
    proxy: &ProxyUrl,
    deadline: Instant,
) -> Result<MaybeTls, Failure> {
    let named = |f: Failure| {
        let code = match f.code {
            ErrorCode::TimeoutDns | ErrorCode::TimeoutConnect => f.code,
            _ => ErrorCode::ProxyUnreachable,
        };
        Failure::new(code, format!("cannot reach the proxy {proxy}: {}", f.message))
    };
    let tcp = happy_eyeballs::connect(&proxy.host, proxy.port, deadline).await.map_err(named)?;
    // socks5:// resolves the target here; the others let the proxy resolve.
    let resolved = match proxy.kind {
        ProxyKind::Socks5 if url.host().parse::<IpAddr>().is_err() => {
            Some(happy_eyeballs::resolve(url.host(), url.port(), deadline).await?[0])
        }
        _ => None,
    };
    if proxy.kind != ProxyKind::Https {
        let mut tcp = tcp;
        before(deadline, proxy, tunnel::open(&mut tcp, proxy, url.host(), url.port(), resolved)).await?;
        if !url.is_secure() {
            return Ok(MaybeTls::Plain(tcp));
        }
        let config = trusted(trust, options)?.config().await?;
        let tls = tls::handshake(ReadAhead::new(tcp), url.host(), config, deadline).await?;
        return Ok(MaybeTls::Tls(Box::new(tls)));
    }
    let config = trusted(trust, options)?.config().await?;
    let mut to_proxy = tls::handshake(tcp, &proxy.host, config.clone(), deadline)
        .await
        .map_err(|f| Failure::new(f.code, format!("the proxy {proxy}: {}", f.message)))?;
    before(deadline, proxy, tunnel::open(&mut to_proxy, proxy, url.host(), url.port(), None)).await?;
    if !url.is_secure() {
        return Ok(MaybeTls::Nested(Box::new(to_proxy)));
    }
    let tls = tls::handshake(to_proxy, url.host(), config, deadline).await?;
    Ok(MaybeTls::Nested(Box::new(tls)))
}

async fn before(
    deadline: Instant,
    proxy: &ProxyUrl,
    tunnel: impl Future<Output = Result<(), Failure>>,
) -> Result<(), Failure> {
    timeout_at(deadline, tunnel).await.unwrap_or_else(|_| {
        Err(Failure::new(
            ErrorCode::TimeoutProxy,
            format!("the proxy {proxy} did not open the tunnel in time"),
        ))
    })
}
