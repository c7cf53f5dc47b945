//! `wsnative-testserver`: runs the echo or chat WebSocket server from the
//! command line, for `make demo` and for tests in other languages.
//!
//! Prints exactly one line, the server's URL, then serves until killed or
//! until its standard input reaches end of file (unless stdin is /dev/null or
//! `--ignore-stdin` is given, so it also works as a plain background job).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use wsnative_testserver::{serve, tls, Mode};

const USAGE: &str = "usage: wsnative-testserver [--host 127.0.0.1] [--port 0] [--mode echo|chat] \
[--tls-cert FILE --tls-key FILE] [--ignore-stdin]

Prints the server URL (ws://HOST:PORT/ or wss://...) on one line, then serves
until killed or until stdin reaches EOF (stdin is ignored when it is /dev/null
or with --ignore-stdin).";

#[derive(Debug)]
struct Options {
    host: String,
    port: u16,
    mode: Mode,
    tls_cert: Option<String>,
    tls_key: Option<String>,
    ignore_stdin: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        host: "127.0.0.1".into(),
        port: 0,
        mode: Mode::Echo,
        tls_cert: None,
        tls_key: None,
        ignore_stdin: false,
    };
    while let Some(arg) = args.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_string(), Some(value.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline.clone().or_else(|| args.next()).ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--host" => options.host = value("--host")?,
            "--port" => {
                let port = value("--port")?;
                options.port = port.parse().map_err(|_| format!("bad --port {port:?}"))?;
            }
            "--mode" => options.mode = value("--mode")?.parse()?,
            "--tls-cert" => options.tls_cert = Some(value("--tls-cert")?),
            "--tls-key" => options.tls_key = Some(value("--tls-key")?),
            "--ignore-stdin" => options.ignore_stdin = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if options.tls_cert.is_some() != options.tls_key.is_some() {
        return Err("--tls-cert and --tls-key go together".into());
    }
    Ok(options)
}

/// True when stdin is /dev/null, as for a background job of a
/// non-interactive shell: then EOF on stdin means nothing.
fn stdin_is_dev_null() -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata("/dev/fd/0"), std::fs::metadata("/dev/null")) {
            (Ok(stdin), Ok(null)) => stdin.dev() == null.dev() && stdin.ino() == null.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// Completes when stdin reaches EOF (or fails), read on a plain thread.
async fn stdin_closed() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        let mut stdin = std::io::stdin().lock();
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        let _ = tx.send(());
    });
    let _ = rx.await;
}

/// Connections the kernel may hold for the server before it accepts them
/// (Linux caps it at net.core.somaxconn, 4096 by default). tokio's
/// `TcpListener::bind` uses 1024: thousands of clients connecting at once
/// then see dropped SYNs and retransmit after 1, 3, 7, ... seconds.
const LISTEN_BACKLOG: u32 = 4096;

async fn listen(host: &str, port: u16) -> std::io::Result<tokio::net::TcpListener> {
    let addr = tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| std::io::Error::other("the host has no address"))?;
    let socket =
        if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

async fn run(options: Options) -> Result<(), String> {
    let acceptor = match (&options.tls_cert, &options.tls_key) {
        (Some(cert), Some(key)) => {
            let cert = std::fs::read(cert).map_err(|e| format!("reading {cert}: {e}"))?;
            let key = std::fs::read(key).map_err(|e| format!("reading {key}: {e}"))?;
            Some(tls::acceptor(&cert, &key).map_err(|e| e.to_string())?)
        }
        _ => None,
    };
    let host = options.host.trim_start_matches('[').trim_end_matches(']');
    let listener =
        listen(host, options.port).await.map_err(|e| format!("binding {host} port {}: {e}", options.port))?;
    let addr: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
    let scheme = if acceptor.is_some() { "wss" } else { "ws" };

    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{scheme}://{addr}/")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("writing URL: {e}"))?;
    drop(stdout);

    let watch_stdin = !options.ignore_stdin && !stdin_is_dev_null();
    tokio::select! {
        _ = serve(listener, options.mode, acceptor) => {}
        _ = stdin_closed(), if watch_stdin => {}
    }
    Ok(())
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) if message.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("wsnative-testserver: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("wsnative-testserver: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(options));
    // The stdin thread may still be blocked reading: don't wait for it.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("wsnative-testserver: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_and_flags() {
        let o = parse(&[]).unwrap();
        assert_eq!((o.host.as_str(), o.port, o.mode), ("127.0.0.1", 0, Mode::Echo));
        let o = parse(&["--port", "9001", "--mode=chat", "--host", "::1"]).unwrap();
        assert_eq!((o.host.as_str(), o.port, o.mode), ("::1", 9001, Mode::Chat));
        assert!(parse(&["--tls-cert", "c.pem"]).is_err());
        assert!(parse(&["--mode", "nope"]).is_err());
        assert!(parse(&["--port"]).is_err());
    }
}
