//! Writing to a plain TCP socket from the thread that calls `send()`.
//!
//! The connection task writes what `send()` queued, but when a burst of
//! messages or one large message is sent while the task has nothing of its
//! own to write, the sending thread writes it itself, as a synchronous
//! client would ([`crate::outgoing`] decides when):
//!
//! - a burst of small messages leaves in 64 KiB writes, and what waits in
//!   memory stays that small while the socket takes it (otherwise a sender
//!   that outruns the task queues megabytes, and the task pays for the
//!   pages and the hand-off);
//! - a large message is masked in 64 KiB pieces, each written while it is
//!   still in cache: the server starts receiving at once, and the message
//!   is not copied whole before the first byte leaves.
//!
//! The writes never block (`MSG_DONTWAIT`): what the socket does not take
//! stays queued for the task, which waits for the socket to drain. They
//! happen under the lock of the send buffer, which the task takes before
//! it writes anything or closes the socket, so the two never write at the
//! same time, and never after the socket is closed.
//!
//! A handler the task runs (immediate dispatch) writes directly only when
//! nothing more has arrived from the server: Chromium drops what a page
//! sends after the server's Close has reached the network process, so data
//! sent from a handler must not leave before bytes that had already arrived
//! are read (see `connection.rs`).

use std::cell::Cell;
use std::io;
use std::os::fd::RawFd;

thread_local! {
    /// The send buffer whose handler runs on this thread, or [`BLOCKED`].
    static HANDLER: Cell<usize> = const { Cell::new(0) };
}

/// A handler runs that may not write to the socket directly.
pub(crate) const BLOCKED: usize = 1;

/// Where a `send()` comes from.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Caller {
    /// A thread the task's handlers do not run on (or not now).
    Outside,
    /// The handler of this socket, with nothing more read from the server.
    OwnHandler,
    /// Any other handler.
    Handler,
}

/// Runs `f` as a handler of the send buffer identified by `id` (its
/// address), or as a handler that never writes directly ([`BLOCKED`]).
pub(crate) fn as_handler<R>(id: usize, f: impl FnOnce() -> R) -> R {
    struct Restore(usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            HANDLER.with(|h| h.set(self.0));
        }
    }
    let _restore = Restore(HANDLER.with(|h| h.replace(id)));
    f()
}

/// Who calls `send()` on the send buffer `id`.
pub(crate) fn caller(id: usize) -> Caller {
    match HANDLER.with(Cell::get) {
        0 => Caller::Outside,
        h if h == id => Caller::OwnHandler,
        _ => Caller::Handler,
    }
}

/// Bytes the server sent that wait in the kernel, unread.
pub(crate) fn unread(fd: RawFd) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int; `fd` is open (see the module doc).
    if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n.max(0) as usize)
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
