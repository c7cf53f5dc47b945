//! Stress: many threads on one socket, sockets created and released from
//! several threads while messages flow, and 2,000 then 10,000 concurrent
//! connections. Every wait is bounded.

mod support;

use std::collections::HashMap;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use support::*;
use wsnative_core::{runtime, Event, Options, ReadyState, WebSocket};
use wsnative_testserver::{Mode, TestServer};

#[test]
fn eight_threads_send_into_one_socket_without_loss_or_reordering() {
    const THREADS: usize = 8;
    const EACH: usize = 5_000;
    let srv = TestServer::start(Mode::Echo);
    let r = Arc::new(open(&srv.url(), &[], Options::default()));
    assert_eq!(r.next(), Event::Open);
    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            let r = Arc::clone(&r);
            thread::spawn(move || {
                for i in 0..EACH {
                    r.ws.send_text(&format!("{t}:{i}")).unwrap();
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    let mut next = [0usize; THREADS];
    for _ in 0..THREADS * EACH {
        let Event::Message(m) = r.next() else { panic!("expected a message") };
        let (t, i) = m.text().unwrap().split_once(':').unwrap();
        let (t, i): (usize, usize) = (t.parse().unwrap(), i.parse().unwrap());
        assert_eq!(i, next[t], "thread {t} out of order");
        next[t] += 1;
    }
    assert!(next.iter().all(|n| *n == EACH));
    let start = Instant::now();
    while r.ws.buffered_amount() != 0 && start.elapsed() < WAIT {
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(r.ws.buffered_amount(), 0);
    r.ws.close(Some(1000), None).unwrap();
    assert_eq!(r.until_close(), vec![close(1000, "", true)]);
}

#[test]
fn sockets_created_and_released_from_several_threads_while_messages_flow() {
    let srv = TestServer::start(Mode::Echo);
    let url = srv.url_for("/count/50/100");
    let closes = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (url, closes) = (url.clone(), Arc::clone(&closes));
            thread::spawn(move || {
                for i in 0..100 {
                    let closes = Arc::clone(&closes);
                    let ws = WebSocket::connect(
                        &url,
                        &[] as &[&str],
                        Options::default(),
                        Box::new(move |ev| {
                            if matches!(ev, Event::Close { .. }) {
                                closes.fetch_add(1, Ordering::SeqCst);
                            }
                        }),
                    )
                    .unwrap();
                    // Release at every stage: connecting, open, closing.
                    match (w + i) % 3 {
                        0 => {}
                        1 => {
                            let t = Instant::now();
                            while ws.ready_state() == ReadyState::Connecting && t.elapsed() < WAIT {
                                thread::yield_now();
                            }
                            let _ = ws.send_text("x");
                        }
                        _ => ws.close(None, None).unwrap(),
                    }
                    drop(ws);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let start = Instant::now();
    while (closes.load(Ordering::SeqCst) < 400 || runtime::live_connections() > 0) && start.elapsed() < WAIT {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(closes.load(Ordering::SeqCst), 400, "every socket gets exactly one close event");
    assert_eq!(runtime::live_connections(), 0);
}

/// The bundled test server as a child process (its own file descriptors).
struct ServerProcess {
    child: Child,
    url: String,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_process() -> ServerProcess {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap(); // target/<profile>
    let bin = dir.join("wsnative-testserver");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "-p", "wsnative-testserver", "--bin", "wsnative-testserver"]);
        if dir.ends_with("release") {
            build.arg("--release");
        }
        assert!(build.status().unwrap().success());
    }
    let mut child = Command::new(bin)
        .args(["--mode", "echo"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    ServerProcess { child, url: line.trim().to_string() }
}

/// The counts, also after a failed assertion poisoned the lock (the handler
/// keeps running on library threads; a panic there would abort the test
/// binary and hide the assertion's message).
fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Opens `n` sockets at once, checks each with one echo, then closes them.
fn concurrent(n: usize) {
    let srv = server_process();
    let counts: Arc<Mutex<HashMap<&'static str, usize>>> = Arc::default();
    let t = Instant::now();
    let sockets: Vec<WebSocket> = (0..n)
        .map(|_| {
            let counts = Arc::clone(&counts);
            WebSocket::connect(
                &srv.url,
                &[] as &[&str],
                Options { connect_timeout: Duration::from_secs(60), ..Options::default() },
                Box::new(move |ev| {
                    let k = match ev {
                        Event::Open => "open",
                        Event::Message(_) => "message",
                        Event::Error { .. } => "error",
                        Event::Close { was_clean: true, .. } => "clean close",
                        Event::Close { .. } => "abnormal close",
                        Event::Closing => unreachable!("immediate handlers never see Closing"),
                    };
                    *locked(&counts).entry(k).or_default() += 1;
                }),
            )
            .unwrap()
        })
        .collect();
    let count = |k| locked(&counts).get(k).copied().unwrap_or(0);
    let deadline = Duration::from_secs(90);
    while count("open") + count("error") < n && t.elapsed() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(count("open"), n, "{:?}", locked(&counts));
    let opened_in = t.elapsed();
    for ws in &sockets {
        ws.send_text("ping").unwrap();
    }
    while count("message") < n && t.elapsed() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(count("message"), n);
    for ws in &sockets {
        ws.close(Some(1000), None).unwrap();
    }
    while count("clean close") < n && t.elapsed() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(count("clean close"), n, "{:?}", locked(&counts));
    eprintln!("{n} connections: all open after {opened_in:?}, all closed after {:?}", t.elapsed());
}

#[test]
fn two_thousand_then_ten_thousand_concurrent_connections() {
    concurrent(2_000);
    concurrent(10_000);
}

/// A server that stops reading: bufferedAmount grows by exactly what the
/// application sends, memory stays bounded by that (no copies pile up), and
/// everything drains once the server reads again.
#[test]
fn a_server_that_stops_reading_bounds_memory_by_what_was_queued() {
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 512; // 32 MiB
    let (resume, wait_resume) = gate();
    let srv = raw_server(move |mut s| {
        accept(&mut s);
        wait_resume.recv_timeout(Duration::from_secs(60)).unwrap();
        let mut total = 0usize;
        while total < CHUNK * CHUNKS {
            let f = read_frame(&mut s).expect("a frame");
            total += f.payload.len();
        }
        total
    });
    let r = open(&srv.url, &[], Options::default());
    assert_eq!(r.next(), Event::Open);
    let before = rss_bytes();
    let payload = vec![1u8; CHUNK];
    for _ in 0..CHUNKS {
        r.ws.send_binary(&payload).unwrap();
    }
    // Let the writer push what the kernel accepts; the rest stays queued.
    thread::sleep(Duration::from_millis(500));
    let queued = r.ws.buffered_amount();
    let grown = rss_bytes().saturating_sub(before);
    let sent = (CHUNK * CHUNKS) as u64;
    eprintln!("stalled server: bufferedAmount {queued} of {sent} bytes sent, RSS +{grown} bytes");
    assert!(queued > sent / 2 && queued <= sent, "bufferedAmount {queued} of {sent}");
    // send() keeps one masked copy of each message until it is written.
    assert!(grown < sent + 16 * 1024 * 1024, "RSS grew {grown} bytes for {sent} queued");
    resume.send(()).unwrap();
    assert_eq!(srv.join.join().unwrap(), CHUNK * CHUNKS);
    let t = Instant::now();
    while r.ws.buffered_amount() > 0 && t.elapsed() < WAIT {
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(r.ws.buffered_amount(), 0);
}
