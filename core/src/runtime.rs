//! The process-wide tokio runtime the library owns: started on first use,
//! stopped by [`shutdown`], which first closes every live socket.
//!
//! # fork()
//!
//! A child process made by `fork()` has only the thread that forked: the
//! runtime's threads are not there. The library notices (a `pthread_atfork`
//! handler counts the forks, see [`fork_generation`]) and, in the child,
//! forgets the parent's runtime and connections without touching them (not
//! even to drop them: that would wait for threads that do not exist, or take
//! locks a vanished thread held). The child's first new socket starts a
//! fresh runtime; [`shutdown`] in the child only concerns the child's own
//! sockets. Sockets inherited from the parent are dead in the child: the
//! bindings refuse to use them (their connection stays the parent's; the
//! child never writes to it). The registry and runtime locks are taken
//! before the fork and released on both sides after, so the child never
//! inherits them locked.

use crate::connection::Command;
use crate::error::{Error, ErrorKind};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, Once, PoisonError};
use std::time::{Duration, Instant};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::mpsc::UnboundedSender;

enum State {
    NotStarted,
    /// Started in the process of this fork generation.
    Running {
        rt: Runtime,
        generation: u64,
    },
    /// A shutdown is in progress on some thread (of this fork generation).
    ShuttingDown {
        generation: u64,
    },
    ShutDown,
}

struct Library {
    state: State,
    /// Runtimes inherited from parent processes: never used nor dropped.
    inherited: Vec<Runtime>,
}

type Live = HashMap<u64, UnboundedSender<Command>>;

struct Registry {
    next_id: u64,
    live: Live,
    /// Connections of parent processes: never used nor dropped.
    inherited: Vec<Live>,
}

static LIBRARY: Mutex<Library> = Mutex::new(Library { state: State::NotStarted, inherited: Vec::new() });
static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);
static ALL_DONE: Condvar = Condvar::new();
/// Signalled when a shutdown has finished (threads joined).
static SHUT_DOWN: Condvar = Condvar::new();
/// How many forks separate this process from the one that loaded the library
/// (incremented in the child by the `pthread_atfork` handler).
static FORKS: AtomicU64 = AtomicU64::new(0);
static FORK_HANDLERS: Once = Once::new();

fn lock<T>(m: &'static Mutex<T>) -> MutexGuard<'static, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How many `fork()`s separate this process from the one in which the
/// library's runtime first started: 0 there, 1 in its children, and so on.
/// A socket created when the value was smaller was inherited through
/// `fork()` and is dead in this process. Cheap (one atomic load).
pub fn fork_generation() -> u64 {
    FORKS.load(Ordering::Acquire)
}

fn worker_threads() -> usize {
    std::env::var("WSNATIVE_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()).min(4))
}

/// In a process forked after the runtime started: sets the parent's runtime
/// and connections aside, untouched, so that the next use starts afresh.
fn adopt_fork(lib: &mut Library) {
    let now = fork_generation();
    let inherited = match lib.state {
        State::Running { generation, .. } | State::ShuttingDown { generation } => generation != now,
        State::NotStarted | State::ShutDown => false,
    };
    if !inherited {
        return;
    }
    match std::mem::replace(&mut lib.state, State::NotStarted) {
        State::Running { rt, .. } => lib.inherited.push(rt),
        // The parent was shutting down when it forked: so is the child.
        _ => lib.state = State::ShutDown,
    }
    if let Some(reg) = lock(&REGISTRY).as_mut() {
        let live = std::mem::take(&mut reg.live);
        if !live.is_empty() {
            reg.inherited.push(live);
        }
    }
}

/// The runtime's handle, starting the runtime on first use (and in a child
/// process after `fork()`, see the module documentation).
pub(crate) fn handle() -> Result<Handle, Error> {
    // Registered before taking the lock its handlers take.
    FORK_HANDLERS.call_once(register_fork_handlers);
    let mut lib = lock(&LIBRARY);
    adopt_fork(&mut lib);
    match &lib.state {
        State::Running { rt, .. } => Ok(rt.handle().clone()),
        State::ShutDown | State::ShuttingDown { .. } => {
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
            lib.state = State::Running { rt, generation: fork_generation() };
            Ok(h)
        }
    }
}

/// Registers a live connection so that shutdown can close it. The returned
/// guard unregisters it when the connection task ends.
pub(crate) fn register(tx: UnboundedSender<Command>) -> RegistryGuard {
    let mut reg = lock(&REGISTRY);
    let reg = reg.get_or_insert_with(|| Registry { next_id: 0, live: HashMap::new(), inherited: Vec::new() });
    reg.next_id += 1;
    reg.live.insert(reg.next_id, tx);
    RegistryGuard(reg.next_id)
}

pub(crate) struct RegistryGuard(u64);

impl Drop for RegistryGuard {
    fn drop(&mut self) {
        let mut reg = lock(&REGISTRY);
        if let Some(r) = reg.as_mut() {
            r.live.remove(&self.0);
            if r.live.is_empty() {
                ALL_DONE.notify_all();
            }
        }
    }
}

/// Number of connections whose task is still running (in this process).
pub fn live_connections() -> usize {
    adopt_fork(&mut lock(&LIBRARY));
    lock(&REGISTRY).as_ref().map_or(0, |r| r.live.len())
}

/// Closes every socket (each starts its closing handshake with 1001 and gets
/// its close event, at the latest when `timeout` runs out), then stops the
/// runtime and joins its threads. Afterwards every constructor fails with
/// `ShutDown`. Calling it again does nothing; a call made while another
/// thread's shutdown is in progress returns when that one has finished. Must
/// not be called from a library thread (an event handler): that returns
/// `WouldDeadlock`. In a child process after `fork()` it concerns only the
/// child's own sockets.
pub fn shutdown(timeout: Duration) -> Result<(), Error> {
    if Handle::try_current().is_ok() {
        return Err(Error::new(
            ErrorKind::WouldDeadlock,
            "shutdown cannot be called from a library thread or an async context",
        ));
    }
    let rt = {
        let mut lib = lock(&LIBRARY);
        loop {
            adopt_fork(&mut lib);
            let generation = fork_generation();
            match std::mem::replace(&mut lib.state, State::ShuttingDown { generation }) {
                State::Running { rt, .. } => break rt,
                State::NotStarted | State::ShutDown => {
                    lib.state = State::ShutDown;
                    return Ok(());
                }
                s @ State::ShuttingDown { .. } => {
                    // Another thread is shutting down: wait until it is done.
                    lib.state = s;
                    lib = SHUT_DOWN.wait(lib).unwrap_or_else(PoisonError::into_inner);
                }
            }
        }
    };
    let deadline = Instant::now() + timeout;
    let mut reg = lock(&REGISTRY);
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
        reg = ALL_DONE.wait_timeout(reg, left).unwrap_or_else(PoisonError::into_inner).0;
    }
    drop(reg);
    // Tasks still running are dropped here; their close event fires from
    // the drop (see `connection::Emitter`).
    rt.shutdown_timeout(Duration::from_secs(1));
    lock(&LIBRARY).state = State::ShutDown;
    SHUT_DOWN.notify_all();
    Ok(())
}

/// The locks the forking thread holds across `fork()`.
type HeldForFork = (MutexGuard<'static, Library>, MutexGuard<'static, Option<Registry>>);

thread_local! {
    static HELD_FOR_FORK: RefCell<Option<HeldForFork>> = const { RefCell::new(None) };
}

extern "C" fn before_fork() {
    let held = (lock(&LIBRARY), lock(&REGISTRY));
    let _ = HELD_FOR_FORK.try_with(|h| *h.borrow_mut() = Some(held));
}

extern "C" fn after_fork_in_parent() {
    let _ = HELD_FOR_FORK.try_with(|h| drop(h.borrow_mut().take()));
}

extern "C" fn after_fork_in_child() {
    FORKS.fetch_add(1, Ordering::AcqRel);
    let _ = HELD_FOR_FORK.try_with(|h| drop(h.borrow_mut().take()));
}

#[cfg(unix)]
extern "C" {
    fn pthread_atfork(
        prepare: Option<extern "C" fn()>,
        parent: Option<extern "C" fn()>,
        child: Option<extern "C" fn()>,
    ) -> std::ffi::c_int;
}

fn register_fork_handlers() {
    // SAFETY: plain functions of this library. glibc ties the registration
    // to the calling library (its __dso_handle) and drops it when a shared
    // library is unloaded.
    #[cfg(unix)]
    unsafe {
        pthread_atfork(Some(before_fork), Some(after_fork_in_parent), Some(after_fork_in_child));
    }
}
