mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::SinkExt;
use tokio::io::AsyncReadExt;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use wsnative_testserver::echo::count_payload;
use wsnative_testserver::{Mode, TestServer};

#[tokio::test]
async fn echoes_text_and_binary_unchanged() {
    let server = TestServer::start(Mode::Echo);
    assert_eq!(server.url(), format!("ws://127.0.0.1:{}/", server.addr().port()));
    let mut ws = connect(&server.url()).await;

    ws.send(Message::text("héllo wörld")).await.unwrap();
    assert_eq!(next_message(&mut ws).await, Message::text("héllo wörld"));

    let bytes: Vec<u8> = (0..=255u8).collect();
    ws.send(Message::binary(bytes.clone())).await.unwrap();
    assert_eq!(next_message(&mut ws).await, Message::binary(bytes));

    ws.send(Message::text("")).await.unwrap();
    assert_eq!(next_message(&mut ws).await, Message::text(""));

    let big = vec![7u8; 3 << 20];
    ws.send(Message::binary(big.clone())).await.unwrap();
    assert_eq!(next_message(&mut ws).await, Message::binary(big));

    ws.send(Message::Ping("p".into())).await.unwrap();
    match next(&mut ws).await {
        Some(Ok(Message::Pong(data))) => assert_eq!(&data[..], b"p"),
        other => panic!("expected pong, got {other:?}"),
    }
}

#[tokio::test]
async fn answers_close_with_same_code_and_closes_tcp() {
    let server = TestServer::start(Mode::Echo);
    let mut ws = connect(&server.url()).await;
    ws.close(Some(CloseFrame { code: CloseCode::from(4321), reason: "done".into() })).await.unwrap();
    match next_message(&mut ws).await {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 4321),
        other => panic!("expected close, got {other:?}"),
    }
    assert!(next(&mut ws).await.is_none());
    let mut rest = Vec::new();
    let n = bounded("TCP EOF", ws.get_mut().read_to_end(&mut rest)).await.unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn selects_first_offered_subprotocol() {
    let server = TestServer::start(Mode::Echo);

    let mut req = request(&server.url());
    req.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static("chat, superchat"));
    let (_ws, response) = connect_request(req).await;
    assert_eq!(response.headers().get("sec-websocket-protocol").unwrap(), "chat");

    let (_ws, response) = connect_request(request(&server.url())).await;
    assert!(response.headers().get("sec-websocket-protocol").is_none());
}

#[tokio::test]
async fn close_path_sends_close_with_code_and_bye() {
    let server = TestServer::start(Mode::Echo);
    let mut ws = connect(&server.url_for("/close/4000")).await;
    match next_message(&mut ws).await {
        Message::Close(Some(frame)) => {
            assert_eq!(u16::from(frame.code), 4000);
            assert_eq!(frame.reason.as_str(), "bye");
        }
        other => panic!("expected close, got {other:?}"),
    }
    // tungstenite sends our reply; the server then closes TCP.
    assert!(next(&mut ws).await.is_none());
    let mut rest = Vec::new();
    let n = bounded("TCP EOF", ws.get_mut().read_to_end(&mut rest)).await.unwrap();
    assert_eq!(n, 0);

    let mut ws = connect(&server.url_for("/close/1001")).await;
    match next_message(&mut ws).await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected close, got {other:?}"),
    }
}

#[tokio::test]
async fn hello_path_greets_then_echoes() {
    let server = TestServer::start(Mode::Echo);
    let mut ws = connect(&server.url_for("/hello")).await;
    assert_eq!(next_text(&mut ws).await, "hello");
    ws.send(Message::text("again")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "again");
}

#[tokio::test]
async fn drop_path_closes_tcp_without_close_frame() {
    let server = TestServer::start(Mode::Echo);
    let mut ws = connect(&server.url_for("/drop")).await;
    match next(&mut ws).await {
        None | Some(Err(_)) => {}
        Some(Ok(message)) => panic!("expected the connection to drop, got {message:?}"),
    }
}

#[tokio::test]
async fn count_path_sends_n_binary_messages() {
    let server = TestServer::start(Mode::Echo);
    let mut ws = connect(&server.url_for("/count/5/1000")).await;
    for index in 0..5 {
        match next_message(&mut ws).await {
            Message::Binary(data) => assert_eq!(data[..], count_payload(index, 1000)[..]),
            other => panic!("expected binary, got {other:?}"),
        }
    }
    ws.send(Message::text("then echo")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "then echo");

    let mut ws = connect(&server.url_for("/count/2/0")).await;
    for _ in 0..2 {
        assert_eq!(next_message(&mut ws).await, Message::binary(Vec::new()));
    }
}

#[tokio::test]
async fn headers_path_reports_request_headers() {
    let server = TestServer::start(Mode::Echo);
    let mut req = request(&server.url_for("/headers"));
    req.headers_mut().insert("X-Custom-Thing", HeaderValue::from_static("Value 1"));
    let (mut ws, _) = connect_request(req).await;
    let text = next_text(&mut ws).await;
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.contains(&"x-custom-thing: Value 1"), "{text}");
    assert!(lines.contains(&format!("host: {}", server.addr()).as_str()), "{text}");
    assert!(lines.contains(&"sec-websocket-version: 13"), "{text}");
    assert!(lines.iter().any(|l| l.starts_with("sec-websocket-key: ")), "{text}");
    ws.send(Message::text("echo")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "echo");
}

#[tokio::test]
async fn query_string_does_not_change_the_path() {
    let server = TestServer::start(Mode::Echo);
    let mut ws = connect(&server.url_for("/hello?x=1")).await;
    assert_eq!(next_text(&mut ws).await, "hello");
}

#[tokio::test]
async fn dropping_the_server_stops_it_promptly() {
    let server = TestServer::start(Mode::Echo);
    let addr = server.addr();
    let mut ws = connect(&server.url()).await;

    let started = Instant::now();
    tokio::task::spawn_blocking(move || drop(server)).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2), "drop took {:?}", started.elapsed());

    // The open connection is gone and nothing listens any more.
    match next(&mut ws).await {
        None | Some(Err(_)) => {}
        Some(Ok(message)) => panic!("expected the connection to end, got {message:?}"),
    }
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn serve_runs_on_the_callers_runtime() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(wsnative_testserver::serve(listener, Mode::Echo, None));
    let mut ws = connect(&format!("ws://{addr}/hello")).await;
    assert_eq!(next_text(&mut ws).await, "hello");
    server.abort();
    let _ = server.await;
    // Aborting serve also ends its connections.
    match next(&mut ws).await {
        None | Some(Err(_)) => {}
        Some(Ok(message)) => panic!("expected the connection to end, got {message:?}"),
    }
}

#[test]
fn test_server_works_from_plain_tests() {
    let server = TestServer::start(Mode::Echo);
    let url = server.url();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut ws = connect(&url).await;
        ws.send(Message::text("sync")).await.unwrap();
        assert_eq!(next_text(&mut ws).await, "sync");
    });
}
