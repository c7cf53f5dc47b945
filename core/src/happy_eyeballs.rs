//! Happy Eyeballs (RFC 8305): resolve the host off the runtime's threads,
//! then connect to its addresses with IPv6 and IPv4 interleaved, starting
//! the next attempt [`ATTEMPT_DELAY`] after the previous one (at once when
//! it fails); the first to connect wins and the others are dropped
//! (cancelled).

use crate::cause::{ErrorCode, Failure};
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout_at, Instant};

/// RFC 8305's recommended Connection Attempt Delay.
pub(crate) const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// Resolves `host` (an IP literal needs no resolution) before `deadline`.
pub(crate) async fn resolve(host: &str, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>, Failure> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    // tokio runs getaddrinfo on its blocking pool, not on a runtime thread.
    let found = timeout_at(deadline, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| Failure::new(ErrorCode::TimeoutDns, format!("resolving '{host}' timed out")))?
        .map_err(|e| Failure::new(ErrorCode::Dns, format!("cannot resolve host '{host}': {e}")))?;
    let addrs: Vec<SocketAddr> = found.collect();
    if addrs.is_empty() {
        return Err(Failure::new(ErrorCode::Dns, format!("host '{host}' has no addresses")));
    }
    Ok(addrs)
}

/// Interleaves the address families, starting with the resolver's first
/// choice (RFC 8305 section 4), keeping the resolver's order within each.
pub(crate) fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let Some(first) = addrs.first().map(SocketAddr::is_ipv6) else {
        return addrs;
    };
    let (mut a, mut b): (Vec<_>, Vec<_>) = addrs.into_iter().partition(|s| s.is_ipv6() == first);
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.drain(..), b.drain(..));
    loop {
        match (a.next(), b.next()) {
            (None, None) => return out,
            (x, y) => out.extend(x.into_iter().chain(y)),
        }
    }
}

/// Connects to `host:port` (resolved, then raced); the message names what
/// was tried.
pub(crate) async fn connect(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, Failure> {
    let addrs = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        // Boxed: a connection to an IP address carries none of this.
        Err(_) => Box::pin(resolve(host, port, deadline)).await?,
    };
    let attempts = if addrs.len() == 1 {
        one(addrs[0], deadline).await
    } else {
        Box::pin(race(interleave(addrs), deadline)).await
    };
    attempts.map_err(|(code, detail)| {
        let what =
            if code == ErrorCode::TimeoutConnect { "timed out connecting to" } else { "cannot connect to" };
        Failure::new(code, format!("{what} {host} port {port} ({detail})"))
    })
}

/// Races connection attempts to `addrs`, in order, staggered by
/// [`ATTEMPT_DELAY`]. On failure: the code and what each address answered.
pub(crate) async fn race(
    addrs: Vec<SocketAddr>,
    deadline: Instant,
) -> Result<TcpStream, (ErrorCode, String)> {
    if let [addr] = addrs[..] {
        return one(addr, deadline).await;
    }
    let attempt = |addr: SocketAddr| async move { (addr, TcpStream::connect(addr).await) };
    let mut queue = addrs.into_iter();
    let mut running = FuturesUnordered::new();
    let mut errors: Vec<(SocketAddr, io::Error)> = Vec::new();
    // The first attempt starts at once (a timer would wait for the next
    // millisecond tick).
    if let Some(addr) = queue.next() {
        running.push(attempt(addr));
    }
    let mut next_at = Instant::now() + ATTEMPT_DELAY;
    loop {
        let more = queue.len() > 0;
        if running.is_empty() && !more {
            let refused = !errors.is_empty()
                && errors.iter().all(|(_, e)| e.kind() == io::ErrorKind::ConnectionRefused);
            let code = if refused { ErrorCode::ConnectionRefused } else { ErrorCode::ConnectFailed };
            return Err((code, describe(&errors)));
        }
        tokio::select! {
            biased;
            Some((addr, r)) = running.next(), if !running.is_empty() => match r {
                Ok(s) => {
                    let _ = TcpStream::set_nodelay(&s, true);
                    return Ok(s); // dropping `running` cancels the other attempts
                }
                Err(e) => {
                    errors.push((addr, e));
                    next_at = Instant::now();
                }
            },
            _ = sleep_until(next_at), if more => {
                if let Some(addr) = queue.next() {
                    running.push(attempt(addr));
                }
                next_at = Instant::now() + ATTEMPT_DELAY;
            }
            _ = sleep_until(deadline) => {
                let mut detail = describe(&errors);
                if !detail.is_empty() {
                    detail.push_str("; ");
                }
                detail.push_str(&format!("{} attempt(s) unanswered", running.len()));
                return Err((ErrorCode::TimeoutConnect, detail));
            }
        }
    }
}

/// One address: no race to run.
async fn one(addr: SocketAddr, deadline: Instant) -> Result<TcpStream, (ErrorCode, String)> {
    match timeout_at(deadline, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Ok(Err(e)) => {
            let refused = e.kind() == io::ErrorKind::ConnectionRefused;
            let code = if refused { ErrorCode::ConnectionRefused } else { ErrorCode::ConnectFailed };
            Err((code, format!("{addr}: {e}")))
        }
        Err(_) => Err((ErrorCode::TimeoutConnect, format!("{addr}: unanswered"))),
    }
}

fn describe(errors: &[(SocketAddr, io::Error)]) -> String {
    errors.iter().map(|(a, e)| format!("{a}: {e}")).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener as StdListener;

    #[test]
    fn interleaves_families() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        let got = interleave(vec![a("[::1]:1"), a("[::2]:1"), a("[::3]:1"), a("1.0.0.1:1"), a("1.0.0.2:1")]);
        let want = vec![a("[::1]:1"), a("1.0.0.1:1"), a("[::2]:1"), a("1.0.0.2:1"), a("[::3]:1")];
        assert_eq!(got, want);
        let got = interleave(vec![a("1.0.0.1:1"), a("[::1]:1")]);
        assert_eq!(got, vec![a("1.0.0.1:1"), a("[::1]:1")]);
    }

    #[tokio::test]
    async fn a_silent_first_address_costs_one_attempt_delay() {
        let (silent, _fill) = unanswering("::1");
        let live = StdListener::bind("127.0.0.1:0").unwrap();
        let addrs = vec![silent.addr, live.local_addr().unwrap()];
        let start = Instant::now();
        let s = race(addrs, start + Duration::from_secs(10)).await.unwrap();
        let took = start.elapsed();
        assert_eq!(s.peer_addr().unwrap(), live.local_addr().unwrap());
        assert!(took >= ATTEMPT_DELAY && took < Duration::from_secs(2), "{took:?}");
    }

    #[tokio::test]
    async fn a_refusing_address_moves_on_at_once() {
        let closed = StdListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let live = StdListener::bind("127.0.0.1:0").unwrap();
        let start = Instant::now();
        let s =
            race(vec![closed, live.local_addr().unwrap()], start + Duration::from_secs(10)).await.unwrap();
        assert_eq!(s.peer_addr().unwrap(), live.local_addr().unwrap());
        assert!(start.elapsed() < ATTEMPT_DELAY, "{:?}", start.elapsed());
        let (code, detail) = race(vec![closed], start + Duration::from_secs(10)).await.unwrap_err();
        assert_eq!(code, ErrorCode::ConnectionRefused, "{detail}");
    }

    #[tokio::test]
    async fn unanswered_attempts_time_out() {
        let (silent, _fill) = unanswering("127.0.0.1");
        let start = Instant::now();
        let (code, _) = race(vec![silent.addr], start + Duration::from_millis(300)).await.unwrap_err();
        assert_eq!(code, ErrorCode::TimeoutConnect);
    }

    use full_queue::unanswering;

    /// A listener whose accept queue is full: further SYNs are dropped, so
    /// a connection attempt to it never answers.
    mod full_queue {
        use std::net::{SocketAddr, TcpStream};
        use std::os::fd::FromRawFd;

        pub struct Listener {
            pub addr: SocketAddr,
            _socket: std::net::TcpListener,
        }

        pub fn unanswering(ip: &str) -> (Listener, Vec<TcpStream>) {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            // listen(2) with a backlog of 0: one pending connection fills it.
            let bound = std::net::TcpListener::bind((ip, 0)).unwrap();
            let addr = bound.local_addr().unwrap();
            let fd = std::os::fd::IntoRawFd::into_raw_fd(bound);
            assert_eq!(unsafe { libc::listen(fd, 0) }, 0);
            let socket = unsafe { std::net::TcpListener::from_raw_fd(fd) };
            // The first connection fills the queue; the others are not answered.
            let fill = (0..2)
                .filter_map(|_| TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(50)).ok())
                .collect();
            (Listener { addr, _socket: socket }, fill)
        }
    }
}
