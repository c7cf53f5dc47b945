//! Test support: a scripted raw-bytes server on 127.0.0.1:0 and an event
//! recorder. Every wait is bounded.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wsnative_core::{Event, EventQueue, Options, WebSocket};

pub const WAIT: Duration = Duration::from_secs(10);

/// A server thread that accepts one connection and runs `script` on it.
pub struct RawServer<T> {
    pub url: String,
    pub join: JoinHandle<T>,
}

pub fn raw_server<T: Send + 'static>(script: impl FnOnce(TcpStream) -> T + Send + 'static) -> RawServer<T> {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", l.local_addr().unwrap());
    let join = std::thread::spawn(move || {
        let s = accept_within(&l, WAIT).expect("the client did not connect in time");
        s.set_read_timeout(Some(WAIT)).unwrap();
        script(s)
    });
    RawServer { url, join }
}

/// Accepts one connection, giving up after `limit`.
pub fn accept_within(l: &TcpListener, limit: Duration) -> Option<TcpStream> {
    l.set_nonblocking(true).unwrap();
    let start = Instant::now();
    while start.elapsed() < limit {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return Some(s);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
    None
}

/// Reads the request head; returns it as text.
pub fn read_request(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).unwrap() == 0 {
            break;
        }
        buf.push(b[0]);
    }
    String::from_utf8(buf).unwrap()
}

pub fn header<'a>(req: &'a str, name: &str) -> Option<&'a str> {
    req.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The 101 response for `req`, with `extra` header lines (each ending in CRLF).
pub fn response(req: &str, extra: &str) -> Vec<u8> {
    let key = header(req, "Sec-WebSocket-Key").unwrap();
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{extra}\r\n").into_bytes()
}

/// Reads the request and answers 101; returns the request.
pub fn accept(s: &mut TcpStream) -> String {
    let req = read_request(s);
    s.write_all(&response(&req, "")).unwrap();
    req
}

/// An unmasked server frame.
pub fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![(if fin { 0x80 } else { 0 }) | opcode];
    match payload.len() {
        n if n < 126 => f.push(n as u8),
        n if n < 65536 => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

pub fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    frame(true, 8, &p)
}

/// A frame read from the client, unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFrame {
    pub fin: bool,
    pub opcode: u8,
    pub masked: bool,
    pub payload: Vec<u8>,
}

impl ClientFrame {
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == 8 && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

/// Reads one client frame; `None` at EOF or timeout.
pub fn read_frame(s: &mut TcpStream) -> Option<ClientFrame> {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).ok()?;
    let mut len = (h[1] & 0x7f) as u64;
    if len == 126 {
        let mut b = [0u8; 2];
        s.read_exact(&mut b).ok()?;
        len = u16::from_be_bytes(b) as u64;
    } else if len == 127 {
        let mut b = [0u8; 8];
        s.read_exact(&mut b).ok()?;
        len = u64::from_be_bytes(b);
    }
    let masked = h[1] & 0x80 != 0;
    let mut key = [0u8; 4];
    if masked {
        s.read_exact(&mut key).ok()?;
    }
    let mut payload = vec![0u8; len as usize];
    s.read_exact(&mut payload).ok()?;
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    Some(ClientFrame { fin: h[0] & 0x80 != 0, opcode: h[0] & 0x0f, masked, payload })
}

/// Reads client frames until a Close frame or EOF; returns all of them.
pub fn read_until_close(s: &mut TcpStream) -> Vec<ClientFrame> {
    let mut v = Vec::new();
    while let Some(f) = read_frame(s) {
        let is_close = f.opcode == 8;
        v.push(f);
        if is_close {
            break;
        }
    }
    v
}

/// True when the client closes TCP within `WAIT`.
pub fn sees_eof(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1024];
    let start = Instant::now();
    while start.elapsed() < WAIT {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
    false
}

/// A socket whose events are queued and dispatched by the test thread, so
/// that what the test reads (readyState, protocol) follows the events it
/// has taken, as an application pumping a queue sees it.
pub struct Recorded {
    pub ws: WebSocket,
    pub queue: std::sync::Arc<EventQueue>,
}

pub fn open(url: &str, protocols: &[&str], mut options: Options) -> Recorded {
    // The tests' own loopback servers: no proxy from the caller's environment.
    if options.proxy == wsnative_core::Proxy::FromEnvironment {
        options.proxy = wsnative_core::Proxy::Direct;
    }
    let queue = EventQueue::new();
    let ws = WebSocket::connect_queued(url, protocols, options, &queue).unwrap();
    Recorded { ws, queue }
}

impl Recorded {
    /// The next event the application gets (dispatched: the state moves).
    pub fn next(&self) -> Event {
        loop {
            let ev = self.queue.pop(Some(WAIT)).expect("no event within the time limit");
            if self.ws.deliver(&ev) {
                return ev;
            }
        }
    }

    /// Events up to and including Close.
    pub fn until_close(&self) -> Vec<Event> {
        let mut v = Vec::new();
        loop {
            let e = self.next();
            let done = matches!(e, Event::Close { .. });
            v.push(e);
            if done {
                // Nothing may follow Close.
                assert!(self.queue.pop(Some(Duration::from_millis(50))).is_none());
                return v;
            }
        }
    }
}

pub fn text(s: &str) -> Event {
    Event::Message(wsnative_core::Message { data: s.as_bytes().to_vec().into(), is_text: true })
}

pub fn binary(b: &[u8]) -> Event {
    Event::Message(wsnative_core::Message { data: b.to_vec().into(), is_text: false })
}

pub fn close(code: u16, reason: &str, was_clean: bool) -> Event {
    Event::Close { code, reason: reason.into(), was_clean }
}

pub fn is_error(e: &Event) -> bool {
    matches!(e, Event::Error { .. })
}

/// This process's resident memory, in bytes.
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// A channel-based gate so a server script can wait for the test.
pub fn gate() -> (mpsc::Sender<()>, mpsc::Receiver<()>) {
    mpsc::channel()
}
