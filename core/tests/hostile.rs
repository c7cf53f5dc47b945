//! A hostile server cannot grow a client's memory through a queue the
//! application never pumps: a storm of empty messages (each event counts its
//! real cost, not only its payload). The ping flood is tested in
//! connection.rs, over a pipe no kernel buffer hides; tests-memory/ runs
//! every hostile stream against every dispatch mode.
mod support;

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;
use wsnative_core::{EventQueue, Options, WebSocket};

const FLOOD: Duration = Duration::from_secs(3);
/// What the client may grow by while flooded (before the fix, an
/// empty-message storm grew it by about 40 MiB a second here).
const GROWTH_LIMIT: u64 = 48 << 20;

/// Writes `unit` over and over for FLOOD without ever reading, then closes.
fn flood(mut s: TcpStream, unit: Vec<u8>, stop: Arc<AtomicBool>) -> u64 {
    accept(&mut s);
    let chunk: Vec<u8> = unit.iter().copied().cycle().take(unit.len() * (65536 / unit.len())).collect();
    s.set_nonblocking(true).unwrap();
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < FLOOD && !stop.load(Ordering::Acquire) {
        match s.write(&chunk) {
            Ok(n) => sent += n as u64,
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_micros(200)),
            Err(_) => break,
        }
    }
    sent
}

/// Samples this process's RSS until `done`; returns the peak.
fn peak_rss_while(done: impl Fn() -> bool) -> u64 {
    let mut peak = rss_bytes();
    let start = Instant::now();
    while !done() && start.elapsed() < FLOOD + Duration::from_secs(5) {
        peak = peak.max(rss_bytes());
        std::thread::sleep(Duration::from_millis(20));
    }
    peak.max(rss_bytes())
}

fn empty_messages_into_a_queue_nobody_pumps() {
    let stop = Arc::new(AtomicBool::new(false));
    let srv_stop = Arc::clone(&stop);
    let srv = raw_server(move |s| flood(s, frame(true, 2, b""), srv_stop));
    let base = rss_bytes();
    let queue = EventQueue::new();
    let limit = 1 << 20;
    let opts = Options { max_queued_bytes: limit, ..Options::default() };
    let ws = WebSocket::connect_queued(&srv.url, &[] as &[&str], opts, &queue).unwrap();
    let peak = peak_rss_while(|| srv.join.is_finished());
    let sent = srv.join.join().unwrap();
    let (queued, events) = (queue.queued_bytes(), queue.len());
    eprintln!(
        "empty-message storm: {} MiB sent; {events} events ({queued} bytes) queued; RSS {} -> peak {} MiB",
        sent >> 20,
        base >> 20,
        peak >> 20
    );
    assert!(sent > 1 << 20, "the storm was too weak to mean anything ({sent} bytes)");
    // The limit counts each event's real cost: about limit / 96 events.
    assert!(queued <= limit + 256, "{queued} bytes queued for a limit of {limit}");
    assert!(events <= 12_000, "{events} events queued");
    assert!(peak - base.min(peak) < GROWTH_LIMIT, "RSS grew by {} MiB", (peak - base) >> 20);
    drop(ws);
}

#[test]
fn empty_messages_cannot_grow_an_unpumped_queue() {
    empty_messages_into_a_queue_nobody_pumps();
}
