//! Every close code 0..=65535 sent by a server, against SPEC.md's rule:
//! 1000-1003, 1007-1014 and 3000-4999 close cleanly with that code (echoed
//! on the wire); every other code fails the connection: error, then close
//! 1006 with wasClean false, and the client's Close carries 1002. The
//! Chromium-compatible mode accepts what Chromium 156 accepts: every code but
//! 1005, 1006 and 1015.
mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;
use support::*;
use wsnative_core::{ErrorCode, Event, Options};

/// What the server saw of one connection: the close code the client
/// echoed (None: no Close frame, TCP dropped).
type Echoes = Arc<Mutex<Vec<Option<Option<u16>>>>>;

/// A server that answers connection `/N` with a Close frame carrying code N
/// and records the client's reply.
fn close_code_server(stop: Arc<AtomicBool>, echoes: Echoes) -> (String, Vec<thread::JoinHandle<()>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", l.local_addr().unwrap());
    l.set_nonblocking(true).unwrap();
    let l = Arc::new(l);
    let workers = (0..4)
        .map(|_| {
            let (l, stop, echoes) = (Arc::clone(&l), Arc::clone(&stop), Arc::clone(&echoes));
            thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    let Ok((mut s, _)) = l.accept() else {
                        thread::sleep(Duration::from_micros(200));
                        continue;
                    };
                    s.set_nonblocking(false).unwrap();
                    s.set_read_timeout(Some(WAIT)).unwrap();
                    let req = read_request(&mut s);
                    let code: u16 = req.split_whitespace().nth(1).unwrap()[1..].parse().unwrap();
                    let mut out = response(&req, "");
                    out.extend(frame(true, 8, &code.to_be_bytes()));
                    s.write_all(&out).unwrap();
                    let echo = read_frame(&mut s).map(|f| f.close_code());
                    let _ = s.shutdown(std::net::Shutdown::Both);
                    let mut rest = Vec::new();
                    let _ = s.read_to_end(&mut rest);
                    echoes.lock().unwrap()[code as usize] = echo;
                }
            })
        })
        .collect();
    (url, workers)
}

fn sweep(compat: bool, accepted: impl Fn(u16) -> bool) {
    let stop = Arc::new(AtomicBool::new(false));
    let echoes: Echoes = Arc::new(Mutex::new(vec![None; 65536]));
    let (url, workers) = close_code_server(Arc::clone(&stop), Arc::clone(&echoes));
    let codes: Vec<u16> = (0..=u16::MAX).collect();
    let problems = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = codes
        .chunks(65536 / 8)
        .map(|chunk| {
            let (chunk, url, problems) = (chunk.to_vec(), url.clone(), Arc::clone(&problems));
            let accepted = &accepted;
            let expected: Vec<bool> = chunk.iter().map(|c| accepted(*c)).collect();
            thread::spawn(move || {
                for (code, ok) in chunk.into_iter().zip(expected) {
                    let opts = Options { chromium_compat: compat, ..Options::default() };
                    let r = open(&format!("{url}{code}"), &[], opts);
                    let mut ev = vec![r.next()];
                    while !matches!(ev.last(), Some(Event::Close { .. })) {
                        ev.push(r.next());
                    }
                    // Nothing follows close (checked without waiting: a wait
                    // per code would make the sweep minutes long).
                    ev.extend(r.queue.pop(None));
                    let want: Vec<Event> = if ok {
                        vec![Event::Open, close(code, "", true)]
                    } else {
                        vec![
                            Event::Open,
                            Event::Error {
                                message: String::new(),
                                cause: wsnative_core::Cause::new(ErrorCode::ProtocolViolation),
                            },
                            close(1006, "", false),
                        ]
                    };
                    let same = ev.len() == want.len()
                        && ev.iter().zip(&want).all(|(a, b)| match (a, b) {
                            (Event::Error { cause, .. }, Event::Error { cause: want, .. }) => {
                                cause.code == want.code
                            }
                            _ => a == b,
                        });
                    if !same {
                        problems.lock().unwrap().push(format!("code {code}: {ev:?}"));
                    }
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    // The server records each echo after the client's close event; give the
    // last few a moment.
    thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Release);
    for w in workers {
        w.join().unwrap();
    }
    let mut problems = problems.lock().unwrap().clone();
    let echoes = echoes.lock().unwrap();
    for code in 0..=u16::MAX {
        let echo = echoes[code as usize];
        let want = if accepted(code) { Some(Some(code)) } else { Some(Some(1002)) };
        if echo != want {
            problems.push(format!("code {code}: the client answered {echo:?}, expected {want:?}"));
        }
    }
    let shown: Vec<_> = problems.iter().take(20).collect();
    assert!(problems.is_empty(), "{} of 65536 codes differ, first: {shown:#?}", problems.len());
}

#[test]
fn every_close_code_follows_the_rfc_rule() {
    sweep(false, |c| matches!(c, 1000..=1003 | 1007..=1014 | 3000..=4999));
}

#[test]
fn every_close_code_follows_chromium_in_compat_mode() {
    sweep(true, |c| !matches!(c, 1005 | 1006 | 1015));
}
