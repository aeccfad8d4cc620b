//! One relay session from an [`Admission`] to its end: a refusal is shown to the client, an
//! admitted route is dialled, and the bytes are pumped. Metrics and the audit line are kept
//! here; the summary line is the connection's.

use std::fmt;
use std::net::SocketAddr;
use std::time::SystemTime;

use tokio::io::{AsyncRead, AsyncWrite};

use super::browser::Browser;
use super::frames::code;
use super::{connect, greet, pump_websocket, tcp, ConnectError, PumpOptions, RelayEnd, RelayStats};
use crate::admission::gate::{Gate, Rules};
use crate::admission::{Admission, Refusal, Route, Via};
use crate::audit::{Outcome, Recorded, SessionRecord};
use crate::auth::live_certs::CertWatch;
use crate::auth::Mode;
use crate::backend::{self, BackendStream, LoadedLogin, LoginError};
use crate::config::Limits;
use crate::metrics::{GaugeGuard, Metrics, RelayRefused};
use crate::recording::tap::Tap;
use crate::sessions::Registration;
use crate::shutdown::Shutdown;
use std::sync::Arc;

/// What a session needs from the server.
#[derive(Debug, Clone)]
pub struct SessionEnv<'a> {
    /// The rules in force when the connection needed them (its limits; the audit log and
    /// logins are taken from the gateway's current rules when used).
    pub rules: Arc<Rules>,
    pub metrics: &'a Metrics,
    pub shutdown: Shutdown,
    pub gate: &'a Gate,
    /// The client's address, and how it came (for the audit line).
    pub client: SocketAddr,
    pub via: Via,
    /// The client certificate that authenticated the connection, if one did.
    pub cert: Option<CertWatch>,
}

impl SessionEnv<'_> {
    pub fn limits(&self) -> &Limits {
        &self.rules.config.limits
    }
}

/// How a session went, for the connection's summary line.
#[derive(Debug)]
pub enum SessionOutcome {
    Refused {
        target: String,
        reason: String,
    },
    Ended {
        target: String,
        stats: RelayStats,
        end: RelayEnd,
    },
}

impl fmt::Display for SessionOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused { target, reason } => write!(f, "relay to '{target}' refused: {reason}"),
            Self::Ended { target, end, .. } => write!(f, "relay to '{target}' ended: {end}"),
        }
    }
}

fn refused_label(r: &Refusal) -> RelayRefused {
    use crate::otk::KeyProblem as K;
    match r {
        Refusal::UnknownTarget { .. } => RelayRefused::UnknownTarget,
        Refusal::NoAuthConfigured => RelayRefused::NoAuthConfigured,
        Refusal::CredentialsMissing => RelayRefused::CredentialsMissing,
        Refusal::NotAllowed { .. } => RelayRefused::NotAllowed,
        Refusal::LockedOut { .. } => RelayRefused::LockedOut,
        Refusal::NoDefaultTarget => RelayRefused::NoDefaultTarget,
        Refusal::Key(k) => match k {
            K::Unknown => RelayRefused::KeyUnknown,
            K::Used => RelayRefused::KeyUsed,
            K::Expired => RelayRefused::KeyExpired,
            K::Revoked => RelayRefused::KeyRevoked,
            K::OtherTarget => RelayRefused::KeyWrongTarget,
            K::NotForYou => RelayRefused::KeyWrongIdentity,
            K::StoreUnavailable => RelayRefused::KeyStoreUnavailable,
        },
    }
}

/// Whom an audit line is about.
enum Audited<'a> {
    /// An admitted session: its route names the target, the client and the mode.
    Route(&'a Route),
    /// A refused request: the target asked for, and who asked as far as it is known.
    Refused {
        target: &'a str,
        who: &'a crate::admission::Principal,
    },
}

/// Writes the session's audit line.
fn audit(
    env: &SessionEnv<'_>,
    about: Audited<'_>,
    start: SystemTime,
    stats: RelayStats,
    outcome: Outcome,
    reason: &str,
    recording: Option<&Recorded>,
) {
    let (target, who, mode) = match about {
        Audited::Route(r) => (r.name.as_str(), &r.who, Some(r.mode)),
        Audited::Refused { target, who } => (target, who, None),
    };
    if outcome == Outcome::Refused {
        let who = who.to_string();
        (env.gate.recent).refused(env.client.ip(), Some(target), &who, reason);
    }
    env.gate.rules().audit.record(&SessionRecord {
        outcome,
        who: Some(who),
        from: env.client,
        via: env.via,
        target,
        mode,
        start,
        end: SystemTime::now(),
        bytes_to_target: stats.to_target,
        bytes_to_client: stats.to_client,
        reason,
        recording,
    });
}

fn connect_label(e: &ConnectError) -> RelayRefused {
    match e {
        ConnectError::Unreachable { .. } => RelayRefused::TargetUnreachable,
        ConnectError::Timeout { .. } => RelayRefused::TargetTimeout,
    }
}

/// Why no target was dialled.
enum NotDialled {
    Refused(Refusal),
    Failed(ConnectError),
    /// The gateway's own login to the target failed.
    Login {
        target: String,
        error: LoginError,
        /// View-only, and the target has no login configured.
        view_only_without_login: bool,
    },
}

impl NotDialled {
    /// For the person (a WebSocket close reason): no internal addresses.
    fn shown(&self) -> String {
        match self {
            Self::Refused(r) => r.reason(),
            Self::Failed(e) => e.user_reason(),
            // A login that broke or timed out says nothing about credentials: try again.
            Self::Login {
                target,
                error: LoginError::Timeout(within),
                ..
            } => format!(
                "target '{}' did not finish the gateway's login within {} s: try again",
                crate::admission::truncate(target, 40),
                within.as_secs()
            ),
            Self::Login {
                target,
                error: LoginError::Io(_) | LoginError::Closed,
                ..
            } => format!(
                "the connection to target '{}' broke during the gateway's login: try again",
                crate::admission::truncate(target, 40)
            ),
            Self::Login {
                target,
                view_only_without_login: true,
                ..
            } => format!(
                "view-only needs the gateway to log in to '{}', which it cannot: ask the administrator",
                crate::admission::truncate(target, 30)
            ),
            Self::Login { target, .. } => format!(
                "the gateway could not log in to target '{}': ask the administrator",
                crate::admission::truncate(target, 40)
            ),
        }
    }

    /// For the log and the summary line.
    fn logged(&self) -> String {
        match self {
            Self::Refused(r) => r.reason(),
            Self::Failed(e) => e.to_string(),
            Self::Login { target, error, .. } => {
                format!("the gateway's login to target '{target}' failed: {error}")
            }
        }
    }

    fn close_code(&self) -> u16 {
        match self {
            Self::Refused(_) => code::POLICY,
            Self::Failed(_) | Self::Login { .. } => code::AGAIN,
        }
    }
}

/// Dials the route of an admission. A refusal or a failure gets its audit line here.
async fn dial(
    admission: Admission,
    target: &str,
    env: &SessionEnv<'_>,
) -> Result<(Route, tokio::net::TcpStream), NotDialled> {
    let start = SystemTime::now();
    let route = match admission {
        Admission::Allow(route) => route,
        Admission::Refuse { refusal: r, who } => {
            env.metrics.relays_refused.inc(refused_label(&r));
            tracing::warn!(target = ?target, %who, reason = %r.reason(), "relay refused");
            audit(
                env,
                Audited::Refused { target, who: &who },
                start,
                RelayStats::default(),
                Outcome::Refused,
                &r.reason(),
                None,
            );
            return Err(NotDialled::Refused(r));
        }
    };
    let tcp = connect_audited(&route, env, start).await?;
    Ok((route, tcp))
}

/// Dials `route`'s target; a failure is counted and gets its audit line (begun at `start`).
async fn connect_audited(
    route: &Route,
    env: &SessionEnv<'_>,
    start: SystemTime,
) -> Result<tokio::net::TcpStream, NotDialled> {
    connect(route, env.limits().backend_connect_timeout)
        .await
        .map_err(|e| {
            env.metrics.relays_refused.inc(connect_label(&e));
            tracing::warn!(target = %route.name, error = %e, "cannot reach the target");
            audit(
                env,
                Audited::Route(route),
                start,
                RelayStats::default(),
                Outcome::Refused,
                &e.to_string(),
                None,
            );
            NotDialled::Failed(e)
        })
}

/// What is relayed to: the dialled socket as it is, or the gateway's login on it.
enum Backend {
    Raw(tokio::net::TcpStream),
    LoggedIn {
        stream: BackendStream,
        server_init: Vec<u8>,
    },
}

/// Logs in to the target when it has a login configured, the session is view-only (whose
/// input can only be told apart once the handshake is the gateway's), or the viewer came
/// through the gateway's VeNCrypt (whose handshake the gateway finished itself).
async fn log_in(
    route: &Route,
    tcp: tokio::net::TcpStream,
    env: &SessionEnv<'_>,
) -> Result<Backend, NotDialled> {
    let configured = env.gate.rules().logins.get(&route.name);
    let optional =
        configured.is_none() && route.mode == Mode::Full && env.via != Via::NativeVeNCrypt;
    if optional && !records(route, env) {
        return Ok(Backend::Raw(tcp));
    }
    let anonymous = LoadedLogin::anonymous();
    let login = configured.as_deref().unwrap_or(&anonymous);
    let start = SystemTime::now();
    match backend::login(tcp, login, env.limits().backend_connect_timeout).await {
        Ok((stream, server_init)) => {
            env.metrics
                .backend_logins
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(Backend::LoggedIn {
                stream,
                server_init,
            })
        }
        // Only to record it: a desktop that wants what the gateway does not hold (a password,
        // its own VeNCrypt) is relayed as it is, for the viewer to log in, unrecorded.
        Err(error) if optional => {
            tracing::info!(target = %route.name, %error, "the gateway cannot log in to record this session; relaying it unrecorded");
            connect_audited(route, env, start).await.map(Backend::Raw)
        }
        Err(error) => {
            env.metrics
                .relays_refused
                .inc(RelayRefused::BackendLoginFailed);
            let why = NotDialled::Login {
                target: route.name.clone(),
                error,
                view_only_without_login: configured.is_none() && route.mode == Mode::ViewOnly,
            };
            tracing::warn!(target = %route.name, error = %why.logged(), "cannot log in to the target");
            audit(
                env,
                Audited::Route(route),
                start,
                RelayStats::default(),
                Outcome::Refused,
                &why.logged(),
                None,
            );
            Err(why)
        }
    }
}

fn view_only(route: &Route, server_init: &[u8]) -> Option<super::view_only::ViewOnly> {
    (route.mode == Mode::ViewOnly).then(|| super::view_only::ViewOnly {
        limits: rfb::Limits::default(),
        server_init: server_init.to_vec(),
    })
}

/// The session of a client whose handshake with the gateway failed.
fn greeting_failed(route: &Route, env: &SessionEnv<'_>, detail: String) -> SessionOutcome {
    env.metrics.relay_errors.inc(crate::metrics::Side::Client);
    let end = RelayEnd::Failed {
        side: crate::metrics::Side::Client,
        detail: format!("handshake with the gateway: {detail}"),
    };
    audit(
        env,
        Audited::Route(route),
        SystemTime::now(),
        RelayStats::default(),
        Outcome::Ended,
        &end.to_string(),
        None,
    );
    SessionOutcome::Ended {
        target: route.name.clone(),
        stats: RelayStats::default(),
        end,
    }
}

/// A relay between its start and its end: counted as open, and audited when it ends. The
/// caller awaits the pump itself between [`Pumping::start`] and [`Pumping::ended`], so the
/// pump's future lives once in the session's state (passed into an async fn it would be
/// stored twice: as the argument and as what is awaited).
struct Pumping<'a> {
    route: &'a Route,
    env: &'a SessionEnv<'a>,
    start: SystemTime,
    /// For a recorded target: the recording, or why there is none.
    recorded: Option<Recorded>,
    /// Why the recording stopped before the session, once it did.
    stopped: Option<crate::recording::StopReason>,
    _open: GaugeGuard<'a>,
}

impl<'a> Pumping<'a> {
    fn start(route: &'a Route, env: &'a SessionEnv<'a>) -> Self {
        env.metrics
            .relays_total
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(target = %route.name, addr = %route.addr, mode = %route.mode, who = %route.who, "relay started");
        Self {
            route,
            env,
            start: SystemTime::now(),
            recorded: None,
            stopped: None,
            _open: GaugeGuard::new(&env.metrics.relays_open),
        }
    }

    fn recorded(mut self, recorded: Option<Recorded>) -> Self {
        self.recorded = recorded;
        self
    }

    fn tapped(
        mut self,
        (recorded, stopped): (Option<Recorded>, Option<crate::recording::StopReason>),
    ) -> Self {
        self.recorded = recorded;
        self.stopped = stopped;
        self
    }

    fn ended(mut self, (stats, end): (RelayStats, RelayEnd)) -> SessionOutcome {
        let env = self.env;
        let why = (self.stopped.as_ref()).and_then(|s| s.lock().ok().and_then(|w| w.clone()));
        if let (Some(why), Some(Recorded::File(file))) = (why, &self.recorded) {
            let file = file.clone();
            self.recorded = Some(Recorded::Partly { file, why });
        }
        if let RelayEnd::Failed { side, .. } = &end {
            env.metrics.relay_errors.inc(*side);
        }
        let reason = match &end {
            RelayEnd::Ended(crate::sessions::Ending::Killed { by }) => format!("{end} ({by})"),
            _ => end.to_string(),
        };
        audit(
            env,
            Audited::Route(self.route),
            self.start,
            stats,
            Outcome::Ended,
            &reason,
            self.recorded.as_ref(),
        );
        SessionOutcome::Ended {
            target: self.route.name.clone(),
            stats,
            end,
        }
    }
}

/// Whether sessions to `route`'s target are recorded.
fn records(route: &Route, env: &SessionEnv<'_>) -> bool {
    (env.rules.config.recording.as_ref()).is_some_and(|r| r.covers(&route.name))
}

/// A session relayed as it is (the gateway did not log in): not recorded, if it should be.
fn not_recorded(route: &Route, env: &SessionEnv<'_>) -> Option<Recorded> {
    records(route, env).then(|| Recorded::Not(crate::recording::END_TO_END.to_owned()))
}

/// The gateway's login stream, recorded when the target is (`id`: the session's).
fn tap(
    route: &Route,
    env: &SessionEnv<'_>,
    id: &str,
    stream: BackendStream,
    server_init: &[u8],
) -> (
    Tap<BackendStream>,
    (Option<Recorded>, Option<crate::recording::StopReason>),
) {
    let rec = env.rules.config.recording.as_ref();
    let Some(rec) = rec.filter(|r| r.covers(&route.name)) else {
        return (Tap::passing(stream), (None, None));
    };
    match crate::recording::start(rec, &route.name, id) {
        Ok(started) => {
            tracing::info!(recording = %started.file_name, "recording the session");
            let name = started.file_name.clone();
            let tapped = Tap::recording(stream, &started, server_init.to_vec());
            (
                tapped,
                (
                    Some(Recorded::File(name)),
                    Some(started.stop_reason.clone()),
                ),
            )
        }
        Err(e) => {
            tracing::error!(error = %e, dir = %rec.dir.display(), "the session cannot be recorded");
            let why = format!("the recording could not be opened: {e}");
            (Tap::passing(stream), (Some(Recorded::Not(why)), None))
        }
    }
}

/// Dials the admitted target and logs in to it when the gateway does (the same for browsers
/// and native clients).
async fn reach(
    admission: Admission,
    target: &str,
    env: &SessionEnv<'_>,
) -> Result<(Route, Backend), NotDialled> {
    let (route, tcp) = dial(admission, target, env).await?;
    let backend = log_in(&route, tcp, env).await?;
    Ok((route, backend))
}

/// Pump settings before the greeting (which may add view-only filtering and a prefix), for
/// the session `live` registered.
fn pump_options<'a>(
    env: &SessionEnv<'a>,
    ping_interval: Option<std::time::Duration>,
    live: &Registration,
) -> PumpOptions<'a> {
    PumpOptions {
        ping_interval,
        metrics: env.metrics,
        shutdown: env.shutdown.clone(),
        view_only: None,
        client_prefix: Vec::new(),
        cert: env.cert.clone(),
        counters: live.counters(),
        killed: Some(live.watch()),
    }
}

/// A WebSocket request that was answered with 101 but never taken over by the client (an
/// HTTP/1.0 proxy, a client that went away): nothing was decided and no key was used; it
/// gets a refused audit line all the same.
pub fn not_upgraded(
    env: &SessionEnv<'_>,
    identity: &crate::admission::PeerIdentity,
    target: &str,
    reason: &str,
) {
    env.metrics.relays_refused.inc(RelayRefused::UpgradeFailed);
    tracing::warn!(target = ?target, reason, "WebSocket upgrade not completed; nothing decided");
    let who = crate::admission::Principal {
        subject: identity.client_cert.as_ref().map(|c| c.subject.clone()),
        key_id: None,
    };
    audit(
        env,
        Audited::Refused { target, who: &who },
        SystemTime::now(),
        RelayStats::default(),
        Outcome::Refused,
        reason,
        None,
    );
}

/// A browser's WebSocket (already upgraded) to its admitted target.
pub async fn websocket<S>(
    io: S,
    admission: Admission,
    target: String,
    env: SessionEnv<'_>,
) -> SessionOutcome
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut ws = Browser::new(io, env.limits().max_websocket_message_bytes);
    let (route, backend) = match reach(admission, &target, &env).await {
        Ok(ok) => ok,
        Err(why) => {
            ws.close(why.close_code(), &why.shown()).await;
            return SessionOutcome::Refused {
                target,
                reason: why.logged(),
            };
        }
    };
    // Listed (and can be ended by an administrator) until it returns.
    let live = env.gate.register_session(&route, env.client, env.via);
    let mut opts = pump_options(&env, env.limits().websocket_ping_interval, &live);
    match backend {
        Backend::Raw(tcp) => {
            let mut tcp = tcp;
            let p = Pumping::start(&route, &env).recorded(not_recorded(&route, &env));
            p.ended(pump_websocket(&mut ws, &mut tcp, &mut opts).await)
        }
        Backend::LoggedIn {
            stream,
            server_init,
        } => {
            let within = env.limits().backend_connect_timeout;
            opts.view_only = view_only(&route, &server_init);
            match greet::websocket(&mut ws, server_init.clone(), within).await {
                Ok(first) => {
                    opts.client_prefix = first;
                    let (mut stream, recorded) = tap(&route, &env, live.id(), stream, &server_init);
                    let p = Pumping::start(&route, &env).tapped(recorded);
                    p.ended(pump_websocket(&mut ws, &mut stream, &mut opts).await)
                }
                Err(detail) => greeting_failed(&route, &env, detail),
            }
        }
    }
}

/// A native VNC client to its admitted target. A refusal just closes the connection: a VNC
/// client has no way to show a reason before the server's first bytes.
pub async fn native<S>(
    io: S,
    admission: Admission,
    target: String,
    env: SessionEnv<'_>,
) -> SessionOutcome
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut io = io;
    let (route, backend) = match reach(admission, &target, &env).await {
        Ok(ok) => ok,
        Err(why) => {
            return SessionOutcome::Refused {
                target,
                reason: why.logged(),
            }
        }
    };
    let live = env.gate.register_session(&route, env.client, env.via);
    let mut opts = pump_options(&env, None, &live);
    match backend {
        Backend::Raw(tcp) => {
            let p = Pumping::start(&route, &env).recorded(not_recorded(&route, &env));
            p.ended(tcp::pump_tcp(io, tcp, opts).await)
        }
        Backend::LoggedIn {
            stream,
            server_init,
        } => {
            let within = env.limits().backend_connect_timeout;
            opts.view_only = view_only(&route, &server_init);
            match greet::native(&mut io, server_init.clone(), within).await {
                Ok(first) => {
                    opts.client_prefix = first;
                    let (stream, recorded) = tap(&route, &env, live.id(), stream, &server_init);
                    let p = Pumping::start(&route, &env).tapped(recorded);
                    p.ended(tcp::pump_tcp(io, stream, opts).await)
                }
                Err(detail) => greeting_failed(&route, &env, detail),
            }
        }
    }
}

/// A native viewer that negotiated VeNCrypt with the gateway's `server` (its authentication
/// is in, and `admission` is the verdict): the viewer is told the verdict inside its TLS
/// (SecurityResult, with the reason when refused), and once admitted its ClientInit gets the
/// target's own ServerInit, from the gateway's login to it.
pub async fn native_vencrypt<T>(
    mut tcp: T,
    mut server: rfb::server::Server,
    admission: Admission,
    target: String,
    env: SessionEnv<'_>,
) -> SessionOutcome
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let (route, backend) = match reach(admission, &target, &env).await {
        Ok(ok) => ok,
        Err(why) => {
            server.refuse(&why.shown());
            let _ = greet::flush(&mut tcp, &mut server).await;
            return SessionOutcome::Refused {
                target,
                reason: why.logged(),
            };
        }
    };
    let Backend::LoggedIn {
        stream,
        server_init,
    } = backend
    else {
        // log_in always logs in for this way in.
        return greeting_failed(&route, &env, "the gateway did not log in".to_owned());
    };
    let within = env.limits().backend_connect_timeout;
    let first = match greet::vencrypt(&mut tcp, &mut server, &server_init, within).await {
        Ok(first) => first,
        Err(detail) => return greeting_failed(&route, &env, detail),
    };
    let live = env.gate.register_session(&route, env.client, env.via);
    let mut opts = pump_options(&env, None, &live);
    opts.view_only = view_only(&route, &server_init);
    opts.client_prefix = first;
    let wire = server.poll_transmit().unwrap_or_default();
    let io = crate::backend::stream::TlsRelay::new(tcp, server, Vec::new(), wire);
    let (stream, recorded) = tap(&route, &env, live.id(), stream, &server_init);
    let p = Pumping::start(&route, &env).tapped(recorded);
    p.ended(tcp::pump_tcp(io, stream, opts).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn login(error: LoginError, view_only_without_login: bool) -> String {
        NotDialled::Login {
            target: "desk".into(),
            error,
            view_only_without_login,
        }
        .shown()
    }

    #[test]
    fn a_login_that_timed_out_or_broke_asks_to_try_again_not_for_the_administrator() {
        let timeout = login(LoginError::Timeout(Duration::from_secs(10)), true);
        assert_eq!(
            timeout,
            "target 'desk' did not finish the gateway's login within 10 s: try again"
        );
        let broken = login(LoginError::Closed, true);
        assert!(
            broken.contains("broke during the gateway's login: try again"),
            "{broken}"
        );
        let refused = login(
            LoginError::Protocol(rfb::Error::ServerRefused {
                reason: "no".into(),
            }),
            true,
        );
        assert!(refused.contains("which it cannot"), "{refused}");
        let refused = login(
            LoginError::Protocol(rfb::Error::ServerRefused {
                reason: "no".into(),
            }),
            false,
        );
        assert!(refused.contains("ask the administrator"), "{refused}");
    }
}
