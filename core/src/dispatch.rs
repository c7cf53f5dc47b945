//! Queued dispatch: events wait, in order, until the application pumps them
//! on a thread of its choice.

use crate::event::{Event, EventHandler};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

type Notify = Box<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct Inner {
    events: VecDeque<Event>,
    /// Threads blocked in `pop`: pushes signal only when there is one.
    waiters: usize,
}

/// A FIFO of events filled by a socket's connection task.
#[derive(Default)]
pub struct EventQueue {
    inner: Mutex<Inner>,
    ready: Condvar,
    notify: Mutex<Option<Arc<Notify>>>,
}

impl EventQueue {
    pub fn new() -> Arc<EventQueue> {
        Arc::new(EventQueue::default())
    }

    /// A handler that appends to this queue, for [`crate::WebSocket::connect`].
    pub fn handler(self: &Arc<Self>) -> EventHandler {
        let q = Arc::clone(self);
        Box::new(move |ev| q.push(ev))
    }

    /// Calls `f` (on a library thread) each time an event is added, for
    /// programs that wake their own loop.
    pub fn set_notify(&self, f: Option<Notify>) {
        *self.notify.lock().unwrap_or_else(|e| e.into_inner()) = f.map(Arc::new);
    }

    pub fn push(&self, ev: Event) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.events.push_back(ev);
        let wake = inner.waiters > 0;
        drop(inner);
        if wake {
            self.ready.notify_all();
        }
        let notify = self.notify.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(n) = notify {
            n();
        }
    }

    /// Takes the next event, waiting at most `timeout` for one to arrive
    /// (`None`: do not wait).
    pub fn pop(&self, timeout: Option<Duration>) -> Option<Event> {
        let mut q = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ev) = q.events.pop_front() {
            return Some(ev);
        }
        let deadline = Instant::now() + timeout?;
        q.waiters += 1;
        let ev = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break None;
            }
            q = self.ready.wait_timeout(q, left).unwrap_or_else(|e| e.into_inner()).0;
            if let Some(ev) = q.events.pop_front() {
                break Some(ev);
            }
        };
        q.waiters -= 1;
        ev
    }

    /// Takes every waiting event at once (one lock for a whole batch).
    pub fn drain_into(&self, out: &mut Vec<Event>) {
        out.extend(self.inner.lock().unwrap_or_else(|e| e.into_inner()).events.drain(..));
    }

    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
