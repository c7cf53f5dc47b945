//! A read-side layer under tungstenite that watches the server's frames as
//! bytes arrive and enforces what tungstenite does not: text that is invalid
//! UTF-8 fails as soon as the bad byte arrives (not when the frame ends),
//! lengths use the minimal encoding and a clear top bit, masked frames and
//! oversized control frames fail before their payload arrives, and a Close
//! frame's code and reason are valid (RFC 6455 5.2, 5.5.1, 7.4, 8.1).
//!
//! On a violation the layer passes on only the bytes before the offending
//! frame part (so complete messages before it are still delivered) and then
//! returns an `io::Error` carrying a [`Violation`].
//!
//! The server's Close frame is never passed on: tungstenite would rewrite
//! close codes it does not know (1014, and the codes Chromium accepts) into
//! its own "Protocol violation". The layer checks the frame itself and, once
//! every byte before it has been read, returns an `io::Error` carrying a
//! [`PeerClose`]; the connection answers it. Any frame after it is a
//! violation.

use crate::utf8_stream::Utf8Stream;
use crate::validate::{is_valid_received_close_code, is_valid_received_close_code_chromium};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Why the guard failed the connection, and the close code to send.
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
    fn protocol(message: impl Into<String>) -> Self {
        Violation { code: 1002, message: message.into() }
    }

    /// The violation inside an error that came up through tungstenite.
    pub fn from_io(e: &io::Error) -> Option<&Violation> {
        e.get_ref().and_then(|inner| inner.downcast_ref::<Violation>())
    }
}

/// The server's valid Close frame: its code and reason (`None`: no code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerClose(pub Option<(u16, String)>);

impl std::fmt::Display for PeerClose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the server sent a Close frame")
    }
}

impl std::error::Error for PeerClose {}

impl PeerClose {
    /// The Close frame inside an error that came up through tungstenite.
    pub fn from_io(e: &io::Error) -> Option<&PeerClose> {
        e.get_ref().and_then(|inner| inner.downcast_ref::<PeerClose>())
    }
}

/// Where the guard stops the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    Violation(Violation),
    Close(PeerClose),
}

impl Stop {
    fn into_io(self) -> io::Error {
        match self {
            Stop::Violation(v) => io::Error::new(io::ErrorKind::InvalidData, v),
            Stop::Close(c) => io::Error::new(io::ErrorKind::InvalidData, c),
        }
    }
}

/// What [`FrameWatch::inspect`] found in a piece of the stream: how many of
/// its bytes may be passed on, and where the stream stops, if it does.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Inspected {
    pub(crate) pass: usize,
    pub(crate) stop: Vec<Stop>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Payload {
    Text,
    Close,
    Other,
}

#[derive(Debug)]
enum State {
    Header { buf: [u8; 14], have: usize },
    Payload { remaining: u64, kind: Payload, fin: bool },
}

/// The frame-tracking state, independent of any stream.
#[derive(Debug)]
pub(crate) struct FrameWatch {
    state: State,
    /// A fragmented text message is in progress.
    in_text: bool,
    utf8: Utf8Stream,
    close_payload: Vec<u8>,
    /// Where the server's Close frame began in the piece being inspected
    /// (nothing from there on is passed on).
    held_from: Option<usize>,
    /// The server's Close frame is complete: nothing may follow it.
    closed: bool,
    /// Chromium's rules: its close codes, and 1002 for invalid UTF-8.
    chromium: bool,
}

impl Default for FrameWatch {
    fn default() -> Self {
        FrameWatch::new(false)
    }
}

fn header_len(b0_b1: [u8; 2]) -> usize {
    let masked = b0_b1[1] & 0x80 != 0;
    let ext = match b0_b1[1] & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if masked { 4 } else { 0 }
}

impl FrameWatch {
    pub(crate) fn new(chromium: bool) -> FrameWatch {
        FrameWatch {
            state: State::Header { buf: [0; 14], have: 0 },
            in_text: false,
            utf8: Utf8Stream::default(),
            close_payload: Vec::new(),
            held_from: None,
            closed: false,
            chromium,
        }
    }

    /// Inspects the next piece of the stream.
    pub(crate) fn inspect(&mut self, data: &[u8]) -> Inspected {
        // A Close frame that began in an earlier piece holds all of this one.
        self.held_from = self.held_from.map(|_| 0);
        let r = self.scan(data);
        let held = self.held_from.unwrap_or(data.len());
        match r {
            Ok(()) => Inspected { pass: held, stop: Vec::new() },
            Err((at, v)) => Inspected { pass: held.min(at), stop: vec![Stop::Violation(v)] },
        }
        .with_close(self)
    }

    fn invalid_utf8(&self, what: &str) -> Violation {
        let code = if self.chromium { 1002 } else { 1007 };
        Violation { code, message: format!("the server sent invalid UTF-8 in {what}") }
    }

    /// Walks `data`; on a violation returns the offset of the first byte
    /// that must not be passed on, and the violation.
    fn scan(&mut self, data: &[u8]) -> Result<(), (usize, Violation)> {
        let mut pos = 0;
        while pos < data.len() {
            if self.closed {
                return Err((pos, Violation::protocol("the server sent data after its Close frame")));
            }
            let start = pos;
            match &mut self.state {
                State::Header { buf, have } => {
                    // A Close frame is held back from its first byte on.
                    if *have == 0 && data[pos] & 0x0f == 0x8 && self.held_from.is_none() {
                        self.held_from = Some(pos);
                    }
                    let need = if *have < 2 { 2 } else { header_len([buf[0], buf[1]]) };
                    let take = (need - *have).min(data.len() - pos);
                    buf[*have..*have + take].copy_from_slice(&data[pos..pos + take]);
                    *have += take;
                    pos += take;
                    if *have == 2 && header_len([buf[0], buf[1]]) > 2 {
                        continue;
                    }
                    if *have == need {
                        let hdr = *buf;
                        let n = *have;
                        // The header began in an earlier read when `have` was
                        // larger than what this read supplied.
                        let header_start = start.saturating_sub(n - take);
                        self.begin_frame(&hdr[..n]).map_err(|v| (header_start, v))?;
                    }
                }
                State::Payload { remaining, kind, fin } => {
                    let take = (*remaining).min((data.len() - pos) as u64) as usize;
                    let chunk = &data[pos..pos + take];
                    *remaining -= take as u64;
                    let (kind, fin, done) = (*kind, *fin, *remaining == 0);
                    pos += take;
                    match kind {
                        Payload::Text => {
                            if self.utf8.feed(chunk).is_err() {
                                return Err((start, self.invalid_utf8("a text message")));
                            }
                        }
                        Payload::Close => self.close_payload.extend_from_slice(chunk),
                        Payload::Other => {}
                    }
                    if done {
                        self.end_frame(kind, fin).map_err(|v| (start, v))?;
                    }
                }
            }
        }
        Ok(())
    }

    fn begin_frame(&mut self, hdr: &[u8]) -> Result<(), Violation> {
        let fin = hdr[0] & 0x80 != 0;
        let opcode = hdr[0] & 0x0f;
        if hdr[1] & 0x80 != 0 {
            return Err(Violation::protocol("the server sent a masked frame"));
        }
        let len = match hdr[1] & 0x7f {
            126 => {
                let l = u16::from_be_bytes([hdr[2], hdr[3]]) as u64;
                if l < 126 {
                    return Err(Violation::protocol("a frame length is not minimally encoded"));
                }
                l
            }
            127 => {
                let l = u64::from_be_bytes(hdr[2..10].try_into().expect("8 bytes"));
                if l >> 63 != 0 {
                    return Err(Violation::protocol("a 64-bit frame length has its top bit set"));
                }
                if l < 65536 {
                    return Err(Violation::protocol("a frame length is not minimally encoded"));
                }
                l
            }
            l => l as u64,
        };
        let kind = match opcode {
            0x8..=0xf => {
                if len > 125 {
                    return Err(Violation::protocol("a control frame is longer than 125 bytes"));
                }
                if !fin {
                    return Err(Violation::protocol("a control frame is fragmented"));
                }
                if opcode == 0x8 {
                    self.close_payload.clear();
                    Payload::Close
                } else {
                    Payload::Other
                }
            }
            0x1 => {
                self.in_text = true;
                self.utf8.reset();
                Payload::Text
            }
            0x0 if self.in_text => Payload::Text,
            _ => {
                if opcode == 0x2 {
                    self.in_text = false;
                }
                Payload::Other
            }
        };
        self.state = State::Payload { remaining: len, kind, fin };
        if len == 0 {
            self.end_frame(kind, fin)?;
        }
        Ok(())
    }

    fn end_frame(&mut self, kind: Payload, fin: bool) -> Result<(), Violation> {
        self.state = State::Header { buf: [0; 14], have: 0 };
        match kind {
            Payload::Text if fin => {
                self.in_text = false;
                if !self.utf8.is_complete() {
                    return Err(self.invalid_utf8("a text message"));
                }
            }
            Payload::Close => {
                self.check_close_payload()?;
                self.closed = true;
            }
            _ => {}
        }
        Ok(())
    }

    fn check_close_payload(&self) -> Result<(), Violation> {
        let p = &self.close_payload;
        match p.len() {
            0 => Ok(()),
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
                std::str::from_utf8(&p[2..]).map_err(|_| self.invalid_utf8("a Close frame's reason"))?;
                Ok(())
            }
        }
    }

    /// The server's Close frame, once complete and valid (taken once).
    fn take_close(&mut self) -> Option<PeerClose> {
        if !self.closed || self.held_from.is_none() {
            return None;
        }
        self.held_from = None;
        let p = std::mem::take(&mut self.close_payload);
        let frame = (p.len() >= 2).then(|| {
            let reason = String::from_utf8(p[2..].to_vec()).expect("checked in check_close_payload");
            (u16::from_be_bytes([p[0], p[1]]), reason)
        });
        Some(PeerClose(frame))
    }
}

impl Inspected {
    /// Puts the server's Close frame, once complete, before any stop that
    /// came after it.
    fn with_close(mut self, w: &mut FrameWatch) -> Inspected {
        if let Some(c) = w.take_close() {
            self.stop.insert(0, Stop::Close(c));
        }
        self
    }
}

/// A stream whose reads pass through a [`FrameWatch`]. Writes are untouched.
pub struct Guarded<S> {
    inner: S,
    watch: FrameWatch,
    /// Where the stream stops, returned to the reader one at a time once it
    /// has read every byte before.
    stops: std::collections::VecDeque<Stop>,
}

impl<S> Guarded<S> {
    /// `chromium`: Chromium's close codes and 1002 for invalid UTF-8.
    pub(crate) fn new(inner: S, chromium: bool) -> Self {
        Guarded { inner, watch: FrameWatch::new(chromium), stops: Default::default() }
    }

    /// Inspects bytes that arrived with the handshake response and will be
    /// handed to tungstenite directly; cuts them where the stream stops.
    pub(crate) fn inspect_prefix(&mut self, bytes: &mut Vec<u8>) {
        let r = self.watch.inspect(bytes);
        bytes.truncate(r.pass);
        self.stops.extend(r.stop);
    }

    pub(crate) fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if let Some(stop) = this.stops.pop_front() {
                return Poll::Ready(Err(stop.into_io()));
            }
            let before = buf.filled().len();
            std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            let got = buf.filled().len() - before;
            if got == 0 {
                return Poll::Ready(Ok(())); // end of stream
            }
            let r = this.watch.inspect(&buf.filled()[before..]);
            buf.set_filled(before + r.pass);
            this.stops.extend(r.stop);
            if r.pass > 0 {
                return Poll::Ready(Ok(()));
            }
            // Everything read belongs to the Close frame (or follows it):
            // read on until it is complete.
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![(if fin { 0x80 } else { 0 }) | opcode];
        match payload.len() {
            n if n < 126 => f.push(n as u8),
            n if n < 65536 => {
                f.push(126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(payload);
        f
    }

    /// Feeds `bytes` in pieces of `step` and returns the absolute offset at
    /// which the guard cut the stream, with the close code.
    fn run(bytes: &[u8], step: usize) -> Option<(usize, u16)> {
        run_with(FrameWatch::default(), bytes, step).1
    }

    /// Feeds `bytes` in pieces of `step`: the bytes passed on, the first
    /// violation (absolute offset of the cut, code) and the server's Close.
    #[allow(clippy::type_complexity)]
    fn run_with(
        mut w: FrameWatch,
        bytes: &[u8],
        step: usize,
    ) -> (Vec<u8>, Option<(usize, u16)>, Option<PeerClose>) {
        let (mut passed, mut close) = (Vec::new(), None);
        let mut off = 0;
        for piece in bytes.chunks(step) {
            let r = w.inspect(piece);
            passed.extend_from_slice(&piece[..r.pass]);
            for stop in r.stop {
                match stop {
                    Stop::Close(c) => close = Some(c),
                    Stop::Violation(v) => return (passed, Some((off + r.pass, v.code)), close),
                }
            }
            off += piece.len();
        }
        (passed, None, close)
    }

    #[test]
    fn valid_streams_pass_in_any_chunking() {
        let mut s = frame(true, 1, "héllo".as_bytes());
        s.extend(frame(false, 1, &"€".as_bytes()[..1]));
        s.extend(frame(true, 9, b"ping"));
        s.extend(frame(true, 0, &"€".as_bytes()[1..]));
        s.extend(frame(true, 2, &[0xff; 300]));
        s.extend(frame(true, 2, &vec![0; 70000]));
        s.extend(frame(true, 8, &[0x03, 0xe8, b'o', b'k']));
        for step in [1, 2, 3, 7, 100, 100000] {
            assert_eq!(run(&s, step), None, "step {step}");
        }
    }

    #[test]
    fn invalid_utf8_is_cut_before_the_bad_part() {
        let mut s = frame(true, 2, b"fine");
        let good_len = s.len();
        s.extend(frame(true, 1, b"ab\xffcd"));
        assert_eq!(run(&s, 1000), Some((good_len + 2, 1007)));
        // Byte by byte, it fails exactly on the bad byte.
        assert_eq!(run(&s, 1), Some((good_len + 4, 1007)));
        // A message that ends inside a sequence.
        assert_eq!(run(&frame(true, 1, b"ab\xe2\x82"), 1000).map(|r| r.1), Some(1007));
        // Binary payloads are not checked.
        assert_eq!(run(&frame(true, 2, b"\xff"), 1), None);
    }

    #[test]
    fn header_violations_fail_with_1002() {
        let mut masked = frame(true, 1, b"");
        masked[1] |= 0x80;
        masked.extend([1, 2, 3, 4]);
        assert_eq!(run(&masked, 100), Some((0, 1002)));
        let non_minimal_16 = [0x82, 126, 0, 5, 1, 2, 3, 4, 5];
        assert_eq!(run(&non_minimal_16, 100), Some((0, 1002)));
        let mut non_minimal_64 = vec![0x82, 127];
        non_minimal_64.extend(200u64.to_be_bytes());
        // Split over reads: the cut is where the last piece of the header starts.
        assert_eq!(run(&non_minimal_64, 3), Some((9, 1002)));
        let mut top_bit = vec![0x82, 127];
        top_bit.extend((1u64 << 63).to_be_bytes());
        assert_eq!(run(&top_bit, 100), Some((0, 1002)));
        let long_ping = [0x89, 126, 0, 126];
        assert_eq!(run(&long_ping, 100), Some((0, 1002)));
        assert_eq!(run(&frame(false, 9, b""), 100), Some((0, 1002)));
    }

    #[test]
    fn the_close_frame_is_held_back_and_reported_in_any_chunking() {
        let mut s = frame(true, 2, b"before");
        let before = s.clone();
        let mut p = 1014u16.to_be_bytes().to_vec();
        p.extend("bye ✓".as_bytes());
        s.extend(frame(true, 8, &p));
        for step in [1, 2, 3, 5, 1000] {
            let (passed, violation, close) = run_with(FrameWatch::default(), &s, step);
            assert_eq!(passed, before, "step {step}");
            assert_eq!(violation, None, "step {step}");
            assert_eq!(close, Some(PeerClose(Some((1014, "bye ✓".into())))), "step {step}");
        }
        let (passed, violation, close) = run_with(FrameWatch::default(), &frame(true, 8, b""), 1);
        assert_eq!((passed.len(), violation, close), (0, None, Some(PeerClose(None))));
        // Anything after the Close frame fails, after the Close is reported.
        let mut after = s.clone();
        after.extend(frame(true, 1, b"late"));
        for step in [1, 1000] {
            let (_, violation, close) = run_with(FrameWatch::default(), &after, step);
            assert!(close.is_some(), "step {step}");
            assert_eq!(violation.map(|v| v.1), Some(1002), "step {step}");
        }
    }

    #[test]
    fn chromium_mode_accepts_chromium_close_codes_and_fails_utf8_with_1002() {
        for (code, ok) in
            [(0u16, true), (999, true), (1004, true), (1005, false), (1015, false), (5000, true)]
        {
            let (_, violation, close) =
                run_with(FrameWatch::new(true), &frame(true, 8, &code.to_be_bytes()), 10);
            assert_eq!(close.is_some(), ok, "{code}");
            assert_eq!(violation.is_some(), !ok, "{code}");
        }
        let (_, violation, _) = run_with(FrameWatch::new(true), &frame(true, 1, b"\xff"), 10);
        assert_eq!(violation.map(|v| v.1), Some(1002));
    }

    #[test]
    fn close_payload_rules() {
        assert_eq!(run(&frame(true, 8, b""), 10), None);
        assert_eq!(run(&frame(true, 8, &[3]), 10).map(|r| r.1), Some(1002));
        for bad in [999u16, 1004, 1005, 1006, 1015, 2000, 5000] {
            let p = bad.to_be_bytes();
            assert_eq!(run(&frame(true, 8, &p), 10).map(|r| r.1), Some(1002), "{bad}");
        }
        let mut p = 1000u16.to_be_bytes().to_vec();
        p.extend(b"\xce\xba\xff");
        assert_eq!(run(&frame(true, 8, &p), 10).map(|r| r.1), Some(1007));
    }
}
