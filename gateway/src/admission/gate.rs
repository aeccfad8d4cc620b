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
use crate::sessions::LiveSessions;
use crate::store::{LockKey, Store, StoreError};

/// What admission needs besides the configuration.
#[derive(Debug)]
pub struct Gate {
    pub config: Config,
    /// One-time keys and the lockout (per client address, and per verified client
    /// certificate): this instance's, or the fleet's.
    pub store: Store,
    pub audit: Audit,
    pub admin_token: Option<AdminToken>,
    /// The gateway's own logins to targets.
    pub logins: Logins,
    pub metrics: Arc<Metrics>,
    /// The sessions this instance relays.
    pub sessions: Arc<LiveSessions>,
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
        match (&self.config.access.client_ca, &identity.client_cert) {
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
            Ok(Some(block)) => match &key {
                LockKey::Credential(c) => tracing::warn!(
                    credential = %c,
                    block_s = block.as_secs(),
                    "too many failed authentications: client certificate blocked"
                ),
                LockKey::Address(_) => tracing::warn!(
                    address = %client.ip(),
                    block_s = block.as_secs(),
                    "too many failed authentications: address blocked"
                ),
            },
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
        let cfg = &self.config;
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
        let decision = ask(&check);
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
