//! Drives an `rfb::Client` over a tokio stream: the thin shell for the gateway's own VNC
//! connections (`vncgate snapshot`, and back-end handshakes). It owns the socket and the clock;
//! every protocol decision is `rfb`'s.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Why a VNC connection ended.
#[derive(Debug, thiserror::Error)]
pub enum VncError {
    #[error("reading from the VNC server failed: {0}")]
    Read(#[source] std::io::Error),
    #[error("writing to the VNC server failed: {0}")]
    Write(#[source] std::io::Error),
    #[error("the VNC server closed the connection")]
    Closed,
    #[error(transparent)]
    Protocol(#[from] rfb::Error),
}

/// An RFB client session on a stream.
pub struct Connection<S> {
    stream: S,
    client: rfb::Client,
    events: VecDeque<rfb::Event>,
    buf: Vec<u8>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    pub fn new(stream: S, config: rfb::ClientConfig) -> Self {
        Self::with_client(stream, rfb::Client::new(config))
    }

    /// Drives an already made client (e.g. `rfb::Client::new_tls_wrapped`).
    pub fn with_client(stream: S, mut client: rfb::Client) -> Self {
        client.set_time(unix_now());
        Self {
            stream,
            client,
            events: VecDeque::new(),
            buf: vec![0; 64 * 1024],
        }
    }

    pub fn client(&self) -> &rfb::Client {
        &self.client
    }

    pub fn client_mut(&mut self) -> &mut rfb::Client {
        &mut self.client
    }

    /// Sends whatever the client has queued.
    pub async fn flush(&mut self) -> Result<(), VncError> {
        while let Some(bytes) = self.client.poll_transmit() {
            self.stream
                .write_all(&bytes)
                .await
                .map_err(VncError::Write)?;
        }
        self.stream.flush().await.map_err(VncError::Write)
    }

    /// The next event from the server, reading as much as needed.
    pub async fn next_event(&mut self) -> Result<rfb::Event, VncError> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Ok(e);
            }
            self.flush().await?;
            let n = self
                .stream
                .read(&mut self.buf)
                .await
                .map_err(VncError::Read)?;
            if n == 0 {
                return Err(VncError::Closed);
            }
            self.client.set_time(unix_now());
            self.client.receive(&self.buf[..n])?;
            while let Some(e) = self.client.poll_event() {
                self.events.push_back(e);
            }
        }
    }
}
