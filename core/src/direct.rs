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
//! Handlers the task runs (immediate dispatch) do not write small messages
//! directly: what they send goes out after the task has read what had
//! already arrived, as in Chromium, which drops what a page sends once the
//! server's Close has reached the network process (see `connection.rs`).
//! A large message from the handler of the socket itself is the exception
//! when the task has nothing of the server's left to read, in its buffer or
//! in the socket (`FIONREAD`): the task would write it next anyway, and
//! writing it while masking it lets the server read the first pieces while
//! the rest is masked (`Outgoing::stream`; measured on W4, 16 MiB echoes:
//! ×0.88 → ×0.99 of a client that masks nothing). Pieces of 64 KiB and
//! 256 KiB were slower than one large write by the task (a system call and
//! a wake-up of the server per piece); 2 MiB pieces are not, after a first
//! piece of 128 KiB (the server waits for the first piece alone: ×0.92 →
//! ×0.96 against all pieces of 2 MiB; doubling sizes from 64 KiB: ×0.92).

use std::cell::Cell;
use std::io;
use std::os::fd::RawFd;

/// Who runs on this thread, as far as sends are concerned.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caller {
    /// Not a handler: an application's thread, or a binding's dispatcher.
    Application,
    /// A handler of an immediate-dispatch socket, run by its connection
    /// task with bytes still to read (in its buffer, or maybe not yet).
    Handler,
    /// A handler run by the task of the socket whose send state is at this
    /// address, when that task had nothing more buffered to read.
    DrainedHandler(usize),
}

thread_local! {
    static CALLER: Cell<Caller> = const { Cell::new(Caller::Application) };
}

/// Runs `f`, an application's handler called by a connection task;
/// `drained`: the address of that socket's send state when the task has
/// read everything it holds (see [`Caller::DrainedHandler`]).
pub(crate) fn as_handler<R>(drained: Option<usize>, f: impl FnOnce() -> R) -> R {
    struct Restore(Caller);
    impl Drop for Restore {
        fn drop(&mut self) {
            CALLER.with(|h| h.set(self.0));
        }
    }
    let now = drained.map_or(Caller::Handler, Caller::DrainedHandler);
    let _restore = Restore(CALLER.with(|h| h.replace(now)));
    f()
}

/// Who is calling.
pub(crate) fn caller() -> Caller {
    CALLER.with(Cell::get)
}

/// Whether the server's bytes are waiting in the socket `fd`, unread (or
/// the socket cannot say).
pub(crate) fn unread(fd: RawFd) -> bool {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int; `fd` is open (see the module doc).
    let r = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
    r != 0 || n > 0
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
