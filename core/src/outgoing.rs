//! Data frames on their way out. `send()` encodes and masks each message
//! (compressing it first when permessage-deflate was negotiated) into one
//! shared buffer on the caller's thread (one copy, no allocation per
//! message, no channel slot), and wakes the connection task only when the
//! buffer goes from empty to non-empty. The task takes the whole buffer at
//! once and writes it before the control frames it adds after (pongs,
//! Close), so every frame sent before `close()` goes out before the Close
//! frame.

use crate::deflate::Deflater;
use futures_util::task::AtomicWaker;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::task::Waker;

/// Masking works through large payloads in blocks that stay in cache
/// between the copy and the XOR.
const MASK_BLOCK: usize = 64 * 1024;
/// From this payload size on, a frame is encoded outside the lock.
const OWN_BUFFER_MIN: usize = 64 * 1024;
/// Masking keys drawn from the thread's CSPRNG at a time.
const KEYS: usize = 32;

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

    /// Compresses every later message (set once, before the socket opens).
    pub(crate) fn set_deflater(&self, deflater: Deflater) {
        self.lock().deflater = Some(Box::new(deflater));
    }

    /// Keeps a written buffer for the next large message.
    pub(crate) fn keep_spare(&self, buf: Vec<u8>) {
        let mut f = self.lock();
        if buf.capacity() > f.spare.capacity() {
            f.spare = buf;
        }
    }

    /// Frees the kept buffer.
    pub(crate) fn release_spare(&self) {
        self.lock().spare = Vec::new();
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
    /// queue was empty.
    pub(crate) fn push(&self, text: bool, payload: &[u8]) {
        let opcode = if text { OPCODE_TEXT } else { OPCODE_BINARY };
        // A large frame is encoded into its own buffer before taking the
        // lock, so the connection task never waits for the copy (not when
        // compressing: messages go through the compressor in order).
        let own = if payload.len() >= OWN_BUFFER_MIN {
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
            // Nothing else is queued: the buffer itself becomes the queue.
            Some(own) if was_empty => f.bytes = own,
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
                        if f.compressed.capacity() > OWN_BUFFER_MIN {
                            f.compressed = Vec::new();
                        }
                    }
                    None => encode(&mut f.bytes, opcode, false, payload, key),
                }
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

pub(crate) const OPCODE_TEXT: u8 = 0x1;
pub(crate) const OPCODE_BINARY: u8 = 0x2;
pub(crate) const OPCODE_CLOSE: u8 = 0x8;
pub(crate) const OPCODE_PONG: u8 = 0xa;

/// Appends a final, masked frame of `payload` to `out` (RSV1 set when
/// `compressed`).
pub(crate) fn encode(out: &mut Vec<u8>, opcode: u8, compressed: bool, payload: &[u8], key: [u8; 4]) {
    let len = payload.len();
    out.reserve(14 + len);
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
            let t = out.take_into(&mut buf);
            assert_eq!(t, Taken { bytes: buf.len(), payload: n as u64 });
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
        out.take_into(&mut buf);
        assert_eq!(&buf[..3], &[1, 2, 3]);
        assert_eq!(unmask(&buf[3..]).1, b"abc");
        assert_eq!(out.take_into(&mut Vec::new()), Taken { bytes: 0, payload: 0 });
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
        let big = vec![b'x'; OWN_BUFFER_MIN * 2];
        out.push(true, b"hello hello hello");
        out.push(false, &big);
        let mut buf = Vec::new();
        let t = out.take_into(&mut buf);
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
            out.take_into(&mut buf);
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
