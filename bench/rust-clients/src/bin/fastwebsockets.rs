//! fastwebsockets 0.10 (Deno's implementation) as a client, the second Rust
//! reference: the opening handshake through hyper (`handshake::client`, its
//! `upgrade` feature), then `WebSocket` frames over a 64 KiB `BufWriter`,
//! flushed after each message except in W3/W3z (one flush after the last,
//! as the tokio-tungstenite reference batches with `feed`), on a
//! current-thread tokio runtime with `TCP_NODELAY`. fastwebsockets masks
//! payloads in place, so each send copies the payload into one reusable
//! buffer first (no allocation per message). `wss://` through tokio-rustls
//! (ring), trusting the `--ca` file only. It has no permessage-deflate: W2z
//! and W3z run uncompressed (the server's trailer says so).

use bytes::Bytes;
use fastwebsockets::{handshake, Frame, OpCode, Payload, Role, WebSocket};
use futures_util::future::join_all;
use http_body_util::Empty;
use hyper::header::{CONNECTION, UPGRADE};
use hyper::upgrade::Upgraded;
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::io::BufWriter;
use tokio_rustls::TlsConnector;
use wsnative_bench_clients::{
    check_zcount, connect_stream, fail, json_pool, latency_stats, report, report_with, rss_kib, tls_for,
    w1_text, w4_check, w4_payloads, Args, Tally,
};

type Ws = WebSocket<BufWriter<TokioIo<Upgraded>>>;

const WRITE_BUFFER: usize = 64 * 1024;

struct SpawnExecutor;

impl<Fut> hyper::rt::Executor<Fut> for SpawnExecutor
where
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    fn execute(&self, fut: Fut) {
        tokio::task::spawn(fut);
    }
}

async fn connect(args: &Args, tls: Option<&TlsConnector>) -> Result<Ws, String> {
    let stream = connect_stream(args, tls).await?;
    let req = Request::builder()
        .method("GET")
        .uri(args.path())
        .header("Host", args.host_port())
        .header(UPGRADE, "websocket")
        .header(CONNECTION, "upgrade")
        .header("Sec-WebSocket-Key", handshake::generate_key())
        .header("Sec-WebSocket-Version", "13")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let (ws, _) =
        handshake::client(&SpawnExecutor, req, stream).await.map_err(|e| format!("handshake: {e}"))?;
    // Nothing was read through `ws` yet: rebuild it over a buffered writer.
    let mut ws =
        WebSocket::after_handshake(BufWriter::with_capacity(WRITE_BUFFER, ws.into_inner()), Role::Client);
    ws.set_max_message_size(128 << 20);
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    Ok(ws)
}

/// The next data frame (a whole message: the server never fragments).
async fn next(ws: &mut Ws) -> Result<Frame<'static>, String> {
    loop {
        let frame = ws.read_frame().await.map_err(|e| e.to_string())?;
        match frame.opcode {
            OpCode::Text | OpCode::Binary if frame.fin => return Ok(frame),
            OpCode::Ping | OpCode::Pong => ws.flush().await.map_err(|e| e.to_string())?,
            OpCode::Close => {
                let _ = ws.flush().await;
                return Err("connection closed".into());
            }
            _ => return Err("unexpected fragment".into()),
        }
    }
}

async fn send(ws: &mut Ws, opcode: OpCode, scratch: &mut [u8], flush: bool) -> Result<(), String> {
    ws.write_frame(Frame::new(true, opcode, None, Payload::BorrowedMut(scratch)))
        .await
        .map_err(|e| e.to_string())?;
    if flush {
        ws.flush().await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn w1(args: &Args, tls: Option<&TlsConnector>) -> Result<(), String> {
    let mut ws = connect(args, tls).await?;
    let mut samples = Vec::with_capacity(args.n as usize);
    let mut scratch = [0u8; 32];
    for i in 0..args.warmup + args.n {
        let text = w1_text(i);
        let t = Instant::now();
        scratch.copy_from_slice(text.as_bytes());
        send(&mut ws, OpCode::Text, &mut scratch, true).await?;
        let echo = next(&mut ws).await?;
        if echo.opcode != OpCode::Text || &echo.payload[..] != text.as_bytes() {
            return Err(format!("W1: bad echo for round trip {i}"));
        }
        if i >= args.warmup {
            samples.push(t.elapsed());
        }
    }
    let (p50, p99, mean) = latency_stats(&mut samples);
    report("W1", &[("n", args.n as f64), ("p50_us", p50), ("p99_us", p99), ("mean_us", mean)]);
    Ok(())
}

/// W2 and W2z: counts `n` messages (binary for W2, text for W2z), reading
/// each one's first and last byte, then checks the server's trailer.
async fn w2(args: &Args, tls: Option<&TlsConnector>) -> Result<(), String> {
    let want = if args.workload == "W2z" { OpCode::Text } else { OpCode::Binary };
    let t0 = Instant::now();
    let mut ws = connect(args, tls).await?;
    let mut tally = Tally::default();
    while tally.count < args.n {
        let frame = next(&mut ws).await?;
        if frame.opcode != want {
            return Err(format!(
                "{}: unexpected {:?} after {} messages",
                args.workload, frame.opcode, tally.count
            ));
        }
        tally.add(&frame.payload);
    }
    let secs = t0.elapsed().as_secs_f64();
    let frame = next(&mut ws).await?;
    let trailer = String::from_utf8_lossy(&frame.payload).into_owned();
    tally.verify(&trailer)?;
    report_with(
        &args.workload,
        &[("n", args.n as f64), ("seconds", secs), ("msgs_per_s", args.n as f64 / secs)],
        &[("trailer", &trailer)],
    );
    Ok(())
}

async fn reply_text(ws: &mut Ws) -> Result<String, String> {
    let frame = next(ws).await?;
    if frame.opcode != OpCode::Text {
        return Err("the server's count is not a text message".into());
    }
    Ok(String::from_utf8_lossy(&frame.payload).into_owned())
}

async fn w3(args: &Args, tls: Option<&TlsConnector>) -> Result<(), String> {
    let mut ws = connect(args, tls).await?;
    let payload = vec![0xA5u8; args.size];
    let mut scratch = payload.clone();
    let t0 = Instant::now();
    for _ in 0..args.n {
        scratch.copy_from_slice(&payload);
        send(&mut ws, OpCode::Binary, &mut scratch, false).await?;
    }
    ws.flush().await.map_err(|e| e.to_string())?;
    let reply = reply_text(&mut ws).await?;
    let secs = t0.elapsed().as_secs_f64();
    let want = format!("{} {}", args.n, args.n * args.size as u64);
    if reply != want {
        return Err(format!("W3: server counted '{reply}', expected '{want}'"));
    }
    report("W3", &[("n", args.n as f64), ("seconds", secs), ("msgs_per_s", args.n as f64 / secs)]);
    Ok(())
}

/// W3z: sends `n` JSON texts (the pool in turn), batched like W3.
async fn w3z(args: &Args, tls: Option<&TlsConnector>) -> Result<(), String> {
    let pool = json_pool();
    let mut scratch = vec![0u8; 1024];
    let mut ws = connect(args, tls).await?;
    let t0 = Instant::now();
    for i in 0..args.n {
        let m = pool[(i % 4096) as usize].as_bytes();
        let buf = &mut scratch[..m.len()];
        buf.copy_from_slice(m);
        send(&mut ws, OpCode::Text, buf, false).await?;
    }
    ws.flush().await.map_err(|e| e.to_string())?;
    let reply = reply_text(&mut ws).await?;
    let secs = t0.elapsed().as_secs_f64();
    check_zcount(&reply, args.n)?;
    report_with(
        "W3z",
        &[("n", args.n as f64), ("seconds", secs), ("msgs_per_s", args.n as f64 / secs)],
        &[("reply", &reply)],
    );
    Ok(())
}

async fn w4(args: &Args, tls: Option<&TlsConnector>) -> Result<(), String> {
    let payloads = w4_payloads(args.size);
    let mut scratch = vec![0u8; args.size];
    let mut ws = connect(args, tls).await?;
    let t0 = Instant::now();
    for i in 0..args.n {
        scratch.copy_from_slice(&payloads[(i % 4) as usize]);
        send(&mut ws, OpCode::Binary, &mut scratch, true).await?;
        let echo = next(&mut ws).await?;
        if echo.opcode != OpCode::Binary {
            return Err("W4: the echo is not binary".into());
        }
        w4_check(i, args.size, &echo.payload)?;
    }
    let secs = t0.elapsed().as_secs_f64();
    let mib = (args.n * args.size as u64) as f64 / (1u64 << 20) as f64;
    report("W4", &[("n", args.n as f64), ("seconds", secs), ("mib_per_s", mib / secs)]);
    Ok(())
}

async fn echo_once(ws: &mut Ws, text: &str) -> Result<(), String> {
    let mut scratch = text.as_bytes().to_vec();
    send(ws, OpCode::Text, &mut scratch, true).await?;
    let echo = next(ws).await?;
    if &echo.payload[..] != text.as_bytes() {
        return Err("W5: bad echo".into());
    }
    Ok(())
}

async fn w5(args: &Args, tls: Option<&TlsConnector>) -> Result<(), String> {
    // A first connection warms up the runtime and allocator; not counted.
    let mut warm = connect(args, tls).await?;
    echo_once(&mut warm, &w1_text(0)).await?;
    let rss0 = rss_kib();
    let t0 = Instant::now();
    let opened = join_all((0..args.n).map(|_| connect(args, tls))).await;
    let open_secs = t0.elapsed().as_secs_f64();
    let mut conns = opened.into_iter().collect::<Result<Vec<Ws>, String>>()?;
    let text = w1_text(1);
    join_all(conns.iter_mut().map(|ws| echo_once(ws, &text))).await.into_iter().collect::<Result<(), _>>()?;
    let rss1 = rss_kib();
    report(
        "W5",
        &[
            ("n", args.n as f64),
            ("open_seconds", open_secs),
            ("kib_per_conn", (rss1.saturating_sub(rss0)) as f64 / args.n as f64),
            ("rss_before_kib", rss0 as f64),
            ("rss_after_kib", rss1 as f64),
        ],
    );
    drop(conns);
    Ok(())
}

fn main() {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let res = rt.block_on(async {
        let work = async {
            let tls = tls_for(&args)?;
            let tls = tls.as_ref();
            match args.workload.as_str() {
                "W1" => w1(&args, tls).await,
                "W2" | "W2z" => w2(&args, tls).await,
                "W3" => w3(&args, tls).await,
                "W3z" => w3z(&args, tls).await,
                "W4" => w4(&args, tls).await,
                _ => w5(&args, tls).await,
            }
        };
        tokio::time::timeout(Duration::from_secs(300), work).await.unwrap_or_else(|_| Err("timed out".into()))
    });
    if let Err(e) = res {
        fail(&args.workload, &e);
    }
}
