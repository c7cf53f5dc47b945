//! Core errors to the exceptions of `wsnative._errors` (defined in Python so
//! that they can carry documentation and multiple bases).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;
use wsnative_core::{Error, ErrorKind};

fn errors_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    MODULE.get_or_try_init(py, || Ok::<_, PyErr>(py.import("wsnative._errors")?.unbind())).map(|m| m.bind(py))
}

/// Builds the exception `name` of `wsnative._errors` with `args`.
pub(crate) fn new_error<'py, A>(py: Python<'py>, name: &str, args: A) -> PyErr
where
    A: pyo3::call::PyCallArgs<'py>,
{
    let made = errors_module(py).and_then(|m| m.getattr(name)).and_then(|cls| cls.call1(args));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// The Python exception for a core error.
pub(crate) fn to_py(py: Python<'_>, e: &Error) -> PyErr {
    let name = match e.kind() {
        ErrorKind::Syntax => "WebSocketSyntaxError",
        ErrorKind::InvalidState => "InvalidStateError",
        ErrorKind::InvalidAccess => "InvalidAccessError",
        ErrorKind::InvalidUtf8 => "InvalidUtf8Error",
        ErrorKind::InvalidOption => "InvalidOptionError",
        ErrorKind::ShutDown => "ShutDownError",
        ErrorKind::WouldDeadlock => "WouldDeadlockError",
        _ => "InternalError",
    };
    new_error(py, name, (e.message(),))
}

/// `InvalidStateError(message)`.
pub(crate) fn invalid_state(py: Python<'_>, message: &str) -> PyErr {
    new_error(py, "InvalidStateError", (message,))
}

/// `InvalidOptionError(message)`.
pub(crate) fn invalid_option(py: Python<'_>, message: &str) -> PyErr {
    new_error(py, "InvalidOptionError", (message,))
}
