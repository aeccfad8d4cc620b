//! The gateway's side of a viewer's handshake when the gateway logged in to the target
//! itself: drives [`Greeter`] over the viewer's transport (WebSocket messages, or a native
//! client's stream) within a time limit, and hands back the viewer's first session bytes.

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;

use crate::backend::greeting::Greeter;

/// Plays the server's side of the handshake to a browser; returns its first session bytes.
pub(super) async fn websocket<S>(
    ws: &mut WebSocketStream<S>,
    server_init: Vec<u8>,
    within: std::time::Duration,
) -> Result<Vec<u8>, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let run = async {
        let mut out = Vec::new();
        let mut greeter = Greeter::new(server_init, &mut out);
        loop {
            if !out.is_empty() {
                let bytes = std::mem::take(&mut out);
                ws.send(Message::Binary(bytes.into()))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            match ws.next().await {
                Some(Ok(Message::Binary(data))) => {
                    if let Some(rest) = greeter
                        .receive(&data, &mut out)
                        .map_err(|e| e.to_string())?
                    {
                        if !out.is_empty() {
                            ws.send(Message::Binary(out.into()))
                                .await
                                .map_err(|e| e.to_string())?;
                        }
                        return Ok(rest);
                    }
                }
                Some(Ok(Message::Text(_))) => {
                    return Err("sent a text message; VNC needs binary".to_owned())
                }
                Some(Ok(Message::Close(_))) | None => {
                    return Err("closed during the handshake".to_owned())
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.to_string()),
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
        let mut out = Vec::new();
        let mut greeter = Greeter::new(server_init, &mut out);
        let mut buf = [0u8; 512];
        loop {
            if !out.is_empty() {
                io.write_all(&out).await.map_err(|e| e.to_string())?;
                io.flush().await.map_err(|e| e.to_string())?;
                out.clear();
            }
            let n = io.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("closed during the handshake".to_owned());
            }
            if let Some(rest) = greeter
                .receive(buf.get(..n).unwrap_or_default(), &mut out)
                .map_err(|e| e.to_string())?
            {
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
