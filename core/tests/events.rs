//! The event sequence the application sees, checked against scripted
//! servers that speak raw bytes (SPEC.md sections 3 and 4).

mod support;

use std::io::Write;
use std::time::{Duration, Instant};
use support::*;
use wsnative_core::{ErrorKind, Event, Options, ReadyState, WebSocket};

fn short_close() -> Options {
    Options { close_timeout: Duration::from_millis(500), ..Options::default() }
}

#[test]
fn open_echo_and_clean_close_with_the_servers_code() {
    let srv = raw_server(|mut s| {
        accept(&mut s);
        let got = read_until_close(&mut s);
        for f in &got[..got.len() - 1] {
            s.write_all(&frame(true, f.opcode, &f.payload)).unwrap();
        }
        s.write_all(&close_frame(1000, "done")).unwrap();
        drop(s);
        got
    });
    let r = open(&srv.url, &[], Options::default());
    assert_eq!(r.ws.ready_state(), ReadyState::Connecting);
    assert_eq!(r.next(), Event::Open);
    assert_eq!(r.ws.ready_state(), ReadyState::Open);
    r.ws.send_text("héllo").unwrap();
    r.ws.send_binary(&[0u8, 1, 2]).unwrap();
    r.ws.close(Some(4000), Some("bye")).unwrap();
    assert_eq!(r.ws.ready_state(), ReadyState::Closing);
    // Messages echoed after close() are dropped, as in the browser.
    assert_eq!(r.until_close(), vec![close(1000, "done", true)]);
    assert_eq!(r.ws.ready_state(), ReadyState::Closed);
    let frames = srv.join.join().unwrap();
    assert!(frames.iter().all(|f| f.masked));
    assert_eq!((frames[0].opcode, &frames[0].payload[..]), (1, "héllo".as_bytes()));
    assert_eq!((frames[1].opcode, &frames[1].payload[..]), (2, &[0u8, 1, 2][..]));
    assert_eq!(frames[2].close_code(), Some(4000));
    assert_eq!(&frames[2].payload[2..], b"bye");
    assert_eq!(r.ws.buffered_amount(), 0);
}

#[test]
fn messages_arrive_whole_and_in_order() {
    let srv = raw_server(|mut s| {
        accept(&mut s);
        s.write_all(&frame(true, 1, b"one")).unwrap();
        s.write_all(&frame(false, 1, "tw".as_bytes())).unwrap();
        s.write_all(&frame(true, 9, b"ping in between")).unwrap();
        s.write_all(&frame(true, 0, "o€".as_bytes())).unwrap();
        s.write_all(&frame(true, 2, &[7; 70000])).unwrap();
        let pong = read_frame(&mut s).unwrap();
        s.write_all(&close_frame(1000, "")).unwrap();
        read_until_close(&mut s);
        pong
    });
    let r = open(&srv.url, &[], Options::default());
    assert_eq!(r.next(), Event::Open);
    assert_eq!(r.next(), text("one"));
    assert_eq!(r.next(), text("two€"));
    assert_eq!(r.next(), binary(&[7; 70000]));
    assert_eq!(r.until_close(), vec![close(1000, "", true)]);
    let pong = srv.join.join().unwrap();
    assert_eq!((pong.opcode, &pong.payload[..]), (10, &b"ping in between"[..]));
}

#[test]
fn frames_in_the_same_packet_as_the_101_are_delivered() {
    let srv = raw_server(|mut s| {
        let req = read_request(&mut s);
        let mut all = response(&req, "");
        all.extend(frame(true, 1, b"early"));
        all.extend(close_frame(1000, ""));
        s.write_all(&all).unwrap();
        read_until_close(&mut s)
    });
    let r = open(&srv.url, &[], Options::default());
    assert_eq!(r.next(), Event::Open);
    assert_eq!(r.next(), text("early"));
    assert_eq!(r.until_close(), vec![close(1000, "", true)]);
    assert_eq!(srv.join.join().unwrap().last().unwrap().close_code(), Some(1000));
}

#[test]
fn close_without_status_is_1005_and_clean() {
    let srv = raw_server(|mut s| {
        accept(&mut s);
        s.write_all(&frame(true, 8, b"")).unwrap();
        let reply = read_until_close(&mut s);
        drop(s);
        reply
    });
    let r = open(&srv.url, &[], Options::default());
    assert_eq!(r.next(), Event::Open);
    assert_eq!(r.until_close(), vec![close(1005, "", true)]);
    // The client echoes an empty Close.
    let reply = srv.join.join().unwrap();
    assert_eq!((reply[0].opcode, reply[0].payload.len()), (8, 0));
}

#[test]
fn server_that_does_not_close_tcp_is_closed_by_the_client_and_still_clean() {
    let srv = raw_server(|mut s| {
        accept(&mut s);
        s.write_all(&close_frame(1001, "away")).unwrap();
        read_until_close(&mut s);
        let t = Instant::now();
        let eof = sees_eof(&mut s);
        (eof, t.elapsed())
    });
    let r = open(&srv.url, &[], Options::default());
    assert_eq!(r.next(), Event::Open);
    assert_eq!(r.until_close(), vec![close(1001, "away", true)]);
    let (eof, waited) = srv.join.join().unwrap();
    assert!(eof);
    assert!(waited >= Duration::from_millis(1500), "closed TCP after {waited:?}");
}

#[test]
fn server_close_followed_at_once_by_tcp_close_is_clean() {
    let srv = raw_server(|mut s| {
        accept(&mut s);
        s.write_all(&close_frame(4002, "now")).unwrap();
        s.shutdown(std::net::Shutdown::Both).unwrap();
    });
    let r = open(&srv.url, &[], Options::default());
    assert_eq!(r.next(), Event::Open);
    assert_eq!(r.until_close(), vec![close(4002, "now", true)]);
    srv.join.join().unwrap();
}

#[test]
fn dropped_tcp_gives_1006_without_error() {
    let srv = raw_server(|mut s| {
        accept(&mut s);
        s.write_all(&frame(true, 1, b"last")).unwrap();
    });
    let r = open(&srv.url, &[], Options::default());
    assert_eq!(r.next(), Event::Open);
    assert_eq!(r.until_close(), vec![text("last"), close(1006, "", false)]);
    srv.join.join().unwrap();
}

#[test]
fn unanswered_close_times_out_with_1006_without_error() {
    let srv = raw_server(|mut s| {
        accept(&mut s);
        let f = read_until_close(&mut s);
        let eof = sees_eof(&mut s);
        (f, eof)
    });
    let r = open(&srv.url, &[], short_close());
    assert_eq!(r.next(), Event::Open);
    r.ws.close(None, None).unwrap();
    let t = Instant::now();
    assert_eq!(r.until_close(), vec![close(1006, "", false)]);
    assert!(t.elapsed() >= Duration::from_millis(400));
    let (frames, eof) = srv.join.join().unwrap();
    assert_eq!((frames[0].opcode, frames[0].payload.len()), (8, 0));
    assert!(eof);
}

#[test]
fn refused_connection_gives_error_then_1006() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let r = open(&format!("ws://127.0.0.1:{port}/"), &[], Options::default());
    let ev = r.until_close();
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert!(is_error(&ev[0]));
    assert_eq!(ev[1], close(1006, "", false));
    assert_eq!(r.ws.ready_state(), ReadyState::Closed);
}

#[test]
fn close_while_connecting_fails_the_connection() {
    let (got_request, wait_request) = gate();
    let srv = raw_server(move |mut s| {
        read_request(&mut s);
        got_request.send(()).unwrap();
        sees_eof(&mut s)
    });
    let r = open(&srv.url, &[], Options::default());
    wait_request.recv_timeout(WAIT).unwrap();
    assert_eq!(r.ws.ready_state(), ReadyState::Connecting);
    assert_eq!(r.ws.send_text("x").unwrap_err().kind(), ErrorKind::InvalidState);
    assert_eq!(r.ws.buffered_amount(), 0);
    r.ws.close(Some(1000), None).unwrap();
    // CLOSING at once, and until the close event is dispatched.
    assert_eq!(r.ws.ready_state(), ReadyState::Closing);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(r.ws.ready_state(), ReadyState::Closing);
    let ev = r.until_close();
    assert!(is_error(&ev[0]), "{ev:?}");
    assert_eq!(ev[1], close(1006, "", false));
    assert_eq!(r.ws.ready_state(), ReadyState::Closed);
    assert!(srv.join.join().unwrap());
}

/// close() right after the constructor: as in the browser, the opening
/// request is already on its way, so the server sees the connection and the
/// request; the application sees error, then close 1006, and no open.
#[test]
fn close_right_after_construction_still_sends_the_request() {
    let srv = raw_server(move |mut s| {
        let req = read_request(&mut s);
        // Answer: the client must not report open nor complete anything.
        let _ = s.write_all(&response(&req, ""));
        (req, sees_eof(&mut s))
    });
    let r = open(&srv.url, &[], Options::default());
    r.ws.close(None, None).unwrap();
    assert_eq!(r.ws.ready_state(), ReadyState::Closing);
    let ev = r.until_close();
    assert!(is_error(&ev[0]), "{ev:?}");
    assert_eq!(ev[1..], [close(1006, "", false)]);
    let (req, eof) = srv.join.join().unwrap();
    assert!(req.starts_with("GET / HTTP/1.1\r\n"), "{req:?}");
    assert_eq!(header(&req, "Upgrade"), Some("websocket"));
    assert!(eof, "the client dropped the connection");
}

/// close() after the connection opened but before the application saw
/// `open` (a queued socket not yet pumped): the application saw CONNECTING,
/// so, as in the browser, the connection is failed: no open event, error,
/// close 1006, and TCP dropped without a Close frame.
#[test]
fn close_before_open_is_dispatched_fails_the_connection() {
    let (opened, wait_opened) = gate();
    let srv = raw_server(move |mut s| {
        accept(&mut s);
        opened.send(()).unwrap();
        read_frame(&mut s)
    });
    let r = open(&srv.url, &[], Options::default());
    wait_opened.recv_timeout(WAIT).unwrap();
    // Give the client time to process the 101 response.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(r.ws.ready_state(), ReadyState::Connecting);
    r.ws.close(Some(1000), None).unwrap();
    let ev = r.until_close();
    assert!(is_error(&ev[0]), "{ev:?}");
    assert_eq!(ev[1..], [close(1006, "", false)]);
    assert!(srv.join.join().unwrap().is_none(), "no Close frame on the wire");
}

#[test]
fn buffered_amount_counts_sends_after_close_and_is_not_reset() {
    let srv = raw_server(|mut s| {
        accept(&mut s);
        read_until_close(&mut s);
        s.write_all(&close_frame(1000, "")).unwrap();
    });
    let r = open(&srv.url, &[], Options::default());
    assert_eq!(r.next(), Event::Open);
    r.ws.close(None, None).unwrap();
    r.ws.send_text("héllo").unwrap(); // 6 bytes of UTF-8
    r.ws.send_binary(&[0u8; 10]).unwrap();
    assert_eq!(r.ws.buffered_amount(), 16);
    assert_eq!(r.until_close(), vec![close(1000, "", true)]);
    r.ws.send_text("ab").unwrap();
    assert_eq!(r.ws.buffered_amount(), 18);
    srv.join.join().unwrap();
}

#[test]
fn protocol_and_extensions_after_open() {
    let srv = raw_server(|mut s| {
        let req = read_request(&mut s);
        s.write_all(&response(&req, "Sec-WebSocket-Protocol: chat.v2\r\n")).unwrap();
        s.write_all(&close_frame(1000, "")).unwrap();
        read_until_close(&mut s);
        req
    });
    let r = open(&srv.url, &["chat.v1", "chat.v2"], Options::default());
    assert_eq!(r.ws.protocol(), "");
    assert_eq!(r.next(), Event::Open);
    assert_eq!(r.ws.protocol(), "chat.v2");
    assert_eq!(r.ws.extensions(), "");
    r.until_close();
    let req = srv.join.join().unwrap();
    assert_eq!(header(&req, "Sec-WebSocket-Protocol"), Some("chat.v1, chat.v2"));
    assert_eq!(header(&req, "Sec-WebSocket-Version"), Some("13"));
}

#[test]
fn extra_headers_are_sent_and_credentials_are_not() {
    let srv = raw_server(|mut s| {
        let req = read_request(&mut s);
        drop(s);
        req
    });
    let url = srv.url.replace("ws://", "ws://user:secret@");
    let opts =
        Options { headers: vec![("Origin".into(), "https://example.com".into())], ..Options::default() };
    let r = open(&url, &[], opts);
    assert_eq!(r.ws.url(), url);
    let ev = r.until_close();
    assert!(is_error(&ev[0]));
    if let Event::Error { message, .. } = &ev[0] {
        assert!(!message.contains("secret"), "{message}");
    }
    let req = srv.join.join().unwrap();
    assert_eq!(header(&req, "Origin"), Some("https://example.com"));
    assert!(!req.contains("secret") && header(&req, "Authorization").is_none(), "{req}");
}

/// Fails the handshake with `extra` response headers; returns the events.
fn handshake_failure(extra: &'static str, protocols: &[&str]) -> Vec<Event> {
    let srv = raw_server(move |mut s| {
        let req = read_request(&mut s);
        s.write_all(&response(&req, extra)).unwrap();
        sees_eof(&mut s)
    });
    let r = open(&srv.url, protocols, Options::default());
    let ev = r.until_close();
    assert!(srv.join.join().unwrap(), "the client did not drop TCP");
    ev
}

#[test]
fn handshake_violations_fail_the_connection() {
    for (extra, protocols) in [
        ("Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n", &[][..]),
        ("Sec-WebSocket-Extensions: permessage-deflate; foo\r\n", &[]),
        ("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=16\r\n", &[]),
        ("Sec-WebSocket-Protocol: x\r\n", &[]),
        ("Sec-WebSocket-Protocol: b\r\n", &["a"]),
        ("", &["a"]),
    ] {
        let ev = handshake_failure(extra, protocols);
        assert_eq!(ev.len(), 2, "{extra}: {ev:?}");
        assert!(is_error(&ev[0]), "{extra}: {ev:?}");
        assert_eq!(ev[1], close(1006, "", false));
    }
}

/// Sends `bytes` after the handshake; returns the client's events, and the
/// close code the client put on the wire (if any) and whether it dropped TCP.
fn failure_after_open(bytes: Vec<u8>, opts: Options) -> (Vec<Event>, Option<u16>, bool) {
    let srv = raw_server(move |mut s| {
        accept(&mut s);
        s.write_all(&bytes).unwrap();
        let frames = read_until_close(&mut s);
        let code = frames.last().and_then(|f| f.close_code());
        (code, sees_eof(&mut s))
    });
    let r = open(&srv.url, &[], opts);
    let ev = r.until_close();
    let (code, eof) = srv.join.join().unwrap();
    (ev, code, eof)
}

#[test]
fn protocol_violations_send_the_right_code_then_error_and_1006() {
    let mut masked = frame(true, 1, b"");
    masked[1] |= 0x80;
    masked.extend([0, 0, 0, 0]);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("invalid utf-8", frame(true, 1, b"ok\xff"), 1007),
        ("utf-8 across fragments", [frame(false, 1, b"\xe2\x82"), frame(true, 0, b"x")].concat(), 1007),
        (
            "rsv1",
            {
                let mut f = frame(true, 1, b"a");
                f[0] |= 0x40;
                f
            },
            1002,
        ),
        ("reserved opcode", frame(true, 3, b""), 1002),
        ("masked", masked, 1002),
        ("non-minimal length", vec![0x81, 126, 0, 1, b'a'], 1002),
        ("fragmented ping", frame(false, 9, b""), 1002),
        ("continuation without start", frame(true, 0, b"a"), 1002),
        ("new message inside a fragmented one", [frame(false, 1, b"a"), frame(true, 1, b"b")].concat(), 1002),
        ("bad close code", close_frame(1005, ""), 1002),
        ("close with 1-byte payload", frame(true, 8, &[3]), 1002),
        (
            "close reason invalid utf-8",
            [&[0x03, 0xe8][..], b"\xff"].concat().pipe(|p| frame(true, 8, &p)),
            1007,
        ),
    ];
    for (name, bytes, want) in cases {
        let (ev, code, eof) = failure_after_open(bytes, Options::default());
        assert_eq!(ev[0], Event::Open, "{name}");
        assert!(is_error(&ev[1]), "{name}: {ev:?}");
        assert_eq!(ev[2..], [close(1006, "", false)], "{name}");
        assert_eq!(code, Some(want), "{name}");
        assert!(eof, "{name}: TCP not closed");
    }
}

#[test]
fn data_after_the_servers_close_fails_the_connection() {
    let bytes = [close_frame(1000, ""), frame(true, 1, b"late")].concat();
    let srv = raw_server(move |mut s| {
        accept(&mut s);
        s.write_all(&bytes).unwrap();
        read_until_close(&mut s);
        sees_eof(&mut s)
    });
    let r = open(&srv.url, &[], Options::default());
    let ev = r.until_close();
    assert_eq!(ev[0], Event::Open);
    assert!(is_error(&ev[1]), "{ev:?}");
    assert_eq!(ev[2], close(1006, "", false));
    assert!(srv.join.join().unwrap());
}

#[test]
fn too_big_message_closes_with_1009() {
    let opts = Options { max_message_size: 1000, ..Options::default() };
    let (ev, code, _) = failure_after_open(frame(true, 2, &[0; 1001]), opts.clone());
    assert!(is_error(&ev[1]) && ev[2] == close(1006, "", false), "{ev:?}");
    assert_eq!(code, Some(1009));
    // Fragmented: the total counts.
    let (ev, code, _) =
        failure_after_open([frame(false, 2, &[0; 600]), frame(true, 0, &[0; 600])].concat(), opts);
    assert!(is_error(&ev[1]), "{ev:?}");
    assert_eq!(code, Some(1009));
}

trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}
impl<T> Pipe for T {}

/// A reply sent from the message handler goes out before the next frame is
/// processed, even when that frame fails the connection (Autobahn 3.2).
#[test]
fn replies_from_the_handler_precede_a_failure_in_the_same_read() {
    use std::sync::{Arc, OnceLock};
    use wsnative_core::WebSocket;
    for _ in 0..20 {
        let srv = raw_server(|mut s| {
            accept(&mut s);
            let mut bad = frame(true, 1, b"x");
            bad[0] |= 0x20; // RSV2
            s.write_all(&[frame(true, 1, b"echo me"), bad].concat()).unwrap();
            read_until_close(&mut s)
        });
        let cell: Arc<OnceLock<WebSocket>> = Arc::default();
        let in_handler = Arc::clone(&cell);
        let ws = WebSocket::connect(
            &srv.url,
            &[] as &[&str],
            Options::default(),
            Box::new(move |ev| {
                if let Event::Message(m) = ev {
                    let start = Instant::now();
                    while in_handler.get().is_none() && start.elapsed() < WAIT {
                        std::thread::yield_now();
                    }
                    in_handler.get().unwrap().send_text(m.text().unwrap()).unwrap();
                }
            }),
        )
        .unwrap();
        let _ = cell.set(ws);
        let frames = srv.join.join().unwrap();
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert_eq!((frames[0].opcode, &frames[0].payload[..]), (1, &b"echo me"[..]));
        assert_eq!(frames[1].close_code(), Some(1002));
    }
}

/// Queued dispatch with flow control: a server that sends faster than the
/// application pumps is held back (reading pauses at the limit), and
/// nothing is lost once the application pumps again.
#[test]
fn a_full_queue_pauses_reading_until_the_application_pumps() {
    use std::sync::Arc;
    use wsnative_core::{EventQueue, WebSocket};
    const N: usize = 3_000; // 30 MB: more than loopback socket buffers hold
    let srv = raw_server(|mut s| {
        accept(&mut s);
        s.set_nonblocking(true).unwrap();
        let msg = frame(true, 2, &[7u8; 10_000]);
        let mut sent_whole = 0;
        let mut pending = Vec::new();
        let start = Instant::now();
        // Write until the client stops reading (TCP buffers fill) or all N go.
        while sent_whole < N && start.elapsed() < Duration::from_secs(3) {
            if pending.is_empty() {
                pending = msg.clone();
            }
            match s.write(&pending) {
                Ok(n) => {
                    pending.drain(..n);
                    if pending.is_empty() {
                        sent_whole += 1;
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        let stalled_at = sent_whole;
        s.set_nonblocking(false).unwrap();
        // Now the client pumps: send the rest.
        if !pending.is_empty() {
            s.write_all(&pending).unwrap();
            sent_whole += 1;
        }
        while sent_whole < N {
            s.write_all(&msg).unwrap();
            sent_whole += 1;
        }
        s.write_all(&close_frame(1000, "")).unwrap();
        read_until_close(&mut s);
        stalled_at
    });
    let queue = EventQueue::new();
    let opts = Options { max_queued_bytes: 100_000, ..Options::default() };
    let ws = WebSocket::connect_queued(&srv.url, &[] as &[&str], opts, &queue).unwrap();
    // The application does not pump for a while.
    std::thread::sleep(Duration::from_millis(3500));
    assert!(queue.queued_bytes() <= 110_000, "queued {} bytes", queue.queued_bytes());
    let mut messages = 0;
    loop {
        match queue.pop(Some(WAIT)).expect("event") {
            Event::Message(m) => {
                assert_eq!(m.data.len(), 10_000);
                messages += 1;
            }
            Event::Close { code, was_clean, .. } => {
                assert_eq!((code, was_clean), (1000, true));
                break;
            }
            _ => {}
        }
    }
    assert_eq!(messages, N, "nothing lost");
    let stalled_at = srv.join.join().unwrap();
    assert!(stalled_at < N, "the server was never held back");
    drop(Arc::clone(&queue));
    drop(ws);
}

/// A ping that arrives while a large message is only partly written: the
/// pong goes out between frames, never inside one, and every message still
/// arrives whole and in order, before the Close frame.
#[test]
fn a_pong_never_cuts_into_a_message_being_written() {
    const BIG: usize = 32 << 20; // more than loopback socket buffers hold
    let (go, wait_go) = gate();
    let srv = raw_server(move |mut s| {
        accept(&mut s);
        // The client has queued its messages and the socket buffers are
        // full (this side reads nothing yet): now ping.
        wait_go.recv_timeout(Duration::from_secs(30)).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        s.write_all(&frame(true, 9, b"are you there")).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let got = read_until_close(&mut s);
        s.write_all(&close_frame(1000, "")).unwrap();
        got
    });
    let r = open(&srv.url, &[], Options::default());
    assert_eq!(r.next(), Event::Open);
    let payload: Vec<u8> = (0..BIG).map(|i| (i % 251) as u8).collect();
    r.ws.send_binary(&payload).unwrap();
    r.ws.send_text("after").unwrap();
    go.send(()).unwrap();
    // Wait until everything is written, then close.
    let t = Instant::now();
    while r.ws.buffered_amount() > 0 && t.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
    r.ws.close(Some(1000), None).unwrap();
    assert_eq!(r.until_close(), vec![close(1000, "", true)]);
    let frames = srv.join.join().unwrap();
    let kinds: Vec<u8> = frames.iter().map(|f| f.opcode).collect();
    let data: Vec<&support::ClientFrame> = frames.iter().filter(|f| f.opcode == 1 || f.opcode == 2).collect();
    assert_eq!(data.len(), 2, "{kinds:?}");
    assert_eq!((data[0].opcode, data[0].payload.len()), (2, BIG));
    assert!(data[0].payload == payload, "the large message arrived changed");
    assert_eq!((data[1].opcode, &data[1].payload[..]), (1, &b"after"[..]));
    let pongs: Vec<&support::ClientFrame> = frames.iter().filter(|f| f.opcode == 10).collect();
    assert_eq!(pongs.len(), 1, "{kinds:?}");
    assert_eq!(pongs[0].payload, b"are you there");
    assert_eq!(kinds.last(), Some(&8), "Close comes last: {kinds:?}");
    assert!(frames.iter().all(|f| f.masked && f.fin));
}

/// The server sends a message and its Close (and ends TCP) while the `open`
/// handler is still running; the handler then sends. As in Chromium, whose
/// network process answers the Close while the page is busy, the send is
/// accepted but nothing reaches the server after its Close: only the echo.
#[test]
fn a_send_from_a_slow_open_handler_after_the_server_closed_never_reaches_it() {
    use std::sync::{Arc, Mutex, OnceLock};
    let srv = raw_server(move |mut s| {
        accept(&mut s);
        std::thread::sleep(Duration::from_millis(50));
        let mut out = frame(true, 1, b"before close");
        out.extend(close_frame(1000, "bye"));
        s.write_all(&out).unwrap();
        let _ = s.shutdown(std::net::Shutdown::Write);
        read_until_close(&mut s)
    });
    let handle: Arc<OnceLock<WebSocket>> = Arc::default();
    let events: Arc<Mutex<Vec<(Event, ReadyState)>>> = Arc::default();
    let (h, ev) = (Arc::clone(&handle), Arc::clone(&events));
    let started = Instant::now();
    let ws = WebSocket::connect(
        &srv.url,
        &[] as &[&str],
        Options::default(),
        Box::new(move |e| {
            let ws = loop {
                if let Some(ws) = h.get() {
                    break ws;
                }
                std::thread::yield_now();
            };
            ev.lock().unwrap().push((e.clone(), ws.ready_state()));
            if e == Event::Open {
                std::thread::sleep(Duration::from_millis(200));
                assert_eq!(ws.ready_state(), ReadyState::Open);
                ws.send_text("hello").unwrap();
            }
        }),
    )
    .unwrap();
    let _ = handle.set(ws);
    let frames = srv.join.join().unwrap();
    let opcodes: Vec<u8> = frames.iter().map(|f| f.opcode).collect();
    assert_eq!(opcodes, vec![8], "the server received {frames:?}");
    while !matches!(events.lock().unwrap().last(), Some((Event::Close { .. }, _))) {
        assert!(started.elapsed() < WAIT);
        std::thread::sleep(Duration::from_millis(10));
    }
    let got = events.lock().unwrap().clone();
    assert_eq!(
        got,
        vec![
            (Event::Open, ReadyState::Open),
            (text("before close"), ReadyState::Open),
            (close(1000, "bye", true), ReadyState::Closed),
        ]
    );
}

/// A handle released while connecting (a binding whose handler outlives
/// its handle, or a dropped `WebSocket`): the handler still gets error
/// (code `Released`) then close 1006, and the server sees TCP dropped.
#[test]
fn releasing_while_connecting_gives_error_released_then_close() {
    let (got_request, request_seen) = std::sync::mpsc::channel();
    let srv = raw_server(move |mut s| {
        let req = read_request(&mut s);
        let _ = got_request.send(());
        (req, sees_eof(&mut s))
    });
    let queue = wsnative_core::EventQueue::new();
    let opts = Options { proxy: wsnative_core::Proxy::Direct, ..Options::default() };
    let ws = WebSocket::connect_queued::<&str>(&srv.url, &[], opts, &queue).unwrap();
    // The request is out: the connection waits for the server's answer.
    request_seen.recv_timeout(WAIT).expect("the request");
    drop(ws);
    let first = queue.pop(Some(WAIT)).expect("an error event");
    match &first {
        Event::Error { cause, message } => {
            assert_eq!(cause.code, wsnative_core::ErrorCode::Released, "{message}");
        }
        other => panic!("expected an error first, got {other:?}"),
    }
    assert_eq!(queue.pop(Some(WAIT)).expect("a close event"), close(1006, "", false));
    let (req, eof) = srv.join.join().unwrap();
    assert!(req.starts_with("GET "), "{req}");
    assert!(eof, "the server should see the connection dropped");
}

/// What a borrowing handler received, as "lent"/"event", what, and the
/// readyState read inside the handler (payloads over 64 bytes by size).
struct Borrowing {
    handle: std::sync::Arc<std::sync::OnceLock<WebSocket>>,
    got: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

fn payload(data: &[u8], is_text: bool) -> String {
    let kind = if is_text { "text" } else { "binary" };
    if data.len() > 64 {
        format!(
            "{kind} of {} bytes, all {}",
            data.len(),
            if data.iter().all(|b| *b == data[0]) { data[0] } else { 0 }
        )
    } else {
        format!("{kind} {:?}", String::from_utf8_lossy(data))
    }
}

impl Borrowing {
    fn ws(&self) -> &WebSocket {
        let start = Instant::now();
        loop {
            if let Some(ws) = self.handle.get() {
                return ws;
            }
            assert!(start.elapsed() < WAIT);
            std::thread::yield_now();
        }
    }
}

impl wsnative_core::Handler for Borrowing {
    fn event(&mut self, ev: Event) {
        let state = self.ws().ready_state();
        let what = match &ev {
            Event::Message(m) => payload(&m.data, m.is_text),
            other => format!("{other:?}"),
        };
        self.got.lock().unwrap().push(format!("event {what} {state:?}"));
    }

    fn borrows(&self) -> bool {
        true
    }

    fn message(&mut self, data: &[u8], is_text: bool) {
        let ws = self.ws();
        self.got.lock().unwrap().push(format!("lent {} {:?}", payload(data, is_text), ws.ready_state()));
        if data == b"stop" {
            ws.close(Some(1000), None).unwrap();
        }
    }
}

/// A handler that borrows gets the small messages that arrive whole lent
/// from the read buffer (no event), the others (fragmented, larger than a
/// read) as events, all in order with readyState OPEN; once it calls
/// close(), lent messages already read stop at once, and pings between
/// messages are still answered.
#[test]
fn a_borrowing_handler_gets_small_messages_lent_and_the_rest_as_events() {
    let srv = raw_server(move |mut s| {
        accept(&mut s);
        let mut out = frame(true, 1, b"one");
        out.extend(frame(true, 2, &[1, 2, 3]));
        out.extend(frame(true, 9, b"p"));
        out.extend(frame(false, 1, b"tw"));
        out.extend(frame(true, 0, "o\u{20ac}".as_bytes()));
        out.extend(frame(true, 2, &[9u8; 300_000]));
        out.extend(frame(true, 1, b"stop"));
        out.extend(frame(true, 1, b"dropped"));
        out.extend(frame(true, 2, b"dropped too"));
        s.write_all(&out).unwrap();
        let frames = read_until_close(&mut s);
        s.write_all(&close_frame(1000, "")).unwrap();
        frames
    });
    let handle: std::sync::Arc<std::sync::OnceLock<WebSocket>> = Default::default();
    let got: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let handler = Borrowing { handle: handle.clone(), got: got.clone() };
    let opts = Options { proxy: wsnative_core::Proxy::Direct, ..Options::default() };
    let ws = WebSocket::connect_with(&srv.url, &[] as &[&str], opts, Box::new(handler)).unwrap();
    let _ = handle.set(ws);
    let frames = srv.join.join().unwrap();
    let start = Instant::now();
    while !got.lock().unwrap().last().is_some_and(|l| l.starts_with("event Close")) {
        assert!(start.elapsed() < WAIT, "no close: {:?}", got.lock().unwrap());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        *got.lock().unwrap(),
        vec![
            "event Open Open",
            "lent text \"one\" Open",
            "lent binary \"\\u{1}\\u{2}\\u{3}\" Open",
            "event text \"two\u{20ac}\" Open",
            "event binary of 300000 bytes, all 9 Open",
            "lent text \"stop\" Open",
            "event Close { code: 1000, reason: \"\", was_clean: true } Closed",
        ]
    );
    let opcodes: Vec<u8> = frames.iter().map(|f| f.opcode).collect();
    assert_eq!(opcodes, vec![10, 8], "the server received {frames:?}");
    assert_eq!(&frames[0].payload[..], b"p");
}
