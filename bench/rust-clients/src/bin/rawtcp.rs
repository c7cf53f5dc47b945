//! The physical reference: the same transfers over plain blocking TCP
//! sockets, without WebSocket framing (one thread, TCP_NODELAY).
//! W2 and W3 move the same payload bytes in bulk (256 KiB writes) and report
//! `msgs_per_s` as bytes / message size per second.
//!
//! With `--ws` (W4 only) it is instead the bound of any WebSocket client
//! against the benchmark server: it talks WebSocket to `/echo`, but its
//! frames are built and masked before the clock starts and echoes are read
//! straight into one buffer, so the time is the kernel's and the server's
//! (which must unmask) alone.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;
use wsnative_bench_clients::{fail, latency_stats, report, rss_kib, w1_text, w4_check, w4_payloads, Args};

fn open(args: &Args, mode: u8, a: u64, b: u64) -> Result<TcpStream, String> {
    let mut s = TcpStream::connect(args.host_port()).map_err(|e| format!("connect: {e}"))?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut head = vec![mode];
    head.extend_from_slice(&a.to_le_bytes());
    head.extend_from_slice(&b.to_le_bytes());
    s.write_all(&head).map_err(|e| e.to_string())?;
    Ok(s)
}

fn io(e: std::io::Error) -> String {
    e.to_string()
}

fn w1(args: &Args) -> Result<(), String> {
    let mut s = open(args, b'E', args.warmup + args.n, 32)?;
    let mut back = [0u8; 32];
    let mut samples = Vec::with_capacity(args.n as usize);
    for i in 0..args.warmup + args.n {
        let text = w1_text(i);
        let t = Instant::now();
        s.write_all(text.as_bytes()).map_err(io)?;
        s.read_exact(&mut back).map_err(io)?;
        if back != text.as_bytes() {
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

fn w2(args: &Args) -> Result<(), String> {
    let total = args.n * args.size as u64;
    let t0 = Instant::now();
    let mut s = open(args, b'S', total, 0)?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0u64;
    loop {
        let k = s.read(&mut buf).map_err(io)?;
        if k == 0 {
            break;
        }
        got += k as u64;
    }
    let secs = t0.elapsed().as_secs_f64();
    if got != total {
        return Err(format!("W2: received {got} bytes, expected {total}"));
    }
    report("W2", &[("n", args.n as f64), ("seconds", secs), ("msgs_per_s", args.n as f64 / secs)]);
    Ok(())
}

fn w3(args: &Args) -> Result<(), String> {
    let total = args.n * args.size as u64;
    let mut s = open(args, b'C', total, 0)?;
    let chunk = vec![0xA5u8; 256 * 1024];
    let t0 = Instant::now();
    let mut left = total;
    while left > 0 {
        let k = left.min(chunk.len() as u64) as usize;
        s.write_all(&chunk[..k]).map_err(io)?;
        left -= k as u64;
    }
    let mut reply = [0u8; 8];
    s.read_exact(&mut reply).map_err(io)?;
    let secs = t0.elapsed().as_secs_f64();
    if u64::from_le_bytes(reply) != total {
        return Err(format!("W3: server counted {} bytes, expected {total}", u64::from_le_bytes(reply)));
    }
    report("W3", &[("n", args.n as f64), ("seconds", secs), ("msgs_per_s", args.n as f64 / secs)]);
    Ok(())
}

fn w4(args: &Args) -> Result<(), String> {
    let payloads = w4_payloads(args.size);
    let mut back = vec![0u8; args.size];
    let mut s = open(args, b'E', args.n, args.size as u64)?;
    let t0 = Instant::now();
    for i in 0..args.n {
        s.write_all(&payloads[(i % 4) as usize]).map_err(io)?;
        s.read_exact(&mut back).map_err(io)?;
        w4_check(i, args.size, &back)?;
    }
    let secs = t0.elapsed().as_secs_f64();
    let mib = (args.n * args.size as u64) as f64 / (1u64 << 20) as f64;
    report("W4", &[("n", args.n as f64), ("seconds", secs), ("mib_per_s", mib / secs)]);
    Ok(())
}

fn echo_once(s: &mut TcpStream, text: &str) -> Result<(), String> {
    let mut back = [0u8; 32];
    s.write_all(text.as_bytes()).map_err(io)?;
    s.read_exact(&mut back).map_err(io)?;
    if back != text.as_bytes() {
        return Err("W5: bad echo".into());
    }
    Ok(())
}

fn w5(args: &Args) -> Result<(), String> {
    let mut warm = open(args, b'E', 1, 32)?;
    echo_once(&mut warm, &w1_text(0))?;
    let rss0 = rss_kib();
    let t0 = Instant::now();
    let mut conns = (0..args.n).map(|_| open(args, b'E', 1, 32)).collect::<Result<Vec<_>, _>>()?;
    let open_secs = t0.elapsed().as_secs_f64();
    for s in conns.iter_mut() {
        echo_once(s, &w1_text(1))?;
    }
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
    Ok(())
}

/// Minimal opening handshake on a blocking socket (the server answers 101
/// and sends nothing before the client's first frame).
fn ws_open(args: &Args) -> Result<TcpStream, String> {
    let mut s = TcpStream::connect(args.host_port()).map_err(|e| format!("connect: {e}"))?;
    s.set_nodelay(true).map_err(io)?;
    let path = args.url.splitn(4, '/').nth(3).unwrap_or("");
    let req = format!(
        "GET /{path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        args.host_port()
    );
    s.write_all(req.as_bytes()).map_err(io)?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).map_err(io)?;
        head.push(byte[0]);
    }
    if !head.starts_with(b"HTTP/1.1 101") {
        return Err("handshake refused".into());
    }
    Ok(s)
}

fn w4_ws_bound(args: &Args) -> Result<(), String> {
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    let frames: Vec<Vec<u8>> = w4_payloads(args.size)
        .into_iter()
        .map(|p| {
            let mut f = vec![0x82, 0x80 | 127];
            f.extend_from_slice(&(p.len() as u64).to_be_bytes());
            f.extend_from_slice(&mask);
            f.extend(p.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
            f
        })
        .collect();
    let mut back = vec![0u8; args.size];
    let mut s = ws_open(args)?;
    let t0 = Instant::now();
    for i in 0..args.n {
        s.write_all(&frames[(i % 4) as usize]).map_err(io)?;
        let mut head = [0u8; 10];
        s.read_exact(&mut head).map_err(io)?;
        if head[0] != 0x82
            || head[1] != 127
            || u64::from_be_bytes(head[2..10].try_into().unwrap_or_default()) != args.size as u64
        {
            return Err(format!("W4: unexpected frame header {head:?}"));
        }
        s.read_exact(&mut back).map_err(io)?;
        w4_check(i, args.size, &back)?;
    }
    let secs = t0.elapsed().as_secs_f64();
    let mib = (args.n * args.size as u64) as f64 / (1u64 << 20) as f64;
    report("W4", &[("n", args.n as f64), ("seconds", secs), ("mib_per_s", mib / secs)]);
    Ok(())
}

fn main() {
    let args = Args::parse();
    if std::env::args().any(|a| a == "--ws") {
        if let Err(e) = w4_ws_bound(&args) {
            fail(&args.workload, &e);
        }
        return;
    }
    let res = match args.workload.as_str() {
        "W1" => w1(&args),
        "W2" => w2(&args),
        "W3" => w3(&args),
        "W4" => w4(&args),
        _ => w5(&args),
    };
    if let Err(e) = res {
        fail(&args.workload, &e);
    }
}
