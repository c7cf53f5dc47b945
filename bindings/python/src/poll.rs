//! `dispatch="poll"`: events wait in each socket's queue until the program
//! calls `ws.poll()` or `wsnative.poll()` on a thread of its choice.

use crate::wait;
use crate::websocket::Inner;
use pyo3::prelude::*;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Live sockets in poll dispatch, oldest first; each stays here (and so
/// alive) until its close event has been dispatched.
static SOCKETS: Mutex<Vec<Arc<Inner>>> = Mutex::new(Vec::new());

/// Counts events added to any poll queue, to wake `wsnative.poll(timeout)`.
static ARRIVED: Mutex<u64> = Mutex::new(0);
static ARRIVAL: Condvar = Condvar::new();

pub(crate) fn register(inner: Arc<Inner>) {
    SOCKETS.lock().unwrap_or_else(|e| e.into_inner()).push(inner);
}

/// Notify hook of every poll queue (runs on a runtime thread).
pub(crate) fn notify() {
    *ARRIVED.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    ARRIVAL.notify_all();
}

fn arrived() -> u64 {
    *ARRIVED.lock().unwrap_or_else(|e| e.into_inner())
}

fn dispatch_all(py: Python<'_>) -> PyResult<usize> {
    let sockets: Vec<Arc<Inner>> = SOCKETS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut n = 0;
    let mut result = Ok(());
    for s in &sockets {
        match s.poll_pending(py) {
            Ok(k) => n += k,
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    SOCKETS.lock().unwrap_or_else(|e| e.into_inner()).retain(|s| !s.is_finished());
    drop(sockets);
    result.map(|()| n)
}

/// `wsnative.poll(timeout)`.
pub(crate) fn poll_all(py: Python<'_>, timeout: Option<Duration>) -> PyResult<usize> {
    let seen = arrived();
    let n = dispatch_all(py)?;
    if n > 0 || timeout.is_none() {
        return Ok(n);
    }
    let woke = wait::wait_for(py, timeout, |slice| {
        let guard = ARRIVED.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) =
            ARRIVAL.wait_timeout_while(guard, slice, |n| *n == seen).unwrap_or_else(|e| e.into_inner());
        (*guard != seen).then_some(())
    })?;
    match woke {
        Some(()) => dispatch_all(py),
        None => Ok(0),
    }
}
