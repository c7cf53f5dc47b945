//! TCP connect: resolve the host, then try each address in turn.
//! (Happy Eyeballs will replace the sequential loop here.)

use crate::validate::WsUrl;
use std::net::{IpAddr, SocketAddr};
use tokio::net::TcpStream;

pub(crate) async fn tcp_connect(url: &WsUrl) -> Result<TcpStream, String> {
    let host = url.host();
    let port = url.port();
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("cannot resolve host '{host}': {e}"))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(format!("host '{host}' has no addresses"));
    }
    let mut errors = Vec::new();
    for addr in &addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => errors.push(format!("{addr}: {e}")),
        }
    }
    Err(format!("cannot connect to {host} port {port} ({})", errors.join("; ")))
}
