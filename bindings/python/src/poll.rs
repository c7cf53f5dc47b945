//! `dispatch="poll"`: events wait in each socket's queue until the program
//! calls `ws.poll()` or `wsnative.poll()` on a thread of its choice. Each
//! call is bounded (`websocket::PollBudget`): it returns even while events
//! keep coming.

use crate::wait;
use crate::websocket::{Inner, PollBudget};
use pyo3::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Sockets in poll dispatch whose close event has not been dispatched yet,
/// oldest first; each stays here (and so alive) until then.
static SOCKETS: Mutex<Vec<Arc<Inner>>> = Mutex::new(Vec::new());

/// Where the next `wsnative.poll()` starts in `SOCKETS`: after a call that
/// ran out of budget, the socket it stopped at, so that busy sockets at the
/// front cannot starve the others.
static CURSOR: AtomicUsize = AtomicUsize::new(0);

/// Events added to any poll queue, to wake `wsnative.poll(timeout)`.
struct Arrivals {
    count: u64,
    /// Threads waiting in `wsnative.poll(timeout)`: only then does an
    /// arrival signal the condition variable.
    waiters: usize,
}

static ARRIVED: Mutex<Arrivals> = Mutex::new(Arrivals { count: 0, waiters: 0 });
static ARRIVAL: Condvar = Condvar::new();

fn sockets() -> MutexGuard<'static, Vec<Arc<Inner>>> {
    SOCKETS.lock().unwrap_or_else(|e| e.into_inner())
}

fn arrivals() -> MutexGuard<'static, Arrivals> {
    ARRIVED.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn register(inner: Arc<Inner>) {
    sockets().push(inner);
}

/// The close event of `inner` has been dispatched (by whichever poll): the
/// registry lets go of it. The handlers then live only as long as the
/// program keeps the socket.
pub(crate) fn unregister(inner: &Inner) {
    let removed = {
        let mut all = sockets();
        all.iter().position(|s| std::ptr::eq(Arc::as_ptr(s), inner)).map(|i| all.remove(i))
    };
    // Dropped outside the lock: the handlers' finalizers may call poll().
    drop(removed);
}

/// Notify hook of every poll queue (runs on a runtime thread).
pub(crate) fn notify() {
    let mut a = arrivals();
    a.count += 1;
    if a.waiters > 0 {
        drop(a);
        ARRIVAL.notify_all();
    }
}

fn dispatch_all(py: Python<'_>) -> PyResult<usize> {
    let all: Vec<Arc<Inner>> = sockets().clone();
    if all.is_empty() {
        return Ok(0);
    }
    let first = CURSOR.load(Ordering::Relaxed) % all.len();
    let mut budget = PollBudget::new();
    let mut n = 0;
    let mut result = Ok(());
    for i in 0..all.len() {
        let at = (first + i) % all.len();
        match all[at].poll_pending(py, &mut budget) {
            Ok(k) => n += k,
            Err(e) => {
                result = Err(e);
                break;
            }
        }
        if budget.spent() {
            CURSOR.store(at, Ordering::Relaxed);
            break;
        }
    }
    // The last reference to a closed socket may go here, with the GIL held.
    drop(all);
    result.map(|()| n)
}

/// `wsnative.poll(timeout)`.
pub(crate) fn poll_all(py: Python<'_>, timeout: Option<Duration>) -> PyResult<usize> {
    let seen = arrivals().count;
    let n = dispatch_all(py)?;
    if n > 0 || timeout.is_none() {
        return Ok(n);
    }
    let woke = wait::wait_for(py, timeout, |slice| {
        let mut a = arrivals();
        a.waiters += 1;
        let (mut a, _) =
            ARRIVAL.wait_timeout_while(a, slice, |a| a.count == seen).unwrap_or_else(|e| e.into_inner());
        a.waiters -= 1;
        (a.count != seen).then_some(())
    })?;
    match woke {
        Some(()) => dispatch_all(py),
        None => Ok(0),
    }
}
