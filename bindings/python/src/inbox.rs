//! The event queue of a pulled socket (`connect()`, `connect_async()`).
//!
//! Like the core's `EventQueue`, but a producer only signals the condition
//! variable when the consumer sleeps on it, the consumer takes a whole batch
//! at once, and it yields the CPU a few times before sleeping: on a busy
//! machine that lets the runtime thread add more events first, so the
//! consumer wakes once per batch instead of once per message.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;
use wsnative_core::Event;

/// How many times a consumer yields before it sleeps.
pub(crate) const SPINS: usize = 32;

type Notify = Box<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct State {
    events: Vec<Event>,
    sleeping: bool,
}

#[derive(Default)]
pub(crate) struct Inbox {
    state: Mutex<State>,
    /// A hint for spinning consumers: events may be waiting.
    nonempty: AtomicBool,
    wake: Condvar,
    notify: Option<Notify>,
}

impl Inbox {
    /// An inbox; `notify` runs (on a runtime thread) after each event.
    pub(crate) fn new(notify: Option<Notify>) -> Inbox {
        Inbox { notify, ..Inbox::default() }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn push(&self, ev: Event) {
        let wake = {
            let mut s = self.lock();
            s.events.push(ev);
            self.nonempty.store(true, Ordering::Release);
            std::mem::take(&mut s.sleeping)
        };
        if wake {
            self.wake.notify_one();
        }
        if let Some(n) = &self.notify {
            n();
        }
    }

    /// Moves every waiting event to `out` (which must be empty).
    pub(crate) fn take(&self, out: &mut Vec<Event>) {
        let mut s = self.lock();
        std::mem::swap(&mut s.events, out);
        self.nonempty.store(false, Ordering::Release);
    }

    /// `take`, waiting at most `timeout` for an event; false if none came.
    pub(crate) fn wait_take(&self, timeout: Duration, out: &mut Vec<Event>) -> bool {
        for _ in 0..SPINS {
            if self.nonempty.load(Ordering::Acquire) {
                break;
            }
            std::thread::yield_now();
        }
        let mut s = self.lock();
        if s.events.is_empty() {
            s.sleeping = true;
            s = self
                .wake
                .wait_timeout_while(s, timeout, |s| s.events.is_empty())
                .unwrap_or_else(|e| e.into_inner())
                .0;
            s.sleeping = false;
        }
        std::mem::swap(&mut s.events, out);
        self.nonempty.store(false, Ordering::Release);
        !out.is_empty()
    }
}
