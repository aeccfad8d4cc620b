//! The raw byte relay for native VNC clients (in TLS or, when allowed, in clear): both
//! directions at once, each end of stream passed on as a shutdown (half-close), and a short
//! grace for the other direction to finish.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::view_only::{self, InputHalf, OutputHalf};
use super::{write_to_target, PumpOptions, RelayEnd, RelayStats, READ_BUF_BYTES};
use crate::auth::live_certs::CertWatch;
use crate::metrics::{Metrics, Side};
use crate::sessions::KillWatch;
use crate::shutdown::Phase;

/// After one direction has ended, how long the other may still run.
pub const HALF_CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The view-only filter of one direction.
enum Half {
    Input(InputHalf),
    Output(OutputHalf),
}

/// Copies `from` → `to` until end of stream, then shuts `to` down. The error names the side
/// that failed: `from_side` for a read, the other for a write.
async fn copy_half<R, W>(
    mut from: R,
    mut to: W,
    from_side: Side,
    count: &AtomicU64,
    metrics: &Metrics,
    view_only: Option<Half>,
    prefix: Vec<u8>,
) -> Result<(), RelayEnd>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (to_side, metric) = match from_side {
        Side::Client => (Side::Target, &metrics.bytes_to_target),
        Side::Target => (Side::Client, &metrics.bytes_to_client),
    };
    let (mut filter, mut output) = match view_only {
        Some(Half::Input(i)) => (Some(i), None),
        Some(Half::Output(o)) => (None, Some(o)),
        None => (None, None),
    };
    let mut buf = vec![0u8; READ_BUF_BYTES];
    let mut segments = Vec::new();
    if !prefix.is_empty() {
        write_to_target(&mut to, &prefix, filter.as_mut(), &mut segments, metrics).await?;
    }
    loop {
        let n = from
            .read(&mut buf)
            .await
            .map_err(|e| RelayEnd::failed(from_side, format!("read: {e}")))?;
        if n == 0 {
            let _ = to.shutdown().await;
            return Ok(());
        }
        let data = buf.get(..n).unwrap_or_default();
        if filter.is_some() {
            write_to_target(&mut to, data, filter.as_mut(), &mut segments, metrics).await?;
        } else {
            let kept = match output.as_mut() {
                Some(o) => o.apply(data, metrics)?,
                None => None,
            };
            to.write_all(kept.as_deref().unwrap_or(data))
                .await
                .map_err(|e| RelayEnd::failed(to_side, format!("write: {e}")))?;
            to.flush()
                .await
                .map_err(|e| RelayEnd::failed(to_side, format!("write: {e}")))?;
        }
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        count.fetch_add(n, Ordering::Relaxed);
        metric.fetch_add(n, Ordering::Relaxed);
    }
}

/// Moves bytes between a native VNC client and its target until both directions end, one
/// fails, or the gateway shuts down.
pub async fn pump_tcp<C, B>(
    client: C,
    backend: B,
    mut opts: PumpOptions<'_>,
) -> (RelayStats, RelayEnd)
where
    C: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let (client_r, client_w) = tokio::io::split(client);
    let (backend_r, backend_w) = tokio::io::split(backend);
    let counters = opts.counters.clone();
    let (to_target, to_client) = (&counters.to_target, &counters.to_client);
    let (input, output) = match opts.view_only.as_ref().map(view_only::halves) {
        None => (None, None),
        Some(Ok((i, o))) => (Some(i), Some(o)),
        Some(Err(end)) => return (RelayStats::default(), end),
    };
    let up = copy_half(
        client_r,
        backend_w,
        Side::Client,
        to_target,
        opts.metrics,
        input.map(Half::Input),
        std::mem::take(&mut opts.client_prefix),
    );
    let down = copy_half(
        backend_r,
        client_w,
        Side::Target,
        to_client,
        opts.metrics,
        output.map(Half::Output),
        Vec::new(),
    );
    tokio::pin!(up, down);
    let mut first_end = None;
    let (mut up_done, mut down_done) = (false, false);
    // Armed once one direction has ended; until then its branch is disabled.
    let grace = tokio::time::sleep(HALF_CLOSE_GRACE);
    tokio::pin!(grace);
    let end = loop {
        tokio::select! {
            r = &mut up, if !up_done => {
                if let Err(e) = r { break e; }
                up_done = true;
                first_end.get_or_insert(RelayEnd::ClientClosed);
            }
            r = &mut down, if !down_done => {
                if let Err(e) = r { break e; }
                down_done = true;
                first_end.get_or_insert(RelayEnd::TargetClosed);
            }
            () = &mut grace, if up_done != down_done => {
                break first_end.take().unwrap_or(RelayEnd::ClientClosed);
            }
            () = opts.shutdown.reached(Phase::Closing) => break RelayEnd::Shutdown,
            why = CertWatch::ended_opt(&mut opts.cert) => break RelayEnd::CertificateRefused(why),
            why = KillWatch::killed_opt(&mut opts.killed) => break RelayEnd::Ended(why),
        }
        if up_done && down_done {
            break first_end.take().unwrap_or(RelayEnd::ClientClosed);
        }
        grace
            .as_mut()
            .reset(tokio::time::Instant::now() + HALF_CLOSE_GRACE);
    };
    let stats = RelayStats {
        to_target: to_target.load(Ordering::Relaxed),
        to_client: to_client.load(Ordering::Relaxed),
    };
    (stats, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::shutdown::Shutdown;

    fn opts(m: &Metrics) -> PumpOptions<'_> {
        PumpOptions {
            ping_interval: None,
            metrics: m,
            shutdown: Shutdown::never(),
            view_only: None,
            client_prefix: Vec::new(),
            cert: None,
            counters: Default::default(),
            killed: None,
        }
    }

    #[tokio::test]
    async fn bytes_both_ways_and_the_closer_is_named() {
        let m = Metrics::default();
        let (client, mut client_peer) = tokio::io::duplex(1024);
        let (backend, mut backend_peer) = tokio::io::duplex(1024);
        let relay = tokio::spawn(async move {
            let m = Metrics::default();
            pump_tcp(client, backend, opts(&m)).await
        });
        backend_peer
            .write_all(b"RFB 003.008\n")
            .await
            .expect("server version");
        let mut version = [0u8; 12];
        client_peer
            .read_exact(&mut version)
            .await
            .expect("client reads");
        assert_eq!(&version, b"RFB 003.008\n");
        client_peer
            .write_all(b"RFB 003.008\n")
            .await
            .expect("client version");
        backend_peer
            .read_exact(&mut version)
            .await
            .expect("server reads");
        // The server closes: the client reads end of stream, then closes too.
        backend_peer.shutdown().await.expect("fin");
        let mut rest = Vec::new();
        client_peer.read_to_end(&mut rest).await.expect("eof");
        client_peer.shutdown().await.expect("fin");
        let (stats, end) = relay.await.expect("joins");
        assert_eq!(end, RelayEnd::TargetClosed);
        assert_eq!(
            stats,
            RelayStats {
                to_target: 12,
                to_client: 12
            }
        );
        drop(m);
    }

    #[tokio::test(start_paused = true)]
    async fn a_half_closed_relay_ends_after_the_grace() {
        let (client, mut client_peer) = tokio::io::duplex(1024);
        let (backend, _backend_peer) = tokio::io::duplex(1024);
        let relay = tokio::spawn(async move {
            let m = Metrics::default();
            pump_tcp(client, backend, opts(&m)).await
        });
        client_peer.shutdown().await.expect("fin");
        let (_, end) = relay.await.expect("joins");
        assert_eq!(end, RelayEnd::ClientClosed);
    }
}
