//! The event objects handed to Python handlers, named as in the browser.

use pyo3::prelude::*;

/// The socket is open.
#[pyclass(frozen, module = "wsnative._native")]
pub struct OpenEvent;

#[pymethods]
impl OpenEvent {
    #[getter(r#type)]
    fn event_type(&self) -> &'static str {
        "open"
    }

    fn __repr__(&self) -> &'static str {
        "OpenEvent()"
    }
}

/// A message: `data` is `str` for text, `bytes` for binary.
#[pyclass(frozen, module = "wsnative._native")]
pub struct MessageEvent {
    #[pyo3(get)]
    data: Py<PyAny>,
}

impl MessageEvent {
    pub(crate) fn new(data: Py<PyAny>) -> Self {
        MessageEvent { data }
    }
}

#[pymethods]
impl MessageEvent {
    #[getter(r#type)]
    fn event_type(&self) -> &'static str {
        "message"
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("MessageEvent(data={})", self.data.bind(py).repr()?))
    }
}

/// The connection was failed; `message` says why, `code` as a stable name;
/// for a refused handshake, `status` and `headers` are the server's answer.
#[pyclass(frozen, module = "wsnative._native")]
pub struct ErrorEvent {
    #[pyo3(get)]
    message: String,
    #[pyo3(get)]
    code: &'static str,
    #[pyo3(get)]
    status: Option<u16>,
    #[pyo3(get)]
    headers: Option<Vec<(String, String)>>,
}

impl ErrorEvent {
    pub(crate) fn new(
        message: String,
        code: wsnative_core::ErrorCode,
        response: Option<&wsnative_core::HttpResponse>,
    ) -> Self {
        ErrorEvent {
            message,
            code: code.name(),
            status: response.map(|r| r.status),
            headers: response.map(|r| r.headers.clone()),
        }
    }
}

#[pymethods]
impl ErrorEvent {
    #[getter(r#type)]
    fn event_type(&self) -> &'static str {
        "error"
    }

    fn __repr__(&self) -> String {
        format!("ErrorEvent(code={:?}, message={:?})", self.code, self.message)
    }
}

/// The socket is closed: always the last event of a socket.
#[pyclass(frozen, module = "wsnative._native")]
pub struct CloseEvent {
    #[pyo3(get)]
    code: u16,
    #[pyo3(get)]
    reason: String,
    #[pyo3(get)]
    was_clean: bool,
}

impl CloseEvent {
    pub(crate) fn new(code: u16, reason: String, was_clean: bool) -> Self {
        CloseEvent { code, reason, was_clean }
    }
}

#[pymethods]
impl CloseEvent {
    #[getter(r#type)]
    fn event_type(&self) -> &'static str {
        "close"
    }

    fn __repr__(&self) -> String {
        format!("CloseEvent(code={}, reason={:?}, was_clean={})", self.code, self.reason, self.was_clean)
    }
}
