//! Conversions of payloads between Python objects and the core.

use crate::errors;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString};
use std::borrow::Cow;
use wsnative_core::{Message, WebSocket};

/// From this size on, a `bytes` payload is copied into the send buffer with
/// the GIL released, so other Python threads run meanwhile.
const DETACH_MIN: usize = 64 * 1024;

fn send_bytes(py: Python<'_>, ws: &WebSocket, b: &Bound<'_, PyBytes>) -> Result<(), wsnative_core::Error> {
    let data = b.as_bytes();
    if data.len() < DETACH_MIN {
        return ws.send_binary(data);
    }
    // A `bytes` object is immutable and `b` keeps it alive, so its buffer
    // can be read without the GIL.
    py.detach(|| ws.send_binary(data))
}

/// `send(data)` with Python's argument types: `str` is sent as text, any
/// bytes-like object (`bytes`, `bytearray`, `memoryview`, ...) as binary.
pub(crate) fn send(py: Python<'_>, ws: &WebSocket, data: &Bound<'_, PyAny>) -> PyResult<()> {
    let result = if let Ok(s) = data.cast::<PyString>() {
        ws.send_text(&utf8(py, s, "InvalidUtf8Error", "the text")?)
    } else if let Ok(b) = data.cast::<PyBytes>() {
        send_bytes(py, ws, b)
    } else if let Ok(b) = data.cast::<PyByteArray>() {
        // SAFETY: the GIL is held and no Python code runs while the bytes
        // are copied, so nothing can resize or change the bytearray.
        ws.send_binary(unsafe { b.as_bytes() })
    } else {
        // Any other object of the buffer protocol (memoryview, array, ...).
        let view = pyo3::types::PyMemoryView::from(data).map_err(|_| {
            let name = data.get_type().name().map(|n| n.to_string()).unwrap_or_default();
            PyTypeError::new_err(format!("send() takes str or a bytes-like object, not {name}"))
        })?;
        let copied = py.get_type::<PyBytes>().call1((view,))?;
        send_bytes(py, ws, copied.cast::<PyBytes>()?)
    };
    result.map_err(|e| errors::to_py(py, &e))
}

/// The UTF-8 text of a `str` argument. A `str` holding a lone surrogate
/// has none: it raises `error` (the name of a class of `wsnative._errors`),
/// saying which argument (`what`), with the UnicodeEncodeError as cause.
pub(crate) fn utf8<'a>(
    py: Python<'_>,
    s: &'a Bound<'_, PyString>,
    error: &str,
    what: &str,
) -> PyResult<Cow<'a, str>> {
    s.to_cow().map_err(|e| {
        let err = errors::new_error(
            py,
            error,
            (format!("{what} cannot be encoded as UTF-8 (it contains a lone surrogate)"),),
        );
        err.set_cause(py, Some(e));
        err
    })
}

/// The URL and protocols of a constructor. A lone surrogate is a
/// WebSocketSyntaxError: such a URL does not parse, such a protocol is no
/// HTTP token.
pub(crate) fn url_and_protocols(
    py: Python<'_>,
    url: &Bound<'_, PyString>,
    protocols: &[Bound<'_, PyString>],
) -> PyResult<(String, Vec<String>)> {
    let url = utf8(py, url, "WebSocketSyntaxError", "the URL")?.into_owned();
    let protocols = protocols
        .iter()
        .map(|p| utf8(py, p, "WebSocketSyntaxError", "a protocol").map(Cow::into_owned))
        .collect::<PyResult<_>>()?;
    Ok((url, protocols))
}

/// The `reason` of `close()`: sent as UTF-8 text, so a lone surrogate is an
/// InvalidUtf8Error, as for `send()`.
pub(crate) fn close_reason<'a>(
    py: Python<'_>,
    reason: Option<&'a Bound<'_, PyString>>,
) -> PyResult<Option<Cow<'a, str>>> {
    reason.map(|r| utf8(py, r, "InvalidUtf8Error", "the close reason")).transpose()
}

/// A received message as `str` (text) or `bytes` (binary).
pub(crate) fn message<'py>(py: Python<'py>, m: &Message) -> Bound<'py, PyAny> {
    match m.text() {
        Some(t) => PyString::new(py, t).into_any(),
        None => PyBytes::new(py, &m.data).into_any(),
    }
}
