//! TLS client configuration (rustls): system roots plus the bundled webpki
//! roots, or the application's CA bundle; SNI and hostname verification are
//! rustls's defaults and are never turned off here.

use crate::error::{Error, ErrorKind};
use crate::options::CaBundle;
use crate::stream::MaybeTls;
use once_cell::sync::OnceCell;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn default_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // Unreadable system certificates are skipped: the bundled roots remain.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    roots
}

/// Accepts any certificate chain for any name, but still checks that the
/// server holds the key of the certificate it presents (the handshake
/// signatures). Only used with `Options::dangerously_accept_invalid_certificates`.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client configuration: the provider's safe protocol versions, the
/// verification step `verify` chooses, and ALPN http/1.1.
fn build(
    verify: impl FnOnce(
        rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>,
        Arc<rustls::crypto::CryptoProvider>,
    ) -> ClientConfig,
) -> Result<Arc<ClientConfig>, Error> {
    let p = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&p))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(ErrorKind::Internal, format!("TLS setup: {e}")))?;
    let mut config = verify(builder, p);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn build_with_roots(roots: RootCertStore) -> Result<Arc<ClientConfig>, Error> {
    build(|b, _| b.with_root_certificates(roots).with_no_client_auth())
}

fn build_accepting_anything() -> Result<Arc<ClientConfig>, Error> {
    build(|b, p| {
        b.dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(p)))
            .with_no_client_auth()
    })
}

/// Parses a PEM bundle into certificates; an error if it holds none.
pub fn parse_ca_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let bad = |m: String| Error::new(ErrorKind::InvalidOption, m);
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("the CA bundle is not valid PEM: {e:?}")))?;
    if certs.is_empty() {
        return Err(bad("the CA bundle contains no PEM certificate".into()));
    }
    Ok(certs)
}

/// The client configuration for a socket's options. The default one is
/// built once per process.
pub(crate) fn client_config(ca: Option<&CaBundle>, accept_invalid: bool) -> Result<Arc<ClientConfig>, Error> {
    static DEFAULT: OnceCell<Arc<ClientConfig>> = OnceCell::new();
    if accept_invalid {
        return build_accepting_anything();
    }
    let Some(ca) = ca else {
        return DEFAULT.get_or_try_init(|| build_with_roots(default_roots())).cloned();
    };
    let mut roots = if ca.exclusive { RootCertStore::empty() } else { default_roots() };
    for cert in parse_ca_pem(&ca.pem)? {
        roots.add(cert).map_err(|e| {
            Error::new(ErrorKind::InvalidOption, format!("a CA certificate is unusable: {e}"))
        })?;
    }
    build_with_roots(roots)
}

pub(crate) async fn wrap(tcp: TcpStream, host: &str, config: Arc<ClientConfig>) -> Result<MaybeTls, String> {
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| format!("TLS: invalid server name '{host}': {e}"))?;
    let tls = TlsConnector::from(config)
        .connect(name, crate::read_ahead::ReadAhead::new(tcp))
        .await
        .map_err(|e| format!("TLS handshake with {host} failed: {e}"))?;
    Ok(MaybeTls::Tls(Box::new(tls)))
}

/// The largest CA bundle accepted, from a file or from memory: 16 MiB (a
/// distribution's whole system bundle is about 200 KiB).
pub const MAX_CA_BUNDLE: u64 = 16 << 20;

/// Reads a CA bundle file: a regular file of at most [`MAX_CA_BUNDLE`]
/// bytes. Anything else (a directory, a device such as /dev/zero, a FIFO, a
/// socket) is refused without being read, so the call never blocks. The
/// message names the path.
pub fn read_ca_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let shown = path.display();
    let regular = |meta: &std::fs::Metadata| -> Result<(), String> {
        if meta.is_dir() {
            return Err(format!("the CA file '{shown}' is a directory"));
        }
        if !meta.is_file() {
            return Err(format!("the CA file '{shown}' is not a regular file (a device, FIFO or socket)"));
        }
        if meta.len() > MAX_CA_BUNDLE {
            return Err(format!("the CA file '{shown}' is larger than 16 MiB ({} bytes)", meta.len()));
        }
        Ok(())
    };
    let cannot = |e: std::io::Error| format!("cannot read the CA file '{shown}': {e}");
    regular(&std::fs::metadata(path).map_err(cannot)?)?;
    // Should the path be replaced after the check, opening still never waits
    // for a FIFO's writer nor adopts a terminal; the open file is checked
    // again.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(cannot)?;
    regular(&file.metadata().map_err(cannot)?)?;
    let mut pem = Vec::new();
    file.take(MAX_CA_BUNDLE + 1).read_to_end(&mut pem).map_err(cannot)?;
    if pem.len() as u64 > MAX_CA_BUNDLE {
        return Err(format!("the CA file '{shown}' is larger than 16 MiB"));
    }
    Ok(pem)
}
