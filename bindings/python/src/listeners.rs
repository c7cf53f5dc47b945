//! Event handlers of a browser-style socket: the `on<type>` attributes and
//! the listeners added with `add_event_listener`, kept in one list in the
//! order the browser calls them (an `on<type>` attribute takes its place in
//! the list when it is first set, and leaves it when set to `None`).

use crate::convert;
use crate::events::{CloseEvent, ErrorEvent, MessageEvent, OpenEvent};
use pyo3::prelude::*;
use pyo3::PyVisit;
use wsnative_core::Event;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Open = 0,
    Message = 1,
    Error = 2,
    Close = 3,
}

impl Kind {
    pub(crate) fn parse(name: &str) -> Option<Kind> {
        match name {
            "open" => Some(Kind::Open),
            "message" => Some(Kind::Message),
            "error" => Some(Kind::Error),
            "close" => Some(Kind::Close),
            _ => None,
        }
    }

    /// The type of an event the program gets (`None` for the core's
    /// bookkeeping `Closing`, which `WebSocket::deliver` never lets through).
    fn of(ev: &Event) -> Option<Kind> {
        match ev {
            Event::Open => Some(Kind::Open),
            Event::Message(_) => Some(Kind::Message),
            Event::Error { .. } => Some(Kind::Error),
            Event::Close { .. } => Some(Kind::Close),
            Event::Closing => None,
        }
    }
}

pub(crate) enum Entry {
    /// The place of the `on<kind>` attribute.
    Attribute(Kind),
    Listener {
        kind: Kind,
        callback: Py<PyAny>,
        once: bool,
    },
}

#[derive(Default)]
pub(crate) struct Listeners {
    attributes: [Option<Py<PyAny>>; 4],
    entries: Vec<Entry>,
}

impl Listeners {
    pub(crate) fn attribute(&self, py: Python<'_>, kind: Kind) -> Option<Py<PyAny>> {
        self.attributes[kind as usize].as_ref().map(|h| h.clone_ref(py))
    }

    /// Sets `on<kind>`; the previous handler (if any) is returned so that the
    /// caller drops it after releasing the lock.
    pub(crate) fn set_attribute(&mut self, kind: Kind, handler: Option<Py<PyAny>>) -> Option<Py<PyAny>> {
        let slot = &mut self.attributes[kind as usize];
        match (slot.is_some(), handler.is_some()) {
            (false, true) => self.entries.push(Entry::Attribute(kind)),
            (true, false) => self.entries.retain(|e| !matches!(e, Entry::Attribute(k) if *k == kind)),
            _ => {}
        }
        std::mem::replace(slot, handler)
    }

    fn position(&self, py: Python<'_>, kind: Kind, callback: &Bound<'_, PyAny>) -> PyResult<Option<usize>> {
        for (i, e) in self.entries.iter().enumerate() {
            if let Entry::Listener { kind: k, callback: c, .. } = e {
                if *k == kind && (c.is(callback) || c.bind(py).eq(callback)?) {
                    return Ok(Some(i));
                }
            }
        }
        Ok(None)
    }

    /// `add_event_listener`: a listener already present is not added twice.
    pub(crate) fn add(
        &mut self,
        py: Python<'_>,
        kind: Kind,
        callback: &Bound<'_, PyAny>,
        once: bool,
    ) -> PyResult<()> {
        if self.position(py, kind, callback)?.is_none() {
            self.entries.push(Entry::Listener { kind, callback: callback.clone().unbind(), once });
        }
        Ok(())
    }

    /// `remove_event_listener`; the removed callback is returned to be
    /// dropped after the lock is released.
    pub(crate) fn remove(
        &mut self,
        py: Python<'_>,
        kind: Kind,
        callback: &Bound<'_, PyAny>,
    ) -> PyResult<Option<Entry>> {
        Ok(self.position(py, kind, callback)?.map(|i| self.entries.remove(i)))
    }

    /// The callbacks to run for `kind`, in order; `once` listeners are
    /// removed (into `removed`, to be dropped outside the lock).
    fn callbacks(&mut self, py: Python<'_>, kind: Kind, out: &mut Vec<Py<PyAny>>, removed: &mut Vec<Entry>) {
        let mut i = 0;
        while i < self.entries.len() {
            match &self.entries[i] {
                Entry::Attribute(k) if *k == kind => {
                    if let Some(h) = &self.attributes[kind as usize] {
                        out.push(h.clone_ref(py));
                    }
                }
                Entry::Listener { kind: k, callback, once } if *k == kind => {
                    out.push(callback.clone_ref(py));
                    if *once {
                        removed.push(self.entries.remove(i));
                        continue;
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }

    /// Drops every handler (after the close event, or for the GC).
    pub(crate) fn clear(&mut self) -> (Vec<Entry>, [Option<Py<PyAny>>; 4]) {
        (std::mem::take(&mut self.entries), std::mem::take(&mut self.attributes))
    }

    pub(crate) fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        for h in self.attributes.iter().flatten() {
            visit.call(h)?;
        }
        for e in &self.entries {
            if let Entry::Listener { callback, .. } = e {
                visit.call(callback)?;
            }
        }
        Ok(())
    }
}

/// How a failing handler is reported.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnException {
    /// Dispatcher thread: report to `sys.unraisablehook` and go on, as the
    /// browser reports an exception in a listener and goes on.
    Report,
    /// `poll()`: the exception propagates to the caller of `poll()`.
    Raise,
}

/// Runs the handlers of `ev`, taking the handler list from `lock`.
pub(crate) fn fire(
    py: Python<'_>,
    lock: &std::sync::Mutex<Listeners>,
    ev: &Event,
    on_exception: OnException,
) -> PyResult<()> {
    let Some(kind) = Kind::of(ev) else { return Ok(()) };
    let mut callbacks = Vec::new();
    let mut removed = Vec::new();
    lock.lock().unwrap_or_else(|e| e.into_inner()).callbacks(py, kind, &mut callbacks, &mut removed);
    drop(removed);
    if callbacks.is_empty() {
        return Ok(());
    }
    let event: Bound<'_, PyAny> = match ev {
        Event::Open => Bound::new(py, OpenEvent)?.into_any(),
        Event::Message(m) => Bound::new(py, MessageEvent::new(convert::message(py, m).unbind()))?.into_any(),
        Event::Error { message, cause } => {
            Bound::new(py, ErrorEvent::new(message.clone(), cause.code, cause.response.as_ref()))?.into_any()
        }
        Event::Close { code, reason, was_clean } => {
            Bound::new(py, CloseEvent::new(*code, reason.clone(), *was_clean))?.into_any()
        }
        Event::Closing => return Ok(()),
    };
    for cb in callbacks {
        let cb = cb.bind(py);
        if let Err(e) = cb.call1((&event,)) {
            match on_exception {
                OnException::Raise => return Err(e),
                OnException::Report => e.write_unraisable(py, Some(cb)),
            }
        }
    }
    Ok(())
}
