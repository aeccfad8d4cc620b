//! The stateful shell around [`super::decide`]: the lockout is asked first, a presented
//! one-time key is redeemed in the store (on the blocking pool), the pure decision is taken,
//! and failures and successes are counted — in metrics and towards a lockout.
//! Refused client certificates (seen in the TLS handshake) are counted here too.
//!
//! Two lockouts: per address (IPv6 per /64) and per credential. A client with a verified
//! client certificate is judged by its certificate's entry alone, so an attacker behind the
//! same address (a NAT, a proxy) cannot lock certificate holders out; everyone else is judged
//! by the address.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use certs::session_file::OneTimeKey;

use super::{decide, Admission, AdmissionRequest, KeyCheck, PeerIdentity, Refusal, Via};
use crate::audit::Audit;
use crate::auth::admin::AdminToken;
use crate::auth::client_ca::CertRefusal;
use crate::auth::lockout::{Lockout, LockoutPolicy};
use crate::backend::Logins;
use crate::config::{AuthMode, Config};
use crate::conn_limit::address_key;
use crate::metrics::{AuthFailure, CertRefused, KeyEvent, Metrics};
use crate::otk::{self, KeyHash, KeyProblem, OtkStore};

/// What admission needs besides the configuration.
#[derive(Debug)]
pub struct Gate {
    pub config: Config,
    pub otk: Arc<dyn OtkStore>,
    /// Failures per client address.
    pub lockout: Lockout<IpAddr>,
    /// Failures per verified client certificate (`sha256:FINGERPRINT`).
    pub credential_lockout: Lockout<String>,
    pub audit: Audit,
    pub admin_token: Option<AdminToken>,
    /// The gateway's own logins to targets.
    pub logins: Logins,
    pub metrics: Arc<Metrics>,
}

impl Gate {
    pub fn new(
        config: Config,
        otk: Arc<dyn OtkStore>,
        audit: Audit,
        admin_token: Option<AdminToken>,
        logins: Logins,
        metrics: Arc<Metrics>,
    ) -> Self {
        let l = &config.limits;
        let policy = LockoutPolicy {
            failures: l.lockout_failures,
            block: l.lockout_block,
            max_block: l.lockout_max_block,
            ..LockoutPolicy::default()
        };
        Self {
            config,
            otk,
            lockout: Lockout::new(policy),
            credential_lockout: Lockout::new(policy),
            audit,
            admin_token,
            logins,
            metrics,
        }
    }

    /// How long `client`'s address is still blocked, if it is.
    pub fn blocked(&self, client: SocketAddr) -> Option<Duration> {
        self.lockout
            .blocked(&address_key(client.ip()), tokio::time::Instant::now())
    }

    /// The credential a request is judged by instead of its address: a verified client
    /// certificate (only a configured client CA verifies one).
    fn credential(&self, identity: &PeerIdentity) -> Option<String> {
        self.config.access.client_ca.as_ref()?;
        identity
            .client_cert
            .as_ref()
            .map(|c| format!("sha256:{}", c.fingerprint))
    }

    /// How long a request from `client` with `identity` is still blocked, if it is.
    pub fn blocked_for(&self, client: SocketAddr, identity: &PeerIdentity) -> Option<Duration> {
        let now = tokio::time::Instant::now();
        match self.credential(identity) {
            Some(c) => self.credential_lockout.blocked(&c, now),
            None => self.lockout.blocked(&address_key(client.ip()), now),
        }
    }

    /// A failed authentication from `client`'s address.
    pub fn failure(&self, client: SocketAddr, what: AuthFailure) {
        self.failure_for(client, &PeerIdentity::default(), what);
    }

    /// A failed authentication by `client` with `identity`: counted against the certificate
    /// when it has a verified one, else against the address.
    pub fn failure_for(&self, client: SocketAddr, identity: &PeerIdentity, what: AuthFailure) {
        self.metrics.auth_failures.inc(what);
        let now = tokio::time::Instant::now();
        match self.credential(identity) {
            Some(c) => {
                if let Some(block) = self.credential_lockout.failure(&c, now) {
                    tracing::warn!(
                        credential = %c,
                        block_s = block.as_secs(),
                        "too many failed authentications: client certificate blocked"
                    );
                }
            }
            None => {
                if let Some(block) = self.lockout.failure(&address_key(client.ip()), now) {
                    tracing::warn!(
                        address = %client.ip(),
                        block_s = block.as_secs(),
                        "too many failed authentications: address blocked"
                    );
                }
            }
        }
    }

    fn success_for(&self, client: SocketAddr, identity: &PeerIdentity) {
        match self.credential(identity) {
            Some(c) => self.credential_lockout.success(&c),
            None => self.lockout.success(&address_key(client.ip())),
        }
    }

    /// A client certificate refused in the TLS handshake.
    pub fn certificate_refused(&self, client: SocketAddr, why: CertRefusal) {
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
            self.failure(client, AuthFailure::ClientCertificate);
        }
    }

    /// Decides whether `client` may reach `target`, redeeming its one-time key if it gave one.
    pub async fn admit(
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
        if let Some(left) = self.blocked_for(client, identity) {
            return Admission::Refuse {
                refusal: Refusal::LockedOut {
                    retry_after_secs: left.as_secs().max(1),
                },
                who: super::Principal {
                    subject: identity.client_cert.as_ref().map(|c| c.subject.clone()),
                    key_id: None,
                },
            };
        }
        let check = match key {
            None => KeyCheck::NotPresented,
            Some(key) => {
                let (store, target, cert, acl) = (
                    self.otk.clone(),
                    target.to_owned(),
                    identity.client_cert.clone(),
                    cfg.access.acl.clone(),
                );
                let redeemed = tokio::task::spawn_blocking(move || {
                    let outcome = otk::redeem(
                        store.as_ref(),
                        &key,
                        &target,
                        cert.as_ref(),
                        acl.as_ref(),
                        otk::unix_now(),
                    );
                    // A refused key the store knows is named in the audit line by its id.
                    outcome.map_err(|problem| {
                        let key_id = match problem {
                            KeyProblem::Unknown | KeyProblem::StoreUnavailable => None,
                            _ => store.find(&KeyHash::of(&key)).ok().flatten().map(|r| r.id),
                        };
                        (problem, key_id)
                    })
                })
                .await
                .unwrap_or(Err((KeyProblem::StoreUnavailable, None)));
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
                self.failure_for(client, identity, AuthFailure::OneTimeKey);
            }
            Admission::Allow(_) => self.success_for(client, identity),
            Admission::Refuse { .. } => {}
        }
        decision
    }

    /// Addresses blocked now and blocks imposed since start, for `/metrics`.
    pub fn render_metrics(&self, out: &mut String) {
        let now = tokio::time::Instant::now();
        crate::metrics::scalar(
            out,
            "vncgate_lockout_blocked_addresses",
            "gauge",
            "Client addresses blocked now after repeated failed authentications.",
            self.lockout.blocked_count(now),
        );
        crate::metrics::scalar(
            out,
            "vncgate_lockout_blocks_total",
            "counter",
            "Blocks imposed on client addresses after repeated failed authentications.",
            self.lockout.blocks_total.load(Ordering::Relaxed),
        );
        crate::metrics::scalar(
            out,
            "vncgate_lockout_blocked_certificates",
            "gauge",
            "Client certificates blocked now after repeated failed authentications.",
            self.credential_lockout.blocked_count(now),
        );
        crate::metrics::scalar(
            out,
            "vncgate_lockout_evictions_total",
            "counter",
            "Lockout entries forgotten to make room for new ones (the table is full).",
            self.lockout.evictions_total.load(Ordering::Relaxed)
                + self
                    .credential_lockout
                    .evictions_total
                    .load(Ordering::Relaxed),
        );
    }
}
