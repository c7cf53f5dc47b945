//! Data frames on their way out. `send()` encodes and masks each message
//! (compressing it first when permessage-deflate was negotiated) into one
//! shared buffer on the caller's thread (one copy, no allocation per
//! message, no channel slot), and wakes the connection task only when the
//! buffer goes from empty to non-empty. The task takes the whole buffer at
//! once and writes it before the control frames it adds after (pongs,
//! Close), so every frame sent before `close()` goes out before the Close
//! frame. A burst of small messages may instead be written by the sending
//! thread itself, and so may a large message sent by the socket's own
//! handler, piece by piece as it is masked (see [`crate::direct`]).

use crate::deflate::Deflater;
use crate::direct::{self, Caller};
use futures_util::task::AtomicWaker;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Waker;

/// Masking keys drawn from the thread's CSPRNG at a time.
const KEYS: usize = 32;
/// From this many bytes waiting, a sending thread may write them to the
/// socket itself; a message this large is encoded outside the lock.
const DIRECT_MIN: usize = 64 * 1024;
/// Beyond this many bytes waiting (a large message, or a backlog the task
/// is already writing), the task writes them: a direct write that the
/// socket cuts short would move the rest down in memory.
const DIRECT_MAX: usize = 1 << 20;
/// A message of this size or more, sent while nothing waits, is masked
/// piece by piece into a buffer this large and written to the socket
/// straight away, while the piece is still in the processor's cache (see
/// [`Outgoing::stream`]).
const PIECE: usize = 2 << 20;
/// The first piece is smaller: the server waits for it to be masked.
const FIRST_PIECE: usize = 128 * 1024;

struct Frames {
    bytes: Vec<u8>,
    /// Payload bytes in `bytes`.
    payload: u64,
    /// bufferedAmount: payload bytes passed to send() and not yet written,
    /// including those discarded after the closing handshake began.
    buffered: u64,
    /// Unused masking keys, `keys[next..]`.
    keys: [[u8; 4]; KEYS],
    next: usize,
    /// With permessage-deflate: the compressor, and its output buffer.
    deflater: Option<Box<Deflater>>,
    compressed: Vec<u8>,
    /// Messages compressed so far (see [`Outgoing::release_idle_deflater`]).
    compressions: u64,
    /// A large buffer already written, kept for the next large message
    /// (its pages are not faulted in again) until the connection idles.
    spare: Vec<u8>,
    /// The task has bytes of its own waiting or being written (a batch it
    /// took, pongs, a Close): a send meanwhile need not wake it (it looks
    /// for more when done), and may not write to the socket itself.
    task_busy: bool,
    /// The plain TCP socket, while sends may write to it themselves (see
    /// [`crate::direct`]); None before open, once closing, and over TLS.
    direct: Option<RawFd>,
    /// A handler writes a large message (see [`Outgoing::stream`]).
    streaming: bool,
    /// `bytes` starts with the last `cut` bytes of a frame whose
    /// beginning a send wrote itself: they must go out next, even after
    /// the closing handshake began.
    cut: usize,
    /// A direct write found the socket full: the next one waits until
    /// this many bytes wait (one write per [`DIRECT_MIN`] queued, not one
    /// per message, while the socket stays full); 0 otherwise.
    retry_at: usize,
}

impl Default for Frames {
    fn default() -> Self {
        Frames {
            bytes: Vec::new(),
            payload: 0,
            buffered: 0,
            keys: [[0; 4]; KEYS],
            next: KEYS,
            deflater: None,
            compressed: Vec::new(),
            compressions: 0,
            spare: Vec::new(),
            task_busy: false,
            direct: None,
            streaming: false,
            cut: 0,
            retry_at: 0,
        }
    }
}

impl Frames {
    /// A fresh masking key (RFC 6455 5.3: unpredictable, from a strong
    /// source of entropy: rand's ThreadRng, as tungstenite uses).
    fn key(&mut self) -> [u8; 4] {
        if self.next == KEYS {
            rand::fill(self.keys.as_flattened_mut());
            self.next = 0;
        }
        self.next += 1;
        self.keys[self.next - 1]
    }

    /// Writes as many of the waiting frames to the socket `fd` as it takes
    /// now; the rest stays waiting for the task.
    fn write_waiting(&mut self, fd: RawFd) {
        match direct::write_some(fd, &self.bytes) {
            Ok(n) if n == self.bytes.len() => {
                self.cut = 0;
                self.buffered -= self.payload;
                self.payload = 0;
                self.bytes.clear();
            }
            Ok(n) => {
                self.cut = rest_of_cut_frame(&self.bytes, self.cut, n);
                self.bytes.drain(..n);
                self.retry_at = self.bytes.len() + DIRECT_MIN;
            }
            // The task meets the error itself when it writes.
            Err(_) => self.direct = None,
        }
    }
}

/// What a batch taken by the connection task holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Taken {
    /// Encoded frame bytes.
    pub(crate) bytes: usize,
    /// Payload bytes, as counted by bufferedAmount.
    pub(crate) payload: u64,
    /// The first `cut` bytes finish a frame already partly written: they
    /// go out even if the rest is discarded (after the closing handshake
    /// began).
    pub(crate) cut: usize,
}

#[derive(Default)]
pub(crate) struct Outgoing {
    frames: Mutex<Frames>,
    /// `frames` is not empty (readable without the lock).
    pending: AtomicBool,
    task: AtomicWaker,
    /// See [`Outgoing::took_spare`].
    spare_used: AtomicBool,
}

impl Outgoing {
    fn lock(&self) -> MutexGuard<'_, Frames> {
        self.frames.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// bufferedAmount.
    pub(crate) fn buffered(&self) -> u64 {
        self.lock().buffered
    }

    /// A message sent once the connection is closing or closed: discarded,
    /// but counted in bufferedAmount, as in the browser.
    pub(crate) fn discard(&self, len: u64) {
        self.lock().buffered += len;
    }

    /// `len` payload bytes of taken frames were written to the network.
    pub(crate) fn written(&self, len: u64) {
        if len > 0 {
            self.lock().buffered -= len;
        }
    }

    /// Compresses every later message (set once, before the socket opens).
    pub(crate) fn set_deflater(&self, deflater: Deflater) {
        self.lock().deflater = Some(Box::new(deflater));
    }

    /// Keeps the larger of `buf` (written) and the buffer kept so far for
    /// the next large message; returns the other one, emptied, for the
    /// task's next batch. While the connection is busy its buffers move
    /// between the two sides instead of being allocated (and faulted in)
    /// again.
    pub(crate) fn keep_spare(&self, mut buf: Vec<u8>) -> Vec<u8> {
        buf.clear();
        let mut f = self.lock();
        if buf.capacity() > f.spare.capacity() {
            std::mem::swap(&mut buf, &mut f.spare);
        }
        buf
    }

    /// Frees the kept buffer, and the send buffer's capacity beyond
    /// `keep` bytes when it holds nothing.
    pub(crate) fn release_spare(&self, keep: usize) {
        let mut f = self.lock();
        f.spare = Vec::new();
        if f.bytes.is_empty() && f.bytes.capacity() > keep {
            f.bytes = Vec::new();
        }
    }

    /// Messages compressed so far; None without compression.
    pub(crate) fn compressions(&self) -> Option<u64> {
        let f = self.lock();
        f.deflater.as_ref().map(|_| f.compressions)
    }

    /// Frees the compressor if no message was compressed since
    /// [`Outgoing::compressions`] returned `seen`; true if it did.
    pub(crate) fn release_idle_deflater(&self, seen: u64) -> bool {
        let mut f = self.lock();
        if f.compressions != seen {
            return false;
        }
        if let Some(d) = f.deflater.as_mut() {
            d.release();
        }
        true
    }

    /// Appends one complete, masked data frame, and wakes the task if the
    /// queue was empty; or, a burst of small messages waiting, writes them
    /// to the socket directly (see [`crate::direct`]).
    pub(crate) fn push(&self, text: bool, payload: &[u8]) {
        let opcode = if text { OPCODE_TEXT } else { OPCODE_BINARY };
        if payload.len() >= DIRECT_MIN {
            let f = self.lock();
            if let Some(fd) = self.stream_fd(&f) {
                self.stream(f, fd, opcode, payload);
                return;
            }
        }
        // A large frame is encoded into its own buffer before taking the
        // lock, so the connection task never waits for the copy (not when
        // compressing: messages go through the compressor in order).
        let own = if payload.len() >= DIRECT_MIN {
            let mut f = self.lock();
            f.deflater.is_none().then(|| std::mem::take(&mut f.spare))
        } else {
            None
        };
        let own = own.map(|mut own| {
            own.clear();
            encode(&mut own, opcode, false, payload, rand::random());
            own
        });
        let mut f = self.lock();
        let was_empty = f.bytes.is_empty();
        match own {
            // Nothing else is queued: the buffer itself becomes the queue,
            // and the queue's empty buffer the spare if it is larger.
            Some(own) if was_empty => {
                let old = std::mem::replace(&mut f.bytes, own);
                if old.capacity() > f.spare.capacity() {
                    f.spare = old;
                }
            }
            Some(own) => f.bytes.extend_from_slice(&own),
            None => {
                let key = f.key();
                let f = &mut *f;
                match f.deflater.as_mut() {
                    Some(d) => {
                        f.compressed.clear();
                        d.compress(payload, &mut f.compressed);
                        f.compressions += 1;
                        encode(&mut f.bytes, opcode, true, &f.compressed, key);
                        if f.compressed.capacity() > DIRECT_MIN {
                            f.compressed = Vec::new();
                        }
                    }
                    None => encode(&mut f.bytes, opcode, false, payload, key),
                }
            }
        }
        f.payload += payload.len() as u64;
        f.buffered += payload.len() as u64;
        if (DIRECT_MIN.max(f.retry_at)..=DIRECT_MAX).contains(&f.bytes.len()) && payload.len() < DIRECT_MIN {
            if let Some(fd) = self.direct_fd(&f) {
                f.write_waiting(fd);
                self.after_direct(f);
                return;
            }
        }
        let wake = was_empty && !f.task_busy;
        if was_empty {
            self.pending.store(true, Ordering::Release);
        }
        drop(f);
        if wake {
            self.task.wake();
        }
    }

    /// The socket, if this send may write to it itself now: not from a
    /// handler (see [`crate::direct`]), nor while the task (or a handler,
    /// see [`Outgoing::stream`]) writes.
    fn direct_fd(&self, f: &Frames) -> Option<RawFd> {
        let fd = f.direct?;
        (!f.task_busy && !f.streaming && direct::caller() == Caller::Application).then_some(fd)
    }

    /// The socket, if this send may write a large message to it as it
    /// masks it ([`Outgoing::stream`]): the caller is the handler of this
    /// socket, run by its task with nothing of the server's left to read
    /// (so it writes what the task would write right after the handler:
    /// see [`crate::direct`]), and nothing waits to be written before it.
    fn stream_fd(&self, f: &Frames) -> Option<RawFd> {
        let fd = f.direct?;
        let own = direct::caller() == Caller::DrainedHandler(self.address());
        let free = f.bytes.is_empty() && !f.task_busy && !f.streaming && f.deflater.is_none();
        (own && free && !direct::unread(fd)).then_some(fd)
    }

    /// The address that names this socket's send state to
    /// [`crate::direct::as_handler`].
    pub(crate) fn address(&self) -> usize {
        self as *const Outgoing as usize
    }

    /// Writes one large frame to the socket `fd` while masking it, a
    /// [`PIECE`] at a time, from the handler of this socket (see
    /// [`Outgoing::stream_fd`]). The server reads each piece while the next
    /// is masked, where a frame masked whole before its first byte is
    /// written keeps the server waiting for the whole copy, and the kernel
    /// copies each piece while it is still in the processor's cache. What
    /// the socket does not take now is masked into the queue, for the task.
    ///
    /// The lock is not held meanwhile: the task, the only other writer, is
    /// the caller; sends from other threads queue behind this frame and do
    /// not write themselves (`streaming`), and bufferedAmount stays
    /// readable.
    fn stream(&self, mut f: MutexGuard<'_, Frames>, fd: RawFd, opcode: u8, payload: &[u8]) {
        f.streaming = true;
        let key = f.key();
        let mut piece = std::mem::take(&mut f.spare);
        // Empty (see stream_fd): its capacity, for what the socket leaves.
        let mut rest = std::mem::take(&mut f.bytes);
        drop(f);
        piece.clear();
        piece.reserve(PIECE.min(14 + payload.len()));
        let head = header(&mut piece, opcode, false, payload.len(), key);
        let mut at = 0;
        let mut failed = false;
        loop {
            let size = if at == 0 { FIRST_PIECE } else { PIECE };
            let n = size.saturating_sub(piece.len()).min(payload.len() - at);
            extend_masked(&mut piece, &payload[at..at + n], key, at);
            at += n;
            let wrote = direct::write_some(fd, &piece).unwrap_or_else(|_| {
                failed = true;
                0
            });
            if wrote < piece.len() || at == payload.len() {
                // The task meets an error itself when it writes the rest.
                rest.extend_from_slice(&piece[wrote..]);
                extend_masked(&mut rest, &payload[at..], key, at);
                break;
            }
            piece.clear();
        }
        // Payload bytes not written: the frame's last bytes are payload.
        let waiting = rest.len().min(payload.len()) as u64;
        let mut f = self.lock();
        f.streaming = false;
        if failed {
            f.direct = None;
        }
        if piece.capacity() > f.spare.capacity() {
            piece.clear();
            f.spare = piece;
        }
        self.spare_used.store(true, Ordering::Relaxed);
        if rest.is_empty() {
            if f.bytes.is_empty() && f.bytes.capacity() < rest.capacity() {
                f.bytes = rest;
            }
            return;
        }
        // Frames queued meanwhile by other threads follow this one.
        f.cut = if rest.len() < head + payload.len() { rest.len() } else { 0 };
        rest.extend_from_slice(&f.bytes);
        f.bytes = rest;
        f.payload += waiting;
        f.buffered += waiting;
        f.retry_at = f.bytes.len() + DIRECT_MIN;
        self.pending.store(true, Ordering::Release);
        drop(f);
        self.task.wake();
    }

    /// Whether a send kept a large buffer since the last call (the task
    /// frees it once the connection idles: [`Outgoing::release_spare`]).
    pub(crate) fn took_spare(&self) -> bool {
        self.spare_used.swap(false, Ordering::Relaxed)
    }

    /// After a direct write: what the socket did not take waits for the
    /// task, which is woken to write it.
    fn after_direct(&self, f: MutexGuard<'_, Frames>) {
        let waiting = !f.bytes.is_empty();
        self.pending.store(waiting, Ordering::Release);
        drop(f);
        if waiting {
            self.task.wake();
        }
    }

    /// Sends may write to the plain TCP socket `fd` themselves (the
    /// connection is open).
    pub(crate) fn start_direct(&self, fd: RawFd) {
        self.lock().direct = Some(fd);
    }

    /// From now on only the task writes (it is about to close, or to drop
    /// the socket). Waits for a direct write in progress.
    pub(crate) fn stop_direct(&self) {
        self.lock().direct = None;
    }

    /// The task has bytes of its own to write (a pong): sends neither wake
    /// it nor write to the socket themselves until
    /// [`Outgoing::batch_written`].
    pub(crate) fn mark_busy(&self) {
        self.lock().task_busy = true;
    }

    /// What the task took is written; `still_busy`: it has more of its own
    /// (see [`Outgoing::mark_busy`]). Returns whether frames are waiting.
    pub(crate) fn batch_written(&self, still_busy: bool) -> bool {
        let mut f = self.lock();
        f.task_busy = still_busy;
        f.retry_at = 0;
        !f.bytes.is_empty()
    }

    /// Whether the frames waiting start with the rest of one that a send
    /// began writing itself: the task's pong must then follow them, not
    /// cut into that frame. Stays true until [`Outgoing::take_into`] once
    /// the task is busy ([`Outgoing::mark_busy`]): only sends write frames
    /// in part.
    pub(crate) fn starts_cut(&self) -> bool {
        self.lock().cut > 0
    }

    /// Whether frames are waiting to be taken.
    pub(crate) fn is_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// The task calls this before checking [`Outgoing::is_pending`], so that
    /// a push that finds the buffer empty wakes it.
    pub(crate) fn register(&self, waker: &Waker) {
        self.task.register(waker);
    }

    /// Moves every waiting frame to the end of `out`. When `out` is empty
    /// the buffers are swapped, so its capacity is reused by later sends.
    /// `will_write`: the task writes what it took and then calls
    /// [`Outgoing::batch_written`]; until then sends do not wake it.
    pub(crate) fn take_into(&self, out: &mut Vec<u8>, will_write: bool) -> Taken {
        let mut f = self.lock();
        f.task_busy |= will_write && !f.bytes.is_empty();
        let taken = Taken { bytes: f.bytes.len(), payload: f.payload, cut: std::mem::take(&mut f.cut) };
        if out.is_empty() {
            std::mem::swap(out, &mut f.bytes);
        } else {
            out.extend_from_slice(&f.bytes);
            f.bytes.clear();
        }
        f.payload = 0;
        self.pending.store(false, Ordering::Release);
        taken
    }
}

pub(crate) const OPCODE_TEXT: u8 = 0x1;
pub(crate) const OPCODE_BINARY: u8 = 0x2;
pub(crate) const OPCODE_CLOSE: u8 = 0x8;
pub(crate) const OPCODE_PONG: u8 = 0xa;

/// Appends a final, masked frame of `payload` to `out` (RSV1 set when
/// `compressed`).
pub(crate) fn encode(out: &mut Vec<u8>, opcode: u8, compressed: bool, payload: &[u8], key: [u8; 4]) {
    out.reserve(14 + payload.len());
    header(out, opcode, compressed, payload.len(), key);
    extend_masked(out, payload, key, 0);
}

/// How many bytes of `frames` after the first `written` finish the frame
/// that those cut short (0 if they end between frames); `cut`: the first
/// `cut` bytes finished a frame already (the others are whole frames, as
/// [`encode`] made them).
fn rest_of_cut_frame(frames: &[u8], cut: usize, written: usize) -> usize {
    let mut at = cut;
    while at < written {
        let short = (frames[at + 1] & 0x7f) as usize;
        let (len, head) = match short {
            126 => (u16::from_be_bytes([frames[at + 2], frames[at + 3]]) as usize, 8),
            127 => (u64::from_be_bytes(frames[at + 2..at + 10].try_into().expect("8 bytes")) as usize, 14),
            n => (n, 6),
        };
        at += head + len;
    }
    at - written
}

/// Appends the header of a final, masked frame of `len` payload bytes;
/// its length.
fn header(out: &mut Vec<u8>, opcode: u8, compressed: bool, len: usize, key: [u8; 4]) -> usize {
    let start = out.len();
    out.push(0x80 | if compressed { 0x40 } else { 0 } | opcode);
    match len {
        0..=125 => out.push(0x80 | len as u8),
        126..=65535 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.len() - start
}

/// Appends `src`, the payload's bytes from offset `at`, XORed with the
/// masking key to `out`: one pass, reading `src` once and writing each
/// byte once.
fn extend_masked(out: &mut Vec<u8>, src: &[u8], key: [u8; 4], at: usize) {
    let key = [key[at & 3], key[(at + 1) & 3], key[(at + 2) & 3], key[(at + 3) & 3]];
    out.reserve(src.len());
    let wide = u64::from_ne_bytes([key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]]);
    let dst = &mut out.spare_capacity_mut()[..src.len()];
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (d, s) in (&mut d).zip(&mut s) {
        let v = u64::from_ne_bytes(s.try_into().expect("8 bytes")) ^ wide;
        for (d, b) in d.iter_mut().zip(v.to_ne_bytes()) {
            d.write(b);
        }
    }
    for (i, (d, s)) in d.into_remainder().iter_mut().zip(s.remainder()).enumerate() {
        d.write(s ^ key[i & 3]);
    }
    let len = out.len() + src.len();
    // SAFETY: the `src.len()` bytes after the vector's length were written
    // just above (the zip of two slices of that same length).
    unsafe { out.set_len(len) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses one masked frame at the start of `frame`: (first byte,
    /// unmasked payload, frame length).
    pub(crate) fn parse(frame: &[u8]) -> (u8, Vec<u8>, usize) {
        assert_eq!(frame[1] & 0x80, 0x80, "masked");
        let (len, at) = match frame[1] & 0x7f {
            126 => (u16::from_be_bytes([frame[2], frame[3]]) as usize, 4),
            127 => (u64::from_be_bytes(frame[2..10].try_into().unwrap()) as usize, 10),
            n => (n as usize, 2),
        };
        let key = &frame[at..at + 4];
        let p = frame[at + 4..at + 4 + len].iter().enumerate().map(|(i, b)| b ^ key[i % 4]).collect();
        (frame[0], p, at + 4 + len)
    }

    fn unmask(frame: &[u8]) -> (u8, Vec<u8>) {
        let (b0, p, n) = parse(frame);
        assert_eq!(n, frame.len());
        (b0, p)
    }

    #[test]
    fn frames_round_trip_for_every_length_format() {
        for n in [0usize, 1, 7, 8, 9, 125, 126, 65535, 65536, 200_003] {
            let out = Outgoing::default();
            let payload: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
            out.push(n % 2 == 0, &payload);
            assert!(out.is_pending());
            let mut buf = Vec::new();
            let t = out.take_into(&mut buf, false);
            assert_eq!(t, Taken { bytes: buf.len(), payload: n as u64, cut: 0 });
            assert!(!out.is_pending());
            let (b0, p) = unmask(&buf);
            let want = if n % 2 == 0 { OPCODE_TEXT } else { OPCODE_BINARY };
            assert_eq!(b0, 0x80 | want);
            assert_eq!(p, payload, "length {n}");
        }
    }

    #[test]
    fn small_and_large_frames_keep_their_order() {
        let out = Outgoing::default();
        let large = vec![7u8; DIRECT_MIN + 3];
        out.push(true, b"one");
        out.push(false, &large);
        out.push(true, b"three");
        let mut buf = Vec::new();
        let t = out.take_into(&mut buf, false);
        assert_eq!(t.payload, 3 + large.len() as u64 + 5);
        let mut at = 0;
        let mut got = Vec::new();
        while at < buf.len() {
            let (_, p, n) = parse(&buf[at..]);
            got.push(p);
            at += n;
        }
        assert_eq!(got, vec![b"one".to_vec(), large, b"three".to_vec()]);
        assert_eq!(out.buffered(), t.payload);
        out.written(t.payload);
        assert_eq!(out.buffered(), 0);
    }

    #[test]
    fn take_appends_after_what_the_caller_still_holds() {
        let out = Outgoing::default();
        out.push(false, b"abc");
        let mut buf = vec![1, 2, 3];
        out.take_into(&mut buf, false);
        assert_eq!(&buf[..3], &[1, 2, 3]);
        assert_eq!(unmask(&buf[3..]).1, b"abc");
        assert_eq!(out.take_into(&mut Vec::new(), false), Taken { bytes: 0, payload: 0, cut: 0 });
    }

    /// Wherever a write stops in a run of frames of every length format,
    /// what remains of the frame it cut is found from the headers.
    #[test]
    fn the_rest_of_a_cut_frame_is_found_from_the_headers() {
        let mut frames = Vec::new();
        let mut ends = Vec::new();
        for len in [0usize, 5, 125, 126, 300, 65_535, 65_536, 70_001, 3] {
            encode(&mut frames, OPCODE_BINARY, false, &vec![1u8; len], [1, 2, 3, 4]);
            ends.push(frames.len());
        }
        for written in 0..frames.len() {
            let want =
                ends.iter()
                    .find(|&&e| e > written)
                    .map_or(0, |&e| if written == 0 { 0 } else { e - written });
            let want = if ends.contains(&written) { 0 } else { want };
            assert_eq!(rest_of_cut_frame(&frames, 0, written), want, "after {written} bytes");
        }
        // Starting with the last 10 bytes of a frame cut before.
        let mut after_cut = vec![0xee; 10];
        after_cut.extend_from_slice(&frames);
        assert_eq!(rest_of_cut_frame(&after_cut, 10, 4), 6);
        assert_eq!(rest_of_cut_frame(&after_cut, 10, 10), 0);
        assert_eq!(rest_of_cut_frame(&after_cut, 10, 11), 10 + ends[0] - 11);
        assert_eq!(rest_of_cut_frame(&after_cut, 10, 10 + ends[1] + 1), ends[2] - ends[1] - 1);
    }

    /// Everything readable from `s` now.
    fn drain(s: &mut std::os::unix::net::UnixStream) -> Vec<u8> {
        use std::io::Read;
        s.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        got
    }

    /// A payload whose masked bytes show a wrong key phase: not a multiple
    /// of 4, pieces not either (the first carries the header).
    fn odd_payload(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + i / 7) as u8).collect()
    }

    /// The handler of a socket with nothing left to read sends a message
    /// larger than the socket takes: what the socket took and what waits
    /// for the task make one frame, masked correctly across the pieces;
    /// bufferedAmount counts the payload not written.
    #[test]
    fn a_streamed_frame_cut_short_by_a_full_socket_goes_on_from_the_queue() {
        use std::os::fd::AsRawFd;
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        let out = Outgoing::default();
        out.start_direct(a.as_raw_fd());
        let payload = odd_payload(3 * PIECE + 1_003);
        direct::as_handler(Some(out.address()), || out.push(false, &payload));
        let mut wire = drain(&mut b);
        assert!(!wire.is_empty(), "nothing was written while masking");
        assert!(out.is_pending(), "a socket pair does not take {} bytes", payload.len());
        let buffered = out.buffered();
        assert!(buffered > 0 && buffered < payload.len() as u64, "{buffered}");
        let mut rest = Vec::new();
        let t = out.take_into(&mut rest, false);
        assert_eq!(t.payload, buffered);
        wire.extend_from_slice(&rest);
        let (b0, p) = unmask(&wire);
        assert_eq!(b0, 0x80 | OPCODE_BINARY);
        assert!(p == payload, "the frame differs from what was sent");
    }

    /// A message the socket takes whole goes out from send(): nothing
    /// waits for the task, and bufferedAmount is 0 when it returns.
    #[test]
    fn a_streamed_frame_the_socket_takes_whole_leaves_nothing_queued() {
        use std::os::fd::AsRawFd;
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        // Within a socket pair's buffer (208 KiB on Linux by default).
        let payload = odd_payload(100_003);
        let out = Outgoing::default();
        out.start_direct(a.as_raw_fd());
        direct::as_handler(Some(out.address()), || out.push(true, &payload));
        assert!(!out.is_pending());
        assert_eq!(out.buffered(), 0);
        let (b0, p) = unmask(&drain(&mut b));
        assert_eq!(b0, 0x80 | OPCODE_TEXT);
        assert!(p == payload);
    }

    /// Bytes of the server's wait unread, or the caller is another
    /// socket's handler, or no handler: the message is queued for the
    /// task, none of it written by send().
    #[test]
    fn a_large_send_is_left_to_the_task_unless_its_handler_has_read_everything() {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let payload = odd_payload(PIECE + 5);
        for case in ["unread", "other socket", "not a handler", "undrained handler"] {
            let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
            let out = Outgoing::default();
            out.start_direct(a.as_raw_fd());
            let other = Outgoing::default();
            match case {
                "unread" => {
                    b.write_all(b"\x88\x00").unwrap();
                    direct::as_handler(Some(out.address()), || out.push(false, &payload));
                }
                "other socket" => direct::as_handler(Some(other.address()), || out.push(false, &payload)),
                "not a handler" => out.push(false, &payload),
                _ => direct::as_handler(None, || out.push(false, &payload)),
            }
            assert!(drain(&mut b).is_empty(), "{case}: send() wrote to the socket");
            let mut rest = Vec::new();
            assert_eq!(out.take_into(&mut rest, false).payload, payload.len() as u64, "{case}");
            assert!(unmask(&rest).1 == payload, "{case}");
        }
    }

    #[test]
    fn compressed_messages_set_rsv1_and_inflate_back() {
        use crate::deflate::{DeflateParams, Inflater};
        let p = DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        let out = Outgoing::default();
        out.set_deflater(Deflater::new(&p));
        let big = vec![b'x'; DIRECT_MIN * 2];
        out.push(true, b"hello hello hello");
        out.push(false, &big);
        let mut buf = Vec::new();
        let t = out.take_into(&mut buf, false);
        assert_eq!(t.payload, 17 + big.len() as u64, "bufferedAmount counts what send() was given");
        let mut inflater = Inflater::default();
        let (b0, c, n) = parse(&buf);
        assert_eq!(b0, 0x80 | 0x40 | OPCODE_TEXT);
        let mut m = bytes::BytesMut::new();
        inflater.inflate(&c, &mut m, 1 << 20).unwrap();
        inflater.finish(&mut m, 1 << 20).unwrap();
        assert_eq!(&m[..], b"hello hello hello");
        let (b0, c, _) = parse(&buf[n..]);
        assert_eq!(b0, 0x80 | 0x40 | OPCODE_BINARY);
        assert!(c.len() < 1000);
        let mut m = bytes::BytesMut::new();
        inflater.inflate(&c, &mut m, 1 << 20).unwrap();
        inflater.finish(&mut m, 1 << 20).unwrap();
        assert_eq!(&m[..], &big[..]);
    }

    #[test]
    fn a_released_compressor_starts_afresh_and_the_server_still_inflates() {
        use crate::deflate::{DeflateParams, Inflater};
        let p = DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        let out = Outgoing::default();
        assert_eq!(out.compressions(), None);
        out.set_deflater(Deflater::new(&p));
        let msg = b"the same message, again and again";
        let mut inflater = Inflater::default();
        let mut sizes = Vec::new();
        for i in 0..4 {
            if i == 2 {
                assert!(!out.release_idle_deflater(1), "a message was compressed since");
                assert!(out.release_idle_deflater(out.compressions().unwrap()));
            }
            out.push(true, msg);
            let mut buf = Vec::new();
            out.take_into(&mut buf, false);
            let (_, c, _) = parse(&buf);
            sizes.push(c.len());
            let mut m = bytes::BytesMut::new();
            inflater.inflate(&c, &mut m, 1 << 20).unwrap();
            inflater.finish(&mut m, 1 << 20).unwrap();
            assert_eq!(&m[..], &msg[..], "message {i}");
        }
        // Fresh after the release: no back-reference to the earlier ones.
        assert_eq!(sizes[2], sizes[0]);
        assert!(sizes[1] < sizes[0] && sizes[3] < sizes[0], "{sizes:?}");
    }
}
