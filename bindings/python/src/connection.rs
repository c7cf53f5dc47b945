//! `wsnative._native.Connection`: a socket whose events are pulled by the
//! program (`recv()`, iteration, asyncio) instead of pushed to handlers.
//! Events wait in the inbox; the Python thread takes them in batches into
//! the reader's local buffer, so most `recv()` calls take one uncontended
//! lock and never touch the lock the runtime thread pushes under.

use crate::inbox::Inbox;
use crate::waker::{Waker, WakerInner};
use crate::{convert, errors, options, wait};
use pyo3::exceptions::PyTimeoutError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use wsnative_core::{Event, WebSocket};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Asyncio: the socket's "has new events" flag and its loop's waker.
struct Ready {
    flag: AtomicBool,
    waker: Arc<WakerInner>,
    id: u64,
}

/// What the reading side knows: events taken from the inbox and not yet
/// consumed, and how the connection went. One lock per message.
#[derive(Default)]
struct Reader {
    local: VecDeque<Event>,
    opened: bool,
    error: Option<String>,
    closed: Option<(u16, String, bool)>,
}

/// What the next event means to a reader.
enum Step {
    Message(Event),
    Closed,
    Nothing,
}

impl Reader {
    /// The local buffer, emptied, as a Vec for the inbox to fill: neither
    /// side reallocates per batch. `local` must be empty.
    fn spare(&mut self) -> Vec<Event> {
        debug_assert!(self.local.is_empty());
        Vec::from(std::mem::take(&mut self.local))
    }

    /// Books `ev` and says what it means to a reader.
    fn step(&mut self, core: &WebSocket, ev: Event) -> Step {
        match ev {
            Event::Open => self.opened = true,
            Event::Message(_) => {
                if core.should_deliver(&ev) {
                    return Step::Message(ev);
                }
            }
            Event::Error { message } => self.error = Some(message),
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
            errors::new_error(py, "ConnectionClosed", (code, reason, clean, self.error.clone()))
        } else {
            let why =
                self.error.clone().unwrap_or_else(|| "the connection closed during the handshake".into());
            errors::new_error(py, "ConnectionFailed", (why,))
        }
    }
}

#[pyclass(frozen, subclass, module = "wsnative._native")]
pub struct Connection {
    core: WebSocket,
    inbox: Arc<Inbox>,
    reader: Mutex<Reader>,
    ready: Option<Arc<Ready>>,
    id: u64,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Connection {
    /// The next event without waiting.
    fn next_event(&self, r: &mut Reader) -> Option<Event> {
        if let Some(ev) = r.local.pop_front() {
            return Some(ev);
        }
        if let Some(ready) = &self.ready {
            // Cleared before looking: an event added from now on wakes the loop.
            ready.flag.store(false, Ordering::SeqCst);
        }
        let mut batch = r.spare();
        self.inbox.take(&mut batch);
        r.local = VecDeque::from(batch);
        r.local.pop_front()
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
        let inbox = Arc::clone(&self.inbox);
        let mut spare = {
            let mut r = locked(&self.reader);
            if r.local.is_empty() {
                r.spare()
            } else {
                Vec::new()
            }
        };
        let got = wait::wait_for(py, timeout, |slice| {
            let mut batch = std::mem::take(&mut spare);
            if inbox.wait_take(slice, &mut batch) {
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
            // Before Open only Error and Close can come; messages after Open
            // stay in the local buffer for recv().
            let Some(ev) = self.next_event(&mut r) else { return Ok(false) };
            if let Step::Message(ev) = r.step(&self.core, ev) {
                // Cannot happen before Open; keep it for recv() if it does.
                r.local.push_front(ev);
            }
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
        url: &str,
        protocols: Vec<String>,
        waker: Option<PyRef<'_, Waker>>,
        options: &Bound<'_, PyDict>,
    ) -> PyResult<Self> {
        let options = options::from_dict(py, options)?;
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let ready =
            waker.map(|w| Arc::new(Ready { flag: AtomicBool::new(false), waker: Arc::clone(&w.inner), id }));
        let notify = ready.as_ref().map(|r| {
            let r = Arc::clone(r);
            Box::new(move || {
                // The load spares a locked instruction per message while the
                // loop has not taken the events yet; the inbox lock orders it
                // after the reader's clearing of the flag.
                if !r.flag.load(Ordering::Acquire) && !r.flag.swap(true, Ordering::SeqCst) {
                    r.waker.wake(r.id);
                }
            }) as Box<dyn Fn() + Send + Sync>
        });
        let inbox = Arc::new(Inbox::new(notify));
        let sink = Arc::clone(&inbox);
        let handler = Box::new(move |ev| sink.push(ev));
        let core =
            WebSocket::connect(url, &protocols, options, handler).map_err(|e| errors::to_py(py, &e))?;
        Ok(Connection { core, inbox, reader: Mutex::default(), ready, id })
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
        locked(&self.reader).error.clone()
    }

    fn send(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        convert::send(py, &self.core, data)
    }

    #[pyo3(signature = (code=None, reason=None))]
    fn close(&self, py: Python<'_>, code: Option<i64>, reason: Option<&str>) -> PyResult<()> {
        let code = options::close_code(py, code)?;
        self.core.close(code, reason).map_err(|e| errors::to_py(py, &e))
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
