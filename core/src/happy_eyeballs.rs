//! Happy Eyeballs (RFC 8305): resolve the host off the runtime's threads,
//! asking for IPv6 (AAAA) and IPv4 (A) addresses separately and at once
//! (section 3): connecting starts as soon as the IPv6 answer arrives, or
//! [`RESOLUTION_DELAY`] after an IPv4 answer that came first; addresses that
//! arrive later join the list. Attempts alternate between the families,
//! the next one starting [`ATTEMPT_DELAY`] after the previous one (at once
//! when it fails); the first to connect wins and the others are dropped
//! (cancelled). One deadline covers the resolution and every attempt.

use crate::cause::{ErrorCode, Failure};
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout_at, Instant};

/// RFC 8305's recommended Connection Attempt Delay.
pub(crate) const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// RFC 8305's recommended Resolution Delay: how long an IPv4 answer that
/// came first waits for the IPv6 one before connecting starts.
pub(crate) const RESOLUTION_DELAY: Duration = Duration::from_millis(50);

/// Resolves `host` (an IP literal needs no resolution) before `deadline`:
/// every address, in the resolver's order (for a SOCKS5 proxy's target).
pub(crate) async fn resolve(host: &str, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>, Failure> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    // tokio runs getaddrinfo on its blocking pool, not on a runtime thread.
    let found = timeout_at(deadline, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| dns_timeout(host))?
        .map_err(|e| Failure::new(ErrorCode::Dns, format!("cannot resolve host '{host}': {e}")))?;
    let addrs: Vec<SocketAddr> = found.collect();
    if addrs.is_empty() {
        return Err(Failure::new(ErrorCode::Dns, format!("host '{host}' has no addresses")));
    }
    Ok(addrs)
}

fn dns_timeout(host: &str) -> Failure {
    Failure::new(ErrorCode::TimeoutDns, format!("resolving '{host}' timed out"))
}

/// The addresses of one family (`ipv6`) of `host`, by getaddrinfo on tokio's
/// blocking pool (never on a runtime thread).
async fn lookup_family(host: String, port: u16, ipv6: bool) -> io::Result<Vec<SocketAddr>> {
    let family = if ipv6 { libc::AF_INET6 } else { libc::AF_INET };
    let query = move || -> io::Result<Vec<SocketAddr>> {
        let hints =
            dns_lookup::AddrInfoHints { socktype: libc::SOCK_STREAM, address: family, ..Default::default() };
        let found = dns_lookup::getaddrinfo(Some(&host), None, Some(hints)).map_err(io::Error::from)?;
        let mut addrs = Vec::new();
        for info in found {
            let mut addr = info?.sockaddr;
            addr.set_port(port);
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
        Ok(addrs)
    };
    tokio::task::spawn_blocking(query).await.unwrap_or_else(|e| Err(io::Error::other(e)))
}

/// The addresses not tried yet, per family; `next` alternates between the
/// families (IPv6 first), so that addresses that arrive late are
/// interleaved with those still waiting.
#[derive(Default)]
struct Candidates {
    v6: VecDeque<SocketAddr>,
    v4: VecDeque<SocketAddr>,
    /// The family of the last address handed out.
    last_v6: Option<bool>,
}

impl Candidates {
    fn add(&mut self, addrs: Vec<SocketAddr>) {
        for a in addrs {
            if a.is_ipv6() { &mut self.v6 } else { &mut self.v4 }.push_back(a);
        }
    }

    /// Adds the addresses of one query's answer, or records its error;
    /// whether it found any.
    fn answer(&mut self, r: io::Result<Vec<SocketAddr>>, error: &mut Option<io::Error>) -> bool {
        match r {
            Ok(addrs) => {
                let found = !addrs.is_empty();
                self.add(addrs);
                found
            }
            Err(e) => {
                *error = Some(e);
                false
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.v6.is_empty() && self.v4.is_empty()
    }

    fn next(&mut self) -> Option<SocketAddr> {
        let want_v6 = self.last_v6 != Some(true);
        let (first, second) =
            if want_v6 { (&mut self.v6, &mut self.v4) } else { (&mut self.v4, &mut self.v6) };
        let addr = first.pop_front().or_else(|| second.pop_front())?;
        self.last_v6 = Some(addr.is_ipv6());
        Some(addr)
    }
}

/// Connects to `host:port` (resolved, then raced); the message names what
/// was tried.
pub(crate) async fn connect(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, Failure> {
    let attempts = match host.parse::<IpAddr>() {
        Ok(ip) => one(SocketAddr::new(ip, port), deadline).await,
        // Boxed: a connection to an IP address carries none of this.
        Err(_) => {
            let lookup = |ipv6| lookup_family(host.to_owned(), port, ipv6);
            Box::pin(resolve_and_race(host, lookup, deadline)).await?
        }
    };
    attempts.map_err(|(code, detail)| connect_failure(host, port, code, detail))
}

fn connect_failure(host: &str, port: u16, code: ErrorCode, detail: String) -> Failure {
    let what =
        if code == ErrorCode::TimeoutConnect { "timed out connecting to" } else { "cannot connect to" };
    Failure::new(code, format!("{what} {host} port {port} ({detail})"))
}

type Attempts = Result<TcpStream, (ErrorCode, String)>;

/// RFC 8305 sections 3 to 5: the AAAA and A queries (`lookup(true)` and
/// `lookup(false)`) run at once; attempts start when the IPv6 answer
/// arrives, or [`RESOLUTION_DELAY`] after an IPv4 answer that came first
/// (or when the IPv6 query fails); later answers join the list. The outer
/// error is a resolution failure (no address at all, or the deadline before
/// any); the inner one, what the attempts met.
async fn resolve_and_race<L, F>(host: &str, lookup: L, deadline: Instant) -> Result<Attempts, Failure>
where
    L: Fn(bool) -> F,
    F: Future<Output = io::Result<Vec<SocketAddr>>>,
{
    let mut aaaa = Some(Box::pin(lookup(true)));
    let mut a = Some(Box::pin(lookup(false)));
    let mut list = Candidates::default();
    let mut dns_error: Option<io::Error> = None;
    let mut found_any = false;
    // Whether attempts may start, and when an early IPv4 answer stops
    // waiting for the IPv6 one.
    let mut started = false;
    let mut delay_until: Option<Instant> = None;
    let mut running = FuturesUnordered::new();
    let attempt = |addr: SocketAddr| async move { (addr, TcpStream::connect(addr).await) };
    let mut errors: Vec<(SocketAddr, io::Error)> = Vec::new();
    let mut next_at = Instant::now();
    loop {
        // Nothing running: the next address starts at once (a timer would
        // wait for the next millisecond tick).
        if started && running.is_empty() {
            if let Some(addr) = list.next() {
                running.push(attempt(addr));
                next_at = Instant::now() + ATTEMPT_DELAY;
            }
        }
        let resolving = aaaa.is_some() || a.is_some();
        if !resolving && running.is_empty() && list.is_empty() {
            if !found_any {
                return Err(match dns_error {
                    Some(e) => Failure::new(ErrorCode::Dns, format!("cannot resolve host '{host}': {e}")),
                    None => Failure::new(ErrorCode::Dns, format!("host '{host}' has no addresses")),
                });
            }
            return Ok(Err(all_failed(&errors)));
        }
        tokio::select! {
            biased;
            Some((addr, r)) = running.next(), if !running.is_empty() => match r {
                Ok(s) => {
                    let _ = TcpStream::set_nodelay(&s, true);
                    return Ok(Ok(s)); // dropping `running` cancels the other attempts
                }
                Err(e) => {
                    errors.push((addr, e));
                    // A failed attempt lets the next one start at once.
                    if let Some(addr) = list.next().filter(|_| started) {
                        running.push(attempt(addr));
                        next_at = Instant::now() + ATTEMPT_DELAY;
                    }
                }
            },
            r = async { aaaa.as_mut().expect("pending").await }, if aaaa.is_some() => {
                aaaa = None;
                found_any |= list.answer(r, &mut dns_error);
                // An IPv6 answer starts the attempts; a failed IPv6 query
                // stops waiting for it.
                started |= !list.is_empty();
            }
            r = async { a.as_mut().expect("pending").await }, if a.is_some() => {
                a = None;
                found_any |= list.answer(r, &mut dns_error);
                if !list.is_empty() && !started {
                    if aaaa.is_none() {
                        started = true;
                    } else {
                        delay_until = Some(Instant::now() + RESOLUTION_DELAY);
                    }
                }
            }
            _ = sleep_until(delay_until.unwrap_or(deadline)), if !started && delay_until.is_some() => {
                started = true;
            }
            _ = sleep_until(next_at), if started && !list.is_empty() && !running.is_empty() => {
                if let Some(addr) = list.next() {
                    running.push(attempt(addr));
                }
                next_at = Instant::now() + ATTEMPT_DELAY;
            }
            _ = sleep_until(deadline) => {
                if errors.is_empty() && running.is_empty() {
                    return Err(dns_timeout(host));
                }
                return Ok(Err(unanswered(&errors, running.len())));
            }
        }
    }
}

fn all_failed(errors: &[(SocketAddr, io::Error)]) -> (ErrorCode, String) {
    let refused =
        !errors.is_empty() && errors.iter().all(|(_, e)| e.kind() == io::ErrorKind::ConnectionRefused);
    let code = if refused { ErrorCode::ConnectionRefused } else { ErrorCode::ConnectFailed };
    (code, describe(errors))
}

fn unanswered(errors: &[(SocketAddr, io::Error)], running: usize) -> (ErrorCode, String) {
    let mut detail = describe(errors);
    if !detail.is_empty() {
        detail.push_str("; ");
    }
    detail.push_str(&format!("{running} attempt(s) unanswered"));
    (ErrorCode::TimeoutConnect, detail)
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

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// The order in which addresses are tried.
    fn order(v6_first: bool, addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
        let mut list = Candidates { last_v6: Some(!v6_first), ..Default::default() };
        list.add(addrs);
        std::iter::from_fn(|| list.next()).collect()
    }

    #[test]
    fn interleaves_families() {
        let got = order(true, vec![a("[::1]:1"), a("[::2]:1"), a("[::3]:1"), a("1.0.0.1:1"), a("1.0.0.2:1")]);
        let want = vec![a("[::1]:1"), a("1.0.0.1:1"), a("[::2]:1"), a("1.0.0.2:1"), a("[::3]:1")];
        assert_eq!(got, want);
        assert_eq!(order(false, vec![a("[::1]:1"), a("1.0.0.1:1")]), vec![a("1.0.0.1:1"), a("[::1]:1")]);
        // A late answer joins the addresses still waiting, interleaved.
        let mut list = Candidates::default();
        list.add(vec![a("1.0.0.1:1"), a("1.0.0.2:1")]);
        assert_eq!(list.next(), Some(a("1.0.0.1:1")));
        list.add(vec![a("[::1]:1"), a("[::2]:1")]);
        let rest: Vec<_> = std::iter::from_fn(|| list.next()).collect();
        assert_eq!(rest, vec![a("[::1]:1"), a("1.0.0.2:1"), a("[::2]:1")]);
    }

    /// A resolver under the test's control: each family answers `addrs`
    /// after `after` (None: never).
    type Answer = (Option<Duration>, io::Result<Vec<SocketAddr>>);

    async fn answer(ans: &std::sync::Mutex<Option<Answer>>) -> io::Result<Vec<SocketAddr>> {
        let (after, r) = ans.lock().unwrap().take().expect("one query per family");
        match after {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending::<()>().await,
        }
        r
    }

    async fn race_with(v6: Answer, v4: Answer, within: Duration) -> (Result<Attempts, Failure>, Duration) {
        let (v6, v4) = (std::sync::Mutex::new(Some(v6)), std::sync::Mutex::new(Some(v4)));
        let start = Instant::now();
        let lookup = |ipv6: bool| answer(if ipv6 { &v6 } else { &v4 });
        let r = resolve_and_race("dual.test", lookup, start + within).await;
        (r, start.elapsed())
    }

    /// Races `addrs` as if the resolver had answered them at once.
    async fn race(addrs: Vec<SocketAddr>, deadline: Instant) -> Attempts {
        let (v6, v4): (Vec<_>, Vec<_>) = addrs.into_iter().partition(SocketAddr::is_ipv6);
        let now = Some(Duration::ZERO);
        let within = deadline.saturating_duration_since(Instant::now());
        race_with((now, Ok(v6)), (now, Ok(v4)), within).await.0.unwrap()
    }

    fn peer(r: Result<Attempts, Failure>) -> SocketAddr {
        r.expect("resolved").expect("connected").peer_addr().unwrap()
    }

    #[tokio::test]
    async fn an_ipv6_answer_starts_connecting_without_waiting_for_ipv4() {
        let v6 = StdListener::bind("[::1]:0").unwrap();
        let v4 = StdListener::bind("127.0.0.1:0").unwrap();
        let ten_s = Duration::from_secs(10);
        let (r, took) = race_with(
            (Some(Duration::ZERO), Ok(vec![v6.local_addr().unwrap()])),
            (None, Ok(vec![v4.local_addr().unwrap()])), // the A query never answers
            ten_s,
        )
        .await;
        assert_eq!(peer(r), v6.local_addr().unwrap());
        assert!(took < Duration::from_secs(2), "{took:?}");
    }

    #[tokio::test]
    async fn an_early_ipv4_answer_waits_the_resolution_delay_for_ipv6() {
        let v6 = StdListener::bind("[::1]:0").unwrap();
        let v4 = StdListener::bind("127.0.0.1:0").unwrap();
        let ten_s = Duration::from_secs(10);
        // IPv6 answers within the Resolution Delay: it is tried first.
        let (r, _) = race_with(
            (Some(Duration::from_millis(10)), Ok(vec![v6.local_addr().unwrap()])),
            (Some(Duration::ZERO), Ok(vec![v4.local_addr().unwrap()])),
            ten_s,
        )
        .await;
        assert_eq!(peer(r), v6.local_addr().unwrap());
        // IPv6 answers late: IPv4 starts once the Resolution Delay is over.
        let (r, took) = race_with(
            (Some(Duration::from_secs(5)), Ok(vec![v6.local_addr().unwrap()])),
            (Some(Duration::ZERO), Ok(vec![v4.local_addr().unwrap()])),
            ten_s,
        )
        .await;
        assert_eq!(peer(r), v4.local_addr().unwrap());
        assert!(took >= RESOLUTION_DELAY && took < Duration::from_secs(2), "{took:?}");
        // A failed IPv6 query does not fail the connection.
        let (r, _) = race_with(
            (Some(Duration::ZERO), Err(io::Error::other("no AAAA"))),
            (Some(Duration::from_millis(20)), Ok(vec![v4.local_addr().unwrap()])),
            ten_s,
        )
        .await;
        assert_eq!(peer(r), v4.local_addr().unwrap());
    }

    #[tokio::test]
    async fn addresses_that_arrive_late_join_the_race() {
        // IPv4's only address never answers; IPv6's answer comes 150 ms
        // later and wins, without waiting out the deadline.
        let (silent, _fill) = unanswering("127.0.0.1");
        let v6 = StdListener::bind("[::1]:0").unwrap();
        let (r, took) = race_with(
            (Some(Duration::from_millis(150)), Ok(vec![v6.local_addr().unwrap()])),
            (Some(Duration::ZERO), Ok(vec![silent.addr])),
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(peer(r), v6.local_addr().unwrap());
        assert!(took >= Duration::from_millis(150) && took < Duration::from_secs(3), "{took:?}");
    }

    #[tokio::test]
    async fn resolution_failures_and_timeouts() {
        let none = || (Some(Duration::ZERO), Ok(vec![]));
        let err = |m: &str| (Some(Duration::ZERO), Err(io::Error::other(m.to_owned())));
        let second = Duration::from_secs(1);
        let f = race_with(none(), none(), second).await.0.expect_err("no address");
        assert_eq!(f.code, ErrorCode::Dns, "{}", f.message);
        let f = race_with(err("nope6"), err("nope4"), second).await.0.expect_err("no address");
        assert!(f.code == ErrorCode::Dns && f.message.contains("nope"), "{}", f.message);
        let (r, took) = race_with((None, Ok(vec![])), (None, Ok(vec![])), Duration::from_millis(200)).await;
        assert_eq!(r.expect_err("timed out").code, ErrorCode::TimeoutDns);
        assert!(took < Duration::from_secs(5), "{took:?}");
    }

    #[tokio::test]
    async fn the_system_resolver_answers_each_family() {
        let v4 = lookup_family("127.0.0.1".into(), 7, false).await.unwrap();
        assert_eq!(v4, vec![a("127.0.0.1:7")]);
        let v6 = lookup_family("::1".into(), 7, true).await.unwrap();
        assert_eq!(v6, vec![a("[::1]:7")]);
        // An IPv4 literal has no IPv6 address.
        assert!(lookup_family("127.0.0.1".into(), 7, true).await.map_or(true, |v| v.is_empty()));
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
