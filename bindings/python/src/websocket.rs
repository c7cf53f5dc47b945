//! `wsnative._native.Socket`: the browser `WebSocket` object, its handlers
//! run by the dispatcher thread (`dispatch="thread"`) or by `poll()`
//! (`dispatch="poll"`). In both modes the socket's waiting events are
//! bounded by its `max_queued_bytes` budget (the connection stops reading
//! from the network while it is spent), and the state the program reads
//! (`ready_state`, `protocol`, `extensions`) moves as each event is
//! dispatched (`WebSocket::deliver`).

use crate::listeners::{self, Kind, Listeners, OnException};
use crate::{convert, dispatcher, errors, options, poll, wait};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use pyo3::PyVisit;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use wsnative_core::flow::cost;
use wsnative_core::{Event, EventQueue, FlowControl, WebSocket};

/// Most events one `poll()` call dispatches (as the C API's `ws_poll`).
pub(crate) const POLL_MAX_EVENTS: usize = 65_536;
/// After dispatching for this long, a `poll()` call starts no further
/// handler (one that is running is not interrupted).
pub(crate) const POLL_MAX_TIME: Duration = Duration::from_millis(50);

/// What one `poll()` call may still dispatch.
pub(crate) struct PollBudget {
    events: usize,
    deadline: Instant,
}

impl PollBudget {
    pub(crate) fn new() -> PollBudget {
        PollBudget { events: POLL_MAX_EVENTS, deadline: Instant::now() + POLL_MAX_TIME }
    }

    pub(crate) fn spent(&self) -> bool {
        self.events == 0 || Instant::now() >= self.deadline
    }
}

/// A socket in poll dispatch: the core's queue (bounded by the socket's
/// budget), and whether a `poll()` is dispatching it right now.
pub(crate) struct PollState {
    queue: Arc<EventQueue>,
    busy: AtomicBool,
}

/// Clears `PollState::busy` when a dispatch ends, even by an exception.
struct Busy<'a>(&'a AtomicBool);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

pub(crate) enum Mode {
    /// `dispatch="thread"`: the dispatcher thread releases each event's cost
    /// from this budget once its handlers have run.
    Thread(Arc<FlowControl>),
    Poll(PollState),
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
    pub(crate) mode: Mode,
}

impl Inner {
    pub(crate) fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Dispatches one event to the handlers (the GIL is held): the state the
    /// program reads moves to the event's first, and events the program
    /// does not get (the bookkeeping `Closing`, a message after `close()`)
    /// run no handler. Returns whether handlers were called for it.
    fn dispatch(&self, py: Python<'_>, ev: &Event, on_exception: OnException) -> PyResult<bool> {
        let Some(core) = self.core.get() else { return Ok(false) };
        if !core.deliver(ev) {
            return Ok(false);
        }
        if matches!(ev, Event::Close { .. }) {
            self.finished.store(true, Ordering::Release);
            if matches!(self.mode, Mode::Poll(_)) {
                // Its last event: the registry lets go of the socket (and of
                // its handlers, once the program holds no reference to it).
                poll::unregister(self);
            }
        }
        listeners::fire(py, &self.listeners, ev, on_exception).map(|()| true)
    }

    /// Thread dispatch: runs `ev`'s handlers (exceptions are reported), then
    /// gives its cost back to the socket's budget.
    pub(crate) fn dispatch_from_thread(&self, py: Python<'_>, ev: Event) {
        let _ = self.dispatch(py, &ev, OnException::Report);
        self.release(&ev);
    }

    /// Thread dispatch: gives `ev`'s cost back to the socket's budget (once
    /// its handlers ran, or when it will never be dispatched).
    pub(crate) fn release(&self, ev: &Event) {
        if let Mode::Thread(flow) = &self.mode {
            flow.release(cost(ev));
        }
    }

    /// Poll dispatch: runs this socket's waiting events in order until none
    /// is waiting or `budget` is spent; returns how many reached handlers.
    /// Dispatches nothing while another call dispatches this socket (a
    /// handler of this socket calling `poll()`, or another thread): events
    /// of one socket run one at a time, in order.
    pub(crate) fn poll_pending(&self, py: Python<'_>, budget: &mut PollBudget) -> PyResult<usize> {
        let Mode::Poll(p) = &self.mode else { return Ok(0) };
        if p.busy.swap(true, Ordering::AcqRel) {
            return Ok(0);
        }
        let _busy = Busy(&p.busy);
        let mut n = 0;
        while !budget.spent() {
            let Some(ev) = p.queue.pop(None) else { break };
            budget.events -= 1;
            if self.dispatch(py, &ev, OnException::Raise)? {
                n += 1;
            }
        }
        Ok(n)
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
        url: &Bound<'_, PyString>,
        protocols: Vec<Bound<'_, PyString>>,
        dispatch: &Bound<'_, PyString>,
        onopen: Option<Py<PyAny>>,
        onmessage: Option<Py<PyAny>>,
        onerror: Option<Py<PyAny>>,
        onclose: Option<Py<PyAny>>,
        options: &Bound<'_, PyDict>,
    ) -> PyResult<Self> {
        let (url, protocols) = convert::url_and_protocols(py, url, &protocols)?;
        let dispatch = dispatch.to_string_lossy();
        let poll = &*dispatch == "poll";
        let default_queued = if poll { options::POLL_MAX_QUEUED } else { options::THREAD_MAX_QUEUED };
        let options = options::from_dict(py, options, default_queued)?;
        let mut listeners = Listeners::default();
        for (kind, name, h) in [
            (Kind::Open, "onopen", onopen),
            (Kind::Message, "onmessage", onmessage),
            (Kind::Error, "onerror", onerror),
            (Kind::Close, "onclose", onclose),
        ] {
            listeners.set_attribute(kind, checked_handler(py, name, h)?);
        }
        let mode = if poll {
            Mode::Poll(PollState { queue: EventQueue::new(), busy: AtomicBool::new(false) })
        } else if dispatch == "thread" {
            Mode::Thread(FlowControl::new(options.max_queued_bytes))
        } else {
            return Err(errors::invalid_option(
                py,
                &format!("dispatch must be 'thread' or 'poll', not {:?}", &*dispatch),
            ));
        };
        let inner = Arc::new(Inner {
            core: OnceLock::new(),
            listeners: Mutex::new(listeners),
            finished: AtomicBool::new(false),
            mode,
        });
        // The GIL is held from here until the constructor returns: no
        // handler of this socket can run before its caller has the object.
        let ws = match &inner.mode {
            Mode::Thread(flow) => WebSocket::connect_with_flow(
                &url,
                &protocols,
                options,
                dispatcher::handler(Arc::clone(&inner)),
                Arc::clone(flow),
            ),
            Mode::Poll(p) => {
                p.queue.set_notify(Some(Box::new(poll::notify)));
                WebSocket::connect_queued(&url, &protocols, options, &p.queue)
            }
        }
        .map_err(|e| errors::to_py(py, &e))?;
        let _ = inner.core.set(ws);
        if matches!(inner.mode, Mode::Poll(_)) {
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
        match self.inner.mode {
            Mode::Thread(_) => "thread",
            Mode::Poll(_) => "poll",
        }
    }

    fn send(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        convert::send(py, self.core(), data)
    }

    #[pyo3(signature = (code=None, reason=None))]
    fn close(&self, py: Python<'_>, code: Option<i64>, reason: Option<Bound<'_, PyString>>) -> PyResult<()> {
        let code = options::close_code(py, code)?;
        let reason = convert::close_reason(py, reason.as_ref())?;
        self.core().close(code, reason.as_deref()).map_err(|e| errors::to_py(py, &e))
    }

    /// Poll dispatch: runs this socket's pending handlers, within the
    /// bounds of one call (`PollBudget`).
    #[pyo3(signature = (timeout=None))]
    fn poll(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<usize> {
        let Mode::Poll(p) = &self.inner.mode else {
            return Err(errors::invalid_state(py, "poll() needs a socket created with dispatch=\"poll\""));
        };
        let timeout = wait::timeout_arg(timeout)?;
        if timeout.is_some() && p.queue.is_empty() {
            let queue = Arc::clone(&p.queue);
            wait::wait_for(py, timeout, |slice| queue.wait_nonempty(slice).then_some(()))?;
        }
        self.inner.poll_pending(py, &mut PollBudget::new())
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
        r#type: &Bound<'_, PyString>,
        listener: &Bound<'_, PyAny>,
        once: bool,
    ) -> PyResult<()> {
        if !listener.is_callable() {
            return Err(pyo3::exceptions::PyTypeError::new_err("the listener must be callable"));
        }
        // A type that is not valid UTF-8 is no known type: it never fires.
        let Some(kind) = Kind::parse(&r#type.to_string_lossy()) else { return Ok(()) };
        self.inner.listeners.lock().unwrap_or_else(|e| e.into_inner()).add(py, kind, listener, once)
    }

    fn remove_event_listener(
        &self,
        py: Python<'_>,
        r#type: &Bound<'_, PyString>,
        listener: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let Some(kind) = Kind::parse(&r#type.to_string_lossy()) else { return Ok(()) };
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
