//! What every Rust benchmark client shares: arguments, checks, the one JSON
//! line of results. The workloads are described in `bench/README.md`.

use std::fmt::Write as _;
use std::time::Duration;

/// Command line: `--workload W1..W5 --url URL [--n N] [--size BYTES] [--warmup N]`.
pub struct Args {
    pub workload: String,
    pub url: String,
    pub n: u64,
    pub size: usize,
    pub warmup: u64,
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
            _ => fail(&workload, "unknown workload"),
        };
        Args {
            n: num("--n", n),
            size: num("--size", size as u64) as usize,
            warmup: num("--warmup", 1_000),
            workload,
            url,
        }
    }

    /// `host:port` of a `ws://host:port/path` URL.
    pub fn host_port(&self) -> String {
        let rest = self.url.split("://").nth(1).unwrap_or(&self.url);
        rest.split('/').next().unwrap_or(rest).to_string()
    }
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
    let mut line = format!("{{\"workload\":\"{workload}\",\"ok\":true");
    for (k, v) in fields {
        let _ = write!(line, ",\"{k}\":{v}");
    }
    line.push('}');
    println!("{line}");
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

/// The sequence number the server wrote into a W2 message.
pub fn w2_seq(data: &[u8]) -> u64 {
    data.get(..8).map_or(u64::MAX, |b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
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
