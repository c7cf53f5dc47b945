//! `wsnative._native.Connection`: a socket whose events are pulled by the
//! program (`recv()`, iteration, asyncio) instead of pushed to handlers.
//! Events wait in the core's queue (`WebSocket::connect_queued`); the Python
//! thread takes them in batches into the reader's local buffer, so most
//! `recv()` calls take one uncontended lock and never touch the lock the
//! runtime thread pushes under.
//!
//! Memory stays bounded: events the reader took stay charged to the
//! socket's budget (`max_queued_bytes`) until they are consumed, and their
//! cost is given back in chunks; the connection stops reading from the
//! network while the budget is spent. The state the program reads
//! (`ready_state`, `protocol`, `extensions`) moves as `recv()` and friends
//! consume each event, not when a batch is taken.

use crate::waker::{Waker, WakerInner};
use crate::{convert, errors, options, wait};
use pyo3::exceptions::PyTimeoutError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use wsnative_core::flow::cost;
use wsnative_core::{Cause, ErrorCode, Event, EventQueue, WebSocket};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The cost of consumed events is given back to the budget once it reaches
/// this many bytes (or a quarter of the limit, if less), and always before
/// the reader takes or waits for more: one atomic operation per chunk
/// instead of per message.
const RELEASE_CHUNK: u64 = 64 * 1024;

/// Asyncio: the socket's "has new events" flag and its loop's waker.
struct Ready {
    flag: AtomicBool,
    waker: Arc<WakerInner>,
    id: u64,
}

/// What the reading side knows: events taken from the queue and not yet
/// consumed, and how the connection went. One lock per message.
#[derive(Default)]
struct Reader {
    local: VecDeque<Event>,
    /// Cost of the events consumed and not yet given back to the budget.
    consumed: u64,
    opened: bool,
    error: Option<(String, Box<Cause>)>,
    closed: Option<(u16, String, bool)>,
}

/// What the next event means to a reader.
enum Step {
    Message(Event),
    Closed,
    Nothing,
}

impl Reader {
    /// The local buffer, emptied, as a Vec for the queue to fill: neither
    /// side reallocates per batch. `local` must be empty.
    fn spare(&mut self) -> Vec<Event> {
        debug_assert!(self.local.is_empty());
        Vec::from(std::mem::take(&mut self.local))
    }

    /// Hands `ev` to the program: the state it reads moves to the event's
    /// (`WebSocket::deliver`), and says what the event means to a reader.
    fn step(&mut self, core: &WebSocket, ev: Event) -> Step {
        let delivered = core.deliver(&ev);
        match ev {
            Event::Open => self.opened |= delivered,
            Event::Message(_) if delivered => return Step::Message(ev),
            Event::Message(_) | Event::Closing => {}
            Event::Error { message, cause } => self.error = Some((message, cause)),
            Event::Close { code, reason, was_clean } => {
                self.closed = Some((code, reason, was_clean));
                return Step::Closed;
            }
        }
        Step::Nothing
    }

    fn closed_error(&self, py: Python<'_>) -> PyErr {
        let (code, reason, clean) = self.closed.clone().unwrap_or((1006, String::new(), false));
        if self.opened {
            let error = self.error.as_ref().map(|e| e.0.clone());
            errors::new_error(py, "ConnectionClosed", (code, reason, clean, error))
        } else {
            let (why, cause) = self.error.clone().unwrap_or_else(|| {
                ("the connection closed during the handshake".into(), Cause::new(ErrorCode::HandshakeClosed))
            });
            let status = cause.response.as_ref().map(|r| r.status);
            let headers = cause.response.as_ref().map(|r| r.headers.clone());
            errors::new_error(py, "ConnectionFailed", (why, cause.code.name(), status, headers))
        }
    }
}

#[pyclass(frozen, subclass, module = "wsnative._native")]
pub struct Connection {
    core: WebSocket,
    queue: Arc<EventQueue>,
    reader: Mutex<Reader>,
    ready: Option<Arc<Ready>>,
    id: u64,
    /// See [`RELEASE_CHUNK`].
    release_chunk: u64,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Connection {
    /// Gives the cost of the consumed events back to the budget.
    fn release(&self, r: &mut Reader) {
        self.queue.flow().release(std::mem::take(&mut r.consumed));
    }

    /// The next event of the local buffer, counted as consumed.
    fn pop_local(&self, r: &mut Reader) -> Option<Event> {
        let ev = r.local.pop_front()?;
        r.consumed += cost(&ev);
        if r.consumed >= self.release_chunk {
            self.release(r);
        }
        Some(ev)
    }

    /// The next event without waiting.
    fn next_event(&self, r: &mut Reader) -> Option<Event> {
        if let Some(ev) = self.pop_local(r) {
            return Some(ev);
        }
        self.release(r);
        if let Some(ready) = &self.ready {
            // Cleared before looking: an event added from now on wakes the loop.
            ready.flag.store(false, Ordering::SeqCst);
        }
        let mut batch = r.spare();
        self.queue.take_batch(&mut batch, None);
        r.local = VecDeque::from(batch);
        self.pop_local(r)
    }

    fn is_closed(&self) -> bool {
        locked(&self.reader).closed.is_some()
    }

    /// Non-blocking receive: a message, `None`, or ConnectionClosed.
    fn try_message<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let mut r = locked(&self.reader);
        if r.closed.is_some() {
            return Err(r.closed_error(py));
        }
        while let Some(ev) = self.next_event(&mut r) {
            match r.step(&self.core, ev) {
                Step::Message(Event::Message(m)) => return Ok(Some(convert::message(py, &m))),
                Step::Closed => return Err(r.closed_error(py)),
                _ => {}
            }
        }
        Ok(None)
    }

    /// Blocking receive (GIL released while waiting): `None` on timeout.
    fn wait_message<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<std::time::Duration>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            if let Some(m) = self.try_message(py)? {
                return Ok(Some(m));
            }
            let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                return Ok(None);
            }
            if !self.wait_events(py, left)? {
                return Ok(None);
            }
        }
    }

    /// Waits (GIL released, in slices) until events arrive and puts them in
    /// the local buffer; false when `timeout` ran out first.
    fn wait_events(&self, py: Python<'_>, timeout: Option<std::time::Duration>) -> PyResult<bool> {
        let queue = Arc::clone(&self.queue);
        let mut spare = {
            let mut r = locked(&self.reader);
            if r.local.is_empty() {
                // Nothing consumed stays charged while the reader waits.
                self.release(&mut r);
                r.spare()
            } else {
                Vec::new()
            }
        };
        let got = wait::wait_for(py, timeout, |slice| {
            let mut batch = std::mem::take(&mut spare);
            if queue.take_batch(&mut batch, Some(slice)) {
                Some(batch)
            } else {
                spare = batch;
                None
            }
        })?;
        match got {
            Some(batch) => {
                let mut r = locked(&self.reader);
                if r.local.is_empty() {
                    r.local = VecDeque::from(batch);
                } else {
                    r.local.extend(batch);
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Consumes events up to Open; Ok(true) once open.
    fn check_open(&self, py: Python<'_>) -> PyResult<bool> {
        let mut r = locked(&self.reader);
        loop {
            if r.opened {
                return Ok(true);
            }
            if r.closed.is_some() {
                return Err(r.closed_error(py));
            }
            // Before Open only Error and Close can come (a message is never
            // delivered before Open); messages after Open stay in the local
            // buffer for recv().
            let Some(ev) = self.next_event(&mut r) else { return Ok(false) };
            r.step(&self.core, ev);
        }
    }

    /// Consumes events up to Close (messages are discarded).
    fn drain_to_close(&self) -> bool {
        let mut r = locked(&self.reader);
        while r.closed.is_none() {
            match self.next_event(&mut r) {
                Some(ev) => {
                    r.step(&self.core, ev);
                }
                None => return false,
            }
        }
        true
    }
}

#[pymethods]
impl Connection {
    #[new]
    #[pyo3(signature = (url, protocols, *, waker, options))]
    fn new(
        py: Python<'_>,
        url: &Bound<'_, PyString>,
        protocols: Vec<Bound<'_, PyString>>,
        waker: Option<PyRef<'_, Waker>>,
        options: &Bound<'_, PyDict>,
    ) -> PyResult<Self> {
        let (url, protocols) = convert::url_and_protocols(py, url, &protocols)?;
        let options = options::from_dict(py, options, options::CONNECTION_MAX_QUEUED)?;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let ready =
            waker.map(|w| Arc::new(Ready { flag: AtomicBool::new(false), waker: Arc::clone(&w.inner), id }));
        let queue = EventQueue::new();
        if let Some(r) = &ready {
            let r = Arc::clone(r);
            queue.set_notify(Some(Box::new(move || {
                // The load spares a locked instruction per message while the
                // loop has not taken the events yet; the queue's lock orders
                // it after the reader's clearing of the flag.
                if !r.flag.load(Ordering::Acquire) && !r.flag.swap(true, Ordering::SeqCst) {
                    r.waker.wake(r.id);
                }
            })));
        }
        let release_chunk = match options.max_queued_bytes {
            0 => RELEASE_CHUNK,
            limit => RELEASE_CHUNK.min(limit / 4).max(1),
        };
        let core = WebSocket::connect_queued(&url, &protocols, options, &queue)
            .map_err(|e| errors::to_py(py, &e))?;
        Ok(Connection { core, queue, reader: Mutex::default(), ready, id, release_chunk })
    }

    #[classattr]
    const CONNECTING: u8 = 0;
    #[classattr]
    const OPEN: u8 = 1;
    #[classattr]
    const CLOSING: u8 = 2;
    #[classattr]
    const CLOSED: u8 = 3;

    #[getter]
    fn id(&self) -> u64 {
        self.id
    }

    #[getter]
    fn url(&self) -> &str {
        self.core.url()
    }

    #[getter]
    fn ready_state(&self) -> u8 {
        self.core.ready_state() as u8
    }

    #[getter]
    fn protocol(&self) -> &str {
        self.core.protocol()
    }

    #[getter]
    fn extensions(&self) -> &str {
        self.core.extensions()
    }

    #[getter]
    fn buffered_amount(&self) -> u64 {
        self.core.buffered_amount()
    }

    #[getter]
    fn close_code(&self) -> Option<u16> {
        locked(&self.reader).closed.as_ref().map(|c| c.0)
    }

    #[getter]
    fn close_reason(&self) -> Option<String> {
        locked(&self.reader).closed.as_ref().map(|c| c.1.clone())
    }

    #[getter]
    fn was_clean(&self) -> Option<bool> {
        locked(&self.reader).closed.as_ref().map(|c| c.2)
    }

    #[getter]
    fn error(&self) -> Option<String> {
        locked(&self.reader).error.as_ref().map(|e| e.0.clone())
    }

    fn send(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        convert::send(py, &self.core, data)
    }

    #[pyo3(signature = (code=None, reason=None))]
    fn close(&self, py: Python<'_>, code: Option<i64>, reason: Option<Bound<'_, PyString>>) -> PyResult<()> {
        let code = options::close_code(py, code)?;
        let reason = convert::close_reason(py, reason.as_ref())?;
        self.core.close(code, reason.as_deref()).map_err(|e| errors::to_py(py, &e))
    }

    /// Waits until open: True, or False when `timeout` ran out; raises
    /// ConnectionFailed when the connection could not be established.
    #[pyo3(signature = (timeout=None))]
    fn wait_open(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let timeout = wait::timeout_arg(timeout)?;
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            if self.check_open(py)? {
                return Ok(true);
            }
            let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                return Ok(false);
            }
            if !self.wait_events(py, left)? {
                return Ok(false);
            }
        }
    }

    /// Non-blocking `wait_open`: True once open, False while connecting.
    fn try_open(&self, py: Python<'_>) -> PyResult<bool> {
        self.check_open(py)
    }

    #[pyo3(signature = (timeout=None))]
    fn recv<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        match self.wait_message(py, wait::timeout_arg(timeout)?)? {
            Some(m) => Ok(m),
            None => Err(PyTimeoutError::new_err("no message arrived within the timeout")),
        }
    }

    fn try_recv<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.try_message(py)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self.wait_message(py, None) {
            Ok(m) => Ok(m),
            Err(_) if self.is_closed() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Waits until the close event (messages still queued are discarded):
    /// True, or False when `timeout` ran out.
    #[pyo3(signature = (timeout=None))]
    fn wait_closed(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let timeout = wait::timeout_arg(timeout)?;
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            if self.drain_to_close() {
                return Ok(true);
            }
            let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
            if left.is_some_and(|l| l.is_zero()) {
                return Ok(false);
            }
            if !self.wait_events(py, left)? {
                return Ok(false);
            }
        }
    }

    /// Non-blocking `wait_closed`.
    fn try_closed(&self) -> bool {
        self.drain_to_close()
    }
}
