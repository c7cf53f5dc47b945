//! Library shutdown closes every socket (each gets exactly one close event,
//! last), refuses new sockets, and may be called again. Its own test binary:
//! shutdown is process-wide.

mod support;

use std::time::{Duration, Instant};
use support::*;
use wsnative_core::{runtime, ErrorKind, Event, Options, WebSocket};
use wsnative_testserver::{Mode, TestServer};

#[test]
fn shutdown_closes_every_socket_then_refuses_new_ones() {
    let srv = TestServer::start(Mode::Echo);
    // An open socket, one stuck connecting (the server never answers), and
    // one whose handler tries to shut down from a library thread.
    let open_sock = open(&srv.url(), &[], Options::default());
    assert_eq!(open_sock.next(), Event::Open);
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let connecting = open(&format!("ws://{}/", silent.local_addr().unwrap()), &[], Options::default());
    let (tx, rx) = std::sync::mpsc::channel();
    let _inside = WebSocket::connect(
        &srv.url(),
        &[] as &[&str],
        Options::default(),
        Box::new(move |ev| {
            if ev == Event::Open {
                tx.send(runtime::shutdown(Duration::from_secs(1)).map_err(|e| e.kind())).unwrap();
            }
        }),
    )
    .unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap(), Err(ErrorKind::WouldDeadlock));

    let t = Instant::now();
    runtime::shutdown(Duration::from_secs(3)).unwrap();
    assert!(t.elapsed() < Duration::from_secs(5));
    // The open socket did a closing handshake: the echo server answered 1001.
    assert_eq!(open_sock.until_close(), vec![close(1001, "shutting down", true)]);
    let ev = connecting.until_close();
    assert!(is_error(&ev[0]), "{ev:?}");
    assert_eq!(ev[1], close(1006, "", false));
    assert_eq!(runtime::live_connections(), 0);

    let e = WebSocket::connect(&srv.url(), &[] as &[&str], Options::default(), Box::new(|_| {})).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ShutDown);
    runtime::shutdown(Duration::from_secs(1)).unwrap();
    // Methods on old sockets stay harmless.
    open_sock.ws.send_text("late").unwrap();
    open_sock.ws.close(None, None).unwrap();
}
