//! The WebSocket ↔ TCP byte mover between a browser and its target.
//!
//! Invariants: every byte the target sends is delivered before the close frame; when the
//! browser closes, the target sees a clean shutdown (FIN); memory per session is one read
//! buffer each way, and a slow browser slows the target read (no unbounded queue).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::config::{Limits, TargetAddr};

/// What the HTTP layer decided before the upgrade.
#[derive(Debug)]
pub struct RelayRequest {
    pub target_name: String,
    pub target: Option<TargetAddr>,
    /// Set when the session must be refused; sent as the close reason.
    pub refusal: Option<String>,
    pub limits: Limits,
}

/// Bytes moved in each direction, and why the session ended.
#[derive(Debug, Default, Clone)]
pub struct RelayStats {
    pub to_target: u64,
    pub to_browser: u64,
}

const READ_BUF: usize = 64 * 1024;

pub async fn run(upgraded: Upgraded, req: RelayRequest) {
    let started = tokio::time::Instant::now();
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(req.limits.max_ws_message_bytes))
        .max_frame_size(Some(req.limits.max_ws_message_bytes));
    let mut ws =
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(ws_config))
            .await;
    let target = match (&req.refusal, &req.target) {
        (None, Some(t)) => t,
        (refusal, _) => {
            let reason = refusal.clone().unwrap_or_else(|| "refused".into());
            tracing::warn!(target = %req.target_name, %reason, "session refused");
            close(&mut ws, CloseCode::Policy, &reason).await;
            return;
        }
    };
    let addr = target.to_string();
    let connect = tokio::time::timeout(
        req.limits.backend_connect_timeout,
        TcpStream::connect((target.host.as_str(), target.port)),
    );
    let backend = match connect.await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::warn!(target = %req.target_name, %addr, error = %e, "target unreachable");
            close(
                &mut ws,
                CloseCode::Again,
                &format!("target '{}' is not reachable: {e}", req.target_name),
            )
            .await;
            return;
        }
        Err(_) => {
            tracing::warn!(target = %req.target_name, %addr, "target connect timed out");
            close(
                &mut ws,
                CloseCode::Again,
                &format!("target '{}' did not answer in time", req.target_name),
            )
            .await;
            return;
        }
    };
    let _ = backend.set_nodelay(true);
    tracing::info!(target = %req.target_name, %addr, "relay started");
    let (stats, end) = pump(ws, backend).await;
    tracing::info!(
        target = %req.target_name,
        duration_ms = started.elapsed().as_millis() as u64,
        bytes_to_target = stats.to_target,
        bytes_to_browser = stats.to_browser,
        end = %end,
        "relay ended"
    );
}

/// Why a relay ended, and which side ended it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayEnd {
    TargetClosed,
    BrowserClosed,
    TargetError(String),
    BrowserError(String),
}

impl std::fmt::Display for RelayEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TargetClosed => f.write_str("target closed"),
            Self::BrowserClosed => f.write_str("browser closed"),
            Self::TargetError(e) => write!(f, "target error: {e}"),
            Self::BrowserError(e) => write!(f, "browser error: {e}"),
        }
    }
}

async fn close<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    code: CloseCode,
    reason: &str,
) {
    // A close reason is at most 123 bytes.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let frame = CloseFrame {
        code,
        reason: reason[..end].to_owned().into(),
    };
    let _ = ws.send(Message::Close(Some(frame))).await;
    // Wait briefly for the browser's close reply so the frame is not lost to a reset.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while ws.next().await.is_some() {}
    })
    .await;
}

/// Moves bytes both ways until one side ends. Generic over the streams so tests can use
/// in-memory pipes.
pub async fn pump<S, B>(ws: WebSocketStream<S>, backend: B) -> (RelayStats, RelayEnd)
where
    S: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = ws.split();
    let (mut backend_r, mut backend_w) = tokio::io::split(backend);
    let mut stats = RelayStats::default();
    // Shared by reference, so the pending browser→target future and the code after it can
    // both see it (an atomic only because the future must be Send).
    let to_target = std::sync::atomic::AtomicU64::new(0);

    let browser_to_target = async {
        loop {
            match stream.next().await {
                Some(Ok(Message::Binary(data))) => {
                    if let Err(e) = backend_w.write_all(&data).await {
                        return RelayEnd::TargetError(e.to_string());
                    }
                    to_target.fetch_add(data.len() as u64, std::sync::atomic::Ordering::Relaxed);
                }
                Some(Ok(Message::Close(_))) | None => {
                    let _ = backend_w.shutdown().await;
                    return RelayEnd::BrowserClosed;
                }
                Some(Ok(Message::Text(_))) => {
                    return RelayEnd::BrowserError("sent a text message; RFB needs binary".into());
                }
                Some(Ok(_)) => {} // ping/pong: answered by tungstenite
                Some(Err(e)) => return RelayEnd::BrowserError(e.to_string()),
            }
        }
    };
    tokio::pin!(browser_to_target);

    let mut buf = vec![0u8; READ_BUF];
    let end = loop {
        tokio::select! {
            end = &mut browser_to_target => break end,
            read = backend_r.read(&mut buf) => match read {
                Ok(0) => break RelayEnd::TargetClosed,
                Ok(n) => {
                    let chunk = Message::Binary(buf[..n].to_vec().into());
                    // Awaiting the send is the backpressure: no read until the browser took it.
                    if let Err(e) = sink.send(chunk).await {
                        break RelayEnd::BrowserError(e.to_string());
                    }
                    stats.to_browser += n as u64;
                }
                Err(e) => break RelayEnd::TargetError(e.to_string()),
            }
        }
    };
    match &end {
        RelayEnd::TargetClosed | RelayEnd::TargetError(_) => {
            let reason = match &end {
                RelayEnd::TargetClosed => "the VNC server closed the connection".to_owned(),
                other => other.to_string(),
            };
            let code = if end == RelayEnd::TargetClosed {
                CloseCode::Normal
            } else {
                CloseCode::Error
            };
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            let _ = sink.send(Message::Close(Some(frame))).await;
            // Let the browser acknowledge; its remaining bytes still go to the target.
            let _ = tokio::time::timeout(Duration::from_secs(2), &mut browser_to_target).await;
        }
        RelayEnd::BrowserClosed | RelayEnd::BrowserError(_) => {
            let _ = sink.close().await;
        }
    }
    stats.to_target = to_target.load(std::sync::atomic::Ordering::Relaxed);
    (stats, end)
}
