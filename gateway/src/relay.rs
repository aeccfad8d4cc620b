//! Relays between a client and its target: WebSocket ↔ TCP for browsers (here), raw bytes
//! for native VNC clients ([`tcp`]), and dialling the target of an admitted [`Route`].
//!
//! Invariants, relied on by the viewer and tested below:
//! - every byte the target sends is delivered to the browser before the close frame;
//! - when the browser closes (or fails), the target sees a clean shutdown (FIN);
//! - memory per session is one read buffer each way: a slow browser slows the target read
//!   (each send is awaited), a slow target slows the browser read — no unbounded queue;
//! - every end says which side ended it and why.

pub mod browser;
pub mod frames;
pub mod greet;
pub mod session;
pub mod tcp;
pub mod view_only;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::admission::{truncate, Route};
use crate::auth::live_certs::CertWatch;
use crate::metrics::{Metrics, Side};
use crate::sessions::{Ending, KillWatch, RelayCounters};
use crate::shutdown::{Phase, Shutdown};
use browser::{Browser, FrameBuf};
use frames::{code, Control, ControlFrame, FrameError};
use rfb::input_filter::Segment;
use view_only::{InputHalf, OutputHalf, ViewOnly};

/// Bytes read per turn from the target; also the most held per direction.
pub const READ_BUF_BYTES: usize = 64 * 1024;

/// The WebSocket relay's read from the target after a full one: 64 KiB less the 4-byte
/// header of a frame that size, so that each frame is exactly four TLS records of 16 KiB
/// (a 64 KiB payload would take a fifth record for the last 10 bytes).
const FRAME_PAYLOAD_BYTES: usize = 64 * 1024 - 4;

/// How long a relay waits for its close frame to be taken and answered.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// No write to the target is waiting (see `pump_websocket`).
const NOT_WAITING: u64 = u64::MAX;

/// Payload bytes moved in each direction.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RelayStats {
    pub to_target: u64,
    pub to_client: u64,
}

/// Why a relay ended, and which side ended it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayEnd {
    TargetClosed,
    ClientClosed,
    Failed {
        side: Side,
        detail: String,
    },
    /// The browser answered no ping for this long.
    ClientUnresponsive {
        after: Duration,
    },
    /// The VNC server took none of the browser's bytes for this long (while it does not, the
    /// browser's own bytes, its pongs among them, wait unread: the browser is not judged).
    TargetUnresponsive {
        after: Duration,
    },
    /// The gateway is shutting down.
    Shutdown,
    /// The client certificate that authenticated the session no longer passes (revoked,
    /// expired): the gateway ended the session.
    CertificateRefused(crate::auth::client_ca::CertRefusal),
    /// The gateway ended the session: an administrator (`DELETE /api/sessions/ID`,
    /// `vncgate sessions kill`), or a reloaded configuration that no longer admits it.
    Ended(Ending),
}

impl RelayEnd {
    pub fn side(&self) -> Option<Side> {
        match self {
            Self::TargetClosed | Self::TargetUnresponsive { .. } => Some(Side::Target),
            Self::ClientClosed | Self::ClientUnresponsive { .. } => Some(Side::Client),
            Self::Failed { side, .. } => Some(*side),
            Self::Shutdown | Self::CertificateRefused(_) | Self::Ended(_) => None,
        }
    }

    fn failed(side: Side, e: impl std::fmt::Display) -> Self {
        Self::Failed {
            side,
            detail: e.to_string(),
        }
    }
}

impl std::fmt::Display for RelayEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TargetClosed => f.write_str("the VNC server closed the connection"),
            Self::ClientClosed => f.write_str("the client closed the connection"),
            Self::Failed {
                side: Side::Target,
                detail,
            } => {
                write!(f, "the connection to the VNC server failed: {detail}")
            }
            Self::Failed {
                side: Side::Client,
                detail,
            } => {
                write!(f, "the connection to the client failed: {detail}")
            }
            Self::ClientUnresponsive { after } => {
                write!(f, "the client answered no ping for {} s", after.as_secs())
            }
            Self::TargetUnresponsive { after } => {
                write!(f, "the VNC server took nothing for {} s", after.as_secs())
            }
            Self::Shutdown => f.write_str("the gateway is shutting down"),
            Self::CertificateRefused(why) => write!(f, "ended by the gateway: {}", why.describe()),
            Self::Ended(Ending::Killed { .. }) => f.write_str("ended by an administrator"),
            Self::Ended(Ending::Revoked(r)) => f.write_str(&r.reason),
        }
    }
}

/// Dialling a target failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("VNC server '{name}' ({addr}) is not reachable: {error}")]
    Unreachable {
        name: String,
        addr: String,
        error: std::io::Error,
    },
    #[error("VNC server '{name}' ({addr}) did not answer within {} s", after.as_secs())]
    Timeout {
        name: String,
        addr: String,
        after: Duration,
    },
}

impl ConnectError {
    /// What the person is shown: the target's name, not its internal address.
    pub fn user_reason(&self) -> String {
        match self {
            Self::Unreachable { name, error, .. } => {
                format!("target '{}' is not reachable: {error}", truncate(name, 40))
            }
            Self::Timeout { name, .. } => {
                format!("target '{}' did not answer in time", truncate(name, 40))
            }
        }
    }
}

/// Dials an admitted route.
pub async fn connect(route: &Route, timeout: Duration) -> Result<TcpStream, ConnectError> {
    let addr = route.addr.to_string();
    let dial = TcpStream::connect((route.addr.host.as_str(), route.addr.port));
    match tokio::time::timeout(timeout, dial).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Ok(Err(error)) => Err(ConnectError::Unreachable {
            name: route.name.clone(),
            addr,
            error,
        }),
        Err(_) => Err(ConnectError::Timeout {
            name: route.name.clone(),
            addr,
            after: timeout,
        }),
    }
}

/// How a pump runs.
#[derive(Debug, Clone)]
pub struct PumpOptions<'a> {
    /// Ping the browser this often (WebSocket only); `None`: never.
    pub ping_interval: Option<Duration>,
    /// Where the live byte counts go.
    pub metrics: &'a Metrics,
    pub shutdown: Shutdown,
    /// View-only: the client's input is dropped on its way to the target, the desktop's
    /// clipboard on its way to the client (see [`view_only`]).
    pub view_only: Option<ViewOnly>,
    /// The client's first session bytes, read with its handshake (gateway login only).
    pub client_prefix: Vec<u8>,
    /// The session's client certificate, when one authenticated it: the relay ends when a
    /// re-check refuses it.
    pub cert: Option<CertWatch>,
    /// The bytes moved so far, each way (read by the session list).
    pub counters: Arc<RelayCounters>,
    /// The relay ends when an administrator ends the session.
    pub killed: Option<KillWatch>,
}

/// Why a client's bytes did not reach the target.
#[derive(Debug)]
pub(crate) enum NotWritten {
    /// View-only: the filter cannot follow what the client sent.
    Refused(rfb::input_filter::FilterError),
    /// Writing to the target failed.
    Target(std::io::Error),
}

impl From<NotWritten> for RelayEnd {
    fn from(e: NotWritten) -> Self {
        match e {
            NotWritten::Refused(e) => RelayEnd::failed(Side::Client, e),
            NotWritten::Target(e) => RelayEnd::failed(Side::Target, format!("write: {e}")),
        }
    }
}

/// Writes a client's bytes to the target: all of them, or — view-only — all but its input.
pub(crate) async fn write_to_target<W: AsyncWrite + Unpin>(
    w: &mut W,
    data: &[u8],
    filter: Option<&mut InputHalf>,
    segments: &mut Vec<Segment>,
    metrics: &Metrics,
) -> Result<(), NotWritten> {
    let Some(half) = filter else {
        return w.write_all(data).await.map_err(NotWritten::Target);
    };
    let f = &mut half.filter;
    let before = f.dropped;
    segments.clear();
    f.filter(data, segments).map_err(NotWritten::Refused)?;
    metrics
        .view_only_dropped
        .fetch_add(f.dropped - before, Ordering::Relaxed);
    half.hand_over_pixel_format();
    for s in segments.iter() {
        w.write_all(s.of(data)).await.map_err(NotWritten::Target)?;
    }
    w.flush().await.map_err(NotWritten::Target)
}

/// What a write to the browser becomes: with pings, a browser that takes nothing for two
/// ping intervals is as gone as one that answers no ping; without, the write is awaited (the
/// backpressure), however long.
async fn taken_within<T>(
    every: Option<Duration>,
    write: impl std::future::Future<Output = T>,
) -> Result<T, RelayEnd> {
    match every {
        Some(every) => tokio::time::timeout(every * 2, write)
            .await
            .map_err(|_| RelayEnd::ClientUnresponsive { after: every * 2 }),
        None => Ok(write.await),
    }
}

/// The close frame the browser is owed when it ended the session.
#[derive(Debug)]
enum Owed {
    /// The browser closed: its code is echoed.
    Echo(Option<u16>),
    /// The browser broke the protocol: the code and reason say how.
    Error(FrameError),
    /// A view-only session cannot follow what the browser sent: the reason says what.
    Refused(String),
}

impl Owed {
    /// Why the browser's bytes did not reach the target, and the close it is owed for that:
    /// a refusal is named to it; a failed write to the target is the gateway's own close.
    fn not_written(e: NotWritten) -> (RelayEnd, Option<Self>) {
        let owed = match &e {
            NotWritten::Refused(why) => Some(Self::Refused(why.to_string())),
            NotWritten::Target(_) => None,
        };
        (e.into(), owed)
    }

    fn frame(&self) -> ControlFrame {
        match self {
            Self::Echo(code) => browser::close_reply(*code),
            Self::Error(e) => ControlFrame::close(e.close_code(), &e.to_string()),
            Self::Refused(why) => ControlFrame::close(code::POLICY, why),
        }
    }
}

async fn tick(ping: &mut Option<tokio::time::Interval>) {
    match ping {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Moves bytes between a browser's WebSocket and the target until one side ends.
///
/// (The browser, the target and the options are borrowed, not moved in: the caller's future
/// already holds them, and a moved argument keeps its old place there as well as a new one
/// here. The relay's future is most of an idle session's memory.)
pub async fn pump_websocket<S, B>(
    browser: &mut Browser<S>,
    backend: B,
    opts: &mut PumpOptions<'_>,
) -> (RelayStats, RelayEnd)
where
    S: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let (mut browser_r, mut browser_w) = tokio::io::split(&mut browser.io);
    let (mut backend_r, mut backend_w) = tokio::io::split(backend);
    let metrics = opts.metrics;
    // Boxed: most sessions are not view-only, and inline the two filters would be most of
    // the future.
    let (mut filter, mut output): (Option<Box<InputHalf>>, Option<Box<OutputHalf>>) =
        match opts.view_only.as_ref().map(view_only::halves) {
            None => (None, None),
            Some(Ok((i, o))) => (Some(Box::new(i)), Some(Box::new(o))),
            Some(Err(end)) => return (RelayStats::default(), end),
        };
    let mut segments = Vec::new();
    let counters = opts.counters.clone();
    // Shared by reference with the browser→target future (atomic only because it is Send).
    let heard = AtomicBool::new(true);
    // Since when (ms after `began`) a write to the target has been waiting; `NOT_WAITING`
    // when none is. Meanwhile the browser is not read: its silence is not its fault.
    let began = tokio::time::Instant::now();
    let target_waiting_since = AtomicU64::new(NOT_WAITING);
    // Only the loop below writes to the browser: the browser→target future leaves it the
    // pong it owes (a later ping replaces an unanswered one, as RFC 6455 allows; boxed, as
    // browsers hardly ever ping).
    let owed_pong = std::sync::Mutex::new(None::<Box<Control>>);
    let pong_due = tokio::sync::Notify::new();

    let prefix = std::mem::take(&mut opts.client_prefix);
    // The relay, in a block: its browser→target future borrows the browser's read half until
    // the block ends, and the drain after it needs that half.
    let (end, browser_done, deadline) = {
        // Ends with why, the close frame the browser is owed (an echo of its own, or the
        // protocol error or refusal that ended it), and whether the browser is done sending (it
        // closed, or its connection ended).
        let browser_to_target = async {
            let browser_r = &mut browser_r;
            if !prefix.is_empty() {
                if let Err(e) = write_to_target(
                    &mut backend_w,
                    &prefix,
                    filter.as_deref_mut(),
                    &mut segments,
                    metrics,
                )
                .await
                {
                    let _ = backend_w.shutdown().await;
                    let (end, owed) = Owed::not_written(e);
                    return (end, owed, false);
                }
            }
            let end = loop {
                let got = match browser::receive(browser_r, &mut browser.deframer).await {
                    Ok(got) => got,
                    Err(e) => break (RelayEnd::failed(Side::Client, e), None, true),
                };
                heard.store(true, Ordering::Relaxed);
                if let Some(p) = got.ping {
                    *owed_pong.lock().unwrap_or_else(|e| e.into_inner()) = Some(Box::new(p));
                    pong_due.notify_one();
                }
                if !got.data.is_empty() {
                    let data = &got.data;
                    let since = u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
                    target_waiting_since.store(since, Ordering::Relaxed);
                    let written = write_to_target(
                        &mut backend_w,
                        data,
                        filter.as_deref_mut(),
                        &mut segments,
                        metrics,
                    )
                    .await;
                    target_waiting_since.store(NOT_WAITING, Ordering::Relaxed);
                    if let Err(e) = written {
                        let (end, owed) = Owed::not_written(e);
                        break (end, owed, false);
                    }
                    let n = u64::try_from(data.len()).unwrap_or(u64::MAX);
                    counters.to_target.fetch_add(n, Ordering::Relaxed);
                    metrics.bytes_to_target.fetch_add(n, Ordering::Relaxed);
                }
                if let Some(e) = got.error {
                    break (
                        RelayEnd::failed(Side::Client, &e),
                        Some(Owed::Error(e)),
                        false,
                    );
                }
                if let Some(c) = got.close {
                    break (RelayEnd::ClientClosed, Some(Owed::Echo(c.code)), true);
                }
                if got.eof {
                    break (RelayEnd::ClientClosed, None, true);
                }
            };
            // Whatever ended the browser side, the target gets a clean end of stream.
            let _ = backend_w.shutdown().await;
            end
        };
        tokio::pin!(browser_to_target);

        let every = opts.ping_interval;
        let mut ping_timer = every.map(|every| {
            let mut i = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        let mut unanswered = 0u32;
        // The target is read into the buffer the frame is written from, behind room for its
        // header: no copy, no zeroing. A read that filled it means more is waiting, so the next
        // is full size; after a short read the next goes to the stack, so an idle session holds
        // no buffer for it (the first read after a quiet spell is then at most a 4 KiB message,
        // copied once, before the full reads resume).
        let mut frame = FrameBuf::quiet();
        let mut reply = None;
        // Set when the browser→target future ended (it may not be awaited again): whether the
        // browser is done sending.
        let mut browser_done = None;
        let end = loop {
            tokio::select! {
                (end, owed, done) = &mut browser_to_target => {
                    reply = owed;
                    browser_done = Some(done);
                    break end;
                }
                // Cancel safe: when another branch wins, nothing was read.
                read = frame.read_from(&mut backend_r) => match read {
                    Ok(0) => break RelayEnd::TargetClosed,
                    Ok(_) => {
                        let n = frame.payload().len();
                        // Awaiting the send is the backpressure: no read until the browser took it.
                        // While it waits no ping goes out, so a browser that takes nothing for two
                        // ping intervals is as gone as one that answers no ping.
                        let send = async {
                            match output.as_mut().map(|o| o.apply(frame.payload(), metrics)) {
                                None | Some(Ok(None)) => {
                                    Ok(browser.sender.frame_buf(&mut browser_w, &mut frame).await)
                                }
                                Some(Ok(Some(kept))) if kept.is_empty() => Ok(Ok(())),
                                Some(Ok(Some(kept))) => Ok(browser.sender.binary(&mut browser_w, &kept).await),
                                Some(Err(end)) => Err(end),
                            }
                        };
                        match taken_within(every, send).await {
                            Ok(Ok(Ok(()))) => {}
                            Ok(Ok(Err(e))) => break RelayEnd::failed(Side::Client, e),
                            Ok(Err(end)) | Err(end) => break end,
                        }
                        frame.reset(FRAME_PAYLOAD_BYTES);
                        let n = u64::try_from(n).unwrap_or(u64::MAX);
                        counters.to_client.fetch_add(n, Ordering::Relaxed);
                        metrics.bytes_to_client.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(e) => break RelayEnd::failed(Side::Target, format!("read: {e}")),
                },
                () = pong_due.notified() => {
                    let ping = owed_pong.lock().unwrap_or_else(|e| e.into_inner()).take();
                    if let Some(ping) = ping {
                        match taken_within(every, browser.sender.pong(&mut browser_w, &ping)).await {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => break RelayEnd::failed(Side::Client, e),
                            Err(end) => break end,
                        }
                    }
                }
                () = tick(&mut ping_timer) => {
                    let interval = every.unwrap_or_default();
                    let waiting = match target_waiting_since.load(Ordering::Relaxed) {
                        NOT_WAITING => None,
                        ms => Some(began.elapsed().saturating_sub(Duration::from_millis(ms))),
                    };
                    if heard.swap(false, Ordering::Relaxed) {
                        unanswered = 0;
                    } else if let Some(waited) = waiting {
                        // The browser's pongs may wait behind its bytes for the VNC server.
                        if waited >= interval * 2 {
                            break RelayEnd::TargetUnresponsive { after: waited };
                        }
                    } else {
                        unanswered += 1;
                        if unanswered >= 2 {
                            break RelayEnd::ClientUnresponsive { after: interval * unanswered };
                        }
                    }
                    match tokio::time::timeout(interval, browser.sender.ping(&mut browser_w)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => break RelayEnd::failed(Side::Client, e),
                        Err(_) => break RelayEnd::ClientUnresponsive { after: interval * (unanswered + 1) },
                    }
                }
                () = opts.shutdown.reached(Phase::Closing) => break RelayEnd::Shutdown,
                why = CertWatch::ended_opt(&mut opts.cert) => break RelayEnd::CertificateRefused(why),
                why = KillWatch::killed_opt(&mut opts.killed) => break RelayEnd::Ended(why),
            }
        };
        // The goodbye is bounded: a browser that takes nothing must not hold the relay open.
        let goodbye = async {
            let ours = match &end {
                RelayEnd::TargetClosed => Some((code::NORMAL, true)),
                RelayEnd::Failed {
                    side: Side::Target, ..
                } => Some((code::ERROR, true)),
                // Waiting for the browser's answer would wait on the VNC server again.
                RelayEnd::TargetUnresponsive { .. } => Some((code::ERROR, false)),
                RelayEnd::Shutdown => Some((code::AWAY, true)),
                RelayEnd::CertificateRefused(_) | RelayEnd::Ended(_) => Some((code::POLICY, false)),
                RelayEnd::ClientUnresponsive { .. } => Some((code::AWAY, false)),
                RelayEnd::ClientClosed
                | RelayEnd::Failed {
                    side: Side::Client, ..
                } => None,
            };
            match ours {
                Some((code, wait)) => {
                    let frame = ControlFrame::close(code, &end.to_string());
                    let sent = browser.sender.close(&mut browser_w, &frame).await.is_ok();
                    if sent && wait && browser_done.is_none() {
                        // Let the browser acknowledge; its remaining bytes still go to the target.
                        let (_, _, done) = (&mut browser_to_target).await;
                        browser_done = Some(done);
                    }
                }
                // The browser's close is echoed, its protocol error or refusal named.
                None => {
                    if let Some(reply) = &reply {
                        let _ = browser.sender.close(&mut browser_w, &reply.frame()).await;
                    }
                }
            }
            let _ = browser_w.shutdown().await;
        };
        // The whole goodbye (close frame, the browser's answer, the drain below) is bounded.
        let deadline = tokio::time::Instant::now() + CLOSE_GRACE;
        let _ = tokio::time::timeout_at(deadline, goodbye).await;
        (end, browser_done.unwrap_or(false), deadline)
    };
    // A browser that is not done sending (an error, a refusal, a failed write to the VNC
    // server, an administrator's end while it moves its pointer) has what it sends read and
    // dropped until it has the close: a connection closed with unread bytes is reset, and a
    // reset throws away what was not sent yet, the close frame with it.
    if !browser_done {
        let drain = browser::discard_until_closed(&mut browser_r, &mut browser.deframer);
        let _ = tokio::time::timeout_at(deadline, drain).await;
    }
    let stats = RelayStats {
        to_target: counters.to_target.load(Ordering::Relaxed),
        to_client: counters.to_client.load(Ordering::Relaxed),
    };
    (stats, end)
}

#[cfg(test)]
mod tests;
