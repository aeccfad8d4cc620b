//! A browser's WebSocket once upgraded: [`frames`](super::frames) over the connection's
//! bytes. Reading streams (a read of at most [`READ_BYTES`] on the stack, the payload
//! unmasked in place and copied out once), so an idle browser holds no buffer here; a frame
//! to the browser is read from the target straight into a [`FrameBuf`], behind room for its
//! header, and written in one piece (and a quiet target's is read on the stack too).

use std::future::poll_fn;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::frames::{self, Close, Control, ControlFrame, Deframer, Event, FrameError, Opcode};
use super::CLOSE_GRACE;

/// The most read from the browser's connection per call. Only while a read is being
/// handled does it exist, on the stack; a 1 MiB paste takes 256 reads.
pub const READ_BYTES: usize = 4096;

/// What one read from the browser brought.
#[derive(Debug, Default)]
pub struct Received {
    /// Binary payload, in order, of however many frames or pieces of frames came.
    pub data: Vec<u8>,
    /// The last ping, which is owed a pong.
    pub ping: Option<Control>,
    /// The browser closes (nothing after it was read).
    pub close: Option<Close>,
    /// The browser broke the protocol (after `data`, which came before it).
    pub error: Option<FrameError>,
    /// The connection ended without a close frame.
    pub eof: bool,
}

/// Reads once from the browser and takes apart what came.
pub async fn receive<R>(r: &mut R, deframer: &mut Deframer) -> io::Result<Received>
where
    R: AsyncRead + Unpin,
{
    poll_fn(|cx| {
        let mut stack = [MaybeUninit::<u8>::uninit(); READ_BYTES];
        let mut buf = ReadBuf::uninit(&mut stack);
        ready!(Pin::new(&mut *r).poll_read(cx, &mut buf))?;
        let input = buf.filled_mut();
        let mut got = Received {
            eof: input.is_empty(),
            ..Received::default()
        };
        let mut at = 0;
        while at < input.len() {
            match deframer.next(&mut input[at..]) {
                Ok((n, event)) => {
                    at += n;
                    match event {
                        Some(Event::Data(d)) => got.data.extend_from_slice(d),
                        Some(Event::Ping(p)) => got.ping = Some(p),
                        Some(Event::Pong) | None => {}
                        Some(Event::Close(c)) => got.close = Some(c),
                    }
                }
                Err(e) => {
                    got.error = Some(e);
                    break;
                }
            }
        }
        Poll::Ready(Ok(got))
    })
    .await
}

/// After the gateway's close: reads and drops what the browser still sends until its close
/// frame answers ours, or its connection ends. A stream no longer in step with its frames
/// (after a protocol error) is read to its end.
pub async fn discard_until_closed<R: AsyncRead + Unpin>(r: &mut R, deframer: &mut Deframer) {
    loop {
        match receive(r, deframer).await {
            Ok(got) if got.close.is_some() || got.eof => return,
            Ok(got) if got.error.is_some() => break,
            Ok(_) => {}
            Err(_) => return,
        }
    }
    discard_until_end(r).await;
}

/// Reads and drops what the browser sends until its connection ends (or fails).
async fn discard_until_end<R: AsyncRead + Unpin>(r: &mut R) {
    // One read per await, so the runtime's budget lets a bound on the wait fire while a
    // browser keeps sending; the bytes go to the stack and never into the future.
    while let Ok(1..) = read_and_drop(r).await {}
}

async fn read_and_drop<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<usize> {
    poll_fn(|cx| {
        let mut stack = [MaybeUninit::<u8>::uninit(); READ_BYTES];
        let mut buf = ReadBuf::uninit(&mut stack);
        ready!(Pin::new(&mut *r).poll_read(cx, &mut buf))?;
        Poll::Ready(Ok(buf.filled().len()))
    })
    .await
}

/// The most read from the target while it is quiet: on the stack, during the read only.
pub const QUIET_READ_BYTES: usize = 4096;

/// A buffer the next frame to the browser is read into: room for the longest header, then
/// the payload. Quiet, it holds no memory: the read goes to the stack and a buffer of just
/// what came is made. After a read that filled its room (more is waiting), the next read goes
/// straight into a buffer of the full size.
#[derive(Debug, Default)]
pub struct FrameBuf {
    bytes: Vec<u8>,
    /// The last read filled all the room it had.
    full: bool,
}

impl FrameBuf {
    /// No memory: the next read goes to the stack.
    pub fn quiet() -> Self {
        Self::default()
    }

    /// Room for `payload` bytes of payload.
    fn with_payload_capacity(payload: usize) -> Self {
        let mut bytes = Vec::with_capacity(frames::MAX_HEADER + payload);
        bytes.resize(frames::MAX_HEADER, 0);
        Self { bytes, full: false }
    }

    /// Reads once (into the spare room, not zeroed, or when quiet to the stack); `Ok(0)` at
    /// the end of the stream. Cancel safe: when the future is dropped nothing was read.
    pub async fn read_from<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> io::Result<usize> {
        if self.bytes.capacity() > self.bytes.len() {
            let n = r.read_buf(&mut self.bytes).await?;
            self.full = self.bytes.len() == self.bytes.capacity();
            return Ok(n);
        }
        poll_fn(|cx| {
            let mut stack = [MaybeUninit::<u8>::uninit(); QUIET_READ_BYTES];
            let mut buf = ReadBuf::uninit(&mut stack);
            ready!(Pin::new(&mut *r).poll_read(cx, &mut buf))?;
            let got = buf.filled();
            let mut bytes = Vec::with_capacity(frames::MAX_HEADER + got.len());
            bytes.resize(frames::MAX_HEADER, 0);
            bytes.extend_from_slice(got);
            self.bytes = bytes;
            self.full = got.len() == QUIET_READ_BYTES;
            Poll::Ready(Ok(got.len()))
        })
        .await
    }

    pub fn payload(&self) -> &[u8] {
        self.bytes.get(frames::MAX_HEADER..).unwrap_or_default()
    }

    /// The heap it holds, in bytes.
    pub fn held(&self) -> usize {
        self.bytes.capacity()
    }

    /// The last read filled its room: more is probably waiting.
    pub fn is_full(&self) -> bool {
        self.full
    }

    /// Empties it for the next read: after a full read, with room for `busy` bytes of payload
    /// (the memory is kept when that is what it has); else quiet, with no memory.
    pub fn reset(&mut self, busy: usize) {
        if !self.full {
            *self = Self::quiet();
        } else if self.bytes.capacity() == frames::MAX_HEADER + busy {
            self.bytes.truncate(frames::MAX_HEADER);
            self.full = false;
        } else {
            *self = Self::with_payload_capacity(busy);
        }
    }

    /// The whole frame: a binary frame's header written just before the payload.
    fn frame(&mut self) -> &[u8] {
        let mut header = [0u8; frames::MAX_HEADER];
        let start = frames::header_into(Opcode::Binary, self.payload().len(), &mut header);
        self.bytes[start..frames::MAX_HEADER].copy_from_slice(&header[start..]);
        &self.bytes[start..]
    }
}

/// The gateway's side of writing to a browser: each frame whole, nothing after a close.
#[derive(Debug, Default)]
pub struct Sender {
    close_sent: bool,
    /// A write was given up part way (its future dropped on a timeout): the browser has part
    /// of a frame, so nothing more can be framed after it, not even a close.
    cut: bool,
}

impl Sender {
    async fn write<W: AsyncWrite + Unpin>(&mut self, w: &mut W, frame: &[u8]) -> io::Result<()> {
        if self.close_sent || self.cut {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the gateway already closed the WebSocket, or gave up a frame part way",
            ));
        }
        // Cleared only when the frame is all out: a dropped future leaves it set.
        self.cut = true;
        w.write_all(frame).await?;
        w.flush().await?;
        self.cut = false;
        Ok(())
    }

    /// Sends what `buf` holds as one binary message, in one write.
    pub async fn frame_buf<W: AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
        buf: &mut FrameBuf,
    ) -> io::Result<()> {
        self.write(w, buf.frame()).await
    }

    /// Sends `payload` as one binary message (copied once behind its header).
    pub async fn binary<W: AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
        payload: &[u8],
    ) -> io::Result<()> {
        let mut header = [0u8; frames::MAX_HEADER];
        let start = frames::header_into(Opcode::Binary, payload.len(), &mut header);
        let mut frame = Vec::with_capacity(frames::MAX_HEADER - start + payload.len());
        frame.extend_from_slice(&header[start..]);
        frame.extend_from_slice(payload);
        self.write(w, &frame).await
    }

    pub async fn ping<W: AsyncWrite + Unpin>(&mut self, w: &mut W) -> io::Result<()> {
        self.write(w, ControlFrame::new(Opcode::Ping, &[]).as_bytes())
            .await
    }

    pub async fn pong<W: AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
        ping: &Control,
    ) -> io::Result<()> {
        self.write(
            w,
            ControlFrame::new(Opcode::Pong, ping.as_bytes()).as_bytes(),
        )
        .await
    }

    /// Sends `frame` (a close) unless one was sent already; nothing is sent after it.
    pub async fn close<W: AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
        frame: &ControlFrame,
    ) -> io::Result<()> {
        if self.close_sent {
            return Ok(());
        }
        let sent = self.write(w, frame.as_bytes()).await;
        self.close_sent = true;
        sent
    }
}

/// The close frame that answers a browser's (with `code`, if it gave one): its code echoed,
/// no reason.
pub fn close_reply(code: Option<u16>) -> ControlFrame {
    match code {
        Some(code) => ControlFrame::new(Opcode::Close, &code.to_be_bytes()),
        None => ControlFrame::new(Opcode::Close, &[]),
    }
}

/// A browser's WebSocket before the relay splits it: for the handshake the gateway plays
/// itself and for a refusal.
#[derive(Debug)]
pub struct Browser<S> {
    pub io: S,
    pub deframer: Deframer,
    pub sender: Sender,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Browser<S> {
    /// A browser whose messages may not exceed `max_message` bytes.
    pub fn new(io: S, max_message: usize) -> Self {
        Self {
            io,
            deframer: Deframer::new(u64::try_from(max_message).unwrap_or(u64::MAX)),
            sender: Sender::default(),
        }
    }

    /// Reads once; a ping is answered here.
    pub async fn receive(&mut self) -> io::Result<Received> {
        let got = receive(&mut self.io, &mut self.deframer).await?;
        if let Some(p) = &got.ping {
            self.sender.pong(&mut self.io, p).await?;
        }
        Ok(got)
    }

    pub async fn send_binary(&mut self, payload: &[u8]) -> io::Result<()> {
        self.sender.binary(&mut self.io, payload).await
    }

    /// Sends a close frame (the reason cut to the 123 bytes a frame holds), then waits
    /// briefly for the browser's reply so the frame is not lost to a reset.
    pub async fn close(&mut self, code: u16, reason: &str) {
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            if self
                .sender
                .close(&mut self.io, &ControlFrame::close(code, reason))
                .await
                .is_err()
            {
                return;
            }
            discard_until_closed(&mut self.io, &mut self.deframer).await;
            let _ = self.io.shutdown().await;
        })
        .await;
    }
}
