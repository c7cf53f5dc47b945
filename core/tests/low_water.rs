//! Large binary frames that arrive slowly, or stop: while most of such a
//! frame is still to come, the task asks to be woken only once a good part
//! of it has arrived (core/src/low_water.rs), never for more than the
//! frame still owes. Every message must still arrive whole and at once,
//! over TCP and TLS, and a server that stops must still be seen.

mod support;

use std::io::Write;
use std::thread;
use std::time::Duration;
use support::*;
use wsnative_core::{CaBundle, Event, Options};

/// Sizes around the marks (64 KiB, 256 KiB), not multiples of a piece.
const SIZES: [usize; 4] = [70_001, 262_147, 300_001, 1_100_003];
/// The server writes this much at a time, a millisecond apart.
const PIECE: usize = 9_000;

fn payload(round: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| ((round * 11 + j * 7) % 253) as u8).collect()
}

/// The frames of [`SIZES`], then a Close frame.
fn stream() -> Vec<u8> {
    let mut all = Vec::new();
    for (i, n) in SIZES.iter().enumerate() {
        all.extend(frame(true, 2, &payload(i, *n)));
    }
    all.extend(close_frame(1000, "done"));
    all
}

fn expect_trickled_messages(r: &Recorded) {
    assert_eq!(r.next(), Event::Open);
    for (i, n) in SIZES.iter().enumerate() {
        assert!(r.next() == binary(&payload(i, *n)), "message {i} ({n} bytes) differs");
    }
    assert_eq!(r.until_close(), vec![close(1000, "done", true)]);
}

#[test]
fn large_binary_messages_trickling_in_arrive_whole() {
    let srv = raw_server(|mut s| {
        accept(&mut s);
        for piece in stream().chunks(PIECE) {
            s.write_all(piece).unwrap();
            thread::sleep(Duration::from_millis(1));
        }
        read_until_close(&mut s)
    });
    let r = open(&srv.url, &[], Options::default());
    expect_trickled_messages(&r);
    let frames = srv.join.join().unwrap();
    assert_eq!(frames.last().and_then(|f| f.close_code()), Some(1000));
}

/// The same over TLS, where records arrive in pieces and the TLS layer
/// holds part of one when it has nothing to give.
#[test]
fn large_binary_messages_trickling_in_over_tls_arrive_whole() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (cert, key) = wsnative_testserver::self_signed(&["127.0.0.1"]);
    let acceptor = wsnative_testserver::tls::acceptor(cert.as_bytes(), key.as_bytes()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("wss://127.0.0.1:{}/", listener.local_addr().unwrap().port());
    let server = thread::spawn(move || {
        rt.block_on(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut s = acceptor.accept(tcp).await.unwrap();
            let mut req = Vec::new();
            while !req.ends_with(b"\r\n\r\n") {
                req.push(s.read_u8().await.unwrap());
            }
            s.write_all(&response(&String::from_utf8(req).unwrap(), "")).await.unwrap();
            for piece in stream().chunks(PIECE) {
                s.write_all(piece).await.unwrap();
                s.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            // The client's Close answer, then the end of the stream.
            let mut rest = Vec::new();
            let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut rest)).await;
            rest.len()
        })
    });
    let options =
        Options { ca: Some(CaBundle { pem: cert.into_bytes(), exclusive: true }), ..Options::default() };
    let r = open(&url, &[], options);
    expect_trickled_messages(&r);
    assert!(server.join().unwrap() > 0, "the server got no Close answer");
}

/// The server sends the start of a large frame and then ends TCP: the
/// client sees it (close 1006, not clean, no error) as it would without
/// waiting for the rest of the frame.
#[test]
fn a_server_that_ends_tcp_inside_a_large_frame_is_seen() {
    let srv = raw_server(|mut s| {
        accept(&mut s);
        let whole = frame(true, 2, &payload(0, 4 << 20));
        s.write_all(&whole[..300_000]).unwrap();
        thread::sleep(Duration::from_millis(100));
    });
    let r = open(&srv.url, &[], Options::default());
    assert_eq!(r.next(), Event::Open);
    srv.join.join().unwrap();
    assert_eq!(r.until_close(), vec![close(1006, "", false)]);
}
