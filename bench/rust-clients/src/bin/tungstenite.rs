//! The native Rust reference: tokio-tungstenite on a current-thread tokio
//! runtime, batched writes (`SinkExt::feed` for every message, one `flush`).
//! `wss://` through tokio-rustls (ring), trusting the `--ca` file only.
//! tokio-tungstenite has no permessage-deflate: W2z and W3z run
//! uncompressed (the server's trailer says so).

use bytes::Bytes;
use futures_util::future::join_all;
use futures_util::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use wsnative_bench_clients::{
    check_zcount, connect_stream, fail, json_pool, latency_stats, report, report_with, rss_kib, tls_for,
    w1_text, w4_check, w4_payloads, Args, Stream, Tally,
};

type Ws = WebSocketStream<Stream>;

async fn connect(args: &Args, tls: Option<&TlsConnector>) -> Result<Ws, String> {
    let stream = connect_stream(args, tls).await?;
    let config = WebSocketConfig::default().max_message_size(Some(128 << 20)).max_frame_size(Some(128 << 20));
    let (ws, _) = tokio_tungstenite::client_async_with_config(args.url.as_str(), stream, Some(config))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    Ok(ws)
}

async fn next(ws: &mut Ws) -> Result<Message, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(m)) => return Ok(m),
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("connection closed".into()),
        }
    }
}

async fn w1(args: &Args, tls: Option<&TlsConnector>) -> Result<(), String> {
    let mut ws = connect(args, tls).await?;
    let mut samples = Vec::with_capacity(args.n as usize);
    for i in 0..args.warmup + args.n {
        let text = w1_text(i);
        let t = Instant::now();
        ws.send(Message::text(text.as_str())).await.map_err(|e| e.to_string())?;
        match next(&mut ws).await? {
            Message::Text(t) if t.as_str() == text => {}
            _ => return Err(format!("W1: bad echo for round trip {i}")),
        }
        if i >= args.warmup {
            samples.push(t.elapsed());
        }
    }
    let (p50, p99, mean) = latency_stats(&mut samples);
    let _ = ws.close(None).await;
    report("W1", &[("n", args.n as f64), ("p50_us", p50), ("p99_us", p99), ("mean_us", mean)]);
    Ok(())
}

/// W2 and W2z: counts `n` messages (binary for W2, text for W2z), reading
/// each one's first and last byte, then checks the server's trailer.
async fn w2(args: &Args, tls: Option<&TlsConnector>) -> Result<(), String> {
    let text = args.workload == "W2z";
    let t0 = Instant::now();
    let mut ws = connect(args, tls).await?;
    let mut tally = Tally::default();
    while tally.count < args.n {
        match next(&mut ws).await? {
            Message::Binary(b) if !text => tally.add(&b),
            Message::Text(t) if text => tally.add(t.as_bytes()),
            other => {
                return Err(format!("{}: unexpected {other:?} after {} messages", args.workload, tally.count))
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let trailer = match next(&mut ws).await? {
        Message::Text(t) => t.to_string(),
        other => return Err(format!("{}: unexpected {other:?} instead of the trailer", args.workload)),
    };
    tally.verify(&trailer)?;
    report_with(
        &args.workload,
        &[("n", args.n as f64), ("seconds", secs), ("msgs_per_s", args.n as f64 / secs)],
        &[("trailer", &trailer)],
    );
    Ok(())
}

async fn w3(args: &Args, tls: Option<&TlsConnector>) -> Result<(), String> {
    let mut ws = connect(args, tls).await?;
    let payload = Bytes::from(vec![0xA5u8; args.size]);
    let t0 = Instant::now();
    for _ in 0..args.n {
        ws.feed(Message::Binary(payload.clone())).await.map_err(|e| e.to_string())?;
    }
    ws.flush().await.map_err(|e| e.to_string())?;
    let reply = match next(&mut ws).await? {
        Message::Text(t) => t.to_string(),
        other => return Err(format!("W3: unexpected {other:?}")),
    };
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
    let pool: Vec<Utf8Bytes> = json_pool().into_iter().map(Utf8Bytes::from).collect();
    let mut ws = connect(args, tls).await?;
    let t0 = Instant::now();
    for i in 0..args.n {
        ws.feed(Message::Text(pool[(i % 4096) as usize].clone())).await.map_err(|e| e.to_string())?;
    }
    ws.flush().await.map_err(|e| e.to_string())?;
    let reply = match next(&mut ws).await? {
        Message::Text(t) => t.to_string(),
        other => return Err(format!("W3z: unexpected {other:?}")),
    };
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
    let payloads: Vec<Bytes> = w4_payloads(args.size).into_iter().map(Bytes::from).collect();
    let mut ws = connect(args, tls).await?;
    let t0 = Instant::now();
    for i in 0..args.n {
        ws.send(Message::Binary(payloads[(i % 4) as usize].clone())).await.map_err(|e| e.to_string())?;
        match next(&mut ws).await? {
            Message::Binary(b) => w4_check(i, args.size, &b)?,
            other => return Err(format!("W4: unexpected {other:?}")),
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let mib = (args.n * args.size as u64) as f64 / (1u64 << 20) as f64;
    report("W4", &[("n", args.n as f64), ("seconds", secs), ("mib_per_s", mib / secs)]);
    Ok(())
}

async fn echo_once(ws: &mut Ws, text: &str) -> Result<(), String> {
    ws.send(Message::text(text)).await.map_err(|e| e.to_string())?;
    match next(ws).await? {
        Message::Text(t) if t.as_str() == text => Ok(()),
        _ => Err("W5: bad echo".into()),
    }
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
    // Every connection echoes one message, so each is proven to work.
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
