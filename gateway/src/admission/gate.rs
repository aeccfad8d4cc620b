//! The stateful shell around [`super::decide`]: the lockout is asked first, a presented
//! one-time key is redeemed in the store (on the blocking pool), the pure decision is taken,
//! and failures and successes are counted — in metrics and towards the address's lockout.
//! Refused client certificates (seen in the TLS handshake) are counted here too.

use std::net::SocketAddr;
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
use crate::metrics::{AuthFailure, CertRefused, KeyEvent, Metrics};
use crate::otk::{self, OtkStore};

/// What admission needs besides the configuration.
#[derive(Debug)]
pub struct Gate {
    pub config: Config,
    pub otk: Arc<dyn OtkStore>,
    pub lockout: Lockout,
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
        let lockout = Lockout::new(LockoutPolicy {
            failures: l.lockout_failures,
            block: l.lockout_block,
            max_block: l.lockout_max_block,
        });
        Self {
            config,
            otk,
            lockout,
            audit,
            admin_token,
            logins,
            metrics,
        }
    }

    /// How long `client` is still blocked, if it is.
    pub fn blocked(&self, client: SocketAddr) -> Option<Duration> {
        self.lockout
            .blocked(client.ip(), tokio::time::Instant::now())
    }

    /// A failed authentication from `client`.
    pub fn failure(&self, client: SocketAddr, what: AuthFailure) {
        self.metrics.auth_failures.inc(what);
        if let Some(block) = self
            .lockout
            .failure(client.ip(), tokio::time::Instant::now())
        {
            tracing::warn!(
                address = %client.ip(),
                block_s = block.as_secs(),
                "too many failed authentications: address blocked"
            );
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
            CertRefusal::Invalid => CertRefused::Invalid,
        });
        tracing::warn!(reason = why.describe(), "client certificate refused");
        // No certificate at all is not a wrong credential: do not lock people out for it.
        if why != CertRefusal::Missing {
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
            tracing::warn!(%client, %target, "--danger-no-auth: relaying without authentication");
            return ask(&KeyCheck::NotPresented);
        }
        if cfg.targets.get(target).is_none() {
            return ask(&KeyCheck::NotPresented);
        }
        if let Some(left) = self.blocked(client) {
            return Admission::Refuse(Refusal::LockedOut {
                retry_after_secs: left.as_secs().max(1),
            });
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
                    otk::redeem(
                        store.as_ref(),
                        &key,
                        &target,
                        cert.as_ref(),
                        acl.as_ref(),
                        otk::unix_now(),
                    )
                })
                .await
                .unwrap_or(Err(otk::KeyProblem::StoreUnavailable));
                match redeemed {
                    Ok(grant) => {
                        self.metrics.one_time_keys.inc(KeyEvent::Used);
                        KeyCheck::Valid(grant)
                    }
                    Err(p) => {
                        self.metrics.one_time_keys.inc(KeyEvent::Refused);
                        KeyCheck::Refused(p)
                    }
                }
            }
        };
        let decision = ask(&check);
        match &decision {
            Admission::Refuse(r) if r.is_failed_authentication() => {
                self.failure(client, AuthFailure::OneTimeKey);
            }
            Admission::Allow(_) => self.lockout.success(client.ip()),
            Admission::Refuse(_) => {}
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
    }
}
