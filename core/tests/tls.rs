//! wss:// through rustls: custom CA, hostname verification, and failures
//! reported as error then close 1006 with a readable cause.

mod support;

use support::*;
use wsnative_core::{CaBundle, ErrorCode, Event, Options};
use wsnative_testserver::{ca_signed_with_crls, self_signed, self_signed_expired, Mode, TestServer};

fn trusting(cert_pem: &str) -> Options {
    Options {
        ca: Some(CaBundle { pem: cert_pem.as_bytes().to_vec(), exclusive: false }),
        ..Options::default()
    }
}

fn error_message(ev: &[Event]) -> String {
    error(ev).0
}

fn error(ev: &[Event]) -> (String, ErrorCode) {
    match &ev[0] {
        Event::Error { message, cause } => (message.clone(), cause.code),
        other => panic!("expected an error event first, got {other:?} in {ev:?}"),
    }
}

#[test]
fn wss_echo_with_a_trusted_custom_ca() {
    let (cert, key) = self_signed(&["localhost", "127.0.0.1"]);
    let srv = TestServer::start_tls(Mode::Echo, cert.as_bytes(), key.as_bytes());
    let url = format!("wss://localhost:{}/", srv.addr().port());
    let r = open(&url, &[], trusting(&cert));
    assert_eq!(r.next(), Event::Open);
    r.ws.send_text("over tls").unwrap();
    assert_eq!(r.next(), text("over tls"));
    r.ws.close(Some(1000), None).unwrap();
    assert_eq!(r.until_close(), vec![close(1000, "", true)]);
}

#[test]
fn https_scheme_becomes_wss_and_ip_hosts_verify_against_ip_sans() {
    let (cert, key) = self_signed(&["127.0.0.1"]);
    let srv = TestServer::start_tls(Mode::Echo, cert.as_bytes(), key.as_bytes());
    let r = open(&format!("https://127.0.0.1:{}/hello", srv.addr().port()), &[], trusting(&cert));
    assert!(r.ws.url().starts_with("wss://"));
    assert_eq!(r.next(), Event::Open);
    assert_eq!(r.next(), text("hello"));
}

#[test]
fn untrusted_certificate_is_refused_with_a_cause() {
    let (cert, key) = self_signed(&["localhost"]);
    let srv = TestServer::start_tls(Mode::Echo, cert.as_bytes(), key.as_bytes());
    let r = open(&format!("wss://localhost:{}/", srv.addr().port()), &[], Options::default());
    let ev = r.until_close();
    assert_eq!(ev.len(), 2);
    let msg = error_message(&ev);
    assert!(msg.contains("TLS") && msg.to_lowercase().contains("certificate"), "{msg}");
    assert_eq!(error(&ev).1, ErrorCode::TlsCertUntrusted);
    assert_eq!(ev[1], close(1006, "", false));
}

#[test]
fn wrong_hostname_is_refused_even_with_a_trusted_ca() {
    let (cert, key) = self_signed(&["example.test"]);
    let srv = TestServer::start_tls(Mode::Echo, cert.as_bytes(), key.as_bytes());
    let r = open(&format!("wss://localhost:{}/", srv.addr().port()), &[], trusting(&cert));
    let ev = r.until_close();
    let msg = error_message(&ev);
    assert!(msg.to_lowercase().contains("certificate"), "{msg}");
    assert_eq!(error(&ev).1, ErrorCode::TlsCertNameMismatch);
    assert_eq!(ev[1], close(1006, "", false));
}

#[test]
fn exclusive_ca_bundle_drops_other_roots() {
    // Trust only an unrelated CA: the server's own certificate is refused.
    let (cert, key) = self_signed(&["localhost"]);
    let (other, _) = self_signed(&["localhost"]);
    let srv = TestServer::start_tls(Mode::Echo, cert.as_bytes(), key.as_bytes());
    let opts =
        Options { ca: Some(CaBundle { pem: other.into_bytes(), exclusive: true }), ..Options::default() };
    let r = open(&format!("wss://localhost:{}/", srv.addr().port()), &[], opts);
    let ev = r.until_close();
    assert!(error_message(&ev).contains("TLS"));
    assert_eq!(error(&ev).1, ErrorCode::TlsCertUntrusted);
}

#[test]
fn a_plain_server_behind_wss_fails_cleanly() {
    let srv = TestServer::start(Mode::Echo);
    let r = open(&format!("wss://127.0.0.1:{}/", srv.addr().port()), &[], Options::default());
    let ev = r.until_close();
    assert!(error_message(&ev).contains("TLS"));
    assert_eq!(error(&ev).1, ErrorCode::Tls);
    assert_eq!(ev[1], close(1006, "", false));
}

#[test]
fn garbage_ca_bundle_is_rejected_synchronously() {
    let opts =
        Options { ca: Some(CaBundle { pem: b"not pem".to_vec(), exclusive: false }), ..Options::default() };
    let e = wsnative_core::WebSocket::connect("wss://localhost/", &[] as &[&str], opts, Box::new(|_| {}))
        .unwrap_err();
    assert_eq!(e.kind(), wsnative_core::ErrorKind::InvalidOption);
}

#[test]
fn expired_certificate_is_refused_even_when_its_ca_is_trusted() {
    let (cert, key) = self_signed_expired(&["localhost"]);
    let srv = TestServer::start_tls(Mode::Echo, cert.as_bytes(), key.as_bytes());
    let r = open(&format!("wss://localhost:{}/", srv.addr().port()), &[], trusting(&cert));
    let ev = r.until_close();
    let msg = error_message(&ev);
    assert!(msg.to_lowercase().contains("expired"), "{msg}");
    assert_eq!(error(&ev).1, ErrorCode::TlsCertExpired);
    assert_eq!(ev[1], close(1006, "", false));
}

#[test]
fn the_dangerous_option_accepts_untrusted_expired_and_wrong_host_certificates() {
    for (cert, key) in
        [self_signed(&["localhost"]), self_signed_expired(&["localhost"]), self_signed(&["other.test"])]
    {
        let srv = TestServer::start_tls(Mode::Echo, cert.as_bytes(), key.as_bytes());
        let opts = Options { dangerously_accept_invalid_certificates: true, ..Options::default() };
        let r = open(&format!("wss://localhost:{}/", srv.addr().port()), &[], opts);
        assert_eq!(r.next(), Event::Open);
        r.ws.send_text("still encrypted").unwrap();
        assert_eq!(r.next(), text("still encrypted"));
    }
}

#[test]
fn a_revoked_certificate_is_refused_with_its_own_code() {
    let pki = ca_signed_with_crls(&["127.0.0.1"]);
    let srv = TestServer::start_tls(Mode::Echo, pki.cert_pem.as_bytes(), pki.key_pem.as_bytes());
    let url = format!("wss://127.0.0.1:{}/", srv.addr().port());
    let with_crl = |crl: &str| Options {
        ca: Some(CaBundle { pem: pki.ca_pem.as_bytes().to_vec(), exclusive: true }),
        ca_crl_pem: Some(crl.as_bytes().to_vec()),
        ..Options::default()
    };
    let ev = open(&url, &[], with_crl(&pki.crl_revoking_pem)).until_close();
    assert_eq!(error(&ev).1, ErrorCode::TlsCertRevoked, "{}", error_message(&ev));
    assert_eq!(ev[1], close(1006, "", false));
    // A list of the same CA that does not name it: the server opens.
    let r = open(&url, &[], with_crl(&pki.crl_empty_pem));
    assert_eq!(r.next(), Event::Open);
    // The operating system's verifier takes no lists: refused at creation.
    let mut o = with_crl(&pki.crl_revoking_pem);
    o.ca.as_mut().unwrap().exclusive = false;
    let queue = wsnative_core::EventQueue::new();
    let e = wsnative_core::WebSocket::connect_queued::<&str>(&url, &[], o, &queue).unwrap_err();
    assert!(e.message().contains("exclusive"), "{}", e.message());
}
