//! `wsnative._native.Socket`: the browser `WebSocket` object, its handlers
//! run by the dispatcher thread (`dispatch="thread"`) or by `poll()`
//! (`dispatch="poll"`).

use crate::listeners::{self, Kind, Listeners, OnException};
use crate::{convert, dispatcher, errors, options, poll, wait};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::PyVisit;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use wsnative_core::{Event, EventQueue, WebSocket};

/// What a socket in poll dispatch keeps: the core's queue, and the events
/// already taken from it but not yet dispatched (a handler that raised
/// leaves the rest here for the next `poll()`).
pub(crate) struct PollQueue {
    pub(crate) queue: Arc<EventQueue>,
    pending: Mutex<VecDeque<Event>>,
}

/// State shared by the Python object, the connection task's handler (thread
/// dispatch) or the poll registry (poll dispatch). Those keep it alive until
/// the close event is dispatched, so an open socket keeps firing events even
/// when the program holds no reference to it, as in the browser.
pub(crate) struct Inner {
    core: OnceLock<WebSocket>,
    listeners: Mutex<Listeners>,
    /// The close event has been dispatched.
    finished: AtomicBool,
    pub(crate) poll: Option<PollQueue>,
}

impl Inner {
    pub(crate) fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Dispatches one event to the handlers (the GIL is held).
    pub(crate) fn deliver(&self, py: Python<'_>, ev: Event, on_exception: OnException) -> PyResult<()> {
        if self.core.get().is_some_and(|c| !c.should_deliver(&ev)) {
            return Ok(());
        }
        if matches!(ev, Event::Close { .. }) {
            self.finished.store(true, Ordering::Release);
        }
        listeners::fire(py, &self.listeners, &ev, on_exception)
    }

    /// Poll dispatch: runs this socket's waiting events; returns how many.
    pub(crate) fn poll_pending(&self, py: Python<'_>) -> PyResult<usize> {
        let Some(p) = &self.poll else { return Ok(0) };
        {
            let mut batch = Vec::new();
            p.queue.drain_into(&mut batch);
            p.pending.lock().unwrap_or_else(|e| e.into_inner()).extend(batch);
        }
        let mut n = 0;
        loop {
            let next = p.pending.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
            let Some(ev) = next else { return Ok(n) };
            n += 1;
            self.deliver(py, ev, OnException::Raise)?;
        }
    }

    fn has_pending(&self) -> bool {
        self.poll.as_ref().is_some_and(|p| {
            !p.queue.is_empty() || !p.pending.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
        })
    }
}

fn checked_handler(py: Python<'_>, name: &str, h: Option<Py<PyAny>>) -> PyResult<Option<Py<PyAny>>> {
    match h {
        Some(h) if h.is_none(py) => Ok(None),
        Some(h) if !h.bind(py).is_callable() => {
            Err(pyo3::exceptions::PyTypeError::new_err(format!("{name} must be callable or None")))
        }
        h => Ok(h),
    }
}

/// The browser `WebSocket`; see `wsnative.WebSocket`.
#[pyclass(frozen, subclass, module = "wsnative._native")]
pub struct Socket {
    inner: Arc<Inner>,
}

impl Socket {
    fn core(&self) -> &WebSocket {
        self.inner.core.get().expect("the socket is connected in its constructor")
    }

    fn get_handler(&self, py: Python<'_>, kind: Kind) -> Option<Py<PyAny>> {
        self.inner.listeners.lock().unwrap_or_else(|e| e.into_inner()).attribute(py, kind)
    }

    fn set_handler(&self, py: Python<'_>, kind: Kind, name: &str, h: Option<Py<PyAny>>) -> PyResult<()> {
        let h = checked_handler(py, name, h)?;
        let old = self.inner.listeners.lock().unwrap_or_else(|e| e.into_inner()).set_attribute(kind, h);
        drop(old);
        Ok(())
    }
}

#[pymethods]
impl Socket {
    #[new]
    #[pyo3(signature = (url, protocols, *, dispatch, onopen, onmessage, onerror, onclose, options))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        url: &str,
        protocols: Vec<String>,
        dispatch: &str,
        onopen: Option<Py<PyAny>>,
        onmessage: Option<Py<PyAny>>,
        onerror: Option<Py<PyAny>>,
        onclose: Option<Py<PyAny>>,
        options: &Bound<'_, PyDict>,
    ) -> PyResult<Self> {
        let options = options::from_dict(py, options)?;
        let mut listeners = Listeners::default();
        for (kind, name, h) in [
            (Kind::Open, "onopen", onopen),
            (Kind::Message, "onmessage", onmessage),
            (Kind::Error, "onerror", onerror),
            (Kind::Close, "onclose", onclose),
        ] {
            listeners.set_attribute(kind, checked_handler(py, name, h)?);
        }
        let poll = match dispatch {
            "thread" => None,
            "poll" => Some(PollQueue { queue: EventQueue::new(), pending: Mutex::new(VecDeque::new()) }),
            other => {
                return Err(errors::invalid_option(
                    py,
                    &format!("dispatch must be 'thread' or 'poll', not {other:?}"),
                ))
            }
        };
        let inner = Arc::new(Inner {
            core: OnceLock::new(),
            listeners: Mutex::new(listeners),
            finished: AtomicBool::new(false),
            poll,
        });
        let handler = match &inner.poll {
            None => dispatcher::handler(Arc::clone(&inner)),
            Some(p) => {
                p.queue.set_notify(Some(Box::new(poll::notify)));
                p.queue.handler()
            }
        };
        // The GIL is held from here until the constructor returns: no
        // handler of this socket can run before its caller has the object.
        let ws = WebSocket::connect(url, &protocols, options, handler).map_err(|e| errors::to_py(py, &e))?;
        let _ = inner.core.set(ws);
        if inner.poll.is_some() {
            poll::register(Arc::clone(&inner));
        }
        Ok(Socket { inner })
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
    fn url(&self) -> &str {
        self.core().url()
    }

    #[getter]
    fn ready_state(&self) -> u8 {
        self.core().ready_state() as u8
    }

    #[getter]
    fn protocol(&self) -> &str {
        self.core().protocol()
    }

    #[getter]
    fn extensions(&self) -> &str {
        self.core().extensions()
    }

    #[getter]
    fn buffered_amount(&self) -> u64 {
        self.core().buffered_amount()
    }

    #[getter]
    fn dispatch(&self) -> &'static str {
        if self.inner.poll.is_some() {
            "poll"
        } else {
            "thread"
        }
    }

    fn send(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        convert::send(py, self.core(), data)
    }

    #[pyo3(signature = (code=None, reason=None))]
    fn close(&self, py: Python<'_>, code: Option<i64>, reason: Option<&str>) -> PyResult<()> {
        let code = options::close_code(py, code)?;
        self.core().close(code, reason).map_err(|e| errors::to_py(py, &e))
    }

    /// Poll dispatch: runs this socket's pending handlers.
    #[pyo3(signature = (timeout=None))]
    fn poll(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<usize> {
        let Some(p) = &self.inner.poll else {
            return Err(errors::invalid_state(py, "poll() needs a socket created with dispatch=\"poll\""));
        };
        let timeout = wait::timeout_arg(timeout)?;
        if !self.inner.has_pending() && timeout.is_some() {
            let queue = Arc::clone(&p.queue);
            let got = wait::wait_for(py, timeout, |slice| queue.pop(Some(slice)))?;
            if let Some(ev) = got {
                p.pending.lock().unwrap_or_else(|e| e.into_inner()).push_back(ev);
            }
        }
        self.inner.poll_pending(py)
    }

    #[getter]
    fn onopen(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.get_handler(py, Kind::Open)
    }
    #[setter]
    fn set_onopen(&self, py: Python<'_>, h: Option<Py<PyAny>>) -> PyResult<()> {
        self.set_handler(py, Kind::Open, "onopen", h)
    }
    #[getter]
    fn onmessage(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.get_handler(py, Kind::Message)
    }
    #[setter]
    fn set_onmessage(&self, py: Python<'_>, h: Option<Py<PyAny>>) -> PyResult<()> {
        self.set_handler(py, Kind::Message, "onmessage", h)
    }
    #[getter]
    fn onerror(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.get_handler(py, Kind::Error)
    }
    #[setter]
    fn set_onerror(&self, py: Python<'_>, h: Option<Py<PyAny>>) -> PyResult<()> {
        self.set_handler(py, Kind::Error, "onerror", h)
    }
    #[getter]
    fn onclose(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.get_handler(py, Kind::Close)
    }
    #[setter]
    fn set_onclose(&self, py: Python<'_>, h: Option<Py<PyAny>>) -> PyResult<()> {
        self.set_handler(py, Kind::Close, "onclose", h)
    }

    #[pyo3(signature = (r#type, listener, *, once=false))]
    fn add_event_listener(
        &self,
        py: Python<'_>,
        r#type: &str,
        listener: &Bound<'_, PyAny>,
        once: bool,
    ) -> PyResult<()> {
        if !listener.is_callable() {
            return Err(pyo3::exceptions::PyTypeError::new_err("the listener must be callable"));
        }
        let Some(kind) = Kind::parse(r#type) else { return Ok(()) };
        self.inner.listeners.lock().unwrap_or_else(|e| e.into_inner()).add(py, kind, listener, once)
    }

    fn remove_event_listener(
        &self,
        py: Python<'_>,
        r#type: &str,
        listener: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let Some(kind) = Kind::parse(r#type) else { return Ok(()) };
        let removed =
            self.inner.listeners.lock().unwrap_or_else(|e| e.into_inner()).remove(py, kind, listener)?;
        drop(removed);
        Ok(())
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        // While events can still fire, the handlers are held by the socket's
        // connection (as the browser keeps an open socket alive): only a
        // finished socket shows them to the garbage collector.
        if !self.inner.is_finished() {
            return Ok(());
        }
        match self.inner.listeners.try_lock() {
            Ok(l) => l.traverse(&visit),
            Err(_) => Ok(()),
        }
    }

    fn __clear__(&self) {
        let cleared = self.inner.listeners.lock().unwrap_or_else(|e| e.into_inner()).clear();
        drop(cleared);
    }
}
