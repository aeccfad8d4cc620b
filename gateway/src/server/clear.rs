//! What happens in clear, before TLS: the PROXY header of a trusted proxy, peeking at the
//! first bytes, and the plain-HTTP redirect. The decisions are the pure functions of
//! [`crate::proxy_protocol`], [`crate::detect`] and [`crate::plain_http`].

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::Limits;
use crate::detect::{detect, Detected};
use crate::metrics::Metrics;
use crate::plain_http::{self, Reply};
use crate::proxy_protocol::{self, Parsed, ProxyHeader, V2_SIGNATURE};

/// Reads exactly the PROXY header: byte by byte for v1 (at most 107), and for v2 the fixed
/// part and then the announced length, so no byte of the client's is consumed.
pub async fn read_proxy_header(stream: &mut TcpStream) -> Result<ProxyHeader, String> {
    let mut buf = Vec::with_capacity(64);
    loop {
        match proxy_protocol::parse(&buf) {
            Ok(Parsed::Complete { header, .. }) => return Ok(header),
            Err(e) => return Err(e.to_string()),
            Ok(Parsed::NeedMore) => {}
        }
        let want = match buf.get(14..16) {
            Some(&[hi, lo]) if buf.starts_with(&V2_SIGNATURE) => (16
                + usize::from(u16::from_be_bytes([hi, lo])))
            .saturating_sub(buf.len())
            .max(1),
            _ if buf.starts_with(&V2_SIGNATURE) => 16 - buf.len(),
            _ => 1,
        };
        let at = buf.len();
        buf.resize(at + want, 0);
        match stream.read_exact(&mut buf[at..]).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err("the connection closed inside the PROXY header".into())
            }
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// Peeks until the first bytes say what the connection is; `NeedMore` after `timeout` means
/// a silent client (a native VNC client waits for the server to speak first).
pub async fn sniff(stream: &TcpStream, timeout: Duration) -> Detected {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = [0u8; 16];
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Err(_) => return Detected::NeedMore,
            Ok(Err(_) | Ok(0)) => return Detected::Unknown,
            Ok(Ok(n)) => n,
        };
        match detect(&buf[..n]) {
            Detected::NeedMore if n < buf.len() => {
                // peek returns at once while the bytes are unchanged: wait a little for more.
                if tokio::time::Instant::now() + Duration::from_millis(5) > deadline {
                    return Detected::Unknown;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Detected::NeedMore => return Detected::Unknown,
            other => return other,
        }
    }
}

/// Reads a plain-HTTP request head (bounded in size and time) and answers it: a redirect to
/// https, or 400. Returns how it ended, for the summary line.
pub async fn plain_http<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    limits: &Limits,
    metrics: &Metrics,
) -> String {
    let max = limits.max_http_header_bytes;
    let mut buf = Vec::with_capacity(1024);
    let read_head = async {
        let mut chunk = [0u8; 1024];
        loop {
            let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("client closed inside the request head".to_owned());
            }
            buf.extend_from_slice(&chunk[..n]);
            match plain_http::parse_head(&buf, max) {
                Ok(Some(head)) => return Ok(Ok(head)),
                Ok(None) => {}
                Err(e) => return Ok(Err(e)),
            }
        }
    };
    let head = match tokio::time::timeout(limits.http_header_timeout, read_head).await {
        Ok(Ok(head)) => head,
        Ok(Err(why)) => return why,
        Err(_) => return "request head timed out".to_owned(),
    };
    let reply = plain_http::reply(head.as_ref().map_err(|e| *e));
    let head_only = head.as_ref().is_ok_and(|h| h.method == "HEAD");
    let _ = stream.write_all(&reply.bytes(head_only)).await;
    let _ = stream.shutdown().await;
    match reply {
        Reply::Redirect { location } => {
            metrics
                .plain_http_redirects
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            format!("redirected to {location}")
        }
        Reply::BadRequest { .. } => match head {
            Ok(h) => format!(
                "400 for {} (only GET/HEAD with a valid Host are redirected)",
                h.method
            ),
            Err(e) => format!("400: {e}"),
        },
    }
}
