//! The native Rust reference: tokio-tungstenite on a current-thread tokio
//! runtime, batched writes (`SinkExt::feed` for every message, one `flush`).

use bytes::Bytes;
use futures_util::future::join_all;
use futures_util::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use wsnative_bench_clients::{
    fail, latency_stats, report, rss_kib, w1_text, w2_seq, w4_check, w4_payloads, Args,
};

type Ws = WebSocketStream<TcpStream>;

async fn connect(args: &Args) -> Result<Ws, String> {
    let tcp = TcpStream::connect(args.host_port()).await.map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let config = WebSocketConfig::default().max_message_size(Some(128 << 20)).max_frame_size(Some(128 << 20));
    let (ws, _) = tokio_tungstenite::client_async_with_config(args.url.as_str(), tcp, Some(config))
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

async fn w1(args: &Args) -> Result<(), String> {
    let mut ws = connect(args).await?;
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

async fn w2(args: &Args) -> Result<(), String> {
    let t0 = Instant::now();
    let mut ws = connect(args).await?;
    let (mut count, mut bytes, mut last) = (0u64, 0u64, u64::MAX);
    while count < args.n {
        match next(&mut ws).await? {
            Message::Binary(b) => {
                count += 1;
                bytes += b.len() as u64;
                if count == args.n {
                    last = w2_seq(&b);
                }
            }
            other => return Err(format!("W2: unexpected {other:?} after {count} messages")),
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    if bytes != args.n * args.size as u64 || last != args.n - 1 {
        return Err(format!("W2: got {bytes} bytes, last sequence {last}"));
    }
    report("W2", &[("n", args.n as f64), ("seconds", secs), ("msgs_per_s", args.n as f64 / secs)]);
    Ok(())
}

async fn w3(args: &Args) -> Result<(), String> {
    let mut ws = connect(args).await?;
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

async fn w4(args: &Args) -> Result<(), String> {
    let payloads: Vec<Bytes> = w4_payloads(args.size).into_iter().map(Bytes::from).collect();
    let mut ws = connect(args).await?;
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

async fn w5(args: &Args) -> Result<(), String> {
    // A first connection warms up the runtime and allocator; not counted.
    let mut warm = connect(args).await?;
    echo_once(&mut warm, &w1_text(0)).await?;
    let rss0 = rss_kib();
    let t0 = Instant::now();
    let opened = join_all((0..args.n).map(|_| connect(args))).await;
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
            match args.workload.as_str() {
                "W1" => w1(&args).await,
                "W2" => w2(&args).await,
                "W3" => w3(&args).await,
                "W4" => w4(&args).await,
                _ => w5(&args).await,
            }
        };
        tokio::time::timeout(Duration::from_secs(300), work).await.unwrap_or_else(|_| Err("timed out".into()))
    });
    if let Err(e) = res {
        fail(&args.workload, &e);
    }
}
