//! Sends that the sending thread writes to the socket itself (core/src/
//! direct.rs), and those it must leave to the task: what the server
//! receives, in order and unmasked correctly, when the socket is full, from
//! other threads and from handlers.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};
use support::*;
use wsnative_core::{Event, Options, WebSocket};

/// Large sizes around the 64 KiB threshold of direct writes, and not
/// multiples of 4.
const LARGE: [usize; 6] = [65_535, 65_536, 65_537, 131_075, 1_000_003, 3_000_001];

fn pattern(round: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| ((round * 7 + j * 13) % 251) as u8).collect()
}

/// A sender that outruns the server: the server reads nothing for a while
/// (the socket fills, direct writes of bursts are cut short and the task
/// takes over), then everything must arrive whole, in order, correctly
/// masked, and bufferedAmount must come back to 0.
#[test]
fn bursts_and_large_messages_past_a_full_socket_arrive_whole_and_in_order() {
    const ROUNDS: usize = 12;
    const SMALL: usize = 3_000;
    let srv = raw_server(|mut s| {
        accept(&mut s);
        thread::sleep(Duration::from_millis(300));
        read_until_close(&mut s)
    });
    let r = open(&srv.url, &[], Options::default());
    assert_eq!(r.next(), Event::Open);
    for round in 0..ROUNDS {
        for i in 0..SMALL {
            r.ws.send_text(&format!("{round}:{i}")).unwrap();
        }
        r.ws.send_binary(&pattern(round, LARGE[round % LARGE.len()])).unwrap();
    }
    let start = Instant::now();
    while r.ws.buffered_amount() != 0 && start.elapsed() < WAIT {
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(r.ws.buffered_amount(), 0);
    r.ws.close(Some(1000), None).unwrap();
    let frames = srv.join.join().unwrap();
    assert_eq!(frames.len(), ROUNDS * (SMALL + 1) + 1, "frames lost or added");
    let mut it = frames.iter();
    for round in 0..ROUNDS {
        for i in 0..SMALL {
            let f = it.next().unwrap();
            assert!(f.fin && f.masked && f.opcode == 1);
            assert_eq!(f.payload, format!("{round}:{i}").as_bytes(), "round {round}, message {i}");
        }
        let f = it.next().unwrap();
        assert!(f.fin && f.masked && f.opcode == 2);
        assert!(
            f.payload == pattern(round, LARGE[round % LARGE.len()]),
            "large message of round {round} differs"
        );
    }
    assert_eq!(it.next().unwrap().close_code(), Some(1000));
}

/// Immediate dispatch: a handler echoes large messages; the server gets
/// each echo whole before it sends the next message.
#[test]
fn large_echoes_from_the_message_handler_arrive_whole() {
    let srv = raw_server(|mut s| {
        accept(&mut s);
        let mut echoes = Vec::new();
        for (round, len) in LARGE.iter().enumerate() {
            s.write_all(&frame(true, 2, &pattern(round, *len))).unwrap();
            echoes.push(read_frame(&mut s).expect("no echo"));
        }
        s.write_all(&close_frame(1000, "")).unwrap();
        read_until_close(&mut s);
        echoes
    });
    let handle: Arc<OnceLock<WebSocket>> = Arc::default();
    let h = Arc::clone(&handle);
    let ws = WebSocket::connect(
        &srv.url,
        &[] as &[&str],
        Options { proxy: wsnative_core::Proxy::Direct, ..Options::default() },
        Box::new(move |e| {
            if let Event::Message(m) = e {
                let start = Instant::now();
                while h.get().is_none() && start.elapsed() < WAIT {
                    thread::yield_now();
                }
                h.get().unwrap().send_binary(&m.data).unwrap();
            }
        }),
    )
    .unwrap();
    let _ = handle.set(ws);
    let echoes = srv.join.join().unwrap();
    assert_eq!(echoes.len(), LARGE.len());
    for (round, (f, len)) in echoes.iter().zip(LARGE).enumerate() {
        assert!(f.fin && f.masked && f.opcode == 2);
        assert!(f.payload == pattern(round, len), "echo {round} differs");
    }
}

/// The server's Close has already arrived (read with the message, or
/// still in the kernel behind a message read straight into its buffer)
/// when the message handler sends a large reply: as in Chromium, whose
/// network process has answered the Close by then, the reply never reaches
/// the server, even though nothing else is queued and the socket has room
/// (a handler writes a large message itself only when nothing of the
/// server's waits to be read).
#[test]
fn a_large_reply_from_the_handler_after_the_close_arrived_never_reaches_the_server() {
    for len in [100_000, 1_000_000, 100_000, 1_000_000] {
        let srv = raw_server(move |mut s| {
            accept(&mut s);
            let mut out = frame(true, 2, &pattern(1, len));
            out.extend(close_frame(1000, "bye"));
            s.write_all(&out).unwrap();
            read_until_close(&mut s)
        });
        // The Close, written with the message, is in by the time it sends.
        let echo = echoing_handler(&srv.url, Duration::from_millis(50), Duration::ZERO);
        let frames = srv.join.join().unwrap();
        let opcodes: Vec<u8> = frames.iter().map(|f| f.opcode).collect();
        assert_eq!(opcodes, vec![8], "the server received more than the Close echo");
        assert_eq!(last_event(&echo.events), close(1000, "bye", true));
    }
}

/// More than loopback socket buffers take from a server that reads nothing.
const BEYOND_SOCKET: usize = 24 << 20;

/// A socket whose message handler echoes each message.
struct Echoing {
    _ws: Arc<OnceLock<WebSocket>>,
    events: Arc<Mutex<Vec<Event>>>,
    /// bufferedAmount right after each echo was sent.
    buffered: Arc<Mutex<Vec<u64>>>,
}

/// Connects with immediate dispatch; the message handler waits `before`,
/// echoes the message, then stays busy for `after`.
fn echoing_handler(url: &str, before: Duration, after: Duration) -> Echoing {
    let handle: Arc<OnceLock<WebSocket>> = Arc::default();
    let events: Arc<Mutex<Vec<Event>>> = Arc::default();
    let buffered: Arc<Mutex<Vec<u64>>> = Arc::default();
    let (h, ev, b) = (Arc::clone(&handle), Arc::clone(&events), Arc::clone(&buffered));
    let ws = WebSocket::connect(
        url,
        &[] as &[&str],
        Options { proxy: wsnative_core::Proxy::Direct, ..Options::default() },
        Box::new(move |e| {
            if let Event::Message(m) = &e {
                let start = Instant::now();
                while h.get().is_none() && start.elapsed() < WAIT {
                    thread::yield_now();
                }
                thread::sleep(before);
                let ws = h.get().unwrap();
                ws.send_binary(&m.data).unwrap();
                b.lock().unwrap().push(ws.buffered_amount());
                thread::sleep(after);
            }
            ev.lock().unwrap().push(e);
        }),
    )
    .unwrap();
    let _ = handle.set(ws);
    Echoing { _ws: handle, events, buffered }
}

/// The last event, once the close event is in (within [`WAIT`]).
fn last_event(events: &Mutex<Vec<Event>>) -> Event {
    let start = Instant::now();
    loop {
        if let Some(e @ Event::Close { .. }) = events.lock().unwrap().last() {
            return e.clone();
        }
        assert!(start.elapsed() < WAIT, "no close event");
        thread::sleep(Duration::from_millis(5));
    }
}

/// The server's ping and Close, or its Close alone, arrive while the
/// handler's large echo is only partly written (read right after the
/// handler returns, before the task writes the rest): the rest of the echo
/// goes out first, then the pong and the Close answer (a frame cut short
/// would make the server read them as payload), and the close is clean.
#[test]
fn a_ping_or_close_read_after_a_partly_written_echo_is_answered_after_it() {
    let ping = frame(true, 9, b"still there?");
    let bye = close_frame(1000, "done");
    for (round, then, want) in [(3, [ping, bye.clone()].concat(), vec![2, 10, 8]), (4, bye, vec![2, 8])] {
        let payload = pattern(round, BEYOND_SOCKET + round);
        let sent = payload.clone();
        let srv = raw_server(move |mut s| {
            accept(&mut s);
            s.write_all(&frame(true, 2, &sent)).unwrap();
            // The echo fills the sockets meanwhile; the handler is busy.
            thread::sleep(Duration::from_millis(150));
            s.write_all(&then).unwrap();
            thread::sleep(Duration::from_millis(300));
            read_until_close(&mut s)
        });
        let echo = echoing_handler(&srv.url, Duration::ZERO, Duration::from_millis(300));
        let frames = srv.join.join().unwrap();
        let left = echo.buffered.lock().unwrap()[0];
        assert!(left > 0, "a server reading nothing took the whole echo: nothing tested");
        assert_eq!(frames.iter().map(|f| f.opcode).collect::<Vec<_>>(), want);
        assert!(frames.iter().all(|f| f.fin && f.masked));
        assert!(frames[0].payload == payload, "the echo arrived changed");
        if want.len() == 3 {
            assert_eq!(frames[1].payload, b"still there?");
        }
        assert_eq!(frames.last().unwrap().close_code(), Some(1000));
        assert_eq!(last_event(&echo.events), close(1000, "done", true));
    }
}
