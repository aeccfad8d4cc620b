//! The recorder's place in a relay: a wrapper around the gateway's login stream to the
//! target. What the relay reads from it (the server's stream, in clear) goes to the recording;
//! what the relay writes to it (the viewer's messages) is followed for the events file and for
//! the pixel format the recorded pixels are in.

use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use rfb::messages::client::ClientMessage;
use rfb::PixelFormat;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::PollSemaphore;

use super::{Msg, Started, MAX_PENDING_EVENTS};

/// The most of a viewer's message kept while it arrives (a clipboard message is the largest).
const MAX_CARRY: usize = (1 << 20) + 64;

/// A stream to the target that records what passes (or, without a recording, just passes).
pub struct Tap<B> {
    inner: B,
    rec: Option<Box<Active>>,
}

struct Active {
    tx: tokio::sync::mpsc::UnboundedSender<Msg>,
    permits: PollSemaphore,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    start: Instant,
    /// The ServerInit as the server sent it, until the first server bytes are recorded.
    server_init: Option<Vec<u8>>,
    /// The viewer's latest SetPixelFormat: the recorded pixels are in it.
    pixel_format: Option<PixelFormat>,
    written: u64,
    max_bytes: u64,
    keys: bool,
    stopped: bool,
    /// The viewer's stream while a message is incomplete; `None` once it cannot be followed.
    carry: Option<Vec<u8>>,
    /// Events the writer has not taken yet (bounded by [`MAX_PENDING_EVENTS`]).
    events_queued: super::Queued,
    events_dropped: u64,
    /// Why recording stopped early, for the audit line.
    stop_reason: super::StopReason,
}

impl<B> Tap<B> {
    /// Records `inner` into `started`, whose stream began with `server_init`.
    pub fn recording(inner: B, started: &Started, server_init: Vec<u8>) -> Self {
        Self {
            inner,
            rec: Some(Box::new(Active {
                tx: started.tx.clone(),
                permits: PollSemaphore::new(started.permits.clone()),
                permit: None,
                start: Instant::now(),
                server_init: Some(server_init),
                pixel_format: None,
                written: 0,
                max_bytes: started.max_bytes,
                keys: started.keys,
                stopped: false,
                carry: Some(Vec::new()),
                events_queued: started.events_queued.clone(),
                events_dropped: 0,
                stop_reason: started.stop_reason.clone(),
            })),
        }
    }

    /// No recording: the stream as it is.
    pub fn passing(inner: B) -> Self {
        Self { inner, rec: None }
    }
}

impl Active {
    fn ms(&self) -> u32 {
        u32::try_from(self.start.elapsed().as_millis()).unwrap_or(u32::MAX)
    }

    /// One line for the events file; like the server's bytes it counts towards `max_bytes`,
    /// and nothing is written once the recording stopped.
    fn event(&mut self, value: serde_json::Value) {
        if self.stopped {
            return;
        }
        if self.events_queued.load(Ordering::Relaxed) >= MAX_PENDING_EVENTS {
            self.events_dropped += 1;
            return;
        }
        let mut v = value;
        v["t"] = self.ms().into();
        let line = v.to_string();
        self.written += line.len() as u64;
        if self.written > self.max_bytes {
            self.stop("max_bytes reached: the rest of the session is not recorded");
            return;
        }
        self.events_queued.fetch_add(1, Ordering::Relaxed);
        if self.tx.send(Msg::Event(line)).is_err() {
            self.stop("the recording could not be written (see the log)");
        }
    }

    /// The server's bytes, into the recording.
    fn server(&mut self, data: &[u8], permit: tokio::sync::OwnedSemaphorePermit) {
        if self.stopped {
            return;
        }
        if let Some(mut init) = self.server_init.take() {
            // A 3.3 stream with security None, as a viewer that needed no password saw it,
            // and the ServerInit in the pixel format the viewer asked for.
            if let Some(pf) = &self.pixel_format {
                let mut bytes = Vec::with_capacity(16);
                pf.write(&mut bytes);
                if let (Some(dst), Some(src)) = (init.get_mut(4..20), bytes.get(..16)) {
                    dst.copy_from_slice(src);
                }
            }
            let mut prologue = b"RFB 003.003\n\x00\x00\x00\x01".to_vec();
            prologue.extend_from_slice(&init);
            let _ = self.tx.send(Msg::Prologue(prologue));
        }
        self.written += data.len() as u64;
        if self.written > self.max_bytes {
            self.stop("max_bytes reached: the rest of the session is not recorded");
            return;
        }
        let msg = Msg::Server {
            data: data.to_vec(),
            at_ms: self.ms(),
            _permit: permit,
        };
        if self.tx.send(msg).is_err() {
            self.stop("the recording could not be written (see the log)");
        }
    }

    /// Stops recording, saying why in the events file and to the audit line.
    fn stop(&mut self, why: &str) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if let Ok(mut s) = self.stop_reason.lock() {
            s.get_or_insert_with(|| why.to_owned());
        }
        let _ = self.tx.send(Msg::Event(
            serde_json::json!({ "t": self.ms(), "stopped": why }).to_string(),
        ));
    }

    /// The viewer's bytes, followed message by message (parsed in place; the carry holds only
    /// an incomplete message, at most [`MAX_CARRY`] bytes).
    fn client(&mut self, data: &[u8]) {
        let Some(mut carry) = self.carry.take() else {
            return;
        };
        carry.extend_from_slice(data);
        let limits = rfb::Limits::default();
        let mut at = 0;
        loop {
            let rest = carry.get(at..).unwrap_or_default();
            match ClientMessage::parse(rest, &limits) {
                Ok(Some((msg, used))) if used > 0 => {
                    self.message(msg);
                    at += used;
                }
                Ok(_) if rest.len() <= MAX_CARRY => {
                    carry.drain(..at);
                    self.carry = Some(carry);
                    return;
                }
                _ => {
                    self.event(serde_json::json!({ "events": "the viewer's stream cannot be followed: no more input events" }));
                    return;
                }
            }
        }
    }

    fn message(&mut self, msg: ClientMessage) {
        use serde_json::json;
        match msg {
            ClientMessage::SetPixelFormat(pf) => {
                let changed_after_start = self.server_init.is_none();
                self.pixel_format = Some(pf);
                if changed_after_start {
                    self.event(json!({ "pixel_format": format!("{pf:?}") }));
                }
            }
            ClientMessage::PointerEvent { buttons, x, y } => {
                self.event(json!({ "pointer": [x, y], "buttons": buttons }));
            }
            ClientMessage::KeyEvent { down, keysym }
            | ClientMessage::QemuKeyEvent { down, keysym, .. }
                if self.keys =>
            {
                self.event(json!({ "key": keysym, "down": down }));
            }
            ClientMessage::ClientCutText(text) => {
                self.event(json!({ "clipboard_bytes": text.len() }));
            }
            ClientMessage::ExtendedCutText { payload, .. } => {
                self.event(json!({ "clipboard_bytes": payload.len() }));
            }
            ClientMessage::SetDesktopSize { width, height, .. } => {
                self.event(json!({ "resize": [width, height] }));
            }
            _ => {}
        }
    }
}

impl<B: AsyncRead + Unpin> AsyncRead for Tap<B> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(a) = this.rec.as_mut().filter(|a| !a.stopped) {
            // Room in the writer's queue before reading: a slow disk slows the server.
            if a.permit.is_none() {
                match ready!(a.permits.poll_acquire(cx)) {
                    Some(p) => a.permit = Some(p),
                    None => a.stop("the recording could not be written (see the log)"),
                }
            }
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        if let Some(a) = this.rec.as_mut() {
            let new = buf.filled().get(before..).unwrap_or_default();
            if !new.is_empty() {
                if let Some(permit) = a.permit.take() {
                    a.server(new, permit);
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<B: AsyncWrite + Unpin> AsyncWrite for Tap<B> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, data))?;
        if let Some(a) = this.rec.as_mut().filter(|a| !a.stopped) {
            a.client(data.get(..n).unwrap_or_default());
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<B> Drop for Tap<B> {
    fn drop(&mut self) {
        if let Some(a) = self.rec.as_mut() {
            if a.events_dropped > 0 {
                let n = a.events_dropped;
                a.events_dropped = 0;
                a.event(serde_json::json!({ "events_dropped": n }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Everything the writer was handed, in order.
    fn drain(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Msg>) -> Vec<String> {
        let mut got = Vec::new();
        while let Ok(msg) = rx.try_recv() {
            got.push(match msg {
                Msg::Prologue(_) => "prologue".to_owned(),
                Msg::Server { data, .. } => format!("server {}", data.len()),
                Msg::Event(line) => line,
            });
        }
        got
    }

    #[tokio::test]
    async fn nothing_is_written_after_max_bytes_stopped_the_recording() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let started = Started {
            file_name: "test.fbs".into(),
            tx,
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(4)),
            max_bytes: 100,
            keys: true,
            events_queued: super::super::Queued::default(),
            stop_reason: super::super::StopReason::default(),
        };
        let (near, mut far) = tokio::io::duplex(4096);
        let mut tap = Tap::recording(near, &started, vec![0; 24]);
        let mut buf = [0u8; 256];

        far.write_all(&[0; 60]).await.expect("server bytes");
        assert_eq!(tap.read(&mut buf).await.expect("read"), 60);
        // A pointer event while recording: kept.
        tap.write_all(&[5, 1, 0, 10, 0, 20]).await.expect("pointer");
        far.write_all(&[0; 60]).await.expect("server bytes");
        assert_eq!(tap.read(&mut buf).await.expect("read"), 60);
        let before = drain(&mut rx);
        assert!(
            before
                .last()
                .is_some_and(|l| l.contains("max_bytes reached")),
            "{before:?}"
        );
        assert!(
            before.iter().any(|l| l.contains("\"pointer\"")),
            "{before:?}"
        );

        // After the stop: the session goes on, the files do not grow.
        for _ in 0..50 {
            tap.write_all(&[5, 0, 0, 11, 0, 21]).await.expect("pointer");
            tap.write_all(&[4, 1, 0, 0, 0, 0, 0, 0x61])
                .await
                .expect("key");
        }
        far.write_all(&[0; 60]).await.expect("server bytes");
        assert_eq!(tap.read(&mut buf).await.expect("read"), 60);
        drop(tap);
        assert_eq!(drain(&mut rx), Vec::<String>::new());
        assert_eq!(
            started.stop_reason.lock().expect("lock").as_deref(),
            Some("max_bytes reached: the rest of the session is not recorded")
        );
    }
}
