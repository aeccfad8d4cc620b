//! The gateway's side of a viewer's handshake when the gateway logged in to the target
//! itself: drives an [`rfb::server::Server`] offering security None (the gateway authenticated
//! the viewer) over the viewer's transport (WebSocket messages, or a native client's stream)
//! within a time limit, answers its ClientInit with the target's own ServerInit, and hands
//! back the viewer's first session bytes.

use rfb::server::{Offer, Server, ServerConfig, ServerEvent};
use tokio::io::{AsyncRead, AsyncWrite};

use super::browser::Browser;

/// A server offering None that answers ClientInit with `server_init`.
struct Greeter {
    server: Server,
    server_init: Vec<u8>,
}

impl Greeter {
    fn new(server_init: Vec<u8>) -> Self {
        let server = Server::new(ServerConfig {
            offer: Offer::None,
            challenge: [0; 16],
        });
        Self {
            server,
            server_init,
        }
    }

    /// Feeds the viewer's bytes; `Some(first session bytes)` once the handshake is over.
    fn receive(&mut self, bytes: &[u8]) -> Result<Option<Vec<u8>>, String> {
        self.server.receive(bytes).map_err(|e| e.to_string())?;
        while let Some(e) = self.server.poll_event() {
            if let ServerEvent::ClientInit { .. } = e {
                (self.server)
                    .send_server_init(&self.server_init)
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(self
            .server
            .is_done()
            .then(|| self.server.take_from_client()))
    }

    fn transmit(&mut self) -> Vec<u8> {
        self.server.poll_transmit().unwrap_or_default()
    }
}

/// Plays the server's side of the handshake to a browser; returns its first session bytes.
pub(super) async fn websocket<S>(
    browser: &mut Browser<S>,
    server_init: Vec<u8>,
    within: std::time::Duration,
) -> Result<Vec<u8>, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let run = async {
        let mut greeter = Greeter::new(server_init);
        loop {
            let out = greeter.transmit();
            if !out.is_empty() {
                browser.send_binary(&out).await.map_err(|e| e.to_string())?;
            }
            let got = browser.receive().await.map_err(|e| e.to_string())?;
            // What ended the read ends the handshake, even when it came after its last bytes
            // (the relay could not read past it).
            if let Some(e) = got.error {
                return Err(e.to_string());
            }
            if got.close.is_some() || got.eof {
                return Err("closed during the handshake".to_owned());
            }
            if !got.data.is_empty() {
                if let Some(rest) = greeter.receive(&got.data)? {
                    let out = greeter.transmit();
                    if !out.is_empty() {
                        browser.send_binary(&out).await.map_err(|e| e.to_string())?;
                    }
                    return Ok(rest);
                }
            }
        }
    };
    tokio::time::timeout(within, run)
        .await
        .map_err(|_| "the handshake did not finish in time".to_owned())?
}

/// Plays the server's side of the handshake to a native client; returns its first session
/// bytes.
pub(super) async fn native<S>(
    io: &mut S,
    server_init: Vec<u8>,
    within: std::time::Duration,
) -> Result<Vec<u8>, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let run = async {
        let mut greeter = Greeter::new(server_init);
        let mut buf = [0u8; 512];
        loop {
            let out = greeter.transmit();
            if !out.is_empty() {
                io.write_all(&out).await.map_err(|e| e.to_string())?;
                io.flush().await.map_err(|e| e.to_string())?;
            }
            let n = io.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("closed during the handshake".to_owned());
            }
            if let Some(rest) = greeter.receive(buf.get(..n).unwrap_or_default())? {
                let out = greeter.transmit();
                io.write_all(&out).await.map_err(|e| e.to_string())?;
                io.flush().await.map_err(|e| e.to_string())?;
                return Ok(rest);
            }
        }
    };
    tokio::time::timeout(within, run)
        .await
        .map_err(|_| "the handshake did not finish in time".to_owned())?
}

/// Writes what `server` has for the client.
pub async fn flush<T>(io: &mut T, server: &mut Server) -> std::io::Result<()>
where
    T: AsyncWrite + Unpin,
{
    use tokio::io::AsyncWriteExt;
    while let Some(b) = server.poll_transmit() {
        io.write_all(&b).await?;
    }
    io.flush().await
}

/// Ends a native viewer's VeNCrypt handshake once the gateway admitted it: SecurityResult
/// OK, then ClientInit is answered with `server_init`. Returns the viewer's first session
/// bytes (plaintext, from inside its TLS).
pub(super) async fn vencrypt<T>(
    io: &mut T,
    server: &mut Server,
    server_init: &[u8],
    within: std::time::Duration,
) -> Result<Vec<u8>, String>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    use tokio::io::AsyncReadExt;
    let run = async {
        server.accept().map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            while let Some(e) = server.poll_event() {
                if let ServerEvent::ClientInit { .. } = e {
                    server
                        .send_server_init(server_init)
                        .map_err(|e| e.to_string())?;
                }
            }
            flush(io, server).await.map_err(|e| e.to_string())?;
            if server.is_done() {
                return Ok(server.take_from_client());
            }
            let n = io.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("closed during the handshake".to_owned());
            }
            server
                .receive(buf.get(..n).unwrap_or_default())
                .map_err(|e| e.to_string())?;
        }
    };
    tokio::time::timeout(within, run)
        .await
        .map_err(|_| "the handshake did not finish in time".to_owned())?
}
