//! The TCP stream under every connection, with the switches the byte-level faults turn:
//! trickle (at most N bytes per period), close after N bytes, and reset (RST on drop).
//!
//! The switches are atomics in a [`Shaping`] the session keeps a handle to, so a fault can
//! turn them at any moment of the connection, under TLS and WebSocket alike. Off (the
//! default), a write costs two relaxed loads.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// No byte budget.
const UNLIMITED: u64 = u64::MAX;

/// The switches of one connection's stream.
#[derive(Debug)]
pub(crate) struct Shaping {
    /// Bytes still allowed out before the stream closes; [`UNLIMITED`] when off.
    budget: AtomicU64,
    /// Trickle: bytes per period (0: off) and the period in milliseconds.
    trickle_bytes: AtomicU64,
    trickle_every_ms: AtomicU64,
    /// Reset instead of closing when the stream is dropped.
    reset: AtomicBool,
}

impl Default for Shaping {
    fn default() -> Self {
        Shaping {
            budget: AtomicU64::new(UNLIMITED),
            trickle_bytes: AtomicU64::new(0),
            trickle_every_ms: AtomicU64::new(0),
            reset: AtomicBool::new(false),
        }
    }
}

impl Shaping {
    /// Closes the stream after `bytes` more bytes out.
    pub(crate) fn close_after(&self, bytes: u64) {
        self.budget.store(bytes.min(UNLIMITED - 1), Ordering::Relaxed);
    }

    /// Lets at most `bytes` out every `every`.
    pub(crate) fn trickle(&self, bytes: usize, every: Duration) {
        self.trickle_every_ms.store(every.as_millis().max(1) as u64, Ordering::Relaxed);
        self.trickle_bytes.store(bytes as u64, Ordering::Relaxed);
    }

    /// Sends RST instead of FIN when the connection ends.
    pub(crate) fn reset(&self) {
        self.reset.store(true, Ordering::Relaxed);
    }
}

/// A TCP stream obeying a [`Shaping`].
pub(crate) struct ShapedStream {
    inner: TcpStream,
    shaping: Arc<Shaping>,
    /// Bytes left in the current trickle period, and the wait for the next one.
    allowance: u64,
    wait: Option<Pin<Box<Sleep>>>,
    /// The budget ran out: the next flush or write fails.
    cut: bool,
}

impl ShapedStream {
    pub(crate) fn new(inner: TcpStream, shaping: Arc<Shaping>) -> ShapedStream {
        ShapedStream { inner, shaping, allowance: 0, wait: None, cut: false }
    }

    fn cut_error() -> io::Error {
        io::Error::new(io::ErrorKind::BrokenPipe, "closed by the fault close_after_bytes")
    }
}

impl AsyncRead for ShapedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ShapedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.cut {
            return Poll::Ready(Err(Self::cut_error()));
        }
        let budget = self.shaping.budget.load(Ordering::Relaxed);
        let trickle = self.shaping.trickle_bytes.load(Ordering::Relaxed);
        let mut len = buf.len() as u64;
        if budget != UNLIMITED {
            len = len.min(budget);
        }
        if trickle > 0 {
            if self.allowance == 0 {
                let every = Duration::from_millis(self.shaping.trickle_every_ms.load(Ordering::Relaxed));
                let wait = self.wait.get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
                ready!(wait.as_mut().poll(cx));
                self.wait = None;
                self.allowance = trickle;
            }
            len = len.min(self.allowance);
        }
        let len = len as usize;
        let written = ready!(Pin::new(&mut self.inner).poll_write(cx, &buf[..len]))?;
        if trickle > 0 {
            self.allowance -= written as u64;
        }
        if budget != UNLIMITED {
            let left = budget - written as u64;
            self.shaping.budget.store(left, Ordering::Relaxed);
            self.cut = left == 0;
        }
        Poll::Ready(Ok(written))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
        if self.cut {
            return Poll::Ready(Err(Self::cut_error()));
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Drop for ShapedStream {
    fn drop(&mut self) {
        if self.shaping.reset.load(Ordering::Relaxed) {
            // Linger 0: closing sends RST and discards what was not sent.
            let _ = socket2::SockRef::from(&self.inner).set_linger(Some(Duration::ZERO));
        }
    }
}
