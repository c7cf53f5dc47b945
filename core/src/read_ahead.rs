//! Reading ahead beneath TLS. rustls asks its transport for about one TLS
//! record (16 KiB) at a time; this layer serves those asks from reads of up
//! to [`READ_AHEAD`] bytes, so a fast stream costs a few large reads
//! instead of one system call per record. The chunk is released whenever
//! the network has nothing more, so an idle connection holds none. Writes
//! pass through.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most bytes read from the network at once.
const READ_AHEAD: usize = 256 * 1024;

pub struct ReadAhead<S> {
    inner: S,
    /// Bytes read ahead of the reader: `ahead[taken..]`.
    ahead: Vec<u8>,
    taken: usize,
}

impl<S> ReadAhead<S> {
    pub(crate) fn new(inner: S) -> Self {
        ReadAhead { inner, ahead: Vec::new(), taken: 0 }
    }

    /// The stream read from.
    pub(crate) fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> ReadAhead<S> {
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

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
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

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadAhead<S> {
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
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn small_reads_are_served_from_one_network_read_in_order() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        b.write_all(&data).await.unwrap();
        drop(b);
        let mut s = ReadAhead::new(a);
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
}
