//! Writing to a plain TCP socket from the thread that calls `send()`.
//!
//! The connection task writes what `send()` queued. But when a thread sends
//! a burst of messages while the task has nothing of its own to write, the
//! sending thread writes the burst itself, 64 KiB at a time, as a
//! synchronous client would ([`crate::outgoing`] decides when): what waits
//! in memory stays that small while the socket takes it, where a sender
//! that outruns the task would otherwise queue megabytes, and the task
//! would pay for their pages and for a hand-off every few hundred messages.
//!
//! The writes never block (`MSG_DONTWAIT`): what the socket does not take
//! stays queued for the task, which waits for the socket to drain. They
//! happen under the lock of the send buffer, which the task takes before
//! it writes anything or closes the socket, so the two never write at the
//! same time, and never after the socket is closed.
//!
//! Handlers the task runs (immediate dispatch) never write directly: what
//! they send goes out after the task has read what had already arrived, as
//! in Chromium, which drops what a page sends once the server's Close has
//! reached the network process (see `connection.rs`). Large messages are
//! not written directly either: measured on W4 (16 MiB echoes), writing
//! them in pieces from the sending thread was slower than one large write
//! by the task.

use std::cell::Cell;
use std::io;
use std::os::fd::RawFd;

thread_local! {
    /// A handler of an immediate-dispatch socket runs on this thread.
    static IN_HANDLER: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, an application's handler called by a connection task.
pub(crate) fn as_handler<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            IN_HANDLER.with(|h| h.set(self.0));
        }
    }
    let _restore = Restore(IN_HANDLER.with(|h| h.replace(true)));
    f()
}

/// Whether the caller is a handler run by a connection task.
pub(crate) fn in_handler() -> bool {
    IN_HANDLER.with(Cell::get)
}

/// Writes as much of `buf` as the socket takes now; the count written.
/// An error other than "would block" is returned only when nothing was
/// written.
pub(crate) fn write_some(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &buf[done..];
        // SAFETY: `rest` is valid for its length; `fd` is open (see the
        // module doc). MSG_NOSIGNAL: a closed peer gives EPIPE, not SIGPIPE.
        let n = unsafe {
            libc::send(fd, rest.as_ptr().cast(), rest.len(), libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
        };
        if n >= 0 {
            done += n as usize;
            continue;
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => break,
            _ if done > 0 => break,
            _ => return Err(e),
        }
    }
    Ok(done)
}
