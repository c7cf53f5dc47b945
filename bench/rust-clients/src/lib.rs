//! What every Rust benchmark client shares: arguments, checks, the one JSON
//! line of results, the JSON messages of the compressed workloads, and the
//! TLS connection for `wss://` URLs. The workloads are described in
//! `bench/README.md`.

use std::fmt::Write as _;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// Command line: `--workload W1..W5|W2z|W3z --url URL [--n N] [--size BYTES]
/// [--warmup N] [--ca FILE]` (`--ca`: the CA to trust for `wss://`).
pub struct Args {
    pub workload: String,
    pub url: String,
    pub n: u64,
    pub size: usize,
    pub warmup: u64,
    pub ca: Option<String>,
}

impl Args {
    pub fn parse() -> Args {
        let argv: Vec<String> = std::env::args().collect();
        let get = |name: &str| argv.iter().position(|a| a == name).and_then(|i| argv.get(i + 1)).cloned();
        let workload = get("--workload").unwrap_or_else(|| fail("", "--workload is required"));
        let url = get("--url").unwrap_or_else(|| fail(&workload, "--url is required"));
        let num = |name: &str, default: u64| {
            get(name)
                .map_or(default, |v| v.parse().unwrap_or_else(|_| fail(&workload, &format!("bad {name}"))))
        };
        let (n, size) = match workload.as_str() {
            "W1" => (20_000, 32),
            "W2" | "W3" => (1_000_000, 64),
            "W4" => (64, 16 << 20),
            "W5" => (2_000, 32),
            "W2z" | "W3z" => (500_000, 0),
            _ => fail(&workload, "unknown workload"),
        };
        Args {
            n: num("--n", n),
            size: num("--size", size as u64) as usize,
            warmup: num("--warmup", 1_000),
            ca: get("--ca"),
            workload,
            url,
        }
    }

    /// `host:port` of a `ws://host:port/path` URL.
    pub fn host_port(&self) -> String {
        let rest = self.url.split("://").nth(1).unwrap_or(&self.url);
        rest.split('/').next().unwrap_or(rest).to_string()
    }

    /// The host of the URL (for TLS server name checks).
    pub fn host(&self) -> String {
        let hp = self.host_port();
        match hp.rsplit_once(':') {
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h.trim_matches(['[', ']']).to_string(),
            _ => hp,
        }
    }

    /// `/path?query` of the URL.
    pub fn path(&self) -> String {
        let rest = self.url.split("://").nth(1).unwrap_or(&self.url);
        rest.find('/').map_or("/".to_string(), |i| rest[i..].to_string())
    }

    pub fn is_tls(&self) -> bool {
        self.url.starts_with("wss://")
    }
}

/// A TCP or TLS stream (`wss://`), with `TCP_NODELAY`.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A TLS client configuration (ring provider, rustls' default versions)
/// trusting only the CA in the PEM file `ca`.
pub fn tls_connector(ca: &str) -> Result<TlsConnector, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| format!("--ca {ca}: {e}"))? {
        roots.add(cert.map_err(|e| format!("--ca {ca}: {e}"))?).map_err(|e| format!("--ca {ca}: {e}"))?;
    }
    let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Connects to the URL's host and port, through TLS for `wss://` (the
/// connector is built once per process by the caller).
pub async fn connect_stream(args: &Args, tls: Option<&TlsConnector>) -> Result<Stream, String> {
    let tcp = TcpStream::connect(args.host_port()).await.map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    match tls {
        None => Ok(Stream::Plain(tcp)),
        Some(c) => {
            let name = rustls_pki_types::ServerName::try_from(args.host()).map_err(|e| e.to_string())?;
            let s = c.connect(name, tcp).await.map_err(|e| format!("TLS: {e}"))?;
            Ok(Stream::Tls(Box::new(s)))
        }
    }
}

/// The connector for `args.url`: Some for `wss://` (which needs `--ca`).
pub fn tls_for(args: &Args) -> Result<Option<TlsConnector>, String> {
    if !args.is_tls() {
        return Ok(None);
    }
    let ca = args.ca.as_deref().ok_or("wss:// needs --ca FILE")?;
    tls_connector(ca).map(Some)
}

/// Prints a failure line and exits with status 1.
pub fn fail(workload: &str, msg: &str) -> ! {
    println!("{{\"workload\":\"{workload}\",\"ok\":false,\"error\":{}}}", json_str(msg));
    std::process::exit(1)
}

pub fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Prints the result line: `fields` are `(name, value)` pairs of numbers.
pub fn report(workload: &str, fields: &[(&str, f64)]) {
    report_with(workload, fields, &[]);
}

/// Like [`report`], with string fields too.
pub fn report_with(workload: &str, fields: &[(&str, f64)], strings: &[(&str, &str)]) {
    let mut line = format!("{{\"workload\":\"{workload}\",\"ok\":true");
    for (k, v) in fields {
        let _ = write!(line, ",\"{k}\":{v}");
    }
    for (k, v) in strings {
        let _ = write!(line, ",\"{k}\":{}", json_str(v));
    }
    line.push('}');
    println!("{line}");
}

/// What a client counts of the W2/W2z stream: every message's length and
/// its first and last byte (read, as a program using the data would).
#[derive(Default)]
pub struct Tally {
    pub count: u64,
    pub bytes: u64,
    pub check: u64,
}

impl Tally {
    #[inline]
    pub fn add(&mut self, data: &[u8]) {
        self.count += 1;
        self.bytes += data.len() as u64;
        if let (Some(&first), Some(&last)) = (data.first(), data.last()) {
            self.check += first as u64 + last as u64;
        }
    }

    /// Compares with the server's trailer `"END <count> <bytes> <check> ..."`.
    pub fn verify(&self, trailer: &str) -> Result<(), String> {
        let want = format!("END {} {} {}", self.count, self.bytes, self.check);
        let got: Vec<&str> = trailer.split(' ').take(4).collect();
        if got.join(" ") != want {
            return Err(format!("received '{want}', the server sent '{trailer}'"));
        }
        Ok(())
    }
}

/// The W3z reply `"<count> <wire bytes> <compressed> <pmd>"`: checks the
/// count.
pub fn check_zcount(reply: &str, n: u64) -> Result<(), String> {
    if reply.split(' ').next() != Some(n.to_string().as_str()) {
        return Err(format!("W3z: server counted '{reply}', expected {n} messages"));
    }
    Ok(())
}

const SYMBOLS: [&str; 8] = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "TSLA", "META", "NFLX"];
const VENUES: [&str; 4] = ["XNAS", "XNYS", "ARCX", "BATS"];
const NOTES: [&str; 4] = [
    "limit order from the web client",
    "rebalance of the model portfolio",
    "manual order from the phone desk",
    "algorithmic slice of a larger parent order",
];

/// The JSON-like text message `i` of W2z and W3z (the server and every
/// client build the same strings).
pub fn json_message(i: u64) -> String {
    let px = 10_000 + (i * 7919) % 90_000;
    format!(
        "{{\"id\":{i},\"type\":\"order\",\"symbol\":\"{}\",\"side\":\"{}\",\"price\":{}.{:02},\"qty\":{},\
         \"ts\":{},\"venue\":\"{}\",\"account\":\"ACC-{:05}\",\"note\":\"{}\"}}",
        SYMBOLS[(i % 8) as usize],
        if i.is_multiple_of(3) { "sell" } else { "buy" },
        px / 100,
        px % 100,
        1 + (i * 104_729) % 5000,
        1_764_460_800_000 + i * 37,
        VENUES[((i / 8) % 4) as usize],
        (i * 31_337) % 100_000,
        NOTES[((i / 3) % 4) as usize],
    )
}

/// The 4,096 distinct messages W3z sends in turn (message `i` is
/// `pool[i % 4096]`).
pub fn json_pool() -> Vec<String> {
    (0..4096).map(json_message).collect()
}

/// The W1 text of round trip `i`: 32 ASCII digits.
pub fn w1_text(i: u64) -> String {
    format!("{i:032}")
}

/// The four W4 payloads: payload `k` is `size` bytes of `'0' + k`.
pub fn w4_payloads(size: usize) -> Vec<Vec<u8>> {
    (0..4u8).map(|k| vec![b'0' + k; size]).collect()
}

/// Checks the echo of W4 round trip `i`: the length and the first, middle
/// and last bytes.
pub fn w4_check(i: u64, size: usize, data: &[u8]) -> Result<(), String> {
    let want = b'0' + (i % 4) as u8;
    if data.len() != size {
        return Err(format!("W4 echo {i}: {} bytes, expected {size}", data.len()));
    }
    if data[0] != want || data[size / 2] != want || data[size - 1] != want {
        return Err(format!("W4 echo {i}: wrong content"));
    }
    Ok(())
}

/// Round-trip percentiles in microseconds: (p50, p99, mean).
pub fn latency_stats(samples: &mut [Duration]) -> (f64, f64, f64) {
    samples.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let pct = |p: f64| us(samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)]);
    let mean = samples.iter().map(|d| us(*d)).sum::<f64>() / samples.len() as f64;
    (pct(0.50), pct(0.99), mean)
}

/// Resident set size of this process in KiB (VmRSS).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
