//! One connection, from accept to its summary line:
//!
//! ```text
//! [PROXY header, only and always from --proxy-protocol-from]  → the client's real address
//! per-address limit
//! peek (detect) ─┬─ TLS ─► handshake ─► ALPN http/1.1 or an HTTP request line ─► hyper
//!                │                    │                                      └─ WebSocket ─► admission ─► relay
//!                │                    └─ silence ─► native VNC in TLS (--native-vnc-target) ─► admission ─► relay
//!                ├─ plain HTTP ─► 301 to https (GET/HEAD, valid Host) or 400
//!                ├─ PROXY header from an untrusted peer ─► refused
//!                ├─ silence ─► native VNC in clear (--danger-allow-plain-vnc) ─► admission ─► relay
//!                └─ anything else ─► closed
//! ```
//!
//! Every branch ends in a `Summary`, logged once.
//!
//! The stages run one after another in [`pipeline`] — `tls` returns what it found
//! ([`AfterTls`]), `http` what the browser asked for ([`AfterHttp`]), and only then does the
//! relay run — rather than each awaiting the next: a task's future is as large as its largest
//! chain of nested frames, and a session that idles for hours should hold the relay's state
//! and nothing of the handshake and HTTP stages before it (docs/benchmarks.md, "Memory").
//!
//! Every byte to and from the client goes through [`Timed`]: a write that stalls for
//! `write_timeout` ends the connection at any stage, and until the connection relays, so does
//! a read that waits `http_idle_timeout`. A connection authenticated by a client certificate
//! is registered with the verifier's live list and ends when a re-check refuses it.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;

use super::clear::{plain_http, read_proxy_header, sniff};
use super::Shared;
use crate::admission::{self, PeerIdentity, Via};
use crate::auth::client_ca::CertRefusal;
use crate::auth::live_certs::CertWatch;
use crate::detect::{detect, Detected};
use crate::http::ConnContext;
use crate::io::{ByteCounts, Counted, IdleRead, Prefixed, Timed};
use crate::metrics::{Detected as Seen, GaugeGuard, HandshakeFailure, Refused};
use crate::proxy_protocol::ProxyHeader;
use crate::relay::session::{self, SessionEnv, SessionOutcome};
use crate::shutdown::Phase;

/// How a connection went, for its one summary line.
#[derive(Debug)]
pub(super) struct Summary {
    /// Which way through the pipeline it took.
    kind: &'static str,
    /// Why it ended, naming the side.
    end: String,
    relayed: Option<crate::relay::RelayStats>,
    /// A load balancer's health check (only `/healthz` was asked): logged at debug level,
    /// not twice a second at info.
    health_check: bool,
}

/// Where a connection is after its TLS handshake. (Returned once and taken apart at once:
/// boxing the large variant would only add an allocation.)
#[allow(clippy::large_enum_variant)]
enum AfterTls {
    Ended(Summary),
    /// HTTP inside TLS (ALPN, or a request line), with what the handshake established.
    Http {
        io: Prefixed<tokio_rustls::server::TlsStream<Timed<Counted<TcpStream>>>>,
        identity: PeerIdentity,
        cert: Option<CertWatch>,
        /// The client certificate's place in the verifier's live list: kept for as long as
        /// the connection lasts (`cert` ends when a re-check refuses it).
        registration: Option<crate::auth::live_certs::Registration>,
    },
}

/// Where a connection is after its HTTP requests.
#[allow(clippy::large_enum_variant)]
enum AfterHttp<'a> {
    Ended(Summary),
    /// A WebSocket upgrade to an admitted (or refused: the relay says so) target.
    WebSocket {
        upgraded: hyper::upgrade::Upgraded,
        admission: crate::admission::Admission,
        target: String,
        env: SessionEnv<'a>,
    },
}

impl Summary {
    pub(super) fn new(kind: &'static str, end: impl Into<String>) -> Self {
        Self {
            kind,
            end: end.into(),
            relayed: None,
            health_check: false,
        }
    }

    pub(super) fn from_session(kind: &'static str, outcome: SessionOutcome) -> Self {
        let relayed = match &outcome {
            SessionOutcome::Ended { stats, .. } => Some(*stats),
            SessionOutcome::Refused { .. } => None,
        };
        Self {
            kind,
            end: outcome.to_string(),
            relayed,
            health_check: false,
        }
    }
}

/// Runs the connection and logs its summary.
pub async fn handle(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let started = tokio::time::Instant::now();
    let _open = GaugeGuard::new(&shared.metrics.connections_open);
    let counts = Arc::new(ByteCounts::default());
    let s = pipeline(stream, peer, &shared, &counts).await;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (to_target, to_client) = s.relayed.map_or((0, 0), |r| (r.to_target, r.to_client));
    if s.health_check {
        tracing::debug!(duration_ms, end = %s.end, "health check answered");
        return;
    }
    tracing::info!(
        duration_ms,
        kind = s.kind,
        bytes_in = counts.read(),
        bytes_out = counts.written(),
        relay_bytes_to_target = to_target,
        relay_bytes_to_client = to_client,
        end = %s.end,
        "connection closed"
    );
}

async fn pipeline(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    counts: &Arc<ByteCounts>,
) -> Summary {
    let rules = shared.rules();
    let limits = &rules.config.limits;
    let metrics = &shared.metrics;
    let client = if rules.config.proxy_protocol_from.contains(peer.ip()) {
        let read = read_proxy_header(&mut stream);
        match tokio::time::timeout(limits.proxy_header_timeout, read).await {
            Ok(Ok(ProxyHeader::Proxied { source, .. })) => source,
            Ok(Ok(ProxyHeader::Local)) => peer,
            Ok(Err(e)) => {
                metrics.connections_refused.inc(Refused::ProxyHeaderInvalid);
                return Summary::new(
                    "refused",
                    format!("trusted proxy sent a bad PROXY header: {e}"),
                );
            }
            Err(_) => {
                metrics.connections_refused.inc(Refused::ProxyHeaderTimeout);
                return Summary::new(
                    "refused",
                    format!(
                        "trusted proxy sent no complete PROXY header within {} s",
                        limits.proxy_header_timeout.as_secs()
                    ),
                );
            }
        }
    } else {
        peer
    };
    if client != peer {
        tracing::Span::current().record("client", tracing::field::display(client));
    }
    let Some(_slot) = shared.limiter.try_acquire(client.ip()) else {
        metrics.connections_refused.inc(Refused::MaxPerAddress);
        return Summary::new(
            "refused",
            format!(
                "{} connections from this address are open already",
                limits.max_connections_per_address
            ),
        );
    };
    let sniffed = sniff(&stream, limits.detect_timeout).await;
    let idle = IdleRead::new(limits.http_idle_timeout);
    let stream = Timed::new(
        Counted::new(stream, counts.clone()),
        limits.write_timeout,
        idle.clone(),
    );
    match sniffed {
        Detected::Tls => {
            metrics.detected.inc(Seen::Tls);
            // Boxed: the handshake's future is the largest stage, and inline it would size
            // the whole connection's task, relay included, for as long as the session lasts.
            let handshake = Box::pin(tls(stream, client, &idle, shared));
            let (io, identity, cert, registration) = match handshake.await {
                AfterTls::Ended(s) => return s,
                AfterTls::Http {
                    io,
                    identity,
                    cert,
                    registration,
                } => (io, identity, cert, registration),
            };
            let (upgraded, admission, target, env) =
                match http(io, client, identity, &idle, cert, shared).await {
                    AfterHttp::Ended(s) => return s,
                    AfterHttp::WebSocket {
                        upgraded,
                        admission,
                        target,
                        env,
                    } => (upgraded, admission, target, env),
                };
            let s = session::websocket(TokioIo::new(upgraded), admission, target, env).await;
            // Held to here: the client certificate stays in the live list while it relays.
            drop(registration);
            Summary::from_session("tls/websocket", s)
        }
        Detected::Http => {
            metrics.detected.inc(Seen::PlainHttp);
            Summary::new("plain/http", plain_http(stream, limits, metrics).await)
        }
        Detected::ProxyV1 | Detected::ProxyV2 => {
            metrics.detected.inc(Seen::ProxyUntrusted);
            metrics
                .connections_refused
                .inc(Refused::ProxyHeaderUntrusted);
            Summary::new(
                "refused",
                "PROXY protocol header from an address not in --proxy-protocol-from; \
                 if this is your load balancer, add its address there",
            )
        }
        Detected::NeedMore => {
            metrics.detected.inc(Seen::SilentPlain);
            idle.off();
            let Some(target) = rules.config.native_vnc.danger_plain.clone() else {
                // A native viewer (TigerVNC, gtk-vnc, Remmina): VeNCrypt, TLS inside RFB.
                return Box::pin(super::vencrypt::serve(stream, client, shared)).await;
            };
            // Boxed, as below: the native relay's state is the largest of all, and every
            // connection's task would otherwise be that large.
            let s = Box::pin(native(
                stream,
                client,
                Via::NativePlain,
                target,
                &PeerIdentity::default(),
                None,
                shared,
            ))
            .await;
            Summary::from_session("plain/native-vnc", s)
        }
        Detected::Unknown => {
            let closed = stream
                .get_ref()
                .get_ref()
                .peek(&mut [0u8; 1])
                .await
                .map_or(true, |n| n == 0);
            if closed {
                metrics.detected.inc(Seen::Closed);
                Summary::new("closed", "client closed before sending anything")
            } else {
                metrics.detected.inc(Seen::Unknown);
                Summary::new(
                    "refused",
                    "unrecognised protocol (not TLS, HTTP or a silent VNC client)",
                )
            }
        }
    }
}

fn handshake_failure(e: &std::io::Error) -> HandshakeFailure {
    use rustls::Error as E;
    match e.get_ref().and_then(|i| i.downcast_ref::<E>()) {
        Some(E::PeerIncompatible(_) | E::NoCertificatesPresented) => HandshakeFailure::Incompatible,
        Some(
            E::InvalidMessage(_)
            | E::PeerMisbehaved(_)
            | E::InappropriateHandshakeMessage { .. }
            | E::InappropriateMessage { .. },
        ) => HandshakeFailure::BadMessage,
        Some(E::AlertReceived(_)) => HandshakeFailure::AlertReceived,
        Some(_) => HandshakeFailure::Other,
        None if matches!(
            e.kind(),
            std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
        ) =>
        {
            HandshakeFailure::Closed
        }
        None => HandshakeFailure::Other,
    }
}

/// The TLS handshake, then what the client speaks inside it.
async fn tls(
    stream: Timed<Counted<TcpStream>>,
    client: SocketAddr,
    idle: &IdleRead,
    shared: &Shared,
) -> AfterTls {
    let rules = shared.rules();
    let limits = &rules.config.limits;
    let metrics = &shared.metrics;
    let accept = shared.acceptor.accept(stream);
    let mut tls = match tokio::time::timeout(limits.tls_handshake_timeout, accept).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            metrics.tls_handshake_failures.inc(handshake_failure(&e));
            let refusal = e
                .get_ref()
                .and_then(|i| i.downcast_ref::<rustls::Error>())
                .and_then(CertRefusal::of);
            if let Some(why) = refusal {
                shared.app.gate.certificate_refused(client, why).await;
                return AfterTls::Ended(Summary::new(
                    "tls",
                    format!("TLS handshake refused: {}", why.describe()),
                ));
            }
            return AfterTls::Ended(Summary::new(
                "tls",
                format!("TLS handshake failed (client side): {e}"),
            ));
        }
        Err(_) => {
            metrics
                .tls_handshake_failures
                .inc(HandshakeFailure::Timeout);
            return AfterTls::Ended(Summary::new(
                "tls",
                format!(
                    "TLS handshake timed out after {} s",
                    limits.tls_handshake_timeout.as_secs()
                ),
            ));
        }
    };
    let conn = tls.get_ref().1;
    if crate::acme::tls_alpn::is_acme_tls_alpn(conn) {
        // A CA validating tls-alpn-01 only needed the handshake.
        return AfterTls::Ended(Summary::new(
            "tls",
            "tls-alpn-01 challenge answered".to_owned(),
        ));
    }
    let (identity, registration) = shared.client_identity(conn.peer_certificates());
    if let Some(id) = &identity.client_cert {
        tracing::info!(subject = %id.subject, "client certificate verified");
    }
    let cert = registration.as_ref().map(|r| r.watch());
    if conn.alpn_protocol() == Some(b"http/1.1") {
        metrics.detected.inc(Seen::TlsHttp);
        return AfterTls::Http {
            io: Prefixed::new(Vec::new(), tls),
            identity,
            cert,
            registration,
        };
    }
    // No ALPN: read (TLS cannot be peeked) until the first bytes say what this is.
    let deadline = tokio::time::Instant::now() + limits.detect_timeout;
    let mut first = Vec::new();
    let seen = loop {
        let mut chunk = [0u8; 16];
        match tokio::time::timeout_at(deadline, tls.read(&mut chunk)).await {
            Err(_) if first.is_empty() => break Detected::NeedMore,
            Err(_) => break Detected::Unknown,
            Ok(Ok(0) | Err(_)) => {
                metrics.detected.inc(Seen::Closed);
                return AfterTls::Ended(Summary::new(
                    "tls",
                    "client closed before sending anything",
                ));
            }
            Ok(Ok(n)) => {
                first.extend_from_slice(&chunk[..n]);
                match detect(&first) {
                    Detected::NeedMore if first.len() < 16 => {}
                    Detected::Http => break Detected::Http,
                    _ => break Detected::Unknown,
                }
            }
        }
    };
    match seen {
        Detected::Http => {
            metrics.detected.inc(Seen::TlsHttp);
            AfterTls::Http {
                io: Prefixed::new(first, tls),
                identity,
                cert,
                registration,
            }
        }
        Detected::NeedMore => {
            metrics.detected.inc(Seen::TlsSilent);
            let target =
                admission::native_target(&rules.config.access, &rules.config.native_vnc, &identity);
            let Some(target) = target else {
                metrics.connections_refused.inc(Refused::NativeTlsDisabled);
                return AfterTls::Ended(Summary::new(
                    "refused",
                    "client sent nothing inside TLS: a native VNC client? Refused \
                     (--native-vnc-target NAME, or default_target in the access list, enables them)",
                ));
            };
            idle.off();
            // Boxed: a native relay in TLS is the largest state of a connection's task (the
            // gateway's own login, both copy directions); a WebSocket relay, far more common,
            // must not carry its size.
            let s = Box::pin(native(
                tls,
                client,
                Via::NativeTls,
                target,
                &identity,
                cert,
                shared,
            ))
            .await;
            AfterTls::Ended(Summary::from_session("tls/native-vnc", s))
        }
        _ => {
            metrics.detected.inc(Seen::TlsUnknown);
            AfterTls::Ended(Summary::new("refused", "unrecognised protocol inside TLS"))
        }
    }
}

async fn native<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    client: SocketAddr,
    via: Via,
    target: String,
    identity: &PeerIdentity,
    cert: Option<CertWatch>,
    shared: &Shared,
) -> SessionOutcome {
    let admission = shared
        .app
        .gate
        .admit(client, via, &target, identity, None)
        .await;
    session::native(io, admission, target, env(shared, client, via, cert)).await
}

pub(super) fn env(
    shared: &Shared,
    client: SocketAddr,
    via: Via,
    cert: Option<CertWatch>,
) -> SessionEnv<'_> {
    SessionEnv {
        rules: shared.rules(),
        metrics: &shared.metrics,
        shutdown: shared.shutdown.clone(),
        gate: &shared.app.gate,
        client,
        via,
        cert,
    }
}

/// The most a request head may take inside TLS: the configured limit, but at least what
/// hyper needs for its read buffer (8 KiB).
fn max_head_bytes(limits: &crate::config::Limits) -> usize {
    limits.max_http_header_bytes.max(8 * 1024)
}

/// HTTP requests until the connection closes or a WebSocket upgrade is admitted (one-time
/// keys are used here).
async fn http<'a, S>(
    io: S,
    client: SocketAddr,
    identity: PeerIdentity,
    idle: &IdleRead,
    mut cert: Option<CertWatch>,
    shared: &'a Shared,
) -> AfterHttp<'a>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let rules = shared.rules();
    let limits = &rules.config.limits;
    let ctx = Arc::new(ConnContext::new(client, identity));
    let (app, svc_ctx) = (shared.app.clone(), ctx.clone());
    // Requests and the HTTP connection are boxed, and the connection is dropped before a
    // relay starts: the connection's task is one future as large as its largest state, and
    // an idle relay must not carry the size of the HTTP machinery it no longer uses.
    let svc = service_fn(move |req| Box::pin(app.clone().handle(svc_ctx.clone(), req)));
    let mut conn = Box::pin(
        http1::Builder::new()
            .header_read_timeout(limits.http_header_timeout)
            .max_buf_size(max_head_bytes(limits))
            .timer(TokioTimer::new())
            .serve_connection(TokioIo::new(io), svc)
            .with_upgrades(),
    );
    let mut shutdown = shared.shutdown.clone();
    let served = tokio::select! {
        r = conn.as_mut() => r,
        () = shutdown.reached(Phase::Draining) => {
            conn.as_mut().graceful_shutdown();
            conn.as_mut().await
        }
        why = CertWatch::ended_opt(&mut cert) => {
            return AfterHttp::Ended(Summary::new(
                "tls/http",
                format!("closed: {}", why.describe()),
            ));
        }
    };
    drop(conn);
    let Some(pending) = ctx.take_pending() else {
        let mut s = Summary::new(
            "tls/http",
            match served {
                Ok(()) => "HTTP connection closed".to_owned(),
                Err(e) => format!("HTTP connection failed: {e}"),
            },
        );
        s.health_check = ctx.health_checks_only();
        return AfterHttp::Ended(s);
    };
    let env = env(shared, client, Via::WebSocket, cert);
    let target = pending.request.target;
    let upgraded =
        match tokio::time::timeout(limits.websocket_upgrade_timeout, pending.on_upgrade).await {
            Ok(Ok(u)) => u,
            Ok(Err(e)) => {
                let why = format!("WebSocket upgrade failed (client side): {e}");
                session::not_upgraded(&env, &ctx.identity, &target, &why);
                return AfterHttp::Ended(Summary::new("tls/websocket", why));
            }
            Err(_) => {
                let why = "WebSocket upgrade timed out (client side)";
                session::not_upgraded(&env, &ctx.identity, &target, why);
                return AfterHttp::Ended(Summary::new("tls/websocket", why));
            }
        };
    // The connection relays from here on: liveness is the relay's pings.
    idle.off();
    // Only now is a one-time key used: the client has the connection.
    let admission = shared
        .app
        .gate
        .admit(
            client,
            Via::WebSocket,
            &target,
            &ctx.identity,
            pending.request.otk,
        )
        .await;
    AfterHttp::WebSocket {
        upgraded,
        admission,
        target,
        env,
    }
}
