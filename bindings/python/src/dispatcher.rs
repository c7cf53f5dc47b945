//! The dispatcher thread of `dispatch="thread"` sockets. Runtime threads
//! only append events to one shared queue (and wake the dispatcher when it
//! sleeps); they never wait for the GIL. The dispatcher takes every waiting
//! event at once, then attaches to Python once for the whole batch and runs
//! the handlers in order.
//!
//! Memory stays bounded: the core charges each event to its socket's budget
//! (`WebSocket::connect_with_flow`) before it gets here, and the dispatcher
//! gives the cost back once the event's handlers have run; a socket whose
//! budget is spent stops reading from the network until then.

use crate::websocket::Inner;
use pyo3::prelude::*;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wsnative_core::dispatch::SPINS;
use wsnative_core::{Event, EventHandler};

#[derive(Default)]
struct Queue {
    events: Vec<(Arc<Inner>, Event)>,
    /// The dispatcher waits on the condition variable.
    sleeping: bool,
    stopping: bool,
    /// The dispatcher thread has ended.
    stopped: bool,
    thread: Option<JoinHandle<()>>,
    /// The process that started the thread: a child forked later has no
    /// such thread and starts its own.
    pid: u32,
}

static QUEUE: Mutex<Option<Queue>> = Mutex::new(None);
static WAKE: Condvar = Condvar::new();
static STOPPED: Condvar = Condvar::new();

fn lock() -> MutexGuard<'static, Option<Queue>> {
    QUEUE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The core handler of a socket in thread dispatch. Starts the dispatcher
/// thread on first use.
pub(crate) fn handler(inner: Arc<Inner>) -> EventHandler {
    {
        let mut q = lock();
        if q.as_ref().is_some_and(|q| q.thread.is_some() && q.pid != std::process::id()) {
            // Forked: the parent's dispatcher thread and its events do not
            // exist here. Forget them without touching them (they belong
            // to the parent's sockets).
            std::mem::forget(q.take());
        }
        let q = q.get_or_insert_with(Queue::default);
        if q.thread.is_none() && !q.stopping {
            q.thread = std::thread::Builder::new().name("wsnative-dispatch".into()).spawn(run).ok();
            q.pid = std::process::id();
        }
    }
    Box::new(move |ev| push(Arc::clone(&inner), ev))
}

fn push(inner: Arc<Inner>, ev: Event) {
    let mut guard = lock();
    let Some(q) = guard.as_mut().filter(|q| !q.stopping) else {
        drop(guard);
        inner.release(&ev);
        return;
    };
    q.events.push((inner, ev));
    if q.sleeping {
        q.sleeping = false;
        WAKE.notify_one();
    }
}

fn run() {
    let mut batch = Vec::new();
    loop {
        {
            let mut guard = lock();
            let mut spins = 0;
            loop {
                let Some(q) = guard.as_mut() else { return };
                if q.stopping {
                    q.stopped = true;
                    STOPPED.notify_all();
                    // Events still queued are dropped with the queue later,
                    // under the GIL if the interpreter still runs.
                    return;
                }
                if !q.events.is_empty() {
                    std::mem::swap(&mut q.events, &mut batch);
                    break;
                }
                if spins < SPINS {
                    // Let the runtime threads add more before sleeping.
                    spins += 1;
                    drop(guard);
                    std::thread::yield_now();
                    guard = lock();
                    continue;
                }
                q.sleeping = true;
                guard = WAKE.wait(guard).unwrap_or_else(|e| e.into_inner());
            }
        }
        // The batch was taken before asking for the GIL: events that arrive
        // while we wait for it go to the next batch.
        let ran = Python::try_attach(|py| {
            for (inner, ev) in batch.drain(..) {
                inner.dispatch_from_thread(py, ev);
            }
        });
        if ran.is_none() {
            // The interpreter is finalizing: never touch Python again.
            batch.clear();
            let mut guard = lock();
            if let Some(q) = guard.as_mut() {
                q.stopped = true;
                STOPPED.notify_all();
            }
            return;
        }
    }
}

/// Stops the dispatcher thread (at interpreter exit), waiting at most
/// `timeout` for a running handler to return. Events not yet dispatched are
/// dropped. Later sockets in thread dispatch get no events.
pub(crate) fn stop(py: Python<'_>, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    // Let the dispatcher run what is already queued (the close events of
    // the sockets that shutdown just closed), within the time allowed.
    py.detach(|| {
        while Instant::now() < deadline {
            let idle =
                lock().as_ref().is_none_or(|q| q.thread.is_none() || (q.events.is_empty() && q.sleeping));
            if idle {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let thread = {
        let mut guard = lock();
        let q = guard.get_or_insert_with(Queue::default);
        q.stopping = true;
        WAKE.notify_all();
        q.thread.take()
    };
    let Some(thread) = thread else { return };
    let finished = py.detach(|| {
        let mut guard = lock();
        while !guard.as_ref().is_some_and(|q| q.stopped) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = STOPPED.wait_timeout(guard, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    });
    if finished {
        let _ = py.detach(|| thread.join());
    }
    let leftover = lock().as_mut().map(|q| std::mem::take(&mut q.events));
    drop(leftover);
}
