//! Wakes an asyncio event loop from runtime threads without the GIL: a
//! socket pair whose read end the loop watches (`loop.add_reader`). One
//! waker serves every socket of a loop; at most one byte is in flight
//! between two `drain()` calls, however many events arrive.

use pyo3::prelude::*;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub(crate) struct WakerInner {
    reader: UnixStream,
    writer: UnixStream,
    /// A wake-up byte may be written (none is pending).
    armed: AtomicBool,
    /// Sockets that have new events since the last `drain()`.
    ready: Mutex<Vec<u64>>,
}

impl WakerInner {
    /// Marks socket `id` ready (runtime thread; never blocks).
    pub(crate) fn wake(&self, id: u64) {
        self.ready.lock().unwrap_or_else(|e| e.into_inner()).push(id);
        if self.armed.swap(false, Ordering::AcqRel) {
            // A full pipe means a wake-up is already pending.
            let _ = (&self.writer).write(&[1]);
        }
    }
}

/// The wake-up channel of one asyncio loop.
#[pyclass(frozen, module = "wsnative._native")]
pub struct Waker {
    pub(crate) inner: Arc<WakerInner>,
}

#[pymethods]
impl Waker {
    #[new]
    fn new() -> PyResult<Self> {
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        Ok(Waker {
            inner: Arc::new(WakerInner {
                reader,
                writer,
                armed: AtomicBool::new(true),
                ready: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The file descriptor to watch for reading.
    fn fileno(&self) -> i32 {
        self.inner.reader.as_raw_fd()
    }

    /// Consumes the wake-up and returns the ids of the sockets that have new
    /// events (possibly with repeats, possibly already handled).
    fn drain(&self) -> Vec<u64> {
        // At most one byte is in flight (see `armed`): one read takes it.
        let mut buf = [0u8; 64];
        let _ = (&self.inner.reader).read(&mut buf);
        // Re-arm before taking the list: an event after this point writes a
        // new byte, one before it is in the list.
        self.inner.armed.store(true, Ordering::Release);
        std::mem::take(&mut *self.inner.ready.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
