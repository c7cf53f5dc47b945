//! The process-wide tokio runtime the library owns: started on first use,
//! stopped by [`shutdown`], which first closes every live socket.

use crate::connection::Command;
use crate::error::{Error, ErrorKind};
use std::collections::HashMap;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::mpsc::UnboundedSender;

enum State {
    NotStarted,
    Running(Runtime),
    /// A shutdown is in progress on some thread.
    ShuttingDown,
    ShutDown,
}

struct Registry {
    next_id: u64,
    live: HashMap<u64, UnboundedSender<Command>>,
}

static STATE: Mutex<State> = Mutex::new(State::NotStarted);
static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);
static ALL_DONE: Condvar = Condvar::new();
/// Signalled when a shutdown has finished (threads joined).
static SHUT_DOWN: Condvar = Condvar::new();

fn worker_threads() -> usize {
    std::env::var("WSNATIVE_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()).min(4))
}

/// The runtime's handle, starting the runtime on first use.
pub(crate) fn handle() -> Result<Handle, Error> {
    let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
    match &*state {
        State::Running(rt) => Ok(rt.handle().clone()),
        State::ShutDown | State::ShuttingDown => {
            Err(Error::new(ErrorKind::ShutDown, "the wsnative library has been shut down"))
        }
        State::NotStarted => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(worker_threads())
                .thread_name("wsnative-rt")
                .enable_all()
                .build()
                .map_err(|e| Error::new(ErrorKind::Internal, format!("cannot start the runtime: {e}")))?;
            let h = rt.handle().clone();
            *state = State::Running(rt);
            Ok(h)
        }
    }
}

/// Registers a live connection so that shutdown can close it. The returned
/// guard unregisters it when the connection task ends.
pub(crate) fn register(tx: UnboundedSender<Command>) -> RegistryGuard {
    let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    let reg = reg.get_or_insert_with(|| Registry { next_id: 0, live: HashMap::new() });
    reg.next_id += 1;
    reg.live.insert(reg.next_id, tx);
    RegistryGuard(reg.next_id)
}

pub(crate) struct RegistryGuard(u64);

impl Drop for RegistryGuard {
    fn drop(&mut self) {
        let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = reg.as_mut() {
            r.live.remove(&self.0);
            if r.live.is_empty() {
                ALL_DONE.notify_all();
            }
        }
    }
}

/// Number of connections whose task is still running.
pub fn live_connections() -> usize {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map_or(0, |r| r.live.len())
}

/// Closes every socket (each starts its closing handshake with 1001 and gets
/// its close event, at the latest when `timeout` runs out), then stops the
/// runtime and joins its threads. Afterwards every constructor fails with
/// `ShutDown`. Calling it again does nothing; a call made while another
/// thread's shutdown is in progress returns when that one has finished. Must
/// not be called from a library thread (an event handler): that returns
/// `WouldDeadlock`.
pub fn shutdown(timeout: Duration) -> Result<(), Error> {
    if Handle::try_current().is_ok() {
        return Err(Error::new(
            ErrorKind::WouldDeadlock,
            "shutdown cannot be called from a library thread or an async context",
        ));
    }
    let rt = {
        let mut state = STATE.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match std::mem::replace(&mut *state, State::ShuttingDown) {
                State::Running(rt) => break rt,
                State::NotStarted | State::ShutDown => {
                    *state = State::ShutDown;
                    return Ok(());
                }
                State::ShuttingDown => {
                    // Another thread is shutting down: wait until it is done.
                    state = SHUT_DOWN.wait(state).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    };
    let deadline = Instant::now() + timeout;
    let mut reg = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = reg.as_ref() {
        for tx in r.live.values() {
            let _ = tx.send(Command::Shutdown { deadline: timeout });
        }
    }
    while reg.as_ref().is_some_and(|r| !r.live.is_empty()) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        reg = ALL_DONE.wait_timeout(reg, left).unwrap_or_else(|e| e.into_inner()).0;
    }
    drop(reg);
    // Tasks still running are dropped here; their close event fires from
    // the drop (see `connection::Emitter`).
    rt.shutdown_timeout(Duration::from_secs(1));
    *STATE.lock().unwrap_or_else(|e| e.into_inner()) = State::ShutDown;
    SHUT_DOWN.notify_all();
    Ok(())
}
