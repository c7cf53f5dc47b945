//! Waking the task less often while a large binary frame arrives. The
//! task reads whatever the socket holds and sleeps until more comes; when
//! it reads faster than the server writes, the kernel wakes it for every
//! few segments, and each wake-up is paid by the sender too (on a virtual
//! machine, an interprocessor interrupt per write). While most of a frame
//! is still to come, and nothing but its payload can come before its end,
//! the task asks the kernel (`SO_RCVLOWAT`) to wake it only once a good
//! part of it has arrived: never more than the frame still owes, so the
//! wait always ends. Reads themselves are not held back, and a closed or
//! failed connection wakes the task at once, as always.
//!
//! Only for binary frames that are not compressed: text is checked as
//! UTF-8 as it arrives, and compressed data is inflated (and held to the
//! size limit) as it arrives, and both must fail as soon as the bad byte
//! is read.

use std::os::fd::RawFd;

/// The most the task waits for at once.
const MOST: u64 = 256 * 1024;
/// Below this many bytes to wait for, the task is woken as usual.
const LEAST: u64 = 64 * 1024;
/// What TLS may hold above the socket when it has no plaintext to give:
/// part of one record (18 KiB at most; see read_ahead.rs, which holds
/// nothing by then).
const TLS_HOLDS: u32 = 64 * 1024;

/// The low-water mark of one TCP socket.
pub(crate) struct LowWater {
    fd: RawFd,
    /// Bytes of the stream that layers above the socket may hold.
    above: u32,
    /// The mark set now (1 is the kernel's default).
    set: u32,
}

impl LowWater {
    /// A plain TCP socket.
    pub(crate) fn plain(fd: RawFd) -> LowWater {
        LowWater { fd, above: 0, set: 1 }
    }

    /// The TCP socket under a TLS stream.
    pub(crate) fn under_tls(fd: RawFd) -> LowWater {
        LowWater { fd, above: TLS_HOLDS, set: 1 }
    }

    /// Before the task waits for the socket: `owed` payload bytes of the
    /// binary frame being read are still to come (0: no such frame).
    pub(crate) fn before_wait(&mut self, owed: u64) {
        let want = owed.saturating_sub(self.above.into()).min(MOST);
        let want = if want < LEAST { 1 } else { want as u32 };
        if want == self.set {
            return;
        }
        let v = want as libc::c_int;
        // SAFETY: an int option of an open socket (the task owns it).
        let r = unsafe {
            libc::setsockopt(
                self.fd,
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                (&v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        // If the kernel refuses, the default stays: woken as usual.
        if r == 0 {
            self.set = want;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn mark(fd: RawFd) -> u64 {
        let mut v: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: an int option of an open socket, into an int.
        let r = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                (&mut v as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(r, 0);
        v as u64
    }

    #[test]
    fn the_mark_is_what_the_frame_owes_beyond_what_layers_above_may_hold() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let s = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let fd = s.as_raw_fd();
        let mut plain = LowWater::plain(fd);
        for (owed, want) in
            [(10 << 20, MOST), (MOST + 1, MOST), (200_000, 200_000), (LEAST, LEAST), (LEAST - 1, 1), (0, 1)]
        {
            plain.before_wait(owed);
            assert_eq!(mark(fd), want, "plain, {owed} bytes owed");
        }
        let mut tls = LowWater::under_tls(fd);
        for (owed, want) in [
            (10 << 20, MOST),
            (u64::from(TLS_HOLDS) + 100_000, 100_000),
            (u64::from(TLS_HOLDS) + LEAST, LEAST),
            (u64::from(TLS_HOLDS) + LEAST - 1, 1),
            (50_000, 1),
        ] {
            tls.before_wait(owed);
            assert_eq!(mark(fd), want, "under TLS, {owed} bytes owed");
        }
    }
}
