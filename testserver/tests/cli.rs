//! The `wsnative-testserver` binary: URL line, serving, exit on stdin EOF.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

/// Kills the child if the test fails before it exits by itself.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str], stdin: Stdio) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsnative-testserver"))
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn wsnative-testserver");
    let stdout: ChildStdout = child.stdout.take().unwrap();
    let server = Server(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(STEP).expect("URL line within the time limit");
    (server, line)
}

fn wait_exit(server: &mut Server, limit: Duration) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(status) = server.0.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn prints_url_serves_echo_and_exits_on_stdin_eof() {
    let (mut server, line) = start(&["--port", "0"], Stdio::piped());
    assert!(line.ends_with("/\n"), "{line:?}");
    let url = line.trim_end().to_owned();
    assert!(url.starts_with("ws://127.0.0.1:"), "{url}");

    runtime().block_on(async {
        let mut ws = connect(&format!("{url}hello")).await;
        assert_eq!(next_text(&mut ws).await, "hello");
        ws.send(Message::text("cli")).await.unwrap();
        assert_eq!(next_text(&mut ws).await, "cli");
    });

    assert!(server.0.try_wait().unwrap().is_none(), "exited too early");
    drop(server.0.stdin.take());
    let status = wait_exit(&mut server, STEP).expect("exit after stdin EOF");
    assert!(status.success(), "{status}");
}

#[test]
fn chat_mode() {
    let (server, line) = start(&["--mode", "chat"], Stdio::piped());
    runtime().block_on(async {
        let mut ws = connect(line.trim_end()).await;
        let hello: serde_json::Value = serde_json::from_str(&next_text(&mut ws).await).unwrap();
        assert_eq!(hello, serde_json::json!({"type": "id", "id": 1}));
    });
    drop(server);
}

#[test]
fn dev_null_stdin_keeps_serving() {
    let (mut server, line) = start(&[], Stdio::null());
    assert!(wait_exit(&mut server, Duration::from_millis(300)).is_none(), "exited on /dev/null stdin");
    runtime().block_on(async {
        let mut ws = connect(line.trim_end()).await;
        ws.send(Message::text("still here")).await.unwrap();
        assert_eq!(next_text(&mut ws).await, "still here");
    });
}

#[test]
fn tls_flags_give_a_wss_url() {
    let dir = std::env::temp_dir().join(format!("wsnative-testserver-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = wsnative_testserver::self_signed(&["localhost"]);
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert).unwrap();
    std::fs::write(&key_path, key).unwrap();

    let (_server, line) = start(
        &["--tls-cert", cert_path.to_str().unwrap(), "--tls-key", key_path.to_str().unwrap()],
        Stdio::piped(),
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(line.starts_with("wss://127.0.0.1:"), "{line:?}");
}

#[test]
fn bad_arguments_fail() {
    let output = Command::new(env!("CARGO_BIN_EXE_wsnative-testserver"))
        .args(["--mode", "nope"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
}
