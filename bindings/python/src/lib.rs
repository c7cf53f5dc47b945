//! `wsnative._native`: the Python extension over `wsnative-core`. Thin by
//! design: conversions between Python and the core, GIL handling, and the
//! one dispatcher thread that hands events to Python in batches. The public
//! API and its documentation live in the pure-Python package `wsnative`.

mod connection;
mod convert;
mod dispatcher;
mod errors;
mod events;
mod listeners;
mod options;
mod poll;
mod wait;
mod waker;
mod websocket;

use pyo3::prelude::*;
use std::time::Duration;

/// Runs every pending event handler of the sockets created with
/// `dispatch="poll"`, waiting up to `timeout` seconds for one when none is
/// pending (`None`: do not wait). Returns how many events were dispatched.
#[pyfunction(name = "poll")]
#[pyo3(signature = (timeout=None))]
fn poll_all(py: Python<'_>, timeout: Option<f64>) -> PyResult<usize> {
    poll::poll_all(py, wait::timeout_arg(timeout)?)
}

/// Stops the library: closes every socket (1001), waits at most `timeout`
/// seconds for their close events, then stops the dispatcher and the
/// runtime. Called at interpreter exit; afterwards constructors fail.
#[pyfunction]
#[pyo3(signature = (timeout=1.0))]
fn shutdown(py: Python<'_>, timeout: f64) -> PyResult<()> {
    let timeout = wait::timeout_arg(Some(timeout))?.unwrap_or_default();
    py.detach(|| wsnative_core::runtime::shutdown(timeout)).map_err(|e| errors::to_py(py, &e))?;
    dispatcher::stop(py, Duration::from_secs(1));
    Ok(())
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("VERSION", wsnative_core::VERSION)?;
    m.add_class::<websocket::Socket>()?;
    m.add_class::<connection::Connection>()?;
    m.add_class::<waker::Waker>()?;
    m.add_class::<events::OpenEvent>()?;
    m.add_class::<events::MessageEvent>()?;
    m.add_class::<events::ErrorEvent>()?;
    m.add_class::<events::CloseEvent>()?;
    m.add_function(wrap_pyfunction!(poll_all, m)?)?;
    m.add_function(wrap_pyfunction!(shutdown, m)?)?;
    Ok(())
}
