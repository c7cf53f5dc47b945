//! TLS for `wss://`: a rustls acceptor from PEM files and self-signed test
//! certificates.

use std::io;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

fn invalid(what: &str, err: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {err}"))
}

/// Builds a TLS acceptor from a PEM certificate chain and a PEM private key
/// (PKCS#8, PKCS#1 or SEC1). Uses the ring provider explicitly, so it does not
/// depend on a process-wide default provider.
pub fn acceptor(cert_pem: &[u8], key_pem: &[u8]) -> io::Result<TlsAcceptor> {
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("certificate PEM", e))?;
    if certs.is_empty() {
        return Err(invalid("certificate PEM", "no certificate found"));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| invalid("private key PEM", e))?;
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid("TLS versions", e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid("certificate/key", e))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Makes a self-signed certificate valid for `hosts` (DNS names or IP
/// addresses, e.g. `["localhost", "127.0.0.1"]`). Returns
/// `(cert_pem, key_pem)`; a client trusts the certificate by adding it to its
/// root store as a custom CA.
/// Like [`self_signed`], but the certificate expired on 2020-01-01.
pub fn self_signed_expired(hosts: &[&str]) -> (String, String) {
    let names: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
    let mut params = rcgen::CertificateParams::new(names).expect("certificate parameters");
    params.not_before = rcgen::date_time_ymd(2019, 1, 1);
    params.not_after = rcgen::date_time_ymd(2020, 1, 1);
    let key = rcgen::KeyPair::generate().expect("a key pair");
    let cert = params.self_signed(&key).expect("a self-signed certificate");
    (cert.pem(), key.serialize_pem())
}

pub fn self_signed(hosts: &[&str]) -> (String, String) {
    let names: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
    let certified = rcgen::generate_simple_self_signed(names).expect("generate self-signed certificate");
    (certified.cert.pem(), certified.signing_key.serialize_pem())
}

/// A throwaway CA, a server certificate it signs for `hosts`, and two
/// revocation lists it signs: one naming that certificate, one naming
/// nothing (all PEM).
pub struct CaSigned {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub crl_revoking_pem: String,
    pub crl_empty_pem: String,
}

/// Makes a [`CaSigned`] for `hosts` (DNS names or IP addresses).
pub fn ca_signed_with_crls(hosts: &[&str]) -> CaSigned {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose, SerialNumber};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "wsnative test CA");
    let ca_key = KeyPair::generate().expect("a key pair");
    let ca_cert = ca_params.self_signed(&ca_key).expect("the CA certificate");
    let issuer = rcgen::Issuer::new(ca_params, &ca_key);
    let names: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
    let mut leaf = CertificateParams::new(names).expect("certificate parameters");
    let serial = SerialNumber::from(0x5eed_u64);
    leaf.serial_number = Some(serial.clone());
    let key = KeyPair::generate().expect("a key pair");
    let cert = leaf.signed_by(&key, &issuer).expect("a certificate signed by the CA");
    let crl = |revoked: Vec<rcgen::RevokedCertParams>, number: u64| {
        rcgen::CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2024, 1, 1),
            next_update: rcgen::date_time_ymd(2100, 1, 1),
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs: revoked,
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        }
        .signed_by(&issuer)
        .expect("a revocation list")
        .pem()
        .expect("PEM")
    };
    let revoked = rcgen::RevokedCertParams {
        serial_number: serial,
        revocation_time: rcgen::date_time_ymd(2024, 1, 1),
        reason_code: Some(rcgen::RevocationReason::KeyCompromise),
        invalidity_date: None,
    };
    CaSigned {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        crl_revoking_pem: crl(vec![revoked], 2),
        crl_empty_pem: crl(Vec::new(), 1),
    }
}
