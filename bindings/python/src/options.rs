//! Keyword options (`headers=...`, `connect_timeout=...`, ...) to the
//! core's `Options`, validated up front so that mistakes raise in the
//! constructor.

use crate::{convert, errors};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use std::time::Duration;
use wsnative_core::tls::{parse_client_cert, read_ca_file, MAX_CA_BUNDLE};
use wsnative_core::{CaBundle, ClientCert, DeflateOffer, Options, Proxy, ProxyUrl};

/// A PEM argument: str (UTF-8) or bytes, at most 16 MiB.
fn pem(py: Python<'_>, name: &str, v: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let pem: Vec<u8> = match v.cast::<PyString>() {
        Ok(s) => convert::utf8(py, s, "InvalidOptionError", name)?.as_bytes().to_vec(),
        Err(_) => {
            v.extract().map_err(|_| errors::invalid_option(py, &format!("{name} must be str or bytes")))?
        }
    };
    if pem.len() as u64 > MAX_CA_BUNDLE {
        return Err(errors::invalid_option(py, &format!("{name} is larger than 16 MiB")));
    }
    Ok(pem)
}

/// `proxy=`: a proxy URL, or "" / False for no proxy (None: the environment).
fn proxy(py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<Proxy> {
    if let Ok(s) = v.cast::<PyString>() {
        let url = convert::utf8(py, s, "InvalidOptionError", "proxy")?;
        if url.trim().is_empty() {
            return Ok(Proxy::Direct);
        }
        return ProxyUrl::parse(&url)
            .map(|p| Proxy::Url(std::sync::Arc::new(p)))
            .map_err(|e| errors::to_py(py, &e));
    }
    match v.extract::<bool>() {
        Ok(false) => Ok(Proxy::Direct),
        _ => Err(errors::invalid_option(
            py,
            "proxy must be a proxy URL (str), \"\" or False for none, or None",
        )),
    }
}

/// Default `max_queued_bytes` of a `WebSocket` with `dispatch="poll"`
/// (8 MiB): `poll()` runs at the program's own pace (a game loop's frame),
/// so the queue absorbs a pump interval of traffic (about 65 ms at
/// 1 Gbit/s, four frames at 60 Hz) before TCP pushes back.
pub(crate) const POLL_MAX_QUEUED: u64 = 8 << 20;
/// Default `max_queued_bytes` of a `WebSocket` with `dispatch="thread"`
/// (256 KiB): the dispatcher thread runs handlers as soon as events arrive,
/// so the queue only rides out a slow handler (the kernel's socket buffers
/// hold more). Measured on W2 (1,000,000 messages of 64 B, one core): as
/// fast as with 8 MiB (1.1-1.2 M msg/s) with a peak RSS 8.5 MB lower.
pub(crate) const THREAD_MAX_QUEUED: u64 = 256 << 10;
/// Default `max_queued_bytes` of `connect()` and `connect_async()`
/// (128 KiB): a `recv()` loop reads continuously and needs read-ahead only
/// to smooth out its own pauses (the kernel's socket buffers add their own,
/// several MiB on a fast link). Measured on W2 (1,000,000 messages of 64 B,
/// one core): 128 KiB receives as fast as 1 MiB did (3.2-3.6 M msg/s) with a
/// peak RSS 0.9 MB lower.
pub(crate) const CONNECTION_MAX_QUEUED: u64 = 128 << 10;

fn seconds(py: Python<'_>, name: &str, v: &Bound<'_, PyAny>) -> PyResult<Duration> {
    let s: f64 = v
        .extract()
        .map_err(|_| errors::invalid_option(py, &format!("{name} must be a number of seconds")))?;
    match Duration::try_from_secs_f64(s) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => {
            Err(errors::invalid_option(py, &format!("{name} must be a positive number of seconds, not {s}")))
        }
    }
}

fn headers(py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    let bad = || errors::invalid_option(py, "headers must be a dict or a list of (name, value) pairs of str");
    let pairs = match v.cast::<PyDict>() {
        Ok(d) => d.items().into_any(),
        Err(_) if v.is_instance_of::<PyString>() => return Err(bad()),
        Err(_) => v.clone(),
    };
    let mut out = Vec::new();
    for pair in pairs.try_iter().map_err(|_| bad())? {
        let (n, value): (Bound<'_, PyString>, Bound<'_, PyString>) = pair?.extract().map_err(|_| bad())?;
        let n = convert::utf8(py, &n, "InvalidOptionError", "a header name")?.into_owned();
        let what = format!("the value of header '{}'", n.escape_debug());
        let value = convert::utf8(py, &value, "InvalidOptionError", &what)?.into_owned();
        out.push((n, value));
    }
    Ok(out)
}

/// Builds the core options from the keyword arguments of a constructor;
/// `max_queued_bytes` defaults to `default_max_queued`.
pub(crate) fn from_dict(
    py: Python<'_>,
    kwargs: &Bound<'_, PyDict>,
    default_max_queued: u64,
) -> PyResult<Options> {
    let mut o = Options { max_queued_bytes: default_max_queued, ..Options::default() };
    let mut ca_pem: Option<Vec<u8>> = None;
    let mut ca_exclusive = false;
    let (mut cert, mut cert_key): (Option<Vec<u8>>, Option<Vec<u8>>) = (None, None);
    let mut compression = true;
    let (mut client_bits, mut server_bits, mut no_context) = (None, None, false);
    let window_bits = |key: &str, v: &Bound<'_, PyAny>| -> PyResult<Option<u8>> {
        let b: i64 = v
            .extract()
            .map_err(|_| errors::invalid_option(py, &format!("{key} must be an int from 8 to 15")))?;
        u8::try_from(b)
            .map(Some)
            .map_err(|_| errors::invalid_option(py, &format!("{key} must be from 8 to 15, not {b}")))
    };
    for (key, v) in kwargs.iter() {
        let key: String = key.extract()?;
        if v.is_none() {
            continue;
        }
        match key.as_str() {
            "headers" => o.headers = headers(py, &v)?,
            "connect_timeout" => o.connect_timeout = seconds(py, &key, &v)?,
            "close_timeout" => o.close_timeout = seconds(py, &key, &v)?,
            "max_message_size" => {
                o.max_message_size = v.extract().map_err(|_| {
                    errors::invalid_option(py, "max_message_size must be a positive int (bytes)")
                })?
            }
            "max_queued_bytes" => {
                o.max_queued_bytes = v.extract().map_err(|_| {
                    errors::invalid_option(py, "max_queued_bytes must be an int >= 0 (bytes; 0: no limit)")
                })?
            }
            "ca_pem" => {
                let pem: Vec<u8> = match v.cast::<PyString>() {
                    Ok(s) => convert::utf8(py, s, "InvalidOptionError", "ca_pem")?.as_bytes().to_vec(),
                    Err(_) => {
                        v.extract().map_err(|_| errors::invalid_option(py, "ca_pem must be str or bytes"))?
                    }
                };
                if pem.len() as u64 > MAX_CA_BUNDLE {
                    return Err(errors::invalid_option(py, "ca_pem is larger than 16 MiB"));
                }
                ca_pem.get_or_insert_with(Vec::new).extend(pem);
            }
            "ca_file" => {
                let path: std::path::PathBuf = v.extract()?;
                let pem = read_ca_file(&path).map_err(|m| errors::invalid_option(py, &m))?;
                let all = ca_pem.get_or_insert_with(Vec::new);
                all.extend(pem);
                all.push(b'\n');
            }
            "ca_exclusive" => ca_exclusive = v.is_truthy()?,
            "ca_crl" => {
                let crl = pem(py, &key, &v)?;
                wsnative_core::tls::parse_crl_pem(&crl).map_err(|e| errors::to_py(py, &e))?;
                o.ca_crl_pem = Some(crl);
            }
            "proxy" => o.proxy = proxy(py, &v)?,
            "client_cert" => cert = Some(pem(py, &key, &v)?),
            "client_key" => cert_key = Some(pem(py, &key, &v)?),
            "block_unsafe_ports" => o.block_unsafe_ports = v.is_truthy()?,
            "chromium_compat" => o.chromium_compat = v.is_truthy()?,
            "compression" => compression = v.is_truthy()?,
            "client_max_window_bits" => client_bits = window_bits(&key, &v)?,
            "server_max_window_bits" => server_bits = window_bits(&key, &v)?,
            "client_no_context_takeover" => no_context = v.is_truthy()?,
            "dangerously_accept_invalid_certificates" => {
                o.dangerously_accept_invalid_certificates = v.is_truthy()?
            }
            other => {
                return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                    "unexpected keyword argument '{other}'"
                )))
            }
        }
    }
    match (cert, cert_key) {
        (Some(chain_pem), Some(key_pem)) => {
            parse_client_cert(&chain_pem, &key_pem).map_err(|e| errors::to_py(py, &e))?;
            o.client_cert = Some(std::sync::Arc::new(ClientCert { chain_pem, key_pem }));
        }
        (None, None) => {}
        _ => return Err(errors::invalid_option(py, "client_cert and client_key go together")),
    }
    let offer = DeflateOffer::new(client_bits, server_bits, no_context).map_err(|e| errors::to_py(py, &e))?;
    o.permessage_deflate = compression.then_some(offer);
    if o.ca_crl_pem.is_some() && ca_pem.is_some() && !ca_exclusive {
        return Err(errors::invalid_option(
            py,
            "ca_crl needs ca_exclusive=True (the operating system's verifier takes no revocation lists)",
        ));
    }
    match ca_pem {
        Some(pem) => {
            wsnative_core::tls::parse_ca_pem(&pem).map_err(|e| errors::to_py(py, &e))?;
            o.ca = Some(CaBundle { pem, exclusive: ca_exclusive });
        }
        None if ca_exclusive || o.ca_crl_pem.is_some() => {
            if o.ca_crl_pem.is_some() {
                return Err(errors::invalid_option(
                    py,
                    "ca_crl needs ca_file or ca_pem with ca_exclusive=True",
                ));
            }
            return Err(errors::invalid_option(py, "ca_exclusive needs ca_file or ca_pem"));
        }
        None => {}
    }
    Ok(o)
}

/// `close(code)`: codes outside 0..=65535 cannot be valid either
/// (InvalidAccessError, as the browser would say for a clamped value).
pub(crate) fn close_code(py: Python<'_>, code: Option<i64>) -> PyResult<Option<u16>> {
    match code {
        None => Ok(None),
        Some(c) => u16::try_from(c).map(Some).map_err(|_| {
            errors::new_error(
                py,
                "InvalidAccessError",
                (format!("the close code must be 1000 or in 3000..=4999, not {c}"),),
            )
        }),
    }
}
