//! Queued dispatch: events wait, in order, until the application pumps them
//! on a thread of its choice.

use crate::event::{Event, EventHandler};
use crate::flow::{cost, FlowControl};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How many times a waiting consumer yields the CPU before it sleeps: on a
/// busy machine that lets the runtime thread add more events first, so the
/// consumer wakes once per batch instead of once per message.
pub const SPINS: usize = 32;

type Notify = Box<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct Inner {
    events: VecDeque<Event>,
    /// Threads blocked waiting: pushes signal only when there is one.
    waiters: usize,
}

/// A FIFO of one socket's events, filled by its connection task.
///
/// Flow control: the socket created by [`crate::WebSocket::connect_queued`]
/// stops reading from the network while the events waiting here cost
/// `options.max_queued_bytes` or more (each event counts its payload plus
/// [`crate::flow::EVENT_OVERHEAD`]), so a server that sends faster than the
/// application pumps is held back by TCP instead of filling memory.
///
/// Every event taken from the queue must go through
/// [`crate::WebSocket::deliver`] right before the application gets it.
#[derive(Default)]
pub struct EventQueue {
    inner: Mutex<Inner>,
    ready: Condvar,
    /// A hint for spinning consumers: events may be waiting.
    nonempty: AtomicBool,
    notify: Mutex<Option<Arc<Notify>>>,
    /// `notify` is set: a push without one takes no second lock.
    has_notify: AtomicBool,
    flow: Arc<FlowControl>,
}

impl EventQueue {
    pub fn new() -> Arc<EventQueue> {
        Arc::new(EventQueue::default())
    }

    /// The queue's budget (its limit is set by `connect_queued`).
    pub fn flow(&self) -> &Arc<FlowControl> {
        &self.flow
    }

    /// A handler that appends to this queue.
    pub fn handler(self: &Arc<Self>) -> EventHandler {
        let q = Arc::clone(self);
        Box::new(move |ev| q.push(ev))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Calls `f` (on a library thread) each time an event is added, for
    /// programs that wake their own loop.
    pub fn set_notify(&self, f: Option<Notify>) {
        let mut notify = self.notify.lock().unwrap_or_else(|e| e.into_inner());
        self.has_notify.store(f.is_some(), Ordering::Release);
        *notify = f.map(Arc::new);
    }

    /// Sets the flow-control limit in bytes (0: none).
    pub fn set_limit(&self, bytes: u64) {
        self.flow.set_limit(bytes);
    }

    /// What the waiting events cost, in bytes.
    pub fn queued_bytes(&self) -> u64 {
        self.flow.used()
    }

    pub fn push(&self, ev: Event) {
        self.flow.charge(cost(&ev));
        let mut inner = self.lock();
        inner.events.push_back(ev);
        self.nonempty.store(true, Ordering::Release);
        let wake = inner.waiters > 0;
        drop(inner);
        if wake {
            self.ready.notify_all();
        }
        if !self.has_notify.load(Ordering::Acquire) {
            return;
        }
        let notify = self.notify.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(n) = notify {
            n();
        }
    }

    /// Takes the next event, waiting at most `timeout` for one to arrive
    /// (`None`: do not wait).
    pub fn pop(&self, timeout: Option<Duration>) -> Option<Event> {
        let mut q = self.lock();
        let ev = match q.events.pop_front() {
            Some(ev) => Some(ev),
            None => match timeout {
                None => None,
                Some(t) => {
                    q = self.wait(q, Instant::now() + t);
                    q.events.pop_front()
                }
            },
        };
        if q.events.is_empty() {
            self.nonempty.store(false, Ordering::Release);
        }
        drop(q);
        if let Some(e) = &ev {
            self.flow.release(cost(e));
        }
        ev
    }

    /// Sleeps on the condition variable until an event is waiting or
    /// `deadline` passes.
    fn wait<'a>(&self, mut q: MutexGuard<'a, Inner>, deadline: Instant) -> MutexGuard<'a, Inner> {
        q.waiters += 1;
        while q.events.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            q = self.ready.wait_timeout(q, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        q.waiters -= 1;
        q
    }

    /// Waits at most `timeout` until the queue holds an event, without taking
    /// it; true if it does. (A dispatcher that must take and deliver under
    /// its own lock waits here first.)
    pub fn wait_nonempty(&self, timeout: Duration) -> bool {
        let q = self.wait(self.lock(), Instant::now() + timeout);
        !q.events.is_empty()
    }

    /// Moves every waiting event to the end of `out` at once (one lock for
    /// a whole batch), waiting at most `timeout` for the first one: a few
    /// yields of the CPU first, then sleep. True if any event was taken.
    /// The events taken stay charged to [`EventQueue::flow`] until the
    /// consumer releases their cost ([`crate::flow::cost`]) as the
    /// application gets them, so a batch held by a reader still counts
    /// against the limit.
    pub fn take_batch(&self, out: &mut Vec<Event>, timeout: Option<Duration>) -> bool {
        if timeout.is_some() {
            for _ in 0..SPINS {
                if self.nonempty.load(Ordering::Acquire) {
                    break;
                }
                std::thread::yield_now();
            }
        }
        let mut q = self.lock();
        if q.events.is_empty() {
            if let Some(t) = timeout {
                q = self.wait(q, Instant::now() + t);
            }
        }
        let start = out.len();
        if start == 0 {
            // Swap buffers under the lock (the consumer's empty one, with its
            // capacity, becomes the queue's): the producer never waits for a
            // batch to be copied.
            let spare = VecDeque::from(std::mem::take(out));
            let taken = std::mem::replace(&mut q.events, spare);
            self.nonempty.store(false, Ordering::Release);
            drop(q);
            *out = Vec::from(taken);
        } else {
            out.extend(q.events.drain(..));
            self.nonempty.store(false, Ordering::Release);
            drop(q);
        }
        out.len() > start
    }

    pub fn len(&self) -> usize {
        self.lock().events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Message;
    use bytes::Bytes;

    fn msg(n: usize) -> Event {
        Event::Message(Message { data: Bytes::from(vec![0u8; n]), is_text: false })
    }

    #[test]
    fn every_event_costs_its_payload_and_a_fixed_overhead() {
        let q = EventQueue::new();
        q.push(msg(0));
        q.push(msg(16));
        q.push(Event::Open);
        assert_eq!(q.queued_bytes(), 3 * crate::flow::EVENT_OVERHEAD + 16);
        q.pop(None);
        assert_eq!(q.queued_bytes(), 2 * crate::flow::EVENT_OVERHEAD + 16);
        // A batch taken stays charged until the consumer releases it.
        let mut out = Vec::new();
        assert!(q.take_batch(&mut out, None));
        assert_eq!(out.len(), 2);
        assert_eq!(q.queued_bytes(), 2 * crate::flow::EVENT_OVERHEAD + 16);
        q.flow().release(out.iter().map(cost).sum());
        assert_eq!(q.queued_bytes(), 0);
        assert!(!q.take_batch(&mut out, Some(Duration::from_millis(1))));
        q.push(msg(8));
        out.clear();
        assert!(q.take_batch(&mut out, None));
        assert_eq!(q.queued_bytes(), crate::flow::EVENT_OVERHEAD + 8);
        q.flow().release(cost(&out[0]));
        assert_eq!(q.queued_bytes(), 0);
    }
}
