//! The renewal loop: publishes the stored certificate at start, obtains one when there is none
//! (the self-signed certificate serves meanwhile), renews at two thirds of the lifetime (or
//! `--acme-renew-before`) minus a random jitter, and after a failure retries with a doubling
//! interval. New certificates go out on a `watch` channel; [`install`] puts them into the
//! gateway's [`CertStore`], so new handshakes get them and open sessions keep theirs.
//!
//! Waiting uses `tokio::time`; certificate validity is compared with the wall clock.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::sign::CertifiedKey;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::config::{AcmeConfig, Timing};
use super::error::AcmeError;
use super::order::obtain;
use super::status::{Attempt, CertificateStatus, Status};
use super::store::{AcmeStore, StoredCertificate};
use super::tls_alpn::AcmeResolver;
use super::unix_now;
use crate::tls::CertStore;

/// The running renewal loop. Dropping it stops the loop.
#[derive(Debug)]
pub struct AcmeHandle {
    certificates: watch::Receiver<Option<Arc<CertifiedKey>>>,
    task: JoinHandle<()>,
}

impl AcmeHandle {
    /// The current ACME certificate (`None` until the first one exists) and its successors.
    pub fn certificates(&self) -> watch::Receiver<Option<Arc<CertifiedKey>>> {
        self.certificates.clone()
    }
}

impl Drop for AcmeHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the renewal loop (inside a tokio runtime). The stored certificate, if usable, is on
/// the channel when this returns. `resolver` is needed for tls-alpn-01.
pub fn spawn(
    config: AcmeConfig,
    state_dir: &Path,
    resolver: Option<Arc<AcmeResolver>>,
) -> AcmeHandle {
    let store = AcmeStore::new(state_dir);
    let mut status = store.load_status();
    let current = match store.load_certificate() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("the stored ACME certificate cannot be used: {e}");
            None
        }
    };
    let issued_by = status
        .certificate
        .as_ref()
        .map(|c| c.directory.clone())
        .unwrap_or_else(|| config.directory.clone());
    status.domains = config.domains.iter().map(|d| d.to_string()).collect();
    status.directory = config.directory.clone();
    status.challenge = config.challenge.name().to_owned();
    status.certificate = current
        .as_ref()
        .map(|c| CertificateStatus::of(c, &issued_by));
    match &current {
        Some(c) => tracing::info!(
            path = %store.cert_path().display(),
            not_after = %certs::inspect::format_utc(c.info.not_after),
            "serving the stored ACME certificate"
        ),
        None => tracing::info!(
            domains = %status.domains.join(", "),
            "no ACME certificate yet: the self-signed certificate is served until the first one is issued"
        ),
    }
    let (tx, rx) = watch::channel(current.as_ref().map(|c| c.key.clone()));
    let renewer = Renewer {
        config,
        store,
        resolver,
        tx,
        status,
    };
    AcmeHandle {
        certificates: rx,
        task: tokio::spawn(renewer.run(current)),
    }
}

/// Puts every certificate from `handle` into `store` (the current one now), until the loop ends.
pub fn install(handle: &AcmeHandle, store: Arc<CertStore>) -> JoinHandle<()> {
    let mut rx = handle.certificates();
    if let Some(key) = rx.borrow_and_update().clone() {
        store.replace((*key).clone());
    }
    tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            if let Some(key) = rx.borrow_and_update().clone() {
                store.replace((*key).clone());
                tracing::info!(fingerprint = ?store.fingerprint().map(|f| f.to_string()), "now serving the new ACME certificate");
            }
        }
    })
}

struct Renewer {
    config: AcmeConfig,
    store: AcmeStore,
    resolver: Option<Arc<AcmeResolver>>,
    tx: watch::Sender<Option<Arc<CertifiedKey>>>,
    status: Status,
}

impl Renewer {
    async fn run(mut self, mut current: Option<StoredCertificate>) {
        let mut failures: u32 = 0;
        let mut last_error: Option<AcmeError> = None;
        let mut last_success: Option<tokio::time::Instant> = None;
        loop {
            let delay = match &last_error {
                Some(e) => retry_delay(&self.config.timing, failures, e.is_rate_limit()),
                None => {
                    let due = self.due_in(current.as_ref());
                    let floor = last_success
                        .map(|t| {
                            self.config
                                .timing
                                .min_renewal_interval
                                .saturating_sub(t.elapsed())
                        })
                        .unwrap_or_default();
                    due.max(floor)
                }
            };
            self.status.consecutive_failures = failures;
            self.status.next_attempt = Some(unix_now().saturating_add(secs(delay)));
            self.save_status();
            if !delay.is_zero() {
                tracing::info!(in_secs = delay.as_secs(), "next ACME attempt scheduled");
                tokio::time::sleep(delay).await;
            }
            let started = unix_now();
            let result = obtain(&self.config, &self.store, self.resolver.as_deref()).await;
            let finished = unix_now();
            match result {
                Ok(issued) => {
                    self.tx.send_replace(Some(issued.key.clone()));
                    self.status.certificate =
                        Some(CertificateStatus::of(&issued, &self.config.directory));
                    self.status.last_attempt = Some(Attempt {
                        started,
                        finished,
                        error: None,
                    });
                    current = Some(issued);
                    failures = 0;
                    last_error = None;
                    last_success = Some(tokio::time::Instant::now());
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let serving = if current.is_some() {
                        "the current ACME certificate stays in service"
                    } else {
                        "the self-signed certificate stays in service"
                    };
                    tracing::error!(
                        attempt = failures,
                        "ACME certificate not obtained: {e}; {serving}"
                    );
                    self.status.last_attempt = Some(Attempt {
                        started,
                        finished,
                        error: Some(e.to_string()),
                    });
                    last_error = Some(e);
                }
            }
        }
    }

    /// How long until `current` should be renewed: now if there is none, or if it was issued
    /// by another CA or lacks a configured name.
    fn due_in(&self, current: Option<&StoredCertificate>) -> Duration {
        let Some(cert) = current else {
            return Duration::ZERO;
        };
        let issued_by = self
            .status
            .certificate
            .as_ref()
            .map(|c| c.directory.as_str());
        if issued_by.is_some_and(|d| d != self.config.directory) {
            tracing::info!(
                "the stored certificate is from another CA directory: obtaining a new one"
            );
            return Duration::ZERO;
        }
        let missing: Vec<&str> = self
            .config
            .domains
            .iter()
            .map(|d| d.as_str())
            .filter(|d| {
                !cert
                    .info
                    .sans
                    .iter()
                    .any(|s| s.strip_prefix("DNS:") == Some(*d))
            })
            .collect();
        if !missing.is_empty() {
            tracing::info!(
                ?missing,
                "the stored certificate lacks configured names: obtaining a new one"
            );
            return Duration::ZERO;
        }
        let renew_at = renewal_time(
            cert.info.not_before,
            cert.info.not_after,
            self.config.renew_before,
            random_fraction(),
        );
        Duration::from_secs(u64::try_from(renew_at.saturating_sub(unix_now())).unwrap_or(0))
    }

    fn save_status(&self) {
        if let Err(e) = self.store.save_status(&self.status) {
            tracing::warn!("{e}");
        }
    }
}

/// When (Unix seconds) to renew a certificate valid from `not_before` to `not_after`: when
/// `renew_before` is left, by default a third of the lifetime, moved earlier by `jitter` (0..1)
/// times a twentieth of the lifetime (at most a day), so many gateways do not renew at once.
pub fn renewal_time(
    not_before: i64,
    not_after: i64,
    renew_before: Option<Duration>,
    jitter: f64,
) -> i64 {
    let lifetime = not_after.saturating_sub(not_before).max(0);
    let before = renew_before.map_or(lifetime / 3, secs);
    let spread = (lifetime / 20).min(86_400);
    // Truncation is intended: jitter is whole seconds.
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let jitter_secs = (spread as f64 * jitter.clamp(0.0, 1.0)) as i64;
    not_after.saturating_sub(before).saturating_sub(jitter_secs)
}

/// The wait after `failures` failed attempts in a row: doubling from `retry_initial` up to
/// `retry_max`; a rate limit waits at least an hour (still capped by `retry_max`).
pub fn retry_delay(t: &Timing, failures: u32, rate_limited: bool) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    let delay = t.retry_initial.saturating_mul(1u32 << exp);
    let delay = if rate_limited {
        delay.max(Duration::from_secs(3600))
    } else {
        delay
    };
    delay.min(t.retry_max)
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// A number in 0..1 from the system's random source (0 if there is none).
fn random_fraction() -> f64 {
    let mut bytes = [0u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.0;
    }
    f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX)
}

#[cfg(test)]
mod tests;
