//! Blocking with the GIL released, in slices, so that Ctrl-C (and any other
//! signal handler) runs promptly while a Python thread waits.

use pyo3::prelude::*;
use std::time::{Duration, Instant};

/// Longest time spent without checking for signals.
const SLICE: Duration = Duration::from_millis(50);

/// A timeout argument in seconds: `None` stays `None`; negative, NaN or
/// infinite values are refused.
pub(crate) fn timeout_arg(seconds: Option<f64>) -> PyResult<Option<Duration>> {
    match seconds {
        None => Ok(None),
        Some(s) => Duration::try_from_secs_f64(s)
            .map(Some)
            .map_err(|_| pyo3::exceptions::PyValueError::new_err(format!("invalid timeout: {s}"))),
    }
}

/// Calls `attempt(slice)` with the GIL released until it returns `Some`,
/// checking for signals between slices. `timeout`: `None` waits for ever.
/// Returns `None` when the time is up.
pub(crate) fn wait_for<T: Send>(
    py: Python<'_>,
    timeout: Option<Duration>,
    mut attempt: impl FnMut(Duration) -> Option<T> + Send,
) -> PyResult<Option<T>> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let slice = match deadline {
            None => SLICE,
            Some(d) => d.saturating_duration_since(Instant::now()).min(SLICE),
        };
        if let Some(v) = py.detach(|| attempt(slice)) {
            return Ok(Some(v));
        }
        py.check_signals()?;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(None);
        }
    }
}
