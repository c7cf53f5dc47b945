//! The state the application reads: `readyState` as of the last event
//! dispatched to it (WHATWG HTML, "Feedback from the protocol": the browser
//! changes the attributes in the same task that fires the event). The
//! connection task keeps its own state for the protocol; this one moves only
//! when an event reaches the application, or synchronously when the
//! application calls `close()`.

use crate::event::{Event, ReadyState};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

pub(crate) struct View {
    state: AtomicU8,
    /// The application has called close(): messages are no longer delivered.
    close_requested: AtomicBool,
}

impl Default for View {
    fn default() -> Self {
        View { state: AtomicU8::new(ReadyState::Connecting as u8), close_requested: AtomicBool::new(false) }
    }
}

impl View {
    pub(crate) fn ready_state(&self) -> ReadyState {
        ReadyState::from_u8(self.state.load(Ordering::Acquire))
    }

    fn advance(&self, from: ReadyState, to: ReadyState) -> bool {
        self.state.compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    pub(crate) fn close_requested(&self) -> bool {
        self.close_requested.load(Ordering::Acquire)
    }

    /// `close()`: CONNECTING or OPEN become CLOSING at once. Returns the
    /// state it left, or `None` when already CLOSING or CLOSED (close() then
    /// does nothing).
    pub(crate) fn request_close(&self) -> Option<ReadyState> {
        loop {
            let s = self.ready_state();
            match s {
                ReadyState::Closing | ReadyState::Closed => return None,
                ReadyState::Connecting | ReadyState::Open => {
                    if self.advance(s, ReadyState::Closing) {
                        self.close_requested.store(true, Ordering::Release);
                        return Some(s);
                    }
                }
            }
        }
    }

    /// A message is handed to the application only while it reads OPEN and
    /// has not called close().
    pub(crate) fn message_deliverable(&self) -> bool {
        self.ready_state() == ReadyState::Open && !self.close_requested()
    }

    /// The application is about to receive `ev`: moves the state it reads
    /// to the event's, and says whether the event is handed to it.
    pub(crate) fn deliver(&self, ev: &Event) -> bool {
        match ev {
            // After close() during CONNECTING the browser fires no open.
            Event::Open => self.advance(ReadyState::Connecting, ReadyState::Open),
            Event::Message(_) => self.message_deliverable(),
            Event::Closing => {
                self.advance(ReadyState::Open, ReadyState::Closing);
                false
            }
            // The connection was failed: CLOSED, then error, then close
            // (HTML, "the WebSocket connection is closed").
            Event::Error { .. } | Event::Close { .. } => {
                self.state.store(ReadyState::Closed as u8, Ordering::Release);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Message;

    fn msg() -> Event {
        Event::Message(Message { data: bytes::Bytes::from_static(b"x"), is_text: false })
    }

    fn close() -> Event {
        Event::Close { code: 1000, reason: String::new(), was_clean: true }
    }

    #[test]
    fn follows_the_events_in_order() {
        let v = View::default();
        assert_eq!(v.ready_state(), ReadyState::Connecting);
        assert!(v.deliver(&Event::Open));
        assert_eq!(v.ready_state(), ReadyState::Open);
        assert!(v.deliver(&msg()));
        assert!(!v.deliver(&Event::Closing));
        assert_eq!(v.ready_state(), ReadyState::Closing);
        assert!(v.deliver(&close()));
        assert_eq!(v.ready_state(), ReadyState::Closed);
    }

    #[test]
    fn close_during_connecting_suppresses_open_and_messages() {
        let v = View::default();
        assert_eq!(v.request_close(), Some(ReadyState::Connecting));
        assert_eq!(v.ready_state(), ReadyState::Closing);
        assert_eq!(v.request_close(), None);
        assert!(!v.deliver(&Event::Open));
        assert!(!v.deliver(&msg()));
        assert!(v.deliver(&Event::Error {
            message: "x".into(),
            cause: crate::Cause::new(crate::ErrorCode::Other)
        }));
        assert_eq!(v.ready_state(), ReadyState::Closed);
        assert!(v.deliver(&close()));
        assert_eq!(v.ready_state(), ReadyState::Closed);
    }

    #[test]
    fn close_while_open_drops_later_messages() {
        let v = View::default();
        v.deliver(&Event::Open);
        assert_eq!(v.request_close(), Some(ReadyState::Open));
        assert!(!v.deliver(&msg()));
        assert!(!v.deliver(&Event::Closing));
        assert_eq!(v.ready_state(), ReadyState::Closing);
    }
}
