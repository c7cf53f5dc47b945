//! Data frames on their way out. `send()` encodes and masks each message
//! into one shared buffer on the caller's thread (one copy, no allocation
//! per message, no channel slot), and wakes the connection task only when
//! the buffer goes from empty to non-empty. The task takes the whole buffer
//! at once and hands it to the stream layer, which writes it before any
//! frame tungstenite writes later (pongs, Close), so every frame sent before
//! `close()` goes out before the Close frame.

use futures_util::task::AtomicWaker;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::task::Waker;
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

/// Masking works through large payloads in blocks that stay in cache
/// between the copy and the XOR.
const MASK_BLOCK: usize = 64 * 1024;
/// From this payload size on, a frame is encoded outside the lock.
const OWN_BUFFER_MIN: usize = 64 * 1024;
/// Masking keys drawn from the thread's CSPRNG at a time.
const KEYS: usize = 8;

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
}

impl Default for Frames {
    fn default() -> Self {
        Frames { bytes: Vec::new(), payload: 0, buffered: 0, keys: [[0; 4]; KEYS], next: KEYS }
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
}

/// What a batch taken by the connection task holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Taken {
    /// Encoded frame bytes.
    pub(crate) bytes: usize,
    /// Payload bytes, as counted by bufferedAmount.
    pub(crate) payload: u64,
}

#[derive(Default)]
pub(crate) struct Outgoing {
    frames: Mutex<Frames>,
    /// `frames` is not empty (readable without the lock).
    pending: AtomicBool,
    task: AtomicWaker,
}

impl Outgoing {
    fn lock(&self) -> std::sync::MutexGuard<'_, Frames> {
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

    /// Appends one complete, masked data frame, and wakes the task if the
    /// queue was empty.
    pub(crate) fn push(&self, text: bool, payload: &[u8]) {
        // A large frame is encoded into its own buffer before taking the
        // lock, so the connection task never waits for the copy.
        let own = (payload.len() >= OWN_BUFFER_MIN).then(|| {
            let mut own = Vec::new();
            encode(&mut own, text, payload, rand::random());
            own
        });
        let mut f = self.lock();
        let was_empty = f.bytes.is_empty();
        match own {
            // Nothing else is queued: the buffer itself becomes the queue.
            Some(own) if was_empty => f.bytes = own,
            Some(own) => f.bytes.extend_from_slice(&own),
            None => {
                let key = f.key();
                encode(&mut f.bytes, text, payload, key);
            }
        }
        f.payload += payload.len() as u64;
        f.buffered += payload.len() as u64;
        if was_empty {
            self.pending.store(true, Ordering::Release);
        }
        drop(f);
        if was_empty {
            self.task.wake();
        }
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
    pub(crate) fn take_into(&self, out: &mut Vec<u8>) -> Taken {
        let mut f = self.lock();
        let taken = Taken { bytes: f.bytes.len(), payload: f.payload };
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

/// Appends a masked frame of `payload` to `out`.
fn encode(out: &mut Vec<u8>, text: bool, payload: &[u8], key: [u8; 4]) {
    let len = payload.len() as u64;
    let header = FrameHeader {
        is_final: true,
        opcode: OpCode::Data(if text { Data::Text } else { Data::Binary }),
        mask: Some(key),
        ..FrameHeader::default()
    };
    out.reserve(header.len(len) + payload.len());
    header.format(len, out).expect("writing to a Vec cannot fail");
    for block in payload.chunks(MASK_BLOCK) {
        let start = out.len();
        out.extend_from_slice(block);
        // Blocks are multiples of 4 bytes long, so each starts at key[0].
        apply_mask(&mut out[start..], key);
    }
}

/// XORs `buf` with the 4-byte masking key, starting at `key[0]`.
fn apply_mask(buf: &mut [u8], key: [u8; 4]) {
    let wide = u64::from_ne_bytes([key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]]);
    let mut words = buf.chunks_exact_mut(8);
    for w in &mut words {
        let v = u64::from_ne_bytes((&*w).try_into().expect("8 bytes")) ^ wide;
        w.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in words.into_remainder().iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn unmask(frame: &[u8]) -> (FrameHeader, Vec<u8>) {
        let mut c = Cursor::new(frame);
        let (h, len) = FrameHeader::parse(&mut c).unwrap().unwrap();
        let start = c.position() as usize;
        let mut p = frame[start..].to_vec();
        assert_eq!(p.len() as u64, len);
        let key = h.mask.unwrap();
        for (i, b) in p.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
        (h, p)
    }

    #[test]
    fn frames_round_trip_for_every_length_format() {
        for n in [0usize, 1, 7, 8, 9, 125, 126, 65535, 65536, 200_003] {
            let out = Outgoing::default();
            let payload: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
            out.push(n % 2 == 0, &payload);
            assert!(out.is_pending());
            let mut buf = Vec::new();
            let t = out.take_into(&mut buf);
            assert_eq!(t, Taken { bytes: buf.len(), payload: n as u64 });
            assert!(!out.is_pending());
            let (h, p) = unmask(&buf);
            assert!(h.is_final);
            let want = if n % 2 == 0 { Data::Text } else { Data::Binary };
            assert_eq!(h.opcode, OpCode::Data(want));
            assert_eq!(p, payload, "length {n}");
        }
    }

    #[test]
    fn small_and_large_frames_keep_their_order() {
        let out = Outgoing::default();
        let large = vec![7u8; OWN_BUFFER_MIN + 3];
        out.push(true, b"one");
        out.push(false, &large);
        out.push(true, b"three");
        let mut buf = Vec::new();
        let t = out.take_into(&mut buf);
        assert_eq!(t.payload, 3 + large.len() as u64 + 5);
        let mut at = 0;
        let mut got = Vec::new();
        while at < buf.len() {
            let mut c = Cursor::new(&buf[at..]);
            let (_, len) = FrameHeader::parse(&mut c).unwrap().unwrap();
            let end = at + c.position() as usize + len as usize;
            got.push(unmask(&buf[at..end]).1);
            at = end;
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
        out.take_into(&mut buf);
        assert_eq!(&buf[..3], &[1, 2, 3]);
        assert_eq!(unmask(&buf[3..]).1, b"abc");
        assert_eq!(out.take_into(&mut Vec::new()), Taken { bytes: 0, payload: 0 });
    }
}
