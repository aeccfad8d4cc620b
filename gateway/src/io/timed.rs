//! [`Timed`]: a stream whose stalls are bounded. A write (or flush) that makes no progress for
//! `write_timeout` fails with `TimedOut` — a client that reads nothing cannot hold a
//! connection slot and its buffers forever, whatever stage the connection is in. A read that
//! waits longer than the idle timeout fails the same way while the switch ([`IdleRead`]) is
//! on: the HTTP phase (keep-alive, request bodies); the connection turns it off once it relays,
//! where the relay's pings judge liveness.
//!
//! Timers are armed only while an operation is pending and dropped on progress; time comes
//! from `tokio::time`, so tests can pause it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// The idle-read timeout in force, shared with the connection that can turn it off.
#[derive(Debug, Default)]
pub struct IdleRead(AtomicU64);

impl IdleRead {
    pub fn new(timeout: Duration) -> Arc<Self> {
        Arc::new(Self(AtomicU64::new(
            u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        )))
    }

    /// No idle timeout from now on.
    pub fn off(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    fn get(&self) -> Option<Duration> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }
}

/// A stream with bounded write stalls and, while switched on, bounded idle reads.
#[derive(Debug)]
pub struct Timed<S> {
    inner: S,
    write_timeout: Duration,
    write_deadline: Option<Pin<Box<Sleep>>>,
    idle: Arc<IdleRead>,
    read_deadline: Option<Pin<Box<Sleep>>>,
}

impl<S> Timed<S> {
    pub fn new(inner: S, write_timeout: Duration, idle: Arc<IdleRead>) -> Self {
        Self {
            inner,
            write_timeout,
            write_deadline: None,
            idle,
            read_deadline: None,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

fn timed_out(what: &str, after: Duration) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{what} for {} s", after.as_secs_f32()),
    )
}

/// After a pending operation: arms the deadline if needed and says whether it has passed.
fn expired(deadline: &mut Option<Pin<Box<Sleep>>>, after: Duration, cx: &mut Context<'_>) -> bool {
    let sleep = deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(after)));
    sleep.as_mut().poll(cx).is_ready()
}

impl<S: AsyncRead + Unpin> AsyncRead for Timed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Pending => {
                let Some(after) = this.idle.get() else {
                    this.read_deadline = None;
                    return Poll::Pending;
                };
                if expired(&mut this.read_deadline, after, cx) {
                    this.read_deadline = None;
                    return Poll::Ready(Err(timed_out("the client sent nothing", after)));
                }
                Poll::Pending
            }
            ready => {
                this.read_deadline = None;
                ready
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> Timed<S> {
    fn bounded<T>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        match op(Pin::new(&mut self.inner), cx) {
            Poll::Pending => {
                if expired(&mut self.write_deadline, self.write_timeout, cx) {
                    self.write_deadline = None;
                    return Poll::Ready(Err(timed_out(
                        "the client took nothing",
                        self.write_timeout,
                    )));
                }
                Poll::Pending
            }
            ready => {
                self.write_deadline = None;
                ready
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Timed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut().bounded(cx, |s, cx| s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut()
            .bounded(cx, |s, cx| s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().bounded(cx, |s, cx| s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().bounded(cx, |s, cx| s.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_client_that_reads_nothing_fails_the_write_after_the_timeout() {
        let (ours, _theirs) = tokio::io::duplex(1024);
        let mut s = Timed::new(ours, Duration::from_secs(5), IdleRead::new(Duration::ZERO));
        let start = tokio::time::Instant::now();
        let e = s.write_all(&[0u8; 64 * 1024]).await.expect_err("stalled");
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_that_keeps_taking_is_not_cut() {
        let (ours, mut theirs) = tokio::io::duplex(1024);
        let mut s = Timed::new(ours, Duration::from_secs(5), IdleRead::new(Duration::ZERO));
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let mut got = 0;
            while got < 16 * 1024 {
                tokio::time::sleep(Duration::from_secs(3)).await;
                got += theirs.read(&mut buf).await.expect("read");
            }
            got
        });
        s.write_all(&[1u8; 16 * 1024])
            .await
            .expect("every stall is short");
        assert!(reader.await.expect("reader") >= 16 * 1024);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_reads_time_out_only_while_switched_on() {
        let (ours, mut theirs) = tokio::io::duplex(1024);
        let idle = IdleRead::new(Duration::from_secs(60));
        let mut s = Timed::new(ours, Duration::from_secs(5), idle.clone());
        let mut buf = [0u8; 8];
        let e = s.read(&mut buf).await.expect_err("idle");
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        idle.off();
        let read = tokio::spawn(async move { s.read(&mut buf).await });
        tokio::time::sleep(Duration::from_secs(3600)).await;
        theirs.write_all(b"x").await.expect("write");
        assert_eq!(read.await.expect("task").expect("no timeout once off"), 1);
    }
}
