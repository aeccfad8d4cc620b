//! The connection to a VNC server after the gateway's own login, as one byte stream the relay
//! pumps: in clear, the socket itself (after any bytes that came with ServerInit); in TLS, the
//! socket through the [`rfb::Passthrough`] that owns the TLS session of the login, so every
//! byte both ways is still encrypted by it. [`TlsRelay`] does the same for a native viewer's
//! VeNCrypt session, whose TLS the gateway's [`rfb::server::Server`] owns.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use rfb::Passthrough;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::io::Prefixed;

/// Ciphertext queued for the server beyond which writes wait (backpressure).
const MAX_PENDING_WIRE_BYTES: usize = 256 * 1024;
const READ_CHUNK: usize = 64 * 1024;

/// The server side of a relay after the gateway logged in.
pub enum BackendStream {
    Plain(Prefixed<TcpStream>),
    Tls(Box<TlsRelay<Passthrough, TcpStream>>),
}

/// A sans-io TLS session that carries a relay's bytes: plaintext in and out, wire bytes
/// through.
pub trait TlsPipe {
    /// Wire bytes from the peer.
    fn receive_wire(&mut self, wire: &[u8]) -> Result<(), String>;
    /// The plaintext they carried.
    fn take_plain(&mut self) -> Vec<u8>;
    /// Plaintext for the peer.
    fn send_plain(&mut self, plaintext: &[u8]);
    /// Wire bytes for the peer.
    fn transmit(&mut self) -> Option<Vec<u8>>;
}

impl TlsPipe for Passthrough {
    fn receive_wire(&mut self, wire: &[u8]) -> Result<(), String> {
        self.receive(wire).map_err(|e| e.to_string())
    }
    fn take_plain(&mut self) -> Vec<u8> {
        self.take_from_server()
    }
    fn send_plain(&mut self, plaintext: &[u8]) {
        self.send(plaintext);
    }
    fn transmit(&mut self) -> Option<Vec<u8>> {
        self.poll_transmit()
    }
}

impl TlsPipe for rfb::server::Server {
    fn receive_wire(&mut self, wire: &[u8]) -> Result<(), String> {
        self.receive(wire).map_err(|e| e.to_string())
    }
    fn take_plain(&mut self) -> Vec<u8> {
        self.take_from_client()
    }
    fn send_plain(&mut self, plaintext: &[u8]) {
        self.send(plaintext);
    }
    fn transmit(&mut self) -> Option<Vec<u8>> {
        self.poll_transmit()
    }
}

/// A socket through a [`TlsPipe`]: one plaintext stream for the relay.
pub struct TlsRelay<P, T> {
    tcp: T,
    pt: P,
    /// Plaintext from the server not yet read.
    plain: Vec<u8>,
    plain_pos: usize,
    /// Ciphertext for the server not yet written.
    wire: Vec<u8>,
    wire_pos: usize,
    buf: Vec<u8>,
    eof: bool,
}

impl BackendStream {
    /// The stream for `pt` on `tcp`.
    pub fn new(tcp: TcpStream, mut pt: Passthrough) -> Self {
        let early = pt.take_from_server();
        if !pt.is_tls() {
            return Self::Plain(Prefixed::new(early, tcp));
        }
        let mut wire = Vec::new();
        while let Some(b) = pt.poll_transmit() {
            wire.extend(b);
        }
        Self::Tls(Box::new(TlsRelay::new(tcp, pt, early, wire)))
    }
}

impl<P: TlsPipe, T: AsyncRead + AsyncWrite + Unpin> TlsRelay<P, T> {
    /// `early`: plaintext that arrived already; `wire`: bytes still to send.
    pub fn new(tcp: T, pt: P, early: Vec<u8>, wire: Vec<u8>) -> Self {
        Self {
            tcp,
            pt,
            plain: early,
            plain_pos: 0,
            wire,
            wire_pos: 0,
            buf: vec![0; READ_CHUNK],
            eof: false,
        }
    }

    fn take_transmit(&mut self) {
        while let Some(b) = self.pt.transmit() {
            if self.wire_pos == self.wire.len() {
                self.wire.clear();
                self.wire_pos = 0;
            }
            self.wire.extend(b);
        }
    }

    /// Writes queued ciphertext until done or the socket would block.
    fn poll_flush_wire(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.wire_pos < self.wire.len() {
            let pending = self.wire.get(self.wire_pos..).unwrap_or_default();
            let n = ready!(Pin::new(&mut self.tcp).poll_write(cx, pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wire_pos += n;
        }
        self.wire.clear();
        self.wire_pos = 0;
        Poll::Ready(Ok(()))
    }
}

impl<P: TlsPipe + Unpin, T: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsRelay<P, T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.plain_pos < this.plain.len() {
                let avail = this.plain.get(this.plain_pos..).unwrap_or_default();
                let n = avail.len().min(out.remaining());
                out.put_slice(avail.get(..n).unwrap_or_default());
                this.plain_pos += n;
                if this.plain_pos == this.plain.len() {
                    this.plain.clear();
                    this.plain_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            // TLS may have something to say (an alert, a key update answer): send it along.
            if let Poll::Ready(Err(e)) = this.poll_flush_wire(cx) {
                return Poll::Ready(Err(e));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            let mut rb = ReadBuf::new(&mut this.buf);
            ready!(Pin::new(&mut this.tcp).poll_read(cx, &mut rb))?;
            let filled = rb.filled();
            if filled.is_empty() {
                this.eof = true;
                continue;
            }
            this.pt
                .receive_wire(filled)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            this.take_transmit();
            this.plain = this.pt.take_plain();
            this.plain_pos = 0;
        }
    }
}

impl<P: TlsPipe + Unpin, T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsRelay<P, T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.wire.len() - this.wire_pos >= MAX_PENDING_WIRE_BYTES {
            ready!(this.poll_flush_wire(cx))?;
        }
        this.pt.send_plain(data);
        this.take_transmit();
        // Start sending now; what the socket does not take waits for the next call or flush.
        if let Poll::Ready(Err(e)) = this.poll_flush_wire(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_flush_wire(cx))?;
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_flush_wire(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}

impl AsyncRead for BackendStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, out),
            Self::Tls(t) => Pin::new(t.as_mut()).poll_read(cx, out),
        }
    }
}

impl AsyncWrite for BackendStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, data),
            Self::Tls(t) => Pin::new(t.as_mut()).poll_write(cx, data),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(t) => Pin::new(t.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(t) => Pin::new(t.as_mut()).poll_shutdown(cx),
        }
    }
}
