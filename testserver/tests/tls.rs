mod common;

use std::sync::Arc;

use common::*;
use futures_util::SinkExt;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use wsnative_testserver::{self_signed, Mode, TestServer};

fn connector(trusted_pem: Option<&str>) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    if let Some(pem) = trusted_pem {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
    }
    let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

async fn tls_connect(
    server: &TestServer,
    connector: &TlsConnector,
    name: &str,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = bounded("TCP connect", TcpStream::connect(server.addr())).await?;
    let name = ServerName::try_from(name.to_owned()).unwrap();
    bounded("TLS handshake", connector.connect(name, tcp)).await
}

async fn wss(
    server: &TestServer,
    connector: &TlsConnector,
    name: &str,
    path: &str,
) -> WebSocketStream<TlsStream<TcpStream>> {
    let tls = tls_connect(server, connector, name).await.expect("TLS handshake");
    handshake(request(&server.url_for(path)), tls).await.0
}

#[tokio::test]
async fn wss_echo_with_trusted_self_signed_certificate() {
    let (cert, key) = self_signed(&["localhost", "127.0.0.1"]);
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(key.contains("PRIVATE KEY"));
    let server = TestServer::start_tls(Mode::Echo, cert.as_bytes(), key.as_bytes());
    assert_eq!(server.url(), format!("wss://127.0.0.1:{}/", server.addr().port()));
    let connector = connector(Some(&cert));

    for name in ["localhost", "127.0.0.1"] {
        let mut ws = wss(&server, &connector, name, "/").await;
        ws.send(Message::text("secure")).await.unwrap();
        assert_eq!(next_text(&mut ws).await, "secure");
        ws.send(Message::binary(vec![0u8, 255, 1])).await.unwrap();
        assert_eq!(next_message(&mut ws).await, Message::binary(vec![0u8, 255, 1]));
        ws.close(None).await.unwrap();
        until_end(&mut ws).await;
    }

    let mut ws = wss(&server, &connector, "localhost", "/close/4003").await;
    match next_message(&mut ws).await {
        Message::Close(Some(frame)) => {
            assert_eq!(u16::from(frame.code), 4003);
            assert_eq!(frame.reason.as_str(), "bye");
        }
        other => panic!("expected close, got {other:?}"),
    }
    until_end(&mut ws).await;
}

#[tokio::test]
async fn wss_rejects_untrusted_or_wrong_name() {
    let (cert, key) = self_signed(&["localhost"]);
    let server = TestServer::start_tls(Mode::Echo, cert.as_bytes(), key.as_bytes());

    assert!(tls_connect(&server, &connector(None), "localhost").await.is_err());
    assert!(tls_connect(&server, &connector(Some(&cert)), "example.com").await.is_err());

    // The server keeps serving after failed handshakes.
    let mut ws = wss(&server, &connector(Some(&cert)), "localhost", "/hello").await;
    assert_eq!(next_text(&mut ws).await, "hello");
}

#[tokio::test]
async fn wss_chat() {
    let (cert, key) = self_signed(&["localhost"]);
    let server = TestServer::start_tls(Mode::Chat, cert.as_bytes(), key.as_bytes());
    let mut ws = wss(&server, &connector(Some(&cert)), "localhost", "/").await;
    let hello: serde_json::Value = serde_json::from_str(&next_text(&mut ws).await).unwrap();
    assert_eq!(hello["type"], "id");
}

#[test]
#[should_panic(expected = "TLS certificate and key")]
fn start_tls_rejects_garbage() {
    let _ = TestServer::start_tls(Mode::Echo, b"not a cert", b"not a key");
}
