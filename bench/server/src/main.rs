//! The benchmark's peer: one WebSocket server built on `fastwebsockets`
//! (Deno's implementation; neither wsnative's code nor tungstenite) and one
//! raw TCP server doing the same transfers without WebSocket framing. Both
//! run on a single-threaded tokio runtime (pin the process to one core).
//!
//! WebSocket control protocol, in the request path:
//! - `/echo`: echo every data message (fragmented messages are reassembled
//!   and echoed as one frame); used by W1, W4 and W5.
//! - `/send/<n>/<size>`: send `n` binary messages of `size` bytes as fast as
//!   possible (writes batched in a 256 KiB buffer), then Close 1000. Message
//!   `i` carries `i` as a little-endian u64 in its first 8 bytes. W2.
//! - `/count/<n>`: receive `n` data messages, then send the text message
//!   `"<count> <payload bytes>"` and Close 1000. W3.
//!
//! Raw TCP protocol: the client's first byte names the mode, then two
//! little-endian u64 `a` and `b`:
//! - `E` a=count b=size: `count` times, read `size` bytes and write them
//!   back; then wait for EOF (W1, W4, W5 references).
//! - `S` a=bytes: write `bytes` bytes, then close (W2 reference).
//! - `C` a=bytes: read `bytes` bytes, then write their count as u64 (W3).
//!
//! Usage: `wsnative-bench-server [--ws-port P] [--raw-port P]` (0 or
//! absent: any free port). Prints `READY ws=<port> raw=<port>` once both
//! listen.

use fastwebsockets::{Frame, OpCode, Payload, Role, WebSocket, WebSocketError};
use sha1::{Digest, Sha1};
use std::io::{self, Write};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

type Ws = WebSocket<BufWriter<TcpStream>>;

const WRITE_BUFFER: usize = 256 * 1024;
const MAX_MESSAGE: usize = 128 << 20;
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

fn listen(port: u16) -> io::Result<TcpListener> {
    let sock = TcpSocket::new_v4()?;
    sock.set_reuseaddr(true)?;
    sock.bind(([127, 0, 0, 1], port).into())?;
    // W5 opens 2,000 connections at once: a short backlog would drop SYNs
    // and add a one-second retransmission to the measured time.
    sock.listen(8192)
}

fn port_arg(args: &[String], name: &str) -> u16 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let ws = listen(port_arg(&args, "--ws-port"))?;
        let raw = listen(port_arg(&args, "--raw-port"))?;
        {
            let mut out = io::stdout().lock();
            writeln!(out, "READY ws={} raw={}", ws.local_addr()?.port(), raw.local_addr()?.port())?;
            out.flush()?;
        }
        tokio::spawn(async move {
            loop {
                if let Ok((tcp, _)) = raw.accept().await {
                    tokio::spawn(async move {
                        let _ = raw_conn(tcp).await;
                    });
                }
            }
        });
        loop {
            if let Ok((tcp, _)) = ws.accept().await {
                tokio::spawn(async move {
                    if let Err(e) = ws_conn(tcp).await {
                        if std::env::var_os("BENCH_SERVER_DEBUG").is_some() {
                            eprintln!("ws connection: {e}");
                        }
                    }
                });
            }
        }
    })
}

fn other(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

fn ws_err(e: WebSocketError) -> io::Error {
    other(e.to_string())
}

/// Reads the HTTP upgrade request and answers 101. Returns the path.
async fn handshake(tcp: &mut TcpStream) -> io::Result<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            return Err(other("EOF during the handshake"));
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
        if buf.len() > 16 * 1024 {
            return Err(other("request head too large"));
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(&buf).map_err(|e| other(e.to_string()))? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Err(other("partial request")),
    };
    if head_len != buf.len() {
        // Clients wait for 101 before sending frames.
        return Err(other("data after the request head"));
    }
    let path = req.path.unwrap_or("/").to_string();
    let key = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"))
        .map(|h| h.value.to_vec())
        .ok_or_else(|| other("no Sec-WebSocket-Key"))?;
    let mut sha = Sha1::new();
    sha.update(&key);
    sha.update(GUID.as_bytes());
    let accept = data_encoding::BASE64.encode(&sha.finalize());
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    tcp.write_all(resp.as_bytes()).await?;
    Ok(path)
}

async fn ws_conn(mut tcp: TcpStream) -> io::Result<()> {
    tcp.set_nodelay(true)?;
    let path = handshake(&mut tcp).await?;
    let mut ws = WebSocket::after_handshake(BufWriter::with_capacity(WRITE_BUFFER, tcp), Role::Server);
    ws.set_max_message_size(MAX_MESSAGE);
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let num = |i: usize| -> io::Result<u64> {
        parts.get(i).and_then(|s| s.parse().ok()).ok_or_else(|| other(format!("bad path {path}")))
    };
    match parts[0] {
        "echo" => echo(&mut ws).await,
        "send" => send(&mut ws, num(1)?, num(2)? as usize).await,
        "count" => count(&mut ws, num(1)?).await,
        _ => {
            ws.write_frame(Frame::close(1008, b"unknown path")).await.map_err(ws_err)?;
            ws.flush().await.map_err(ws_err)
        }
    }
}

/// Echoes every data message, reassembling fragmented ones.
async fn echo(ws: &mut Ws) -> io::Result<()> {
    let mut partial: Option<(OpCode, Vec<u8>)> = None;
    loop {
        let frame = ws.read_frame().await.map_err(ws_err)?;
        match frame.opcode {
            OpCode::Text | OpCode::Binary if frame.fin => {
                let reply = Frame::new(true, frame.opcode, None, frame.payload);
                ws.write_frame(reply).await.map_err(ws_err)?;
                ws.flush().await.map_err(ws_err)?;
            }
            OpCode::Text | OpCode::Binary => partial = Some((frame.opcode, frame.payload.to_vec())),
            OpCode::Continuation => {
                let (op, mut data) = partial.take().ok_or_else(|| other("continuation without start"))?;
                data.extend_from_slice(&frame.payload);
                if frame.fin {
                    ws.write_frame(Frame::new(true, op, None, Payload::Owned(data))).await.map_err(ws_err)?;
                    ws.flush().await.map_err(ws_err)?;
                } else {
                    partial = Some((op, data));
                }
            }
            OpCode::Close => {
                // fastwebsockets queued the Close reply in the write buffer.
                let _ = ws.flush().await;
                return Ok(());
            }
            OpCode::Ping | OpCode::Pong => ws.flush().await.map_err(ws_err)?,
        }
    }
}

/// Sends `n` messages of `size` bytes (writes batched), then closes.
async fn send(ws: &mut Ws, n: u64, size: usize) -> io::Result<()> {
    let mut payload = vec![0xA5u8; size];
    for i in 0..n {
        if size >= 8 {
            payload[..8].copy_from_slice(&i.to_le_bytes());
        }
        ws.write_frame(Frame::binary(Payload::Borrowed(&payload))).await.map_err(ws_err)?;
    }
    close_and_drain(ws).await
}

/// Counts `n` data messages, then reports `"<count> <bytes>"` and closes.
async fn count(ws: &mut Ws, n: u64) -> io::Result<()> {
    // Only lengths are counted: skip unmasking (a sixth of the server's time).
    ws.set_auto_apply_mask(false);
    let (mut messages, mut bytes) = (0u64, 0u64);
    while messages < n {
        let frame = ws.read_frame().await.map_err(ws_err)?;
        match frame.opcode {
            OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                bytes += frame.payload.len() as u64;
                if frame.fin {
                    messages += 1;
                }
            }
            OpCode::Close => {
                let _ = ws.flush().await;
                return Err(other(format!("closed by the client after {messages} of {n} messages")));
            }
            OpCode::Ping | OpCode::Pong => ws.flush().await.map_err(ws_err)?,
        }
    }
    ws.set_auto_apply_mask(true);
    let report = format!("{messages} {bytes}");
    ws.write_frame(Frame::text(Payload::Owned(report.into_bytes()))).await.map_err(ws_err)?;
    close_and_drain(ws).await
}

/// Sends Close 1000 and waits (bounded) for the client's Close or EOF.
async fn close_and_drain(ws: &mut Ws) -> io::Result<()> {
    ws.write_frame(Frame::close(1000, b"")).await.map_err(ws_err)?;
    ws.flush().await.map_err(ws_err)?;
    let drain = async {
        loop {
            match ws.read_frame().await {
                Ok(f) if f.opcode == OpCode::Close => break,
                Ok(_) => {}
                Err(_) => break,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(30), drain).await;
    Ok(())
}

async fn raw_conn(mut tcp: TcpStream) -> io::Result<()> {
    tcp.set_nodelay(true)?;
    let mut head = [0u8; 17];
    tcp.read_exact(&mut head).await?;
    let a = u64::from_le_bytes(head[1..9].try_into().unwrap_or_default());
    let b = u64::from_le_bytes(head[9..17].try_into().unwrap_or_default());
    match head[0] {
        b'E' => {
            let mut buf = vec![0u8; b as usize];
            for _ in 0..a {
                tcp.read_exact(&mut buf).await?;
                tcp.write_all(&buf).await?;
            }
            let mut rest = [0u8; 64];
            while tcp.read(&mut rest).await? > 0 {}
        }
        b'S' => {
            let chunk = vec![0xA5u8; WRITE_BUFFER];
            let mut left = a;
            while left > 0 {
                let k = left.min(chunk.len() as u64) as usize;
                tcp.write_all(&chunk[..k]).await?;
                left -= k as u64;
            }
            tcp.shutdown().await?;
        }
        b'C' => {
            let mut buf = vec![0u8; WRITE_BUFFER];
            let mut got = 0u64;
            while got < a {
                let n = tcp.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                got += n as u64;
            }
            tcp.write_all(&got.to_le_bytes()).await?;
        }
        m => return Err(other(format!("unknown raw mode {m}"))),
    }
    Ok(())
}
