//! The stateful shell around [`super::decide`]: the lockout is asked first, a presented
//! one-time key is redeemed in the store, the pure decision is taken, and failures and
//! successes are counted — in metrics and towards a lockout. Refused client certificates (seen
//! in the TLS handshake) are counted here too. The store is this instance's or the fleet's
//! ([`crate::store`]); when it cannot answer, a key is refused ("the gateway cannot check
//! one-time keys right now"), never admitted unchecked.
//!
//! Two lockouts: per address (IPv6 per /64) and per credential. A client with a verified
//! client certificate is judged by its certificate's entry alone, so an attacker behind the
//! same address (a NAT, a proxy) cannot lock certificate holders out; everyone else is judged
//! by the address.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use std::time::Duration;

use certs::session_file::OneTimeKey;

use super::{decide, Admission, AdmissionRequest, KeyCheck, PeerIdentity, Refusal, Via};
use crate::audit::Audit;
use crate::auth::admin::AdminToken;
use crate::auth::client_ca::CertRefusal;
use crate::auth::lockout::LockoutPolicy;
use crate::backend::Logins;
use crate::config::{AuthMode, Config};
use crate::conn_limit::address_key;
use crate::metrics::{AuthFailure, CertRefused, KeyEvent, Metrics};
use crate::otk::{self, KeyProblem};
use crate::recent::Recent;
use crate::sessions::LiveSessions;
use crate::store::{LockKey, Store, StoreError};

/// What admission needs: the rules in force (replaced whole by a reload) and what outlives
/// them.
#[derive(Debug)]
pub struct Gate {
    rules: ArcSwap<Rules>,
    /// One-time keys and the lockout (per client address, and per verified client
    /// certificate): this instance's, or the fleet's.
    pub store: Store,
    pub metrics: Arc<Metrics>,
    /// The sessions this instance relays.
    pub sessions: Arc<LiveSessions>,
    /// The latest refusals and lockouts, for the operator's page.
    pub recent: Recent,
}

/// The configuration and what is opened from it: what a reload replaces at once. Each
/// connection takes the rules in force when it needs them ([`Gate::rules`]).
#[derive(Debug)]
pub struct Rules {
    pub config: Config,
    /// 0 at start, one more with each reload: a session admitted under older rules is judged
    /// again when it registers ([`Gate::register_session`]).
    pub generation: u64,
    /// Where session lines go (a reload opens the file again: log rotation).
    pub audit: Audit,
    pub admin_token: Option<AdminToken>,
    /// The gateway's own logins to targets.
    pub logins: Logins,
}

/// A file named by the configuration could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot open the audit log {}: {source}", path.display())]
    Audit {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    AdminToken(#[from] crate::auth::admin::AdminTokenError),
    #[error(transparent)]
    Logins(#[from] crate::backend::LoginConfigError),
}

impl Rules {
    /// Opens the audit log, reads the admin token and the targets' credentials of `config`.
    pub fn open(config: Config) -> Result<Self, RulesError> {
        let audit = match &config.audit_log {
            Some(p) => Audit::to_file(p).map_err(|source| RulesError::Audit {
                path: p.clone(),
                source,
            })?,
            None => Audit::to_log(),
        };
        let admin_token = match &config.access.admin_token_file {
            Some(p) => Some(AdminToken::from_file(p)?),
            None => None,
        };
        let logins = Logins::load(&config)?;
        Ok(Self {
            config,
            generation: 0,
            audit,
            admin_token,
            logins,
        })
    }
}

/// The lockout policy of `config`'s limits.
pub fn lockout_policy(config: &Config) -> LockoutPolicy {
    let l = &config.limits;
    LockoutPolicy {
        failures: l.lockout_failures,
        block: l.lockout_block,
        max_block: l.lockout_max_block,
        ..LockoutPolicy::default()
    }
}

impl Gate {
    pub fn new(
        rules: Rules,
        store: Store,
        metrics: Arc<Metrics>,
        sessions: Arc<LiveSessions>,
    ) -> Self {
        Self {
            rules: ArcSwap::from_pointee(rules),
            store,
            metrics,
            sessions,
            recent: Recent::default(),
        }
    }

    /// The rules in force now.
    pub fn rules(&self) -> Arc<Rules> {
        self.rules.load_full()
    }

    /// Puts `rules` in force for everything asked from now on; returns the ones replaced.
    pub fn replace_rules(&self, rules: Arc<Rules>) -> Arc<Rules> {
        self.rules.swap(rules)
    }

    /// Lists a session about to relay. One admitted under rules a reload has replaced since
    /// (its admission and the dial took a while) is judged again now, and ended at once if
    /// the new rules no longer admit it: the reload's own recheck may not have seen it yet.
    pub fn register_session(
        &self,
        route: &super::Route,
        client: SocketAddr,
        via: Via,
    ) -> crate::sessions::Registration {
        let live = self.sessions.register(route, client, via);
        let rules = self.rules();
        if rules.generation != route.generation {
            let c = &rules.config;
            if let Some(why) = super::recheck(c.auth, &c.access, &c.targets, route, client, via) {
                self.sessions.revoke(live.id(), why);
            }
        }
        live
    }

    /// How long `client`'s address is still blocked, if it is. A store that cannot answer
    /// blocks nobody here (the callers' own checks still need the store).
    pub async fn blocked(&self, client: SocketAddr) -> Option<Duration> {
        let key = LockKey::Address(address_key(client.ip()));
        self.store.blocked(&key).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the lockout could not be read");
            None
        })
    }

    /// What a request is judged by: a verified client certificate (only a configured client
    /// CA verifies one), else the client's address.
    fn lock_key(&self, client: SocketAddr, identity: &PeerIdentity) -> LockKey {
        match (&self.rules().config.access.client_ca, &identity.client_cert) {
            (Some(_), Some(c)) => LockKey::Credential(format!("sha256:{}", c.fingerprint)),
            _ => LockKey::Address(address_key(client.ip())),
        }
    }

    /// How long a request from `client` with `identity` is still blocked, if it is.
    pub async fn blocked_for(
        &self,
        client: SocketAddr,
        identity: &PeerIdentity,
    ) -> Result<Option<Duration>, StoreError> {
        self.store.blocked(&self.lock_key(client, identity)).await
    }

    /// A failed authentication from `client`'s address.
    pub async fn failure(&self, client: SocketAddr, what: AuthFailure) {
        self.failure_for(client, &PeerIdentity::default(), what)
            .await;
    }

    /// A failed authentication by `client` with `identity`: counted against the certificate
    /// when it has a verified one, else against the address.
    pub async fn failure_for(
        &self,
        client: SocketAddr,
        identity: &PeerIdentity,
        what: AuthFailure,
    ) {
        self.metrics.auth_failures.inc(what);
        let key = self.lock_key(client, identity);
        match self.store.failure(&key).await {
            Ok(Some(block)) => {
                let (who, blocked) = match &key {
                    LockKey::Credential(c) => {
                        tracing::warn!(
                            credential = %c,
                            block_s = block.as_secs(),
                            "too many failed authentications: client certificate blocked"
                        );
                        (format!("certificate {c}"), "client certificate")
                    }
                    LockKey::Address(_) => {
                        tracing::warn!(
                            address = %client.ip(),
                            block_s = block.as_secs(),
                            "too many failed authentications: address blocked"
                        );
                        (format!("address {}", client.ip()), "address")
                    }
                };
                self.recent.locked_out(
                    client.ip(),
                    &who,
                    &format!(
                        "too many failed authentications (the last with {}): {blocked} blocked for {} s",
                        match what {
                            AuthFailure::OneTimeKey => "a one-time key",
                            AuthFailure::ClientCertificate => "a client certificate",
                            AuthFailure::AdminToken => "the admin token",
                        },
                        block.as_secs()
                    ),
                );
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "a failed authentication was not counted"),
        }
    }

    async fn success_for(&self, client: SocketAddr, identity: &PeerIdentity) {
        if let Err(e) = self.store.success(&self.lock_key(client, identity)).await {
            tracing::warn!(error = %e, "the lockout was not cleared after a success");
        }
    }

    /// A client certificate refused in the TLS handshake.
    pub async fn certificate_refused(&self, client: SocketAddr, why: CertRefusal) {
        self.metrics.client_certs_refused.inc(match why {
            CertRefusal::Missing => CertRefused::Missing,
            CertRefusal::Revoked => CertRefused::Revoked,
            CertRefusal::Expired => CertRefused::Expired,
            CertRefusal::NotYetValid => CertRefused::NotYetValid,
            CertRefusal::UnknownCa => CertRefused::UnknownCa,
            CertRefusal::UnknownRevocationStatus => CertRefused::UnknownRevocationStatus,
            CertRefusal::CrlExpired => CertRefused::CrlExpired,
            CertRefusal::Invalid => CertRefused::Invalid,
        });
        tracing::warn!(reason = why.describe(), "client certificate refused");
        self.recent.refused(
            client.ip(),
            None,
            "a client certificate",
            &format!("refused in the TLS handshake: {}", why.describe()),
        );
        // No certificate at all, or a stale CRL, is not a wrong credential: do not lock people
        // out for it.
        if !matches!(why, CertRefusal::Missing | CertRefusal::CrlExpired) {
            self.failure(client, AuthFailure::ClientCertificate).await;
        }
    }

    /// Decides whether `client` may reach `target`, redeeming its one-time key if it gave one.
    ///
    /// Boxed: a connection's task is one future as large as its largest state, and the
    /// store's calls (Redis futures) would otherwise size every idle relay's task.
    pub async fn admit(
        &self,
        client: SocketAddr,
        via: Via,
        target: &str,
        identity: &PeerIdentity,
        key: Option<OneTimeKey>,
    ) -> Admission {
        Box::pin(self.admit_now(client, via, target, identity, key)).await
    }

    async fn admit_now(
        &self,
        client: SocketAddr,
        via: Via,
        target: &str,
        identity: &PeerIdentity,
        key: Option<OneTimeKey>,
    ) -> Admission {
        let rules = self.rules();
        let cfg = &rules.config;
        let ask = |key: &KeyCheck| {
            decide(
                cfg.auth,
                &cfg.access,
                &cfg.targets,
                &AdmissionRequest {
                    client,
                    via,
                    target,
                    identity,
                    key,
                },
            )
        };
        if cfg.auth == AuthMode::DangerNone {
            tracing::warn!(%client, target = ?target, "--danger-no-auth: relaying without authentication");
            return ask(&KeyCheck::NotPresented);
        }
        let who = || super::Principal {
            subject: identity.client_cert.as_ref().map(|c| c.subject.clone()),
            key_id: None,
        };
        match self.blocked_for(client, identity).await {
            Ok(None) => {}
            Ok(Some(left)) => {
                return Admission::Refuse {
                    refusal: Refusal::LockedOut {
                        retry_after_secs: left.as_secs().max(1),
                    },
                    who: who(),
                }
            }
            // Without the lockout a key could be guessed without limit: fail closed. A
            // verified certificate has nothing to guess and goes on.
            Err(e) if key.is_some() => {
                tracing::warn!(error = %e, "the lockout could not be read; the one-time key is not checked");
                self.metrics.one_time_keys.inc(KeyEvent::Refused);
                return Admission::Refuse {
                    refusal: Refusal::Key(KeyProblem::StoreUnavailable),
                    who: who(),
                };
            }
            Err(e) => tracing::warn!(error = %e, "the lockout could not be read"),
        }
        let check = match key {
            None => KeyCheck::NotPresented,
            Some(key) => {
                let redeemed = self
                    .store
                    .redeem(
                        &key,
                        target,
                        identity.client_cert.as_ref(),
                        cfg.access.acl.as_ref(),
                        otk::unix_now(),
                    )
                    .await;
                match redeemed {
                    Ok(grant) => {
                        self.metrics.one_time_keys.inc(KeyEvent::Used);
                        KeyCheck::Valid(grant)
                    }
                    Err((problem, key_id)) => {
                        self.metrics.one_time_keys.inc(KeyEvent::Refused);
                        KeyCheck::Refused { problem, key_id }
                    }
                }
            }
        };
        let mut decision = ask(&check);
        if let Admission::Allow(route) = &mut decision {
            route.generation = rules.generation;
        }
        match &decision {
            Admission::Refuse { refusal, .. } if refusal.is_failed_authentication() => {
                self.failure_for(client, identity, AuthFailure::OneTimeKey)
                    .await;
            }
            Admission::Allow(_) => self.success_for(client, identity).await,
            Admission::Refuse { .. } => {}
        }
        decision
    }

    /// The lockout's figures, for `/metrics`.
    pub fn render_metrics(&self, out: &mut String) {
        self.store.render_lockout_metrics(out);
    }
}
