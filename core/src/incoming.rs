//! The receive half of an open connection: reads the server's bytes, parses
//! each frame once, checks it, assembles and (with permessage-deflate)
//! inflates messages.
//!
//! Checked as the bytes arrive (RFC 6455 5.2, 5.4, 5.5, 7.4, 8.1; RFC 7692
//! 6): frames unmasked, minimal length encoding with a clear top bit, known
//! opcodes, RSV1 only on the first frame of a data message and only with
//! permessage-deflate, no RSV2/RSV3, control frames unfragmented and at most
//! 125 bytes, continuation frames only inside a message, text valid UTF-8
//! (failing as soon as the bad byte is seen, not when the message ends),
//! the message size (inflated) within the limit before the payload is
//! read, and the Close frame's code and reason. Every complete message
//! before a violation is still delivered.
//!
//! Speed: many messages are parsed out of one read of up to
//! [`READ_AHEAD`] bytes; a small single-frame message is lent in place or
//! is a slice of that read (no copy), as [`Small`] says; a large payload is
//! read from the socket straight into its message's own buffer. The read buffer is
//! released whenever the network has nothing more, so an idle connection
//! holds none.

use crate::deflate::{InflateError, Inflater};
use crate::utf8_stream::Utf8Stream;
use crate::validate::{is_valid_received_close_code, is_valid_received_close_code_chromium};
use bytes::{Buf, Bytes, BytesMut};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

/// The most bytes read from the network at once.
const READ_AHEAD: usize = 128 * 1024;
/// A read buffer with less free room than this is replaced before reading.
const READ_MIN: usize = 4096;
/// A payload still missing at least this many bytes is read from the
/// socket straight into its message (when nothing else is buffered).
const DIRECT_MIN: u64 = 16 * 1024;
/// Single-frame messages of this size or more reuse the buffer of the
/// previous one (see `Incoming::spare`).
const SPARE_MIN: u64 = 1 << 20;
/// With [`Small::Copy`], messages shorter than this are copied out of the
/// read buffer (a queued message must not keep a whole read alive).
const COPY_BELOW: usize = 16 * 1024;

/// How a message that arrived whole, in one frame and within one read, is
/// handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Small {
    /// Copied out when shorter than [`COPY_BELOW`], else a slice of the
    /// read (messages that wait in a queue).
    Copy,
    /// A reference-counted slice of the read (messages handed over at once).
    Share,
    /// Lent in place ([`Received::Lent`]): for a handler that only borrows.
    Lend,
}

/// Why the connection is failed, and the close code to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub code: u16,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Violation {}

impl Violation {
    pub(crate) fn protocol(message: impl Into<String>) -> Self {
        Violation { code: 1002, message: message.into() }
    }
}

/// What the server sent.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Received {
    Message {
        data: Bytes,
        text: bool,
    },
    Ping(BytesMut),
    Pong,
    /// Its valid Close frame: code and reason (`None`: no code).
    Close(Option<(u16, String)>),
    /// A message left in the read buffer ([`Small::Lend`]): its bytes are
    /// [`Incoming::lent`] until the next call of [`Incoming::lend_next`] or
    /// [`Incoming::poll_next`].
    Lent {
        text: bool,
    },
}

/// Why reading stopped.
#[derive(Debug)]
pub(crate) enum ReadError {
    Violation(Violation),
    Io(io::Error),
    /// The server ended TCP.
    Eof,
}

impl From<Violation> for ReadError {
    fn from(v: Violation) -> Self {
        ReadError::Violation(v)
    }
}

/// A data frame whose payload is being read.
struct Frame {
    fin: bool,
    remaining: u64,
}

/// A data message being assembled.
struct Partial {
    text: bool,
    compressed: bool,
    data: BytesMut,
    utf8: Utf8Stream,
    /// Inflated bytes already checked as UTF-8.
    checked: usize,
}

pub(crate) struct Incoming {
    /// Bytes read and not yet parsed.
    buf: BytesMut,
    frame: Option<Frame>,
    msg: Option<Partial>,
    /// With permessage-deflate negotiated.
    inflater: Option<Inflater>,
    /// The buffer of the last large message (see [`SPARE_MIN`]), shared
    /// with it: once the application has dropped the message, the next
    /// large one reuses it (no page to fault in again). Freed by
    /// [`Incoming::release_spare`].
    spare: BytesMut,
    /// A large message was received since [`Incoming::took_spare`] asked.
    spare_taken: bool,
    /// The buffer compressed messages are inflated into, kept between
    /// messages (a small message is copied out of it) and released when
    /// the connection is idle.
    inflated: BytesMut,
    max_message_size: usize,
    /// Chromium's close codes, and 1002 for invalid UTF-8.
    chromium: bool,
    /// How small whole messages are handed over.
    small: Small,
    /// The length of the message lent at the front of `buf`
    /// ([`Received::Lent`]), dropped from it when parsing goes on.
    lent: usize,
    /// The server's Close frame arrived: nothing may follow.
    closed: bool,
}

impl Incoming {
    /// `leftover`: bytes that came with the handshake response; `deflate`:
    /// permessage-deflate was negotiated (the inflater needs nothing more
    /// of the answer, see [`Inflater`]).
    pub(crate) fn new(
        leftover: &[u8],
        deflate: bool,
        max_message_size: usize,
        chromium: bool,
        small: Small,
    ) -> Incoming {
        Incoming {
            buf: BytesMut::from(leftover),
            frame: None,
            msg: None,
            inflater: deflate.then(Inflater::default),
            inflated: BytesMut::new(),
            spare: BytesMut::new(),
            spare_taken: false,
            max_message_size,
            chromium,
            small,
            lent: 0,
            closed: false,
        }
    }

    /// The common case of [`Small::Lend`], without reading: when the next
    /// buffered frame is a whole, final, uncompressed text or binary frame
    /// of at most 125 bytes (valid UTF-8 if text) and no message is in
    /// progress, lends it ([`Incoming::lent`]) and says whether it is text.
    /// `None`: call [`Incoming::poll_next`], which handles everything
    /// (including what this declines, errors too).
    #[inline]
    pub(crate) fn lend_next(&mut self) -> Option<bool> {
        if self.small != Small::Lend || self.closed || self.frame.is_some() || self.msg.is_some() {
            return None;
        }
        let at = self.lent;
        let b = self.buf.get(at..at + 2)?;
        let (b0, len) = (b[0], b[1] as usize);
        // FIN, no RSV bit, text or binary; unmasked, 7-bit length.
        if (b0 != 0x81 && b0 != 0x82) || len > 125 || len > self.max_message_size {
            return None;
        }
        let payload = self.buf.get(at + 2..at + 2 + len)?;
        let text = b0 == 0x81;
        if text && std::str::from_utf8(payload).is_err() {
            return None;
        }
        self.buf.advance(at + 2);
        self.lent = len;
        Some(text)
    }

    /// The next thing the server sent, reading from `io` as needed.
    pub(crate) fn poll_next<S: AsyncRead + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut S,
    ) -> Poll<Result<Received, ReadError>> {
        loop {
            if let Some(r) = self.parse()? {
                return Poll::Ready(Ok(r));
            }
            std::task::ready!(self.poll_fill(cx, io))?;
        }
    }

    fn invalid_utf8(&self, what: &str) -> Violation {
        let code = if self.chromium { 1002 } else { 1007 };
        Violation { code, message: format!("the server sent invalid UTF-8 in {what}") }
    }

    fn too_large(&self, size: u64) -> Violation {
        Violation {
            code: 1009,
            message: format!(
                "the server sent a message of {size} bytes or more; the limit is {}",
                self.max_message_size
            ),
        }
    }

    /// The bytes of the message just returned as [`Received::Lent`].
    pub(crate) fn lent(&self) -> &[u8] {
        &self.buf[..self.lent]
    }

    /// Parses what is buffered; `None` when more bytes are needed.
    fn parse(&mut self) -> Result<Option<Received>, Violation> {
        if self.lent > 0 {
            self.buf.advance(std::mem::take(&mut self.lent));
        }
        loop {
            if self.closed {
                if !self.buf.is_empty() {
                    return Err(Violation::protocol("the server sent data after its Close frame"));
                }
                return Ok(None);
            }
            if let Some(f) = self.frame.as_mut() {
                let take = f.remaining.min(self.buf.len() as u64) as usize;
                if take > 0 {
                    f.remaining -= take as u64;
                    let chunk = self.buf.split_to(take);
                    self.payload(&chunk)?;
                }
                let f = self.frame.as_ref().expect("in progress");
                if f.remaining > 0 {
                    return Ok(None);
                }
                let fin = f.fin;
                self.frame = None;
                if fin {
                    return self.finish_message().map(Some);
                }
                continue;
            }
            if let Some(r) = self.header()? {
                return Ok(Some(r));
            }
            if self.frame.is_none() {
                return Ok(None);
            }
        }
    }

    /// Parses one frame header (and a whole control frame or single-frame
    /// message when buffered). `Ok(None)` with `frame` unset: more bytes
    /// needed; with `frame` set: a payload to read.
    fn header(&mut self) -> Result<Option<Received>, Violation> {
        let b = &self.buf[..];
        if b.len() < 2 {
            return Ok(None);
        }
        let (b0, b1) = (b[0], b[1]);
        if b1 & 0x80 != 0 {
            return Err(Violation::protocol("the server sent a masked frame"));
        }
        let hlen = match b1 & 0x7f {
            126 => 4,
            127 => 10,
            _ => 2,
        };
        let fin = b0 & 0x80 != 0;
        let rsv1 = b0 & 0x40 != 0;
        let opcode = b0 & 0x0f;
        if b0 & 0x30 != 0 {
            return Err(Violation::protocol("the server set the reserved bits RSV2 or RSV3"));
        }
        if matches!(opcode, 3..=7 | 0xb..=0xf) {
            return Err(Violation::protocol(format!(
                "the server sent a frame with the reserved opcode {opcode}"
            )));
        }
        let control = opcode >= 8;
        if control {
            if b1 & 0x7f > 125 {
                return Err(Violation::protocol("a control frame is longer than 125 bytes"));
            }
            if !fin {
                return Err(Violation::protocol("a control frame is fragmented"));
            }
            if rsv1 {
                return Err(Violation::protocol("the server set RSV1 on a control frame"));
            }
        }
        if b.len() < hlen {
            return Ok(None);
        }
        let len = match hlen {
            4 => {
                let l = u16::from_be_bytes([b[2], b[3]]) as u64;
                if l < 126 {
                    return Err(Violation::protocol("a frame length is not minimally encoded"));
                }
                l
            }
            10 => {
                let l = u64::from_be_bytes(b[2..10].try_into().expect("8 bytes"));
                if l >> 63 != 0 {
                    return Err(Violation::protocol("a 64-bit frame length has its top bit set"));
                }
                if l < 65536 {
                    return Err(Violation::protocol("a frame length is not minimally encoded"));
                }
                l
            }
            _ => (b1 & 0x7f) as u64,
        };
        if control {
            let total = hlen + len as usize;
            if b.len() < total {
                return Ok(None);
            }
            self.buf.advance(hlen);
            let payload = self.buf.split_to(len as usize);
            return self.control(opcode, payload).map(Some);
        }
        // Data frames.
        let compressed = if rsv1 {
            if self.inflater.is_none() {
                return Err(Violation::protocol("the server set RSV1 without a negotiated extension"));
            }
            if opcode == 0 {
                return Err(Violation::protocol("the server set RSV1 on a continuation frame"));
            }
            true
        } else {
            false
        };
        match (opcode, &self.msg) {
            (0, None) => return Err(Violation::protocol("a continuation frame with no message to continue")),
            (1 | 2, Some(_)) => {
                return Err(Violation::protocol("a new message began before the previous one was complete"))
            }
            _ => {}
        }
        let so_far = self.msg.as_ref().map_or(0, |m| m.data.len() as u64);
        let compressed_msg = compressed || self.msg.as_ref().is_some_and(|m| m.compressed);
        if !compressed_msg && so_far + len > self.max_message_size as u64 {
            return Err(self.too_large(so_far + len));
        }
        let text = opcode == 1;
        let total = hlen as u64 + len;
        // The common case: a whole uncompressed message in the buffer.
        if opcode != 0 && fin && !compressed && (b.len() as u64) >= total {
            self.buf.advance(hlen);
            let len = len as usize;
            if text && std::str::from_utf8(&self.buf[..len]).is_err() {
                return Err(self.invalid_utf8("a text message"));
            }
            if self.small == Small::Lend {
                self.lent = len;
                return Ok(Some(Received::Lent { text }));
            }
            let data = if self.small == Small::Share || len >= COPY_BELOW {
                self.buf.split_to(len).freeze()
            } else {
                let d = Bytes::copy_from_slice(&self.buf[..len]);
                self.buf.advance(len);
                d
            };
            return Ok(Some(Received::Message { data, text }));
        }
        self.buf.advance(hlen);
        if opcode != 0 {
            // Uncompressed: room for the whole payload, so that it can be
            // read straight in (pages are only touched as bytes arrive).
            let data = if compressed {
                std::mem::take(&mut self.inflated)
            } else if len >= SPARE_MIN && fin {
                // Reuses the last large message's buffer if the application
                // is done with it (else a new one).
                let mut d = std::mem::take(&mut self.spare);
                d.reserve(len as usize);
                self.spare_taken = true;
                d
            } else {
                BytesMut::with_capacity(len as usize)
            };
            self.msg = Some(Partial { text, compressed, data, utf8: Utf8Stream::default(), checked: 0 });
        } else if !compressed_msg {
            self.msg.as_mut().expect("checked").data.reserve(len as usize);
        }
        self.frame = Some(Frame { fin, remaining: len });
        Ok(None)
    }

    fn control(&mut self, opcode: u8, payload: BytesMut) -> Result<Received, Violation> {
        match opcode {
            0x9 => Ok(Received::Ping(payload)),
            0xa => Ok(Received::Pong),
            _ => {
                let close = self.check_close(&payload)?;
                self.closed = true;
                Ok(Received::Close(close))
            }
        }
    }

    fn check_close(&self, p: &[u8]) -> Result<Option<(u16, String)>, Violation> {
        match p.len() {
            0 => Ok(None),
            1 => Err(Violation::protocol("the server's Close frame has a 1-byte payload")),
            _ => {
                let code = u16::from_be_bytes([p[0], p[1]]);
                let valid = if self.chromium {
                    is_valid_received_close_code_chromium(code)
                } else {
                    is_valid_received_close_code(code)
                };
                if !valid {
                    return Err(Violation::protocol(format!(
                        "the server's Close frame has the invalid status code {code}"
                    )));
                }
                let reason =
                    std::str::from_utf8(&p[2..]).map_err(|_| self.invalid_utf8("a Close frame's reason"))?;
                Ok(Some((code, reason.to_string())))
            }
        }
    }

    /// Part of a data frame's payload.
    fn payload(&mut self, chunk: &[u8]) -> Result<(), Violation> {
        let limit = self.max_message_size;
        let msg = self.msg.as_mut().expect("a message is in progress");
        if msg.compressed {
            let inflater = self.inflater.as_mut().expect("negotiated");
            let r = inflater.inflate(chunk, &mut msg.data, limit);
            return self.after_inflate(r);
        }
        msg.data.extend_from_slice(chunk);
        if msg.text && msg.utf8.feed(chunk).is_err() {
            return Err(self.invalid_utf8("a text message"));
        }
        Ok(())
    }

    /// Checks what inflating produced: the size limit, and UTF-8 as far as
    /// it is inflated.
    fn after_inflate(&mut self, r: Result<(), InflateError>) -> Result<(), Violation> {
        let msg = self.msg.as_mut().expect("a message is in progress");
        let size = msg.data.len() as u64;
        match r {
            Ok(()) => {}
            Err(InflateError::TooLarge(_)) => return Err(self.too_large(size)),
            Err(InflateError::Invalid(why)) => {
                return Err(Violation::protocol(format!("the server sent invalid compressed data ({why})")))
            }
        }
        if msg.text {
            let fresh = &msg.data[msg.checked..];
            msg.checked = msg.data.len();
            if msg.utf8.feed(fresh).is_err() {
                return Err(self.invalid_utf8("a text message"));
            }
        }
        Ok(())
    }

    fn finish_message(&mut self) -> Result<Received, Violation> {
        if self.msg.as_ref().expect("in progress").compressed {
            let limit = self.max_message_size;
            let msg = self.msg.as_mut().expect("in progress");
            let r = self.inflater.as_mut().expect("negotiated").finish(&mut msg.data, limit);
            self.after_inflate(r)?;
        }
        let mut msg = self.msg.take().expect("in progress");
        if msg.text && !msg.utf8.is_complete() {
            return Err(self.invalid_utf8("a text message"));
        }
        let data = if msg.compressed && msg.data.len() < COPY_BELOW {
            // Exactly its size, and the buffer serves the next message.
            let d = Bytes::copy_from_slice(&msg.data);
            msg.data.clear();
            self.inflated = msg.data;
            d
        } else if !msg.compressed && msg.data.len() as u64 >= SPARE_MIN {
            // The message and the spare share the buffer.
            let d = msg.data.split().freeze();
            self.spare = msg.data;
            d
        } else {
            msg.data.freeze()
        };
        Ok(Received::Message { data, text: msg.text })
    }

    /// Payload bytes still owed by the binary, uncompressed frame being
    /// read straight into its message, before anything else can arrive;
    /// 0 otherwise (see [`crate::low_water`]).
    pub(crate) fn owed(&self) -> u64 {
        match (&self.frame, &self.msg) {
            (Some(f), Some(m)) if self.buf.len() == self.lent && !m.text && !m.compressed => f.remaining,
            _ => 0,
        }
    }

    /// Nothing read is left unparsed and no frame or message is half read.
    /// (A lent message counts as read.)
    pub(crate) fn drained(&self) -> bool {
        self.buf.len() == self.lent && self.frame.is_none() && self.msg.is_none()
    }

    /// Whether a large message was received since the last call.
    pub(crate) fn took_spare(&mut self) -> bool {
        std::mem::take(&mut self.spare_taken)
    }

    /// Frees the buffer kept for the next large message.
    pub(crate) fn release_spare(&mut self) {
        self.spare = BytesMut::new();
    }

    /// Reads more from the network.
    fn poll_fill<S: AsyncRead + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut S,
    ) -> Poll<Result<(), ReadError>> {
        if let (true, Some(f), Some(msg)) = (self.buf.is_empty(), &mut self.frame, &mut self.msg) {
            if f.remaining >= DIRECT_MIN && !msg.compressed {
                // Straight into the message, never past this frame's end.
                if msg.data.capacity() - msg.data.len() < f.remaining as usize {
                    msg.data.reserve(f.remaining as usize);
                }
                let spare = msg.data.spare_capacity_mut();
                let n = spare.len().min(f.remaining as usize);
                let mut rb = ReadBuf::uninit(&mut spare[..n]);
                std::task::ready!(Pin::new(io).poll_read(cx, &mut rb)).map_err(ReadError::Io)?;
                let got = rb.filled().len();
                if got == 0 {
                    return Poll::Ready(Err(ReadError::Eof));
                }
                let start = msg.data.len();
                // SAFETY: the read initialized `got` bytes at the start of the spare capacity.
                unsafe { msg.data.set_len(start + got) };
                f.remaining -= got as u64;
                let bad = msg.text && msg.utf8.feed(&msg.data[start..]).is_err();
                if bad {
                    return Poll::Ready(Err(self.invalid_utf8("a text message").into()));
                }
                return Poll::Ready(Ok(()));
            }
        }
        if self.buf.capacity() - self.buf.len() < READ_MIN {
            self.buf.reserve(READ_AHEAD);
        }
        let mut rb = ReadBuf::uninit(self.buf.spare_capacity_mut());
        match Pin::new(io).poll_read(cx, &mut rb) {
            Poll::Pending => {
                if self.buf.is_empty() {
                    // Nothing more for now: hold no buffer while idle.
                    self.buf = BytesMut::new();
                }
                self.inflated = BytesMut::new();
                Poll::Pending
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(ReadError::Io(e))),
            Poll::Ready(Ok(())) => {
                let n = rb.filled().len();
                if n == 0 {
                    return Poll::Ready(Err(ReadError::Eof));
                }
                // SAFETY: the read initialized `n` bytes at the start of the spare capacity.
                unsafe { self.buf.set_len(self.buf.len() + n) };
                Poll::Ready(Ok(()))
            }
        }
    }
}

/// An unmasked frame as a server sends it: first byte `b0`, then the
/// length in its minimal encoding and the payload.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn frame_with(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![b0];
    match payload.len() {
        n if n < 126 => f.push(n as u8),
        n if n < 65536 => {
            f.push(126);
            f.extend((n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend((n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

#[cfg(feature = "fuzzing")]
/// See [`crate::fuzzing::inflate`].
pub(crate) fn fuzz_inflate(data: &[u8], limit: usize) {
    let Some((&flags, payload)) = data.split_first() else { return };
    let text = flags & 1 != 0;
    let pieces = 1 + ((flags >> 1) & 3) as usize;
    let mut stream = Vec::new();
    for _ in 0..2 {
        let step = payload.len().div_ceil(pieces).max(1);
        let chunks: Vec<&[u8]> =
            if payload.is_empty() { vec![&[][..]] } else { payload.chunks(step).collect() };
        for (i, c) in chunks.iter().enumerate() {
            let fin = i + 1 == chunks.len();
            let b0 = (if fin { 0x80 } else { 0 }) | if i == 0 { 0x40 | if text { 1 } else { 2 } } else { 0 };
            stream.extend(frame_with(b0, c));
        }
    }
    let small = match flags & 48 {
        0 => Small::Copy,
        16 => Small::Share,
        _ => Small::Lend,
    };
    let mut inc = Incoming::new(&stream, true, limit, flags & 8 != 0, small);
    let mut io = tokio::io::empty();
    let waker = futures_util::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    for _ in 0..3 {
        let next = inc.poll_next(&mut cx, &mut io);
        let next = match next {
            Poll::Ready(Ok(Received::Lent { text })) => {
                Poll::Ready(Ok(Received::Message { data: Bytes::copy_from_slice(inc.lent()), text }))
            }
            other => other,
        };
        match next {
            Poll::Ready(Ok(Received::Message { data, text: t })) => {
                assert_eq!(t, text);
                assert!(data.len() <= limit, "a message of {} bytes passed the {limit} limit", data.len());
                if t {
                    assert!(std::str::from_utf8(&data).is_ok(), "invalid UTF-8 delivered as text");
                }
            }
            Poll::Ready(Ok(other)) => panic!("unexpected {other:?}"),
            Poll::Ready(Err(ReadError::Eof)) => return,
            Poll::Ready(Err(ReadError::Violation(v))) => {
                assert!([1002, 1007, 1009].contains(&v.code), "{v:?}");
                return;
            }
            Poll::Ready(Err(ReadError::Io(e))) => panic!("{e}"),
            Poll::Pending => panic!("an in-memory stream never blocks"),
        }
    }
    panic!("more than two messages");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deflate::{DeflateParams, Deflater};

    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        frame_with(if fin { 0x80 } else { 0 } | opcode, payload)
    }

    fn params() -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }

    /// Feeds `bytes` in pieces of `step` and collects what comes out, up
    /// to the first error.
    fn run(bytes: &[u8], step: usize, deflate: bool) -> (Vec<Received>, Option<ReadError>) {
        // Each way of handing over small messages, by the step's remainder.
        let small = [Small::Copy, Small::Share, Small::Lend][step % 3];
        let mut inc = Incoming::new(&[], deflate, 1 << 20, false, small);
        let mut io = Pieces { data: bytes.to_vec(), at: 0, step };
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut out = Vec::new();
        for _ in 0..1_000_000 {
            // As the connection reads: the fast path first.
            if let Some(text) = inc.lend_next() {
                out.push(Received::Message { data: Bytes::copy_from_slice(inc.lent()), text });
                continue;
            }
            match inc.poll_next(&mut cx, &mut io) {
                Poll::Ready(Ok(Received::Lent { text })) => {
                    out.push(Received::Message { data: Bytes::copy_from_slice(inc.lent()), text })
                }
                Poll::Ready(Ok(r)) => out.push(r),
                Poll::Ready(Err(e)) => return (out, Some(e)),
                Poll::Pending => unreachable!("Pieces never blocks"),
            }
        }
        panic!("no end");
    }

    struct Pieces {
        data: Vec<u8>,
        at: usize,
        step: usize,
    }

    impl AsyncRead for Pieces {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let n = self.step.min(self.data.len() - self.at).min(buf.remaining());
            let at = self.at;
            buf.put_slice(&self.data[at..at + n]);
            self.at += n;
            Poll::Ready(Ok(()))
        }
    }

    fn messages(rs: &[Received]) -> Vec<(Vec<u8>, bool)> {
        rs.iter()
            .filter_map(|r| match r {
                Received::Message { data, text } => Some((data.to_vec(), *text)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn valid_streams_come_out_the_same_in_any_chunking() {
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut s = frame(true, 1, "héllo".as_bytes());
        s.extend(frame(false, 1, &[0xc3]));
        s.extend(frame(true, 0x9, b"p"));
        s.extend(frame(true, 0, &[0xa9]));
        s.extend(frame(true, 2, &big));
        s.extend(frame(false, 2, &big[..70_000]));
        s.extend(frame(true, 0, &big[70_000..]));
        s.extend(frame(true, 2, b""));
        s.extend(frame(true, 0xa, b""));
        s.extend(frame(true, 0x8, &[0x03, 0xe8, b'b', b'y', b'e']));
        for step in [1, 2, 3, 7, 125, 4096, 70_001, 1 << 20] {
            let (rs, e) = run(&s, step, false);
            assert!(matches!(e, Some(ReadError::Eof)), "step {step}: {e:?}");
            assert_eq!(
                messages(&rs),
                vec![
                    ("héllo".as_bytes().to_vec(), true),
                    ("é".as_bytes().to_vec(), true),
                    (big.clone(), false),
                    (big.clone(), false),
                    (vec![], false)
                ],
                "step {step}"
            );
            assert_eq!(rs[1], Received::Ping(BytesMut::from(&b"p"[..])));
            assert_eq!(rs.last(), Some(&Received::Close(Some((1000, "bye".into())))));
        }
    }

    fn violation(bytes: &[u8], deflate: bool) -> (usize, u16) {
        let mut last = None;
        // Steps 2, 5 and 2^20 + 1 lend small messages (see `run`).
        for step in [1, 2, 3, 5, 1 << 20, (1 << 20) + 1] {
            let (rs, e) = run(bytes, step, deflate);
            let Some(ReadError::Violation(v)) = e else { panic!("step {step}: {e:?}") };
            let got = (messages(&rs).len(), v.code);
            assert!(last.is_none() || last == Some(got), "step {step}: {got:?} vs {last:?}");
            last = Some(got);
        }
        last.unwrap()
    }

    #[test]
    fn violations_fail_after_the_complete_messages_before_them() {
        let ok = frame(true, 2, b"ok");
        let cases: Vec<(Vec<u8>, u16)> = vec![
            ([0x82, 0x80, 1, 2, 3, 4].to_vec(), 1002),
            (frame_with(0xc2, b"x"), 1002),
            (frame_with(0xa2, b"x"), 1002),
            (frame(true, 3, b""), 1002),
            (frame(true, 0xb, b""), 1002),
            (frame(false, 9, b""), 1002),
            (frame(true, 9, &[0; 126]), 1002),
            (frame(true, 0, b"a"), 1002),
            ([frame(false, 1, b"a"), frame(true, 1, b"b")].concat(), 1002),
            (vec![0x82, 126, 0, 5], 1002),
            (vec![0x82, 127, 0, 0, 0, 0, 0, 0, 1, 0], 1002),
            (vec![0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0], 1002),
            (frame(true, 1, &[b'a', 0xff, b'b']), 1007),
            ([frame(false, 1, &[0xe2, 0x82]), frame(true, 0, b"x")].concat(), 1007),
            (frame(true, 8, &[3]), 1002),
            (frame(true, 8, &[0x03, 0xed]), 1002),
            (frame(true, 8, &[0x03, 0xe8, 0xff]), 1007),
            ([frame(true, 8, &[]), frame(true, 2, b"late")].concat(), 1002),
        ];
        for (i, (bad, code)) in cases.into_iter().enumerate() {
            let s = [ok.clone(), bad].concat();
            let (n, got) = violation(&s, false);
            assert_eq!((n, got), (1, code), "case {i}");
        }
        // Too large, before the payload arrives.
        let mut s = ok.clone();
        s.extend([0x82, 127, 0, 0, 0, 0, 0, 0x20, 0, 0]);
        assert_eq!(violation(&s, false), (1, 1009));
    }

    /// The size limit holds for small messages lent in place too.
    #[test]
    fn small_messages_over_the_limit_fail_with_1009_in_every_mode() {
        let s = [frame(true, 2, b"four"), frame(true, 1, b"fives")].concat();
        for small in [Small::Copy, Small::Share, Small::Lend] {
            let mut inc = Incoming::new(&s, false, 4, false, small);
            let mut io = tokio::io::empty();
            let waker = futures_util::task::noop_waker();
            let mut cx = Context::from_waker(&waker);
            let first = match inc.lend_next() {
                Some(text) => (inc.lent().to_vec(), text),
                None => match inc.poll_next(&mut cx, &mut io) {
                    Poll::Ready(Ok(Received::Message { data, text })) => (data.to_vec(), text),
                    Poll::Ready(Ok(Received::Lent { text })) => (inc.lent().to_vec(), text),
                    other => panic!("{small:?}: {other:?}"),
                },
            };
            assert_eq!(first, (b"four".to_vec(), false), "{small:?}");
            assert_eq!(inc.lend_next(), None, "{small:?}");
            match inc.poll_next(&mut cx, &mut io) {
                Poll::Ready(Err(ReadError::Violation(v))) => assert_eq!(v.code, 1009, "{small:?}"),
                other => panic!("{small:?}: {other:?}"),
            }
        }
    }

    fn compressed(d: &mut Deflater, data: &[u8]) -> Vec<u8> {
        let mut c = Vec::new();
        d.compress(data, &mut c);
        c
    }

    #[test]
    fn compressed_messages_fragmented_and_between_control_frames() {
        let mut d = Deflater::new(&params());
        let json = br#"{"id":1,"name":"alpha","tags":["a","b"],"ok":true}"#;
        let mut s = Vec::new();
        for _ in 0..3 {
            s.extend(frame_with(0xc1, &compressed(&mut d, json)));
        }
        let c = compressed(&mut d, &[7u8; 300_000]);
        let third = c.len() / 3;
        s.extend(frame_with(0x42, &c[..third]));
        s.extend(frame(true, 9, b"x"));
        s.extend(frame(false, 0, &c[third..2 * third]));
        s.extend(frame(true, 0, &c[2 * third..]));
        s.extend(frame(true, 1, b"plain"));
        for step in [1, 5, 1 << 20] {
            let (rs, e) = run(&s, step, true);
            assert!(matches!(e, Some(ReadError::Eof)), "{e:?}");
            let m = messages(&rs);
            assert_eq!(m.len(), 5);
            assert!(m[..3].iter().all(|(d, t)| d == json && *t));
            assert_eq!(m[3], (vec![7u8; 300_000], false));
            assert_eq!(m[4], (b"plain".to_vec(), true));
        }
    }

    #[test]
    fn compression_rules() {
        let mut d = Deflater::new(&params());
        let c = compressed(&mut d, b"hello");
        // RSV1 without negotiation, on a continuation frame, on a control frame.
        assert_eq!(violation(&frame_with(0xc1, &c), false), (0, 1002));
        let cont = [frame(false, 1, b"a"), frame_with(0xc0, &c)].concat();
        assert_eq!(violation(&cont, true), (0, 1002));
        assert_eq!(violation(&frame_with(0xc9, b""), true), (0, 1002));
        // Invalid deflate data; invalid UTF-8 once inflated.
        assert_eq!(violation(&frame_with(0xc1, &[0xff, 0xff, 0xff]), true), (0, 1002));
        let mut d = Deflater::new(&params());
        let bad = compressed(&mut d, &[b'a', 0xff]);
        assert_eq!(violation(&frame_with(0xc1, &bad), true), (0, 1007));
        // A bomb: 1009 without inflating past the limit.
        let mut d = Deflater::new(&params());
        let bomb = compressed(&mut d, &vec![0u8; 2 << 20]);
        assert_eq!(violation(&frame_with(0xc2, &bomb), true), (0, 1009));
    }
}
