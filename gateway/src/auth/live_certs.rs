//! Connections that a client certificate authenticated, while they last. Each registers its
//! chain; when the CRLs are reloaded (and every [`RECHECK_INTERVAL`], for expiry) every chain
//! is verified again with the verifier in force, and each connection whose certificate no
//! longer passes is told to end — a revocation reaches open sessions and keep-alive HTTP
//! connections, not only new handshakes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::{CertificateDer, UnixTime};
use tokio::sync::watch;

use super::client_ca::CertRefusal;

/// How often live certificates are verified again even when no CRL changed (expiry).
pub const RECHECK_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Entry {
    end_entity: CertificateDer<'static>,
    intermediates: Vec<CertificateDer<'static>>,
    subject: String,
    end: watch::Sender<Option<CertRefusal>>,
}

/// The live connections of certificate holders.
#[derive(Debug, Default)]
pub struct LiveCerts {
    next_id: AtomicU64,
    live: Mutex<HashMap<u64, Entry>>,
}

/// One connection's place in [`LiveCerts`]; dropping it leaves.
#[derive(Debug)]
pub struct Registration {
    id: u64,
    owner: Arc<LiveCerts>,
    end: CertWatch,
}

impl Registration {
    /// A handle that learns when this connection's certificate no longer passes.
    pub fn watch(&self) -> CertWatch {
        self.end.clone()
    }
}

/// Learns when a connection's certificate no longer passes.
#[derive(Debug, Clone)]
pub struct CertWatch(watch::Receiver<Option<CertRefusal>>);

impl CertWatch {
    /// Resolves when the certificate no longer passes, with why; never otherwise.
    pub async fn ended(&mut self) -> CertRefusal {
        loop {
            if let Some(why) = *self.0.borrow_and_update() {
                return why;
            }
            if self.0.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// [`Self::ended`] of an optional watch: never, without one.
    pub async fn ended_opt(w: &mut Option<Self>) -> CertRefusal {
        match w {
            Some(w) => w.ended().await,
            None => std::future::pending().await,
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.owner.lock().remove(&self.id);
    }
}

/// A connection ended by a re-check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub subject: String,
    pub why: CertRefusal,
}

impl LiveCerts {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a connection authenticated by `chain` (leaf first).
    pub fn register(
        self: &Arc<Self>,
        chain: &[CertificateDer<'_>],
        subject: &str,
    ) -> Option<Registration> {
        let (leaf, rest) = chain.split_first()?;
        let (end, rx) = watch::channel(None);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(
            id,
            Entry {
                end_entity: leaf.clone().into_owned(),
                intermediates: rest.iter().map(|c| c.clone().into_owned()).collect(),
                subject: subject.to_owned(),
                end,
            },
        );
        Some(Registration {
            id,
            owner: self.clone(),
            end: CertWatch(rx),
        })
    }

    /// Connections registered now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Verifies every live chain again with `verifier` at `now`; ends (and returns) those
    /// that fail. Entries stay until their connection drops its registration.
    pub fn recheck(&self, verifier: &dyn ClientCertVerifier, now: UnixTime) -> Vec<Ended> {
        let live = self.lock();
        let mut ended = Vec::new();
        for e in live.values() {
            if e.end.borrow().is_some() {
                continue;
            }
            if let Err(err) = verifier.verify_client_cert(&e.end_entity, &e.intermediates, now) {
                let why = CertRefusal::of(&err).unwrap_or(CertRefusal::Invalid);
                e.end.send_replace(Some(why));
                ended.push(Ended {
                    subject: e.subject.clone(),
                    why,
                });
            }
        }
        ended
    }
}
