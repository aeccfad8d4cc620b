//! The accept loop: one task per connection, detection, TLS, then HTTP; graceful shutdown.
//!
//! `serve` takes an already-bound listener, so tests bind `127.0.0.1:0` and main binds the
//! configured address.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::Instrument;

use crate::assets::Assets;
use crate::config::Config;
use crate::detect::{detect, Detected};
use crate::http::App;

/// Runs the gateway on `listener` until `shutdown` completes, then lets open sessions drain
/// for `limits.shutdown_grace` and cuts the rest.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    tls: Arc<rustls::ServerConfig>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    let app = Arc::new(App {
        assets: Assets::new(config.web_root.as_deref()),
        config: config.clone(),
    });
    let next_id = AtomicU64::new(1);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // EMFILE and friends: log, back off briefly, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if tasks.len() >= config.limits.max_connections {
                    tracing::warn!(%peer, max = config.limits.max_connections, "connection limit reached; refusing");
                    continue;
                }
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                let span = tracing::info_span!("conn", id, %peer);
                let (app, acceptor) = (app.clone(), acceptor.clone());
                tasks.spawn(handle(stream, peer, app, acceptor).instrument(span));
            }
        }
    }
    drop(listener);
    tracing::info!(
        open = tasks.len(),
        grace_s = config.limits.shutdown_grace.as_secs(),
        "shutting down"
    );
    let drained = tokio::time::timeout(config.limits.shutdown_grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::info!(
            cut = tasks.len(),
            "grace period over; closing remaining sessions"
        );
        tasks.shutdown().await;
    }
    Ok(())
}

/// Waits up to `timeout` for enough bytes to classify the connection, without consuming them.
async fn sniff(stream: &TcpStream, timeout: Duration) -> Detected {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = [0u8; 16];
    loop {
        let peeked = tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await;
        let n = match peeked {
            Err(_) => return Detected::NeedMore, // silent: a VNC client waiting for us
            Ok(Err(_)) | Ok(Ok(0)) => return Detected::Unknown,
            Ok(Ok(n)) => n,
        };
        match detect(&buf[..n]) {
            Detected::NeedMore if n < buf.len() => {
                // peek returns at once while the bytes are unchanged: wait a little for more.
                if tokio::time::Instant::now() + Duration::from_millis(5) > deadline {
                    return Detected::NeedMore;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            other => return other,
        }
    }
}

async fn handle(mut stream: TcpStream, peer: SocketAddr, app: Arc<App>, acceptor: TlsAcceptor) {
    let limits = app.config.limits.clone();
    match sniff(&stream, limits.detect_timeout).await {
        Detected::Tls => {
            let tls =
                match tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(stream))
                    .await
                {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::info!(error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::info!("TLS handshake timed out");
                        return;
                    }
                };
            let svc = service_fn(move |req| app.clone().handle(req));
            let conn = http1::Builder::new()
                .header_read_timeout(limits.http_header_timeout)
                .timer(hyper_util::rt::TokioTimer::new())
                .serve_connection(TokioIo::new(tls), svc)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "HTTP connection ended with an error");
            }
        }
        Detected::Http => {
            // Plain HTTP on the TLS port: point browsers at https, serve nothing in clear.
            const BODY: &str = "This port speaks TLS: use https:// in the address.\r\n";
            let reply = format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{BODY}",
                BODY.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
            tracing::info!(%peer, "plain HTTP on the TLS port; told to use https");
        }
        Detected::NeedMore => {
            tracing::info!("client sent nothing: native VNC clients are not enabled on this port");
        }
        other => tracing::info!(detected = ?other, "unrecognised protocol; closing"),
    }
}
