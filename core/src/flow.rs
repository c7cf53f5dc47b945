//! Flow control between a connection task and the application: what waits
//! for the application is counted at its real cost, and the connection stops
//! reading from the network while the count is at the limit, so a server
//! that sends faster than the application consumes is held back by TCP
//! instead of filling memory.
//!
//! The producer (the connection task, through the socket's handler) charges
//! each event when it hands it over; the consumer releases it once the
//! application has had it. Messages a single event larger than the limit
//! still pass (one at a time).

use crate::event::Event;
use futures_util::task::AtomicWaker;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// What one queued event costs besides its payload: the event itself, its
/// place in a queue and the payload's allocation header (measured: about 40
/// bytes for an empty message and 76 for a 16-byte one on x86_64 glibc,
/// rounded up).
pub const EVENT_OVERHEAD: u64 = 96;

/// The bytes an event holds while it waits.
pub fn cost(ev: &Event) -> u64 {
    EVENT_OVERHEAD
        + match ev {
            Event::Message(m) => m.data.len() as u64,
            Event::Error { message, .. } => message.len() as u64,
            Event::Close { reason, .. } => reason.len() as u64,
            Event::Open | Event::Closing => 0,
        }
}

/// The budget of one socket's waiting events.
#[derive(Default)]
pub struct FlowControl {
    used: AtomicU64,
    /// 0: no limit.
    limit: AtomicU64,
    /// The connection task, when it paused reading for lack of room.
    reader: AtomicWaker,
}

impl FlowControl {
    /// A budget of `limit` bytes (0: no limit).
    pub fn new(limit: u64) -> Arc<FlowControl> {
        let f = FlowControl::default();
        f.limit.store(limit, Ordering::Relaxed);
        Arc::new(f)
    }

    pub fn set_limit(&self, limit: u64) {
        self.limit.store(limit, Ordering::Release);
        self.reader.wake();
    }

    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::Acquire)
    }

    /// Bytes of the events handed over and not yet released.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    /// The producer hands `bytes` over.
    pub fn charge(&self, bytes: u64) {
        self.used.fetch_add(bytes, Ordering::AcqRel);
    }

    /// The application has had events worth `bytes`.
    pub fn release(&self, bytes: u64) {
        if bytes == 0 {
            return;
        }
        let before = self.used.fetch_sub(bytes, Ordering::AcqRel);
        let limit = self.limit();
        if limit != 0 && before >= limit && before - bytes < limit {
            self.reader.wake();
        }
    }

    fn has_room(&self) -> bool {
        let limit = self.limit();
        limit == 0 || self.used() < limit
    }

    /// Ready when the connection may read more from the network.
    pub(crate) fn poll_room(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.has_room() {
            return Poll::Ready(());
        }
        self.reader.register(cx.waker());
        if self.has_room() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}
