//! Conversions of payloads between Python objects and the core.

use crate::errors;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString};
use wsnative_core::{Bytes, Message, WebSocket};

/// From this size on, a `bytes` payload is handed to the core without a
/// copy (the core keeps a reference to the Python object until written).
const ZERO_COPY_MIN: usize = 64 * 1024;

/// Keeps an immutable `bytes` object alive while the core sends it.
struct PyBytesOwner {
    _object: Py<PyBytes>,
    data: &'static [u8],
}

impl AsRef<[u8]> for PyBytesOwner {
    fn as_ref(&self) -> &[u8] {
        self.data
    }
}

fn bytes_payload(b: &Bound<'_, PyBytes>) -> Bytes {
    let data = b.as_bytes();
    if data.len() < ZERO_COPY_MIN {
        return Bytes::copy_from_slice(data);
    }
    // SAFETY: a `bytes` object is immutable and its buffer does not move;
    // the owner keeps the object (and so the buffer) alive for as long as
    // the slice is used. Dropping the owner on a runtime thread only defers
    // the decref (PyO3's reference pool); it never takes the GIL.
    let slice: &'static [u8] = unsafe { std::slice::from_raw_parts(data.as_ptr(), data.len()) };
    Bytes::from_owner(PyBytesOwner { _object: b.clone().unbind(), data: slice })
}

/// `send(data)` with Python's argument types: `str` is sent as text, any
/// bytes-like object (`bytes`, `bytearray`, `memoryview`, ...) as binary.
pub(crate) fn send(py: Python<'_>, ws: &WebSocket, data: &Bound<'_, PyAny>) -> PyResult<()> {
    let result = if let Ok(s) = data.cast::<PyString>() {
        match s.to_cow() {
            Ok(text) => ws.send_text(&text),
            Err(e) => {
                let err = errors::new_error(
                    py,
                    "InvalidUtf8Error",
                    ("the text cannot be encoded as UTF-8 (it contains a lone surrogate)",),
                );
                err.set_cause(py, Some(e));
                return Err(err);
            }
        }
    } else if let Ok(b) = data.cast::<PyBytes>() {
        ws.send_binary(bytes_payload(b))
    } else if let Ok(b) = data.cast::<PyByteArray>() {
        ws.send_binary(b.to_vec())
    } else {
        // Any other object of the buffer protocol (memoryview, array, ...).
        let view = pyo3::types::PyMemoryView::from(data).map_err(|_| {
            let name = data.get_type().name().map(|n| n.to_string()).unwrap_or_default();
            PyTypeError::new_err(format!("send() takes str or a bytes-like object, not {name}"))
        })?;
        let copied = py.get_type::<PyBytes>().call1((view,))?;
        ws.send_binary(bytes_payload(copied.cast::<PyBytes>()?))
    };
    result.map_err(|e| errors::to_py(py, &e))
}

/// A received message as `str` (text) or `bytes` (binary).
pub(crate) fn message<'py>(py: Python<'py>, m: &Message) -> Bound<'py, PyAny> {
    match m.text() {
        Some(t) => PyString::new(py, t).into_any(),
        None => PyBytes::new(py, &m.data).into_any(),
    }
}
