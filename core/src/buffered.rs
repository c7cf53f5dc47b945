//! The byte stream between the frame guard and the socket. It reads from
//! the network in large chunks and writes the frames `send()` encoded.
//!
//! Reading: tungstenite reads in small steps (its buffer is kept small
//! because it is zero-filled on every connection); one read of up to
//! [`READ_AHEAD`] bytes serves many of them, and the chunk is released
//! whenever the network has nothing more, so an idle connection holds none.
//!
//! Writing: the frames `send()` encoded ([`crate::outgoing`]) are written
//! before anything tungstenite writes after they were queued (pongs,
//! Close), so frames never interleave and Close follows every message sent
//! before it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most bytes read from the network at once.
const READ_AHEAD: usize = 64 * 1024;

/// A frames buffer larger than this is released once written, so that one
/// large message does not keep its memory for the life of the connection.
const KEEP_FRAMES_CAPACITY: usize = 1 << 20;

pub struct Buffered<S> {
    inner: S,
    /// Bytes read ahead of tungstenite: `ahead[taken..]`.
    ahead: Vec<u8>,
    taken: usize,
    /// Complete data frames waiting to be written: `frames[written..]`.
    frames: Vec<u8>,
    written: usize,
}

impl<S> Buffered<S> {
    pub(crate) fn new(inner: S) -> Self {
        Buffered { inner, ahead: Vec::new(), taken: 0, frames: Vec::new(), written: 0 }
    }

    /// The buffer of frames waiting to be written, to append to. Only call
    /// this when tungstenite holds no partly written frame (after a
    /// complete flush), so frames never interleave.
    pub(crate) fn frames_mut(&mut self) -> &mut Vec<u8> {
        &mut self.frames
    }
}

impl<S: AsyncRead + Unpin> Buffered<S> {
    /// Refills `ahead` from the network once it is used up. Ready(false)
    /// at the end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        if self.taken < self.ahead.len() {
            return Poll::Ready(Ok(true));
        }
        self.ahead.clear();
        self.taken = 0;
        self.ahead.reserve_exact(READ_AHEAD);
        let mut rb = ReadBuf::uninit(self.ahead.spare_capacity_mut());
        match Pin::new(&mut self.inner).poll_read(cx, &mut rb) {
            Poll::Pending => {
                // Nothing more for now: hold no buffer while idle.
                self.ahead = Vec::new();
                Poll::Pending
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => {
                let n = rb.filled().len();
                // SAFETY: `ReadBuf` guarantees its first `n` bytes, the
                // start of `ahead`'s spare capacity, are initialized.
                unsafe { self.ahead.set_len(n) };
                Poll::Ready(Ok(n > 0))
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Buffered<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !std::task::ready!(this.poll_fill(cx))? {
            return Poll::Ready(Ok(())); // end of stream
        }
        let available = &this.ahead[this.taken..];
        let n = available.len().min(buf.remaining());
        buf.put_slice(&available[..n]);
        this.taken += n;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> Buffered<S> {
    /// Writes the queued data frames out.
    fn poll_write_frames(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.frames.len() {
            let n =
                std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &self.frames[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        if self.frames.capacity() > KEEP_FRAMES_CAPACITY {
            self.frames = Vec::new();
        }
        self.frames.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Buffered<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_write_frames(cx))?;
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_write_frames(cx))?;
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_write_frames(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn small_reads_are_served_from_one_network_read_in_order() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        b.write_all(&data).await.unwrap();
        drop(b);
        let mut s = Buffered::new(a);
        let mut got = Vec::new();
        let mut chunk = [0u8; 1000];
        loop {
            let n = s.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(got, data);
    }

    #[tokio::test]
    async fn queued_frames_go_out_before_later_writes() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut s = Buffered::new(a);
        s.frames_mut().extend_from_slice(b"first ");
        s.write_all(b"second").await.unwrap();
        s.flush().await.unwrap();
        drop(s);
        let mut out = Vec::new();
        b.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"first second");
    }
}
