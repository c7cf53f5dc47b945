//! A fault-injecting TCP proxy between the client and a real server (the
//! bundled echo server). Whatever the network does, the application gets
//! exactly one close event, last, with the right code, and every connection
//! task ends (nothing is left running).

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use support::*;
use wsnative_core::{runtime, Event, Options};
use wsnative_testserver::{Mode, TestServer};

#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Forward the server's bytes one byte per write.
    ByteByByte,
    /// Forward `n` bytes from the server, then cut both connections.
    CutServerAfter(usize),
    /// Forward until the test raises the flag, then stop forwarding in both
    /// directions while keeping the connections open.
    Stall,
    /// Accept and read everything, forward nothing, never close.
    BlackHole,
}

struct Proxy {
    url_base: String,
    stop: Arc<AtomicBool>,
    stall: Arc<AtomicBool>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    step: usize,
    limit: Option<usize>,
    stop: Arc<AtomicBool>,
    stall: Arc<AtomicBool>,
    cut: bool,
) {
    from.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut sent = 0usize;
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    while !stop.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(30) {
        let want = limit.map_or(buf.len(), |l| (l - sent).min(buf.len()));
        if stall.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(20)); // stalled: hold the sockets open
            continue;
        }
        if want == 0 {
            if cut {
                let _ = to.shutdown(Shutdown::Both);
                let _ = from.shutdown(Shutdown::Both);
                return;
            }
            thread::sleep(Duration::from_millis(20));
            continue;
        }
        match from.read(&mut buf[..want]) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => {
                if stall.load(Ordering::SeqCst) {
                    continue; // a stalled network delivers nothing
                }
                for chunk in buf[..n].chunks(step) {
                    if to.write_all(chunk).is_err() {
                        return;
                    }
                }
                sent += n;
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => {
                let _ = to.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}

fn proxy(upstream: std::net::SocketAddr, fault: Fault) -> Proxy {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url_base = format!("ws://{}", l.local_addr().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let stall = Arc::new(AtomicBool::new(false));
    let stall2 = Arc::clone(&stall);
    thread::spawn(move || {
        let Some(client) = accept_within(&l, WAIT) else { return };
        client.set_nodelay(true).unwrap();
        if let Fault::BlackHole = fault {
            client.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            let mut c = client;
            let mut b = [0u8; 4096];
            while !stop2.load(Ordering::SeqCst) {
                let _ = c.read(&mut b);
            }
            return;
        }
        let server = TcpStream::connect(upstream).unwrap();
        server.set_nodelay(true).unwrap();
        let (c2s_step, s2c_step, s2c_limit, cut) = match fault {
            // Only the server's bytes reach the client one at a time: the
            // test server (tungstenite) rejects a request head that arrives
            // in more than 64 reads of under 128 bytes ("AttackAttempt").
            Fault::ByteByByte => (4096, 1, None, false),
            Fault::CutServerAfter(n) => (4096, 4096, Some(n), true),
            Fault::Stall => (4096, 4096, None, false),
            Fault::BlackHole => unreachable!(),
        };
        let (c1, s1) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        let (st, sl) = (Arc::clone(&stop2), Arc::clone(&stall2));
        let up = thread::spawn(move || pump(c1, s1, c2s_step, None, st, sl, false));
        pump(server, client, s2c_step, s2c_limit, stop2, stall2, cut);
        let _ = up.join();
    });
    Proxy { url_base, stop, stall }
}

fn run(fault: Fault, path: &str, opts: Options, script: impl FnOnce(&Recorded, &AtomicBool)) -> Vec<Event> {
    let server = TestServer::start(Mode::Echo);
    let p = proxy(server.addr(), fault);
    let r = open(&format!("{}{path}", p.url_base), &[], opts);
    script(&r, &p.stall);
    let ev = r.until_close();
    let closes = ev.iter().filter(|e| matches!(e, Event::Close { .. })).count();
    assert_eq!(closes, 1, "{fault:?}: {ev:?}");
    ev
}

fn wait_no_live_connections() {
    let start = Instant::now();
    while runtime::live_connections() > 0 && start.elapsed() < WAIT {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(runtime::live_connections(), 0, "connection tasks left running");
}

#[test]
fn byte_by_byte_delivery_changes_nothing() {
    let ev = run(Fault::ByteByByte, "/count/20/300", Options::default(), |r, _| {
        assert_eq!(r.next(), Event::Open);
        for _ in 0..20 {
            match r.next() {
                Event::Message(m) => assert_eq!(m.data.len(), 300),
                other => panic!("{other:?}"),
            }
        }
        r.ws.send_text(&"é".repeat(200)).unwrap();
        assert_eq!(r.next(), text(&"é".repeat(200)));
        r.ws.close(Some(1000), Some("done")).unwrap();
    });
    assert_eq!(ev.last(), Some(&close(1000, "done", true)));
    wait_no_live_connections();
}

#[test]
fn a_cut_at_any_point_gives_exactly_one_close() {
    // The handshake response is ~130 bytes, then 3 messages of 200 bytes
    // (frames of 204 bytes): about 745 bytes in all. Cut at many offsets
    // across all of it (a cut past the end would never happen).
    let counter = AtomicUsize::new(0);
    for cut in (0..740).step_by(37).chain([129, 130, 131, 132, 133, 134, 735, 739]) {
        let ev = run(Fault::CutServerAfter(cut), "/count/3/200", Options::default(), |_, _| {});
        counter.fetch_add(1, Ordering::Relaxed);
        let opened = ev.first() == Some(&Event::Open);
        let last = ev.last().unwrap();
        if opened {
            // Mid-stream: an abnormal close without error, or (all three
            // messages through, then cut) the same.
            assert!(!ev.iter().any(is_error), "cut {cut}: {ev:?}");
            assert_eq!(last, &close(1006, "", false), "cut {cut}");
            for e in &ev[1..ev.len() - 1] {
                assert!(matches!(e, Event::Message(m) if m.data.len() == 200), "cut {cut}: {e:?}");
            }
        } else {
            // Before or inside the handshake: the connection failed.
            assert_eq!(ev.len(), 2, "cut {cut}: {ev:?}");
            assert!(is_error(&ev[0]), "cut {cut}: {ev:?}");
            assert_eq!(last, &close(1006, "", false));
        }
    }
    assert!(counter.load(Ordering::Relaxed) > 20);
    wait_no_live_connections();
}

#[test]
fn a_stalled_network_ends_by_the_close_timeout() {
    let opts = Options { close_timeout: Duration::from_millis(300), ..Options::default() };
    let t = Instant::now();
    let ev = run(Fault::Stall, "/count/2/100", opts, |r, stall| {
        assert_eq!(r.next(), Event::Open);
        assert!(matches!(r.next(), Event::Message(_)));
        assert!(matches!(r.next(), Event::Message(_)));
        // The network stalls: the Close and its answer are held.
        stall.store(true, Ordering::SeqCst);
        r.ws.close(Some(1000), None).unwrap();
    });
    assert_eq!(ev.last(), Some(&close(1006, "", false)));
    assert!(!ev.iter().any(is_error));
    assert!(t.elapsed() < Duration::from_secs(5));
    wait_no_live_connections();
}

#[test]
fn a_black_hole_fails_by_the_connect_timeout() {
    let opts = Options { connect_timeout: Duration::from_millis(400), ..Options::default() };
    let t = Instant::now();
    let ev = run(Fault::BlackHole, "/", opts, |_, _| {});
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert!(is_error(&ev[0]));
    assert_eq!(ev[1], close(1006, "", false));
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(350) && waited < Duration::from_secs(5), "{waited:?}");
    wait_no_live_connections();
}

#[test]
fn memory_returns_to_its_baseline_after_faults() {
    let server = TestServer::start(Mode::Echo);
    let cycle = |i: usize| {
        let p = proxy(server.addr(), Fault::CutServerAfter(100 + (i * 37) % 600));
        let r = open(&format!("{}/count/3/200", p.url_base), &[], Options::default());
        let ev = r.until_close();
        assert_eq!(ev.iter().filter(|e| matches!(e, Event::Close { .. })).count(), 1);
    };
    for i in 0..50 {
        cycle(i); // warm-up: allocator pools, runtime threads
    }
    wait_no_live_connections();
    let before = rss_bytes();
    for i in 0..300 {
        cycle(i);
    }
    wait_no_live_connections();
    let grown = rss_bytes().saturating_sub(before);
    eprintln!("300 faulted connections: RSS +{grown} bytes");
    // A leak of 7 KiB per connection would cross this.
    assert!(grown < 2 * 1024 * 1024, "RSS grew {grown} bytes over 300 faulted connections");
}
