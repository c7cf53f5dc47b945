//! The benchmark's peer: a WebSocket server over TCP and over TLS 1.3, and a
//! raw TCP server doing the same transfers without WebSocket framing. All of
//! it runs on one single-threaded tokio runtime (pin the process to a core).
//!
//! The server does as little per message as it can, so that it is not what
//! a client's figure measures (`bench/run.py` records the server's CPU share
//! of every run and flags the cells where it was above 60 % of its core):
//! - streams it sends (W2, W4, the compressed W2z) are encoded once, at
//!   startup or on the first request for a size, and written in 1 MiB
//!   slices of that buffer;
//! - streams it receives (W3, W3z, the W4 messages) are parsed header by
//!   header and their payloads skipped, not unmasked (W4 unmasks one byte
//!   in 4,096 to check what was sent);
//! - only `/echo` (W1, W5) decodes frames, with `fastwebsockets` (Deno's
//!   implementation: neither wsnative's code nor tungstenite).
//!
//! Paths (the same on both listeners):
//! - `/echo`: echo every data message (fragmented ones reassembled).
//! - `/send/<n>/<size>`: `n` binary messages of `size` (>= 2) bytes; message
//!   `i` starts with the byte `i % 251` and ends with `i % 241` (the rest is
//!   0xA5). Then the text message `"END <n> <payload bytes> <check>"`, where
//!   `check` is the sum of every message's first and last byte, then Close.
//! - `/big/<size>`: for each binary message of `size` bytes from the client
//!   (payload `k`: all bytes `'0' + k`, k in 0..4), the same message back,
//!   pre-encoded. Checked by sampling: one byte in 4,096 and the last.
//! - `/count/<n>`: count `n` data messages without decoding them, then send
//!   `"<n> <payload bytes>"` and Close.
//! - `/zsend/<n>`: `n` JSON-like text messages of about 180 bytes (message
//!   `i` is `json_message(i % 4096)`). With permessage-deflate negotiated,
//!   they are the deflate stream compressed once at startup (context
//!   takeover; every message ends with a sync flush whose 00 00 ff ff tail
//!   is stripped; RSV1 set); without, plain text frames. Then the text
//!   `"END <n> <text bytes> <check> <wire bytes> <pmd>"` (compressed when
//!   permessage-deflate was negotiated)
//!   (`wire bytes`: payload bytes as sent; `pmd`: `takeover`,
//!   `no_takeover` or `none`) and Close.
//! - `/zcount/<n>`: like `/count/<n>` (nothing is inflated), answering
//!   `"<n> <wire payload bytes> <messages with RSV1> <pmd>"` (compressed
//!   when permessage-deflate was negotiated).
//!
//! permessage-deflate is accepted on the `/z...` paths only, as
//! `permessage-deflate` (context takeover both ways), or with
//! `server_no_context_takeover` when the client asks for it; an offer
//! limiting the server's window below 15 bits, or with unknown parameters,
//! is declined.
//!
//! Raw TCP protocol: the client's first byte names the mode, then two
//! little-endian u64 `a` and `b`:
//! - `E` a=count b=size: `count` times, read `size` bytes and write them
//!   back; then wait for EOF (W1, W4, W5 references).
//! - `S` a=bytes: write `bytes` bytes, then close (W2 reference).
//! - `C` a=bytes: read `bytes` bytes, then write their count as u64 (W3).
//!
//! Usage: `wsnative-bench-server [--ws-port P] [--wss-port P] [--raw-port P]
//! [--ca-out FILE] [--deflate-messages N]` (ports: 0 or absent for any free
//! port; `--deflate-messages`: how many messages of the compressed stream
//! to prepare, default 500,000). A throwaway CA and a server certificate
//! for 127.0.0.1 and localhost are made at startup; the CA's PEM is written
//! to `--ca-out` (default: a file in the temporary directory). Prints
//! `READY ws=<port> wss=<port> raw=<port> ca=<path>` once all listen.

use fastwebsockets::{Frame, OpCode, Payload, Role, WebSocket, WebSocketError};
use flate2::{Compress, Compression, FlushCompress};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::{version, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// Slice size of every write of a pre-encoded stream.
const CHUNK: usize = 1 << 20;
/// Read buffer of the header-only reader.
const READ_BUFFER: usize = 1 << 20;
const ECHO_WRITE_BUFFER: usize = 256 * 1024;
const MAX_MESSAGE: usize = 128 << 20;
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Distinct JSON messages; message `i` of a stream is `json_message(i % POOL)`.
const POOL: u64 = 4096;
/// W2: first byte `i % 251`, last byte `i % 241`, so the stream repeats
/// every 251 * 241 messages.
const W2_PERIOD: u64 = 251 * 241;
const W4_SAMPLE: u64 = 4096;

fn other(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

fn ws_err(e: WebSocketError) -> io::Error {
    other(e.to_string())
}

fn debug() -> bool {
    std::env::var_os("BENCH_SERVER_DEBUG").is_some()
}

// ---------------------------------------------------------------- messages

const SYMBOLS: [&str; 8] = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "TSLA", "META", "NFLX"];
const VENUES: [&str; 4] = ["XNAS", "XNYS", "ARCX", "BATS"];
const NOTES: [&str; 4] = [
    "limit order from the web client",
    "rebalance of the model portfolio",
    "manual order from the phone desk",
    "algorithmic slice of a larger parent order",
];

/// The JSON-like text message `i` of the compressed workloads (W2z, W3z).
/// The C, Python and JavaScript clients build the same strings.
fn json_message(i: u64) -> String {
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

// ------------------------------------------------------ pre-encoded streams

/// Server frames (never masked): `byte0` is FIN | RSV1 | opcode.
fn push_frame(out: &mut Vec<u8>, byte0: u8, payload: &[u8]) {
    out.push(byte0);
    let n = payload.len();
    if n <= 125 {
        out.push(n as u8);
    } else if n <= 0xFFFF {
        out.push(126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

/// A stream of frames encoded once, with prefix sums per message so that the
/// first `n` messages (and their trailer figures) are found without work.
/// A cyclic stream repeats: message `i` is message `i % period`.
struct Encoded {
    bytes: Vec<u8>,
    /// `off[i]`: where message `i` starts in `bytes` (`period + 1` entries).
    off: Vec<u64>,
    /// Prefix sums of the payload bytes as sent (compressed or not).
    wire: Vec<u64>,
    /// Prefix sums of the message lengths (after inflating).
    text: Vec<u64>,
    /// Prefix sums of each message's first + last byte (after inflating).
    check: Vec<u64>,
    cyclic: bool,
}

#[derive(Clone, Copy)]
struct Sums {
    bytes: u64,
    wire: u64,
    text: u64,
    check: u64,
}

impl Encoded {
    fn new(cyclic: bool) -> Encoded {
        Encoded { bytes: Vec::new(), off: vec![0], wire: vec![0], text: vec![0], check: vec![0], cyclic }
    }

    fn push(&mut self, byte0: u8, payload: &[u8], plain: &[u8]) {
        push_frame(&mut self.bytes, byte0, payload);
        let last = |v: &Vec<u64>| *v.last().unwrap_or(&0);
        self.off.push(self.bytes.len() as u64);
        self.wire.push(last(&self.wire) + payload.len() as u64);
        self.text.push(last(&self.text) + plain.len() as u64);
        let ends = plain.first().map_or(0, |&b| b as u64) + plain.last().map_or(0, |&b| b as u64);
        self.check.push(last(&self.check) + ends);
    }

    fn period(&self) -> u64 {
        self.off.len() as u64 - 1
    }

    /// Figures of the first `n` messages; None if a finite stream is shorter.
    fn sums(&self, n: u64) -> Option<Sums> {
        let p = self.period();
        let at = |v: &Vec<u64>| -> Option<u64> {
            if self.cyclic {
                Some((n / p) * v[p as usize] + v[(n % p) as usize])
            } else if n <= p {
                Some(v[n as usize])
            } else {
                None
            }
        };
        Some(Sums {
            bytes: at(&self.off)?,
            wire: at(&self.wire)?,
            text: at(&self.text)?,
            check: at(&self.check)?,
        })
    }

    /// Writes the first `n` messages in slices of at most `CHUNK` bytes.
    async fn write_to<S: AsyncWrite + Unpin>(&self, s: &mut S, n: u64) -> io::Result<Sums> {
        let sums = self.sums(n).ok_or_else(|| other(format!("only {} messages prepared", self.period())))?;
        let len = self.bytes.len() as u64;
        let mut pos = 0u64;
        while pos < sums.bytes {
            let at = pos % len;
            let k = (CHUNK as u64).min(len - at).min(sums.bytes - pos);
            s.write_all(&self.bytes[at as usize..(at + k) as usize]).await?;
            pos += k;
        }
        Ok(sums)
    }
}

/// W2's period of binary messages of `size` bytes.
fn w2_stream(size: usize) -> io::Result<Encoded> {
    if size < 2 || (size as u64 + 10) * W2_PERIOD > 512 << 20 {
        return Err(other(format!("/send: size {size} not supported (2 to 8,000 bytes)")));
    }
    let mut e = Encoded::new(true);
    let mut payload = vec![0xA5u8; size];
    for i in 0..W2_PERIOD {
        payload[0] = (i % 251) as u8;
        payload[size - 1] = (i % 241) as u8;
        e.push(0x82, &payload, &payload);
    }
    Ok(e)
}

/// W4's four pre-encoded echoes of `size` bytes (payload k: all `'0' + k`).
fn w4_frames(size: usize) -> Vec<Vec<u8>> {
    (0..4u8)
        .map(|k| {
            let mut f = Vec::with_capacity(size + 10);
            push_frame(&mut f, 0x82, &vec![b'0' + k; size]);
            f
        })
        .collect()
}

/// Compresses one message with a sync flush and strips the 00 00 ff ff tail
/// (RFC 7692, 7.2.1).
fn deflate_message(c: &mut Compress, msg: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(msg.len() * 2 + 64);
    let mut consumed = 0usize;
    loop {
        let before = c.total_in();
        c.compress_vec(&msg[consumed..], out, FlushCompress::Sync).expect("deflate");
        consumed += (c.total_in() - before) as usize;
        if consumed == msg.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity().max(64));
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]), "sync flush tail");
    out.truncate(out.len() - 4);
}

/// The `/zsend` streams.
struct Compressed {
    /// Plain text frames (no extension negotiated); cyclic.
    plain: Encoded,
    /// Deflate with context takeover: one stream of `count` messages.
    takeover: Encoded,
    /// Deflate without context takeover (each message alone); cyclic.
    no_takeover: Encoded,
}

fn compressed_streams(count: u64) -> Compressed {
    let pool: Vec<String> = (0..POOL).map(json_message).collect();
    let mut out = Vec::new();
    let mut plain = Encoded::new(true);
    let mut no_takeover = Encoded::new(true);
    let mut c = Compress::new(Compression::default(), false);
    for m in &pool {
        plain.push(0x81, m.as_bytes(), m.as_bytes());
        c.reset();
        deflate_message(&mut c, m.as_bytes(), &mut out);
        no_takeover.push(0xC1, &out, m.as_bytes());
    }
    let mut takeover = Encoded::new(false);
    let mut c = Compress::new(Compression::default(), false);
    for i in 0..count {
        let m = pool[(i % POOL) as usize].as_bytes();
        deflate_message(&mut c, m, &mut out);
        takeover.push(0xC1, &out, m);
    }
    Compressed { plain, takeover, no_takeover }
}

struct Data {
    z: Compressed,
    w2: Mutex<HashMap<usize, Arc<Encoded>>>,
    w4: Mutex<HashMap<usize, Arc<Vec<Vec<u8>>>>>,
}

static DATA: OnceLock<Data> = OnceLock::new();

fn data() -> &'static Data {
    DATA.get().expect("data prepared before listening")
}

fn w2_cached(size: usize) -> io::Result<Arc<Encoded>> {
    if let Some(e) = data().w2.lock().unwrap_or_else(|e| e.into_inner()).get(&size) {
        return Ok(e.clone());
    }
    let e = Arc::new(w2_stream(size)?);
    data().w2.lock().unwrap_or_else(|e| e.into_inner()).insert(size, e.clone());
    Ok(e)
}

fn w4_cached(size: usize) -> io::Result<Arc<Vec<Vec<u8>>>> {
    if size == 0 || size > MAX_MESSAGE {
        return Err(other(format!("/big: size {size} not supported")));
    }
    let mut map = data().w4.lock().unwrap_or_else(|e| e.into_inner());
    Ok(map.entry(size).or_insert_with(|| Arc::new(w4_frames(size))).clone())
}

// --------------------------------------------------------------------- TLS

/// A throwaway CA and a server certificate it signed, for 127.0.0.1 and
/// localhost. Returns the acceptor (TLS 1.3 only) and the CA's PEM.
fn tls_setup() -> io::Result<(TlsAcceptor, String)> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
        KeyUsagePurpose,
    };
    let e = |what: &str| {
        let what = what.to_string();
        move |err: rcgen::Error| other(format!("{what}: {err}"))
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(e("CA parameters"))?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "wsnative bench throwaway CA");
    ca.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_key = KeyPair::generate().map_err(e("CA key"))?;
    let ca_cert = ca.self_signed(&ca_key).map_err(e("CA certificate"))?;

    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .map_err(e("server certificate parameters"))?;
    leaf.distinguished_name.push(DnType::CommonName, "127.0.0.1");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.use_authority_key_identifier_extension = true;
    let leaf_key = KeyPair::generate().map_err(e("server key"))?;
    let issuer = Issuer::from_params(&ca, &ca_key);
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(e("server certificate"))?;

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let chain =
        vec![CertificateDer::from(leaf_cert.der().to_vec()), CertificateDer::from(ca_cert.der().to_vec())];
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_protocol_versions(&[&version::TLS13])
        .map_err(|err| other(format!("TLS versions: {err}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|err| other(format!("certificate: {err}")))?;
    Ok((TlsAcceptor::from(Arc::new(config)), ca_cert.pem()))
}

// -------------------------------------------------------------------- main

fn listen(port: u16) -> io::Result<TcpListener> {
    let sock = TcpSocket::new_v4()?;
    sock.set_reuseaddr(true)?;
    sock.bind(([127, 0, 0, 1], port).into())?;
    // W5 opens 2,000 connections at once: a short backlog would drop SYNs
    // and add a one-second retransmission to the measured time.
    sock.listen(8192)
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let port = |name: &str| arg(&args, name).and_then(|v| v.parse().ok()).unwrap_or(0u16);
    let deflate_messages: u64 =
        arg(&args, "--deflate-messages").and_then(|v| v.parse().ok()).unwrap_or(500_000);
    let ca_out = arg(&args, "--ca-out").map(PathBuf::from).unwrap_or_else(|| {
        std::env::temp_dir().join(format!("wsnative-bench-ca-{}.pem", std::process::id()))
    });

    let t = Instant::now();
    let (acceptor, ca_pem) = tls_setup()?;
    std::fs::write(&ca_out, ca_pem)?;
    let prepared = DATA.set(Data {
        z: compressed_streams(deflate_messages),
        w2: Mutex::new(HashMap::from([(64, Arc::new(w2_stream(64)?))])),
        w4: Mutex::new(HashMap::from([(16 << 20, Arc::new(w4_frames(16 << 20)))])),
    });
    if prepared.is_err() {
        return Err(other("data prepared twice"));
    }
    let z = &data().z.takeover;
    eprintln!(
        "bench server: prepared in {:.2} s; compressed stream: {} messages, {} text bytes -> {} payload bytes",
        t.elapsed().as_secs_f64(),
        z.period(),
        z.text.last().unwrap_or(&0),
        z.wire.last().unwrap_or(&0),
    );

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let ws = listen(port("--ws-port"))?;
        let wss = listen(port("--wss-port"))?;
        let raw = listen(port("--raw-port"))?;
        {
            let mut out = io::stdout().lock();
            writeln!(
                out,
                "READY ws={} wss={} raw={} ca={}",
                ws.local_addr()?.port(),
                wss.local_addr()?.port(),
                raw.local_addr()?.port(),
                ca_out.display()
            )?;
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
        tokio::spawn(async move {
            loop {
                if let Ok((tcp, _)) = wss.accept().await {
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let res = async {
                            tcp.set_nodelay(true)?;
                            let tls = acceptor.accept(tcp).await?;
                            ws_conn(tls).await
                        };
                        if let Err(e) = res.await {
                            if debug() {
                                eprintln!("wss connection: {e}");
                            }
                        }
                    });
                }
            }
        });
        loop {
            if let Ok((tcp, _)) = ws.accept().await {
                tokio::spawn(async move {
                    let res = async {
                        tcp.set_nodelay(true)?;
                        ws_conn(tcp).await
                    };
                    if let Err(e) = res.await {
                        if debug() {
                            eprintln!("ws connection: {e}");
                        }
                    }
                });
            }
        }
    })
}

// --------------------------------------------------------------- handshake

struct Request {
    path: String,
    key: Vec<u8>,
    /// Every Sec-WebSocket-Extensions value, in order.
    extensions: Vec<String>,
}

async fn read_request<S: AsyncRead + Unpin>(s: &mut S) -> io::Result<Request> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = s.read(&mut chunk).await?;
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
    let mut headers = [httparse::EMPTY_HEADER; 48];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(&buf).map_err(|e| other(e.to_string()))? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Err(other("partial request")),
    };
    if head_len != buf.len() {
        // Clients wait for 101 before sending frames.
        return Err(other("data after the request head"));
    }
    let key = req.headers.iter().find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"));
    Ok(Request {
        path: req.path.unwrap_or("/").to_string(),
        key: key.map(|h| h.value.to_vec()).ok_or_else(|| other("no Sec-WebSocket-Key"))?,
        extensions: req
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("sec-websocket-extensions"))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
            .collect(),
    })
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Pmd {
    None,
    Takeover,
    NoTakeover,
}

impl Pmd {
    fn name(self) -> &'static str {
        match self {
            Pmd::None => "none",
            Pmd::Takeover => "takeover",
            Pmd::NoTakeover => "no_takeover",
        }
    }
}

/// Picks the first permessage-deflate offer the server can honour (RFC
/// 7692): returns the mode and the response header's value.
fn negotiate(values: &[String]) -> (Pmd, Option<String>) {
    let joined = values.join(",");
    'offers: for offer in joined.split(',') {
        let mut parts = offer.split(';').map(str::trim);
        if parts.next() != Some("permessage-deflate") {
            continue;
        }
        let (mut no_takeover, mut smwb) = (false, false);
        let mut seen: Vec<&str> = Vec::new();
        for p in parts {
            let (k, v) = match p.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim().trim_matches('"'))),
                None => (p, None),
            };
            if seen.contains(&k) {
                continue 'offers;
            }
            seen.push(k);
            let bits_ok =
                |v: Option<&str>| v.and_then(|v| v.parse::<u8>().ok()).is_some_and(|b| (8..=15).contains(&b));
            match k {
                "server_no_context_takeover" if v.is_none() => no_takeover = true,
                "client_no_context_takeover" if v.is_none() => {}
                // The stream is compressed with a 32 KiB window: a smaller
                // limit cannot be honoured, so such an offer is declined.
                "server_max_window_bits" if v == Some("15") => smwb = true,
                "client_max_window_bits" if v.is_none() || bits_ok(v) => {}
                _ => continue 'offers,
            }
        }
        let mut resp = String::from("permessage-deflate");
        if no_takeover {
            resp.push_str("; server_no_context_takeover");
        }
        if smwb {
            resp.push_str("; server_max_window_bits=15");
        }
        return (if no_takeover { Pmd::NoTakeover } else { Pmd::Takeover }, Some(resp));
    }
    (Pmd::None, None)
}

async fn ws_conn<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) -> io::Result<()> {
    let req = read_request(&mut s).await?;
    let path = req.path.split('?').next().unwrap_or("/").to_string();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (pmd, ext) = if parts[0].starts_with('z') { negotiate(&req.extensions) } else { (Pmd::None, None) };
    if debug() {
        eprintln!("{path}: offered {:?}, pmd {}", req.extensions, pmd.name());
    }
    let mut sha = Sha1::new();
    sha.update(&req.key);
    sha.update(GUID.as_bytes());
    let accept = data_encoding::BASE64.encode(&sha.finalize());
    let ext = ext.map(|e| format!("Sec-WebSocket-Extensions: {e}\r\n")).unwrap_or_default();
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n{ext}\r\n"
    );
    s.write_all(resp.as_bytes()).await?;
    s.flush().await?;

    let num = |i: usize| -> io::Result<u64> {
        parts.get(i).and_then(|v| v.parse().ok()).ok_or_else(|| other(format!("bad path {path}")))
    };
    if parts[0] == "echo" {
        return echo(s).await;
    }
    let mut conn = Conn::new(s);
    let res = match parts[0] {
        "send" => send(&mut conn, num(1)?, num(2)? as usize).await,
        "big" => big(&mut conn, num(1)? as usize).await,
        "count" => count(&mut conn, num(1)?, None).await,
        "zsend" => zsend(&mut conn, num(1)?, pmd).await,
        "zcount" => count(&mut conn, num(1)?, Some(pmd)).await,
        _ => Err(other(format!("unknown path {path}"))),
    };
    if let Err(e) = &res {
        // Tell the client why, if it still listens.
        let reason = e.to_string();
        let reason = &reason.as_bytes()[..reason.len().min(120)];
        let mut close = vec![0x03, 0xF3]; // 1011
        close.extend_from_slice(reason);
        let mut f = Vec::new();
        push_frame(&mut f, 0x88, &close);
        let _ = conn.s.write_all(&f).await;
        let _ = conn.s.flush().await;
    }
    res
}

// ------------------------------------------------------------------ frames

struct Head {
    fin: bool,
    rsv1: bool,
    opcode: u8,
    mask: [u8; 4],
    len: u64,
}

/// A connection read header by header: payloads are skipped in place
/// (handed to a closure as they pass, never copied or unmasked).
struct Conn<S> {
    s: S,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    fn new(s: S) -> Self {
        Conn { s, buf: vec![0u8; READ_BUFFER], pos: 0, end: 0 }
    }

    async fn fill(&mut self, need: usize) -> io::Result<()> {
        if self.end - self.pos >= need {
            return Ok(());
        }
        if self.pos + need > self.buf.len() {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        while self.end - self.pos < need {
            let n = self.s.read(&mut self.buf[self.end..]).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.end += n;
        }
        Ok(())
    }

    async fn head(&mut self) -> io::Result<Head> {
        self.fill(2).await?;
        let (b0, b1) = (self.buf[self.pos], self.buf[self.pos + 1]);
        let masked = b1 & 0x80 != 0;
        let ext = match b1 & 0x7F {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let total = 2 + ext + if masked { 4 } else { 0 };
        self.fill(total).await?;
        let h = &self.buf[self.pos..self.pos + total];
        let len = match ext {
            2 => u16::from_be_bytes([h[2], h[3]]) as u64,
            8 => u64::from_be_bytes(h[2..10].try_into().unwrap_or_default()),
            _ => (b1 & 0x7F) as u64,
        };
        let mut mask = [0u8; 4];
        if masked {
            mask.copy_from_slice(&h[2 + ext..total]);
        }
        self.pos += total;
        Ok(Head { fin: b0 & 0x80 != 0, rsv1: b0 & 0x40 != 0, opcode: b0 & 0x0F, mask, len })
    }

    /// Consumes `len` payload bytes, handing each piece that passes to `f`
    /// with its offset in the frame.
    async fn skip(&mut self, len: u64, mut f: impl FnMut(&[u8], u64)) -> io::Result<()> {
        let mut off = 0u64;
        while off < len {
            if self.pos == self.end {
                self.pos = 0;
                self.end = 0;
                self.fill(1).await?;
            }
            let k = ((self.end - self.pos) as u64).min(len - off) as usize;
            f(&self.buf[self.pos..self.pos + k], off);
            self.pos += k;
            off += k as u64;
        }
        Ok(())
    }

    /// A control frame's payload, unmasked.
    async fn control_payload(&mut self, h: &Head) -> io::Result<Vec<u8>> {
        if h.len > 125 {
            return Err(other("control frame too long"));
        }
        let mut p = Vec::with_capacity(h.len as usize);
        self.skip(h.len, |piece, off| {
            p.extend(piece.iter().enumerate().map(|(j, b)| b ^ h.mask[(off as usize + j) % 4]))
        })
        .await?;
        Ok(p)
    }

    /// Answers a control frame that is not Close: a Ping gets its Pong.
    async fn control(&mut self, h: &Head) -> io::Result<()> {
        let p = self.control_payload(h).await?;
        if h.opcode == 0x9 {
            let mut f = Vec::new();
            push_frame(&mut f, 0x8A, &p);
            self.s.write_all(&f).await?;
            self.s.flush().await?;
        }
        Ok(())
    }

    async fn write_text(&mut self, text: &str) -> io::Result<()> {
        self.write_text_pmd(text, Pmd::None).await
    }

    /// A text message, compressed when permessage-deflate was negotiated
    /// (libwebsockets 4.1 stalls on an uncompressed message once it is),
    /// by a fresh compressor: its blocks refer to nothing before them, so
    /// they continue the client's inflater whatever it holds.
    async fn write_text_pmd(&mut self, text: &str, pmd: Pmd) -> io::Result<()> {
        let mut f = Vec::new();
        if pmd == Pmd::None {
            push_frame(&mut f, 0x81, text.as_bytes());
        } else {
            let mut payload = Vec::new();
            deflate_message(&mut Compress::new(Compression::default(), false), text.as_bytes(), &mut payload);
            push_frame(&mut f, 0xC1, &payload);
        }
        self.s.write_all(&f).await
    }

    /// Sends Close 1000, waits (bounded) for the client's Close or EOF, then
    /// ends the stream (TLS close_notify, TCP FIN).
    async fn close_and_drain(&mut self) -> io::Result<()> {
        let mut f = Vec::new();
        push_frame(&mut f, 0x88, &1000u16.to_be_bytes());
        self.s.write_all(&f).await?;
        self.s.flush().await?;
        let drain = async {
            loop {
                let h = self.head().await?;
                self.skip(h.len, |_, _| {}).await?;
                if h.opcode == 0x8 {
                    return io::Result::Ok(());
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(30), drain).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.s.shutdown()).await;
        Ok(())
    }
}

// --------------------------------------------------------------- workloads

/// `/echo`: echoes every data message with fastwebsockets, reassembling
/// fragmented ones.
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(s: S) -> io::Result<()> {
    let mut ws = WebSocket::after_handshake(BufWriter::with_capacity(ECHO_WRITE_BUFFER, s), Role::Server);
    ws.set_max_message_size(MAX_MESSAGE);
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
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
                let mut s = ws.into_inner();
                let _ = tokio::time::timeout(Duration::from_secs(5), s.shutdown()).await;
                return Ok(());
            }
            OpCode::Ping | OpCode::Pong => ws.flush().await.map_err(ws_err)?,
        }
    }
}

/// `/send/<n>/<size>` (W2): the pre-encoded binary stream, then the trailer.
async fn send<S: AsyncRead + AsyncWrite + Unpin>(c: &mut Conn<S>, n: u64, size: usize) -> io::Result<()> {
    let stream = w2_cached(size)?;
    let sums = stream.write_to(&mut c.s, n).await?;
    c.write_text(&format!("END {n} {} {}", sums.text, sums.check)).await?;
    c.close_and_drain().await
}

/// `/zsend/<n>` (W2z): the compressed (or plain) text stream, then the
/// uncompressed trailer.
async fn zsend<S: AsyncRead + AsyncWrite + Unpin>(c: &mut Conn<S>, n: u64, pmd: Pmd) -> io::Result<()> {
    let z = &data().z;
    let stream = match pmd {
        Pmd::None => &z.plain,
        Pmd::Takeover => &z.takeover,
        Pmd::NoTakeover => &z.no_takeover,
    };
    let sums = stream.write_to(&mut c.s, n).await?;
    let trailer = format!("END {n} {} {} {} {}", sums.text, sums.check, sums.wire, pmd.name());
    c.write_text_pmd(&trailer, pmd).await?;
    c.close_and_drain().await
}

/// `/count/<n>` (W3) and `/zcount/<n>` (W3z, `pmd` given): counts data
/// messages from their headers alone.
async fn count<S: AsyncRead + AsyncWrite + Unpin>(
    c: &mut Conn<S>,
    n: u64,
    pmd: Option<Pmd>,
) -> io::Result<()> {
    let (mut messages, mut bytes, mut compressed) = (0u64, 0u64, 0u64);
    let mut in_message = false;
    while messages < n {
        let h = c.head().await?;
        match h.opcode {
            0x1 | 0x2 if !in_message => {
                if h.rsv1 {
                    compressed += 1;
                }
            }
            0x0 if in_message => {}
            0x8 => return Err(other(format!("closed by the client after {messages} of {n} messages"))),
            0x9 | 0xA => {
                c.control(&h).await?;
                continue;
            }
            op => return Err(other(format!("unexpected opcode {op} after {messages} messages"))),
        }
        c.skip(h.len, |_, _| {}).await?;
        bytes += h.len;
        in_message = !h.fin;
        if h.fin {
            messages += 1;
        }
    }
    match pmd {
        None => c.write_text(&format!("{messages} {bytes}")).await?,
        Some(p) => c.write_text_pmd(&format!("{messages} {bytes} {compressed} {}", p.name()), p).await?,
    }
    c.close_and_drain().await
}

/// Which of the four W4 payloads a message is, from one byte in
/// [`W4_SAMPLE`] and its last byte (`/big` and raw TCP's echoes alike).
#[derive(Default)]
struct W4Payload {
    kind: Option<u8>,
    bad: bool,
}

impl W4Payload {
    /// Bytes `start..start + len` of the message arrived, byte `start + j`
    /// being `at(j)`; `last`: the message's last offset, once known.
    fn sample(&mut self, start: u64, len: usize, last: Option<u64>, at: impl Fn(usize) -> u8) {
        let end = start + len as u64;
        let mut p = start.div_ceil(W4_SAMPLE) * W4_SAMPLE;
        while p < end {
            self.byte(at((p - start) as usize));
            p += W4_SAMPLE;
        }
        if let Some(l) = last {
            if l >= start && l < end && l % W4_SAMPLE != 0 {
                self.byte(at((l - start) as usize));
            }
        }
    }

    fn byte(&mut self, b: u8) {
        match self.kind {
            None if (b'0'..b'4').contains(&b) => self.kind = Some(b - b'0'),
            Some(k) if b == b'0' + k => {}
            _ => self.bad = true,
        }
    }

    /// The payload's number, if every sampled byte agreed.
    fn payload(&self) -> Option<usize> {
        self.kind.filter(|_| !self.bad).map(usize::from)
    }
}

/// `/big/<size>` (W4): answers each binary message of `size` bytes with the
/// pre-encoded copy of what was sent (one of the four W4 payloads), checked
/// by unmasking one byte in 4,096 and the last one.
async fn big<S: AsyncRead + AsyncWrite + Unpin>(c: &mut Conn<S>, size: usize) -> io::Result<()> {
    let frames = w4_cached(size)?;
    loop {
        let mut len = 0u64;
        let mut seen = W4Payload::default();
        loop {
            let h = c.head().await?;
            match h.opcode {
                0x2 if len == 0 => {}
                0x0 if len > 0 => {}
                0x8 => {
                    c.control_payload(&h).await?;
                    let mut f = Vec::new();
                    push_frame(&mut f, 0x88, &1000u16.to_be_bytes());
                    c.s.write_all(&f).await?;
                    c.s.flush().await?;
                    let _ = tokio::time::timeout(Duration::from_secs(5), c.s.shutdown()).await;
                    return Ok(());
                }
                0x9 | 0xA => {
                    c.control(&h).await?;
                    continue;
                }
                op => return Err(other(format!("/big: unexpected opcode {op}"))),
            }
            let base = len;
            let frame_len = h.len;
            let last = if h.fin { Some(base + frame_len - 1) } else { None };
            c.skip(frame_len, |piece, off| {
                seen.sample(base + off, piece.len(), last, |j| {
                    piece[j] ^ h.mask[((off + j as u64) % 4) as usize]
                })
            })
            .await?;
            len += frame_len;
            if h.fin {
                break;
            }
        }
        match seen.payload() {
            Some(k) if len == size as u64 => {
                let f = &frames[k];
                for piece in f.chunks(CHUNK) {
                    c.s.write_all(piece).await?;
                }
                c.s.flush().await?;
            }
            _ => {
                return Err(other(format!(
                    "/big: a message of {len} bytes that is not a W4 payload of {size}"
                )))
            }
        }
    }
}

async fn raw_conn(mut tcp: TcpStream) -> io::Result<()> {
    tcp.set_nodelay(true)?;
    let mut head = [0u8; 17];
    tcp.read_exact(&mut head).await?;
    let a = u64::from_le_bytes(head[1..9].try_into().unwrap_or_default());
    let b = u64::from_le_bytes(head[9..17].try_into().unwrap_or_default());
    match head[0] {
        // W4's 16 MiB echoes: the same work as `/big` (read through the
        // 1 MiB buffer, one byte in 4,096 and the last one sampled to tell
        // which of the four payloads came, that payload written back from
        // memory in 1 MiB slices), so that raw TCP and WebSocket cost the
        // server the same and raw TCP stays the physical reference.
        b'E' if b >= CHUNK as u64 => {
            let frames = w4_cached(b as usize)?;
            let head = frames[0].len() - b as usize;
            let mut buf = vec![0u8; READ_BUFFER];
            for _ in 0..a {
                let (mut got, mut seen) = (0u64, W4Payload::default());
                while got < b {
                    let n = tcp.read(&mut buf[..READ_BUFFER.min((b - got) as usize)]).await?;
                    if n == 0 {
                        return Err(other("raw W4: EOF inside a message"));
                    }
                    seen.sample(got, n, Some(b - 1), |j| buf[j]);
                    got += n as u64;
                }
                match seen.payload() {
                    Some(k) => {
                        for piece in frames[k][head..].chunks(CHUNK) {
                            tcp.write_all(piece).await?;
                        }
                    }
                    _ => return Err(other("raw W4: not one of the four payloads")),
                }
            }
            let mut rest = [0u8; 64];
            while tcp.read(&mut rest).await? > 0 {}
        }
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
            let chunk = vec![0xA5u8; CHUNK];
            let mut left = a;
            while left > 0 {
                let k = left.min(chunk.len() as u64) as usize;
                tcp.write_all(&chunk[..k]).await?;
                left -= k as u64;
            }
            tcp.shutdown().await?;
        }
        b'C' => {
            let mut buf = vec![0u8; READ_BUFFER];
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

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Decompress, FlushDecompress};

    #[test]
    fn negotiation() {
        let v = |s: &str| vec![s.to_string()];
        assert_eq!(negotiate(&[]).0, Pmd::None);
        assert_eq!(
            negotiate(&v("permessage-deflate; client_max_window_bits")).1.as_deref(),
            Some("permessage-deflate")
        );
        assert_eq!(negotiate(&v("permessage-deflate; server_no_context_takeover")).0, Pmd::NoTakeover);
        assert_eq!(negotiate(&v("permessage-deflate; server_max_window_bits=10")).0, Pmd::None);
        assert_eq!(
            negotiate(&v("permessage-deflate; server_max_window_bits=10, permessage-deflate")).1.as_deref(),
            Some("permessage-deflate")
        );
        assert_eq!(negotiate(&v("permessage-deflate; foo")).0, Pmd::None);
        assert_eq!(negotiate(&v("x-webkit-deflate-frame")).0, Pmd::None);
    }

    /// The pre-compressed stream inflates, message by message with one
    /// context, to the pool's messages; the cyclic streams add up.
    #[test]
    fn compressed_stream_inflates() {
        let z = compressed_streams(5000);
        let mut d = Decompress::new(false);
        let mut out = Vec::with_capacity(4096);
        let t = &z.takeover;
        for i in 0..5000u64 {
            let frame = &t.bytes[t.off[i as usize] as usize..t.off[i as usize + 1] as usize];
            assert_eq!(frame[0], 0xC1);
            let hl = if frame[1] == 126 { 4 } else { 2 };
            let mut payload = frame[hl..].to_vec();
            payload.extend_from_slice(&[0, 0, 0xff, 0xff]);
            out.clear();
            d.decompress_vec(&payload, &mut out, FlushDecompress::Sync).unwrap();
            assert_eq!(out, json_message(i % POOL).as_bytes(), "message {i}");
        }
        let (a, b) = (t.sums(5000).unwrap(), z.plain.sums(5000).unwrap());
        assert_eq!((a.text, a.check), (b.text, b.check));
        assert!(a.wire * 2 < a.text);
        let w2 = w2_stream(64).unwrap();
        let s = w2.sums(W2_PERIOD + 3).unwrap();
        assert_eq!(s.bytes, (W2_PERIOD + 3) * 66);
        assert_eq!(s.check, w2.check[W2_PERIOD as usize] + 6);
    }
}
