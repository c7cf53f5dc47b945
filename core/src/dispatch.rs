//! Queued dispatch: events wait, in order, until the application pumps them
//! on a thread of its choice.

use crate::event::{Event, EventHandler};
use futures_util::task::AtomicWaker;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

type Notify = Box<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct Inner {
    events: VecDeque<Event>,
    /// Threads blocked in `pop`: pushes signal only when there is one.
    waiters: usize,
}

/// A FIFO of events filled by a socket's connection task.
///
/// Flow control: with a limit set ([`EventQueue::set_limit`]) and the
/// socket created by [`crate::WebSocket::connect_queued`], the connection
/// stops reading from the network while the queued message bytes reach the
/// limit, so a server that sends faster than the application pumps is held
/// back by TCP instead of filling memory.
#[derive(Default)]
pub struct EventQueue {
    inner: Mutex<Inner>,
    ready: Condvar,
    notify: Mutex<Option<Arc<Notify>>>,
    /// Message payload bytes waiting in the queue.
    queued_bytes: AtomicU64,
    /// 0: no limit.
    limit: AtomicU64,
    /// The connection task, when it paused reading for lack of room.
    reader: AtomicWaker,
}

fn payload_len(ev: &Event) -> u64 {
    match ev {
        Event::Message(m) => m.data.len() as u64,
        _ => 0,
    }
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

    /// Sets the flow-control limit in bytes (0: none).
    pub fn set_limit(&self, bytes: u64) {
        self.limit.store(bytes, Ordering::Release);
        self.reader.wake();
    }

    /// Payload bytes of the messages waiting in the queue.
    pub fn queued_bytes(&self) -> u64 {
        self.queued_bytes.load(Ordering::Acquire)
    }

    /// Ready when the connection may read more from the network.
    pub(crate) fn poll_room(&self, cx: &mut Context<'_>) -> Poll<()> {
        let limit = self.limit.load(Ordering::Acquire);
        if limit == 0 || self.queued_bytes() < limit {
            return Poll::Ready(());
        }
        self.reader.register(cx.waker());
        if self.queued_bytes() < self.limit.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn taken(&self, bytes: u64) {
        if bytes > 0 {
            let now = self.queued_bytes.fetch_sub(bytes, Ordering::AcqRel) - bytes;
            let limit = self.limit.load(Ordering::Acquire);
            if limit != 0 && now < limit {
                self.reader.wake();
            }
        }
    }

    pub fn push(&self, ev: Event) {
        self.queued_bytes.fetch_add(payload_len(&ev), Ordering::AcqRel);
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
        let ev = self.pop_inner(timeout);
        if let Some(e) = &ev {
            self.taken(payload_len(e));
        }
        ev
    }

    fn pop_inner(&self, timeout: Option<Duration>) -> Option<Event> {
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

    /// Waits at most `timeout` until the queue holds an event, without taking
    /// it; true if it does. (A dispatcher that must take and deliver under
    /// its own lock waits here first.)
    pub fn wait_nonempty(&self, timeout: Duration) -> bool {
        let mut q = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = Instant::now() + timeout;
        q.waiters += 1;
        while q.events.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            q = self.ready.wait_timeout(q, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        q.waiters -= 1;
        !q.events.is_empty()
    }

    /// Takes every waiting event at once (one lock for a whole batch).
    pub fn drain_into(&self, out: &mut Vec<Event>) {
        let start = out.len();
        out.extend(self.inner.lock().unwrap_or_else(|e| e.into_inner()).events.drain(..));
        self.taken(out[start..].iter().map(payload_len).sum());
    }

    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
