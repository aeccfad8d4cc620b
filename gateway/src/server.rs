//! The accept loop: one task and tracing span per connection, the global connection limit,
//! and graceful shutdown. What happens on a connection is in [`connection`].
//!
//! `serve` takes an already-bound listener, so tests bind `127.0.0.1:0` and main binds the
//! configured address ([`bind`]: with a backlog for bursts of connections). It also takes the rustls configuration, so the caller decides where
//! the certificate comes from and how it is reloaded.

pub mod clear;
pub mod connection;
pub mod vencrypt;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tracing::Instrument;

use crate::admission::gate::{Gate, Rules};
use crate::assets::Assets;
use crate::config::Config;
use crate::conn_limit::AddressLimiter;
use crate::http::static_files::StaticFiles;
use crate::http::App;
use crate::metrics::{Metrics, Refused};
use crate::sessions::LiveSessions;
use crate::shutdown::{Phase, Shutdown};
use crate::store::Store;

/// How long relays get, after the grace period, to send their close frames.
const CLOSE_FRAME_GRACE: Duration = Duration::from_secs(2);

/// Connections the kernel completes and queues before the accept loop takes them (capped by
/// `net.core.somaxconn`). The standard library's 128 overflows when hundreds of viewers
/// connect at once — after a restart, or behind a load balancer — and the kernel then drops
/// their handshakes: each waits 1 s, 3 s, 7 s… to retry.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` for [`serve`], with [`LISTEN_BACKLOG`] and `SO_REUSEADDR` (as the standard
/// library sets it: a restart does not wait for old connections in TIME_WAIT).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// What every connection task shares.
pub struct Shared {
    pub app: Arc<App>,
    pub acceptor: TlsAcceptor,
    /// With client certificates: their verifier, whose re-checks end revoked connections.
    pub clients: Option<Arc<crate::auth::client_ca::ClientVerifier>>,
    pub metrics: Arc<Metrics>,
    pub limiter: Arc<AddressLimiter>,
    pub shutdown: Shutdown,
}

impl Shared {
    /// The rules in force now (a reload replaces them).
    pub fn rules(&self) -> Arc<Rules> {
        self.app.gate.rules()
    }

    /// Who a TLS client is, from the certificate chain its handshake verified (only a client
    /// CA's verifier lets one through), and the chain's place among the live certificates:
    /// kept for the connection's life, a re-check that refuses it ends the connection.
    pub fn client_identity(
        &self,
        chain: Option<&[rustls::pki_types::CertificateDer<'_>]>,
    ) -> (
        crate::admission::PeerIdentity,
        Option<crate::auth::live_certs::Registration>,
    ) {
        let identity = crate::admission::PeerIdentity {
            client_cert: chain
                .and_then(|c| c.first())
                .and_then(|c| crate::auth::CertIdentity::from_der(c)),
        };
        let registration = match (&self.clients, chain, &identity.client_cert) {
            (Some(v), Some(chain), Some(id)) => v.live().register(chain, &id.subject),
            _ => None,
        };
        (identity, registration)
    }
}

/// Opens what the gateway keeps besides its configuration: the store (SQLite in the state
/// directory, or the fleet's Redis, which must answer), the audit log, the admin token.
/// `local` is the listening address (the instance's default name has its port).
pub async fn open_gate(config: &Config, local: SocketAddr) -> std::io::Result<Gate> {
    let store = Store::open(
        &config.store,
        &config.state_dir,
        crate::admission::gate::lockout_policy(config),
    )
    .await
    .map_err(std::io::Error::other)?;
    let rules = Rules::open(config.clone()).map_err(std::io::Error::other)?;
    let instance = config
        .instance
        .clone()
        .unwrap_or_else(|| crate::sessions::default_instance(local));
    Ok(Gate::new(
        rules,
        store,
        Arc::new(Metrics::default()),
        LiveSessions::new(instance),
    ))
}

/// [`open_gate`], then [`serve_gate`]: an error opening the store, audit log or admin token
/// is returned at once.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    tls: crate::tls::TlsServer,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let gate = open_gate(&config, listener.local_addr()?).await?;
    serve_gate(listener, Arc::new(gate), tls, shutdown).await
}

/// Runs the gateway on `listener` until `shutdown` completes; then stops accepting, closes
/// idle HTTP connections, lets relays drain for `limits.shutdown_grace`, asks the rest to
/// close (WebSocket close 1001), and cuts whatever is left.
pub async fn serve_gate(
    listener: TcpListener,
    gate: Arc<Gate>,
    tls: crate::tls::TlsServer,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let (phase, shutdown_view) = Shutdown::channel();
    // What a reload does not change (crate::reload: restart-only settings) is read once.
    let config = gate.rules().config.clone();
    let metrics = gate.metrics.clone();
    let public_url = match &config.web.public_url {
        Some(u) => u.as_str().to_owned(),
        None => crate::config::url_of_listen(listener.local_addr()?),
    };
    let shared = Arc::new(Shared {
        app: Arc::new(App {
            public_url,
            files: Arc::new(StaticFiles::new(Assets::new(config.web_root.as_deref()))),
            admin_files: Arc::new(StaticFiles::new(Assets::Embedded)),
            metrics: metrics.clone(),
            gate,
            status: crate::http::status::Sources {
                certificate: tls.certificate,
                clients: tls.clients.clone(),
                started: std::time::SystemTime::now(),
            },
        }),
        acceptor: TlsAcceptor::from(tls.config),
        clients: tls.clients,
        limiter: AddressLimiter::new(config.limits.max_connections_per_address),
        metrics,
        shutdown: shutdown_view,
    });
    // Background work of the store, aborted when the server returns: ended one-time keys
    // are forgotten, the session registry is published, kill requests are served.
    let gate = &shared.app.gate;
    let _background = [
        AbortOnDrop(tokio::spawn(crate::otk::purge_ended(
            gate.store.clone(),
            crate::otk::PURGE_INTERVAL,
        ))),
        AbortOnDrop(tokio::spawn(crate::sessions::publish(
            gate.store.clone(),
            gate.sessions.clone(),
            config.limits.session_heartbeat,
        ))),
        AbortOnDrop(tokio::spawn(
            gate.store.clone().serve_kills(gate.sessions.clone()),
        )),
        AbortOnDrop(tokio::spawn(crate::recording::purge_old(gate.clone()))),
    ];
    let next_id = AtomicU64::new(1);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
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
                shared.metrics.connections_total.fetch_add(1, Ordering::Relaxed);
                // Interactive traffic: a small write (a cursor update, a key echo) goes out at
                // once instead of waiting for the browser to acknowledge the previous one.
                let _ = stream.set_nodelay(true);
                let max = shared.rules().config.limits.max_connections;
                if tasks.len() >= max {
                    shared.metrics.connections_refused.inc(Refused::MaxConnections);
                    tracing::warn!(%peer, max, "connection limit reached; refusing");
                    continue;
                }
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                let span = tracing::info_span!("conn", id, %peer, client = tracing::field::Empty);
                tasks.spawn(connection::handle(stream, peer, shared.clone()).instrument(span));
            }
        }
    }
    drop(listener);
    let limits = shared.rules().config.limits.clone();
    phase.send_replace(Phase::Draining);
    tracing::info!(
        open = tasks.len(),
        grace_s = limits.shutdown_grace.as_secs(),
        "shutting down: no new connections; open sessions may finish"
    );
    if !join_within(&mut tasks, limits.shutdown_grace).await {
        tracing::info!(
            open = tasks.len(),
            "grace period over; closing the remaining sessions"
        );
        phase.send_replace(Phase::Closing);
        if !join_within(&mut tasks, CLOSE_FRAME_GRACE).await {
            tracing::info!(cut = tasks.len(), "cutting the sessions that did not close");
            tasks.shutdown().await;
        }
    }
    // The sessions that ended leave the shared registry now, not at their expiry — after the
    // background publisher stopped, so that it cannot take these changes and be cut off.
    drop(_background);
    let gate = &shared.app.gate;
    let ended = gate.sessions.take_changes();
    let ttl = crate::sessions::ttl(limits.session_heartbeat);
    if let Err(e) = gate.store.publish_sessions(&ended, ttl).await {
        tracing::warn!(error = %e, "the ended sessions stay listed until they expire");
    }
    Ok(())
}

/// Aborts a background task when the server returns.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Whether every task ended within `within`.
async fn join_within(tasks: &mut JoinSet<()>, within: Duration) -> bool {
    let all = async { while tasks.join_next().await.is_some() {} };
    tokio::time::timeout(within, all).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Connections beyond the standard library's backlog of 128, none accepted yet: the kernel
    /// queues them all instead of dropping their handshakes (which retry only after 1 s).
    #[tokio::test]
    async fn a_burst_of_connections_waits_in_the_backlog_instead_of_being_dropped() {
        // The kernel caps the backlog at net.core.somaxconn (4096 by default since Linux 5.4).
        let somaxconn = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(4096);
        let burst = somaxconn.min(400);
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
        let addr = listener.local_addr().expect("address");
        let mut queued = Vec::with_capacity(burst);
        for _ in 0..burst {
            let connect = tokio::net::TcpStream::connect(addr);
            match tokio::time::timeout(Duration::from_millis(500), connect).await {
                Ok(Ok(stream)) => queued.push(stream),
                Ok(Err(e)) => panic!("connection {} refused: {e}", queued.len() + 1),
                Err(_) => break,
            }
        }
        assert_eq!(
            queued.len(),
            burst,
            "the kernel dropped connection {} of a burst: the listen backlog is too short",
            queued.len() + 1
        );
    }
}
