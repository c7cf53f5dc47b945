//! TLS client configuration (rustls): the operating system's verifier
//! (rustls-platform-verifier) with the application's extra CA anchors, or
//! the application's CA bundle alone; a client certificate when given. SNI
//! and hostname verification are rustls's defaults and are never turned off
//! here. Each distinct configuration is built once, off the caller's
//! thread, and shared (with its session cache).

use crate::cause::{ErrorCode, Failure};
use crate::error::{Error, ErrorKind};
use crate::options::Options;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{timeout_at, Instant};
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The bundled webpki roots: trusted when the operating system has none.
fn bundled_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
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

/// What a client configuration depends on: one configuration is built
/// per distinct value, and shared.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TrustKey {
    ca: Option<(Vec<u8>, bool)>,
    crl: Option<Vec<u8>>,
    accept_invalid: bool,
    client_cert: Option<(Vec<u8>, Vec<u8>)>,
}

/// One trust configuration, built at most once (on tokio's blocking pool:
/// the system roots are read from disk), then shared by every connection
/// that uses it; sharing it shares its TLS session cache, so connections
/// resume sessions.
#[derive(Debug)]
struct Entry {
    key: TrustKey,
    config: tokio::sync::OnceCell<Arc<ClientConfig>>,
}

/// The trust configuration of a socket: a cheap handle to a shared entry.
#[derive(Debug, Clone)]
pub(crate) struct Trust(Arc<Entry>);

/// The most distinct trust configurations kept; beyond it, those no socket
/// uses are forgotten.
const MAX_CONFIGS: usize = 32;

/// The trust configuration for these options: found in the process-wide
/// cache, or checked (the PEM parsed, quickly) and added to it. Nothing is
/// built here, so this costs little on the caller's thread.
pub(crate) fn trust(options: &Options) -> Result<Trust, Error> {
    static CACHE: Mutex<Vec<Arc<Entry>>> = Mutex::new(Vec::new());
    let key = TrustKey {
        ca: options.ca.as_ref().map(|c| (c.pem.clone(), c.exclusive)),
        crl: options.ca_crl_pem.clone(),
        accept_invalid: options.dangerously_accept_invalid_certificates,
        client_cert: options.client_cert.as_ref().map(|c| (c.chain_pem.clone(), c.key_pem.clone())),
    };
    let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = cache.iter().find(|e| e.key == key) {
        return Ok(Trust(Arc::clone(e)));
    }
    if let Some((pem, _)) = &key.ca {
        parse_ca_pem(pem)?;
    }
    if let Some(crl) = &key.crl {
        if !matches!(key.ca, Some((_, true))) {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                "revocation lists need an exclusive CA bundle (the operating system's verifier takes none)",
            ));
        }
        parse_crl_pem(crl)?;
    }
    if let Some((chain, k)) = &key.client_cert {
        parse_client_cert(chain, k)?;
    }
    if cache.len() >= MAX_CONFIGS {
        cache.retain(|e| Arc::strong_count(e) > 1);
    }
    let entry = Arc::new(Entry { key, config: tokio::sync::OnceCell::new() });
    cache.push(Arc::clone(&entry));
    Ok(Trust(entry))
}

impl Trust {
    /// The client configuration, built on first use off the runtime's
    /// threads.
    pub(crate) async fn config(&self) -> Result<Arc<ClientConfig>, Failure> {
        match self.0.config.get() {
            Some(c) => Ok(Arc::clone(c)),
            // Boxed: connections that find it built carry none of this.
            None => Box::pin(self.build_once()).await,
        }
    }

    async fn build_once(&self) -> Result<Arc<ClientConfig>, Failure> {
        let entry = Arc::clone(&self.0);
        self.0
            .config
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || build(&entry.key))
                    .await
                    .map_err(|e| Failure::new(ErrorCode::Tls, format!("TLS setup: {e}")))?
                    .map_err(|e| Failure::new(ErrorCode::Tls, format!("TLS setup: {}", e.message())))
            })
            .await
            .cloned()
    }
}

/// Builds a client configuration: the provider's safe protocol versions,
/// the verifier the key asks for, the client certificate if any, ALPN
/// http/1.1 and rustls's in-memory session cache.
fn build(key: &TrustKey) -> Result<Arc<ClientConfig>, Error> {
    let setup = |e: rustls::Error| Error::new(ErrorKind::Internal, format!("TLS setup: {e}"));
    let p = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&p))
        .with_safe_default_protocol_versions()
        .map_err(setup)?;
    let verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> = if key.accept_invalid {
        Arc::new(AcceptAnyCertificate(Arc::clone(&p)))
    } else {
        match &key.ca {
            Some((pem, true)) => {
                let mut roots = RootCertStore::empty();
                for cert in parse_ca_pem(pem)? {
                    roots.add(cert).map_err(|e| {
                        Error::new(ErrorKind::InvalidOption, format!("a CA certificate is unusable: {e}"))
                    })?;
                }
                let crls = match &key.crl {
                    Some(pem) => parse_crl_pem(pem)?,
                    None => Vec::new(),
                };
                webpki_verifier_with_crls(roots, crls, &p)?
            }
            other => {
                let extra = match other {
                    Some((pem, _)) => parse_ca_pem(pem)?,
                    None => Vec::new(),
                };
                platform_verifier(extra, &p)?
            }
        }
    };
    let builder = builder.dangerous().with_custom_certificate_verifier(verifier);
    let mut config = match &key.client_cert {
        Some((chain, k)) => {
            let (chain, k) = parse_client_cert(chain, k)?;
            builder.with_client_auth_cert(chain, k).map_err(|e| {
                Error::new(ErrorKind::InvalidOption, format!("the client certificate is unusable: {e}"))
            })?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn webpki_verifier(
    roots: RootCertStore,
    p: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::client::danger::ServerCertVerifier>, Error> {
    webpki_verifier_with_crls(roots, Vec::new(), p)
}

/// rustls's webpki verifier; with CRLs, every certificate of the chain
/// whose issuer published one is checked against it (a certificate whose
/// issuer has none given is not refused for that).
fn webpki_verifier_with_crls(
    roots: RootCertStore,
    crls: Vec<CertificateRevocationListDer<'static>>,
    p: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::client::danger::ServerCertVerifier>, Error> {
    let mut b = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(p));
    if !crls.is_empty() {
        b = b.with_crls(crls).allow_unknown_revocation_status();
    }
    let v = b.build().map_err(|e| Error::new(ErrorKind::InvalidOption, format!("TLS setup: {e}")))?;
    Ok(v)
}

/// Parses PEM certificate revocation lists; an error if there are none.
pub fn parse_crl_pem(pem: &[u8]) -> Result<Vec<CertificateRevocationListDer<'static>>, Error> {
    parse_pem(pem, "the revocation lists", "contain no PEM X509 CRL")
}

/// Every PEM object of type `T` in `pem`; an error naming `what` if the PEM
/// is broken or holds none.
fn parse_pem<T: PemObject>(pem: &[u8], what: &str, none: &str) -> Result<Vec<T>, Error> {
    let bad = |m: String| Error::new(ErrorKind::InvalidOption, m);
    let all = T::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("{what} is not valid PEM: {e:?}")))?;
    if all.is_empty() {
        return Err(bad(format!("{what} {none}")));
    }
    Ok(all)
}

/// The operating system's verifier (rustls-platform-verifier: the system's
/// trust store), with `extra` anchors. Where the system has no roots at
/// all, the bundled webpki roots stand in for them.
fn platform_verifier(
    extra: Vec<CertificateDer<'static>>,
    p: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::client::danger::ServerCertVerifier>, Error> {
    match rustls_platform_verifier::Verifier::new_with_extra_roots(extra.clone(), Arc::clone(p)) {
        Ok(v) if !extra.is_empty() || has_system_roots() => Ok(Arc::new(v)),
        _ => {
            let mut roots = bundled_roots();
            roots.add_parsable_certificates(extra);
            webpki_verifier(roots, p)
        }
    }
}

fn has_system_roots() -> bool {
    !rustls_native_certs::load_native_certs().certs.is_empty()
}

/// Parses a PEM bundle into certificates; an error if it holds none.
pub fn parse_ca_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    parse_pem(pem, "the CA bundle", "contains no PEM certificate")
}

/// Parses a client certificate chain and its private key (PEM).
pub fn parse_client_cert(
    chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    let bad = |m: String| Error::new(ErrorKind::InvalidOption, m);
    let chain = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("the client certificate chain is not valid PEM: {e:?}")))?;
    if chain.is_empty() {
        return Err(bad("the client certificate chain contains no PEM certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| bad(format!("the client private key is not a PEM private key: {e:?}")))?;
    Ok((chain, key))
}

/// The TLS handshake with `host` over `io`, before `deadline`.
pub(crate) async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    host: &str,
    config: Arc<ClientConfig>,
    deadline: Instant,
) -> Result<TlsStream<S>, Failure> {
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| Failure::new(ErrorCode::Tls, format!("TLS: invalid server name '{host}': {e}")))?;
    match timeout_at(deadline, TlsConnector::from(config).connect(name, io)).await {
        Err(_) => {
            Err(Failure::new(ErrorCode::TimeoutTls, format!("the TLS handshake with {host} timed out")))
        }
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(e)) => Err(Failure::new(code_of(&e), format!("TLS handshake with {host} failed: {e}"))),
    }
}

/// Whether an I/O error comes from TLS (an alert, a bad record).
pub(crate) fn is_tls_error(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|i| i.is::<rustls::Error>())
}

/// The cause of a failed TLS handshake.
fn code_of(e: &std::io::Error) -> ErrorCode {
    use rustls::CertificateError as C;
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(c)) => match c {
            C::UnknownIssuer | C::BadSignature => ErrorCode::TlsCertUntrusted,
            C::Expired | C::NotValidYet | C::ExpiredContext { .. } | C::NotValidYetContext { .. } => {
                ErrorCode::TlsCertExpired
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => ErrorCode::TlsCertNameMismatch,
            C::Revoked => ErrorCode::TlsCertRevoked,
            _ => ErrorCode::TlsCertInvalid,
        },
        _ => ErrorCode::Tls,
    }
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
