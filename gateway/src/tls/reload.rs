//! Swapping the served certificate without a restart: [`CertStore`] is the rustls resolver
//! (each new handshake takes the current certificate; open sessions keep theirs), and
//! [`Reloader`] re-reads the files when their modification time, size or inode changes, or
//! when asked (SIGHUP). A file that cannot be used leaves the old certificate serving.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use certs::Fingerprint;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::sync::mpsc;

use super::{fingerprint_of, CertFiles, TlsError};

/// The certificate served to new handshakes.
pub struct CertStore {
    current: ArcSwap<CertifiedKey>,
}

impl std::fmt::Debug for CertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertStore")
            .field("fingerprint", &self.fingerprint().map(|fp| fp.to_string()))
            .finish()
    }
}

impl CertStore {
    pub fn new(key: CertifiedKey) -> Self {
        Self {
            current: ArcSwap::from_pointee(key),
        }
    }

    pub fn replace(&self, key: CertifiedKey) {
        self.current.store(Arc::new(key));
    }

    pub fn fingerprint(&self) -> Option<Fingerprint> {
        fingerprint_of(&self.current.load())
    }

    /// The served certificate (the chain's first), read for people.
    pub fn info(&self) -> Option<certs::inspect::CertInfo> {
        let key = self.current.load();
        let der = key.cert.first()?;
        certs::inspect::CertInfo::parse("the served certificate", der).ok()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// What identifies a version of a file without reading it.
type Stamp = Option<(SystemTime, u64, u64)>;

fn stamp(path: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len(), m.ino()))
}

/// What one check did.
#[derive(Debug)]
pub enum Outcome {
    Unchanged,
    Reloaded {
        fingerprint: Option<Fingerprint>,
    },
    /// The new files could not be used; the old certificate is still served.
    Kept(TlsError),
}

/// Watches the certificate files and swaps the store's certificate when they change.
#[derive(Debug)]
pub struct Reloader {
    files: CertFiles,
    store: Arc<CertStore>,
    seen: [Stamp; 3],
}

impl Reloader {
    /// `store` must already hold the certificate from `files`.
    pub fn new(files: CertFiles, store: Arc<CertStore>) -> Self {
        let seen = Self::stamps(&files);
        Self { files, store, seen }
    }

    fn stamps(files: &CertFiles) -> [Stamp; 3] {
        [
            stamp(&files.cert),
            stamp(&files.key),
            files.key_passphrase_file.as_deref().and_then(stamp),
        ]
    }

    /// Re-reads the files if they changed since the last check, or if `force`. A failed load
    /// is not retried until the files change again (so it is logged once).
    pub fn check(&mut self, force: bool) -> Outcome {
        let now = Self::stamps(&self.files);
        if !force && now == self.seen {
            return Outcome::Unchanged;
        }
        self.seen = now;
        match self.files.load_certified() {
            Ok((_, key)) => {
                let fingerprint = fingerprint_of(&key);
                self.store.replace(key);
                Outcome::Reloaded { fingerprint }
            }
            Err(e) => Outcome::Kept(e),
        }
    }

    /// Checks every `interval` and whenever `trigger` fires, logging each change, until
    /// `trigger`'s senders are all gone. Decrypting a key can take a while, so the work runs
    /// on the blocking pool.
    pub async fn run(mut self, interval: Duration, mut trigger: mpsc::Receiver<()>) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            let force = tokio::select! {
                _ = tick.tick() => false,
                t = trigger.recv() => match t {
                    Some(()) => true,
                    None => return,
                },
            };
            let handle = tokio::task::spawn_blocking(move || {
                let outcome = self.check(force);
                (self, outcome)
            });
            let outcome;
            (self, outcome) = match handle.await {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "certificate reload task failed");
                    return;
                }
            };
            let cert = self.files.cert.display().to_string();
            match outcome {
                Outcome::Unchanged => {}
                Outcome::Reloaded { fingerprint } => tracing::info!(
                    %cert,
                    fingerprint = %fingerprint.map(|f| f.to_string()).unwrap_or_default(),
                    reason = if force { "SIGHUP" } else { "files changed" },
                    "certificate reloaded; new connections get the new certificate"
                ),
                Outcome::Kept(e) => tracing::warn!(
                    %cert,
                    error = %e,
                    "certificate NOT reloaded; still serving the previous one"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> String {
        let issued =
            certs::generate::self_signed_server(name, &["localhost".into()], 2).expect("generate");
        // Written aside and renamed into place, as deployment tools do (a new inode).
        for (file, data) in [("c.pem", &issued.cert_pem), ("k.pem", &issued.key_pem)] {
            std::fs::write(dir.join("tmp"), data).expect("write");
            std::fs::rename(dir.join("tmp"), dir.join(file)).expect("rename");
        }
        Fingerprint::of_der(&issued.cert_der).to_string()
    }

    #[test]
    fn swaps_on_change_and_keeps_the_old_one_on_a_bad_file() {
        let dir = std::env::temp_dir().join(format!("vncgate-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let first = write_pair(&dir, "one");
        let files = CertFiles {
            cert: dir.join("c.pem"),
            key: dir.join("k.pem"),
            key_passphrase_file: None,
        };
        let (_, key) = files.load_certified().expect("valid");
        let store = Arc::new(CertStore::new(key));
        let mut r = Reloader::new(files, store.clone());
        assert!(matches!(r.check(false), Outcome::Unchanged));

        let second = write_pair(&dir, "two");
        assert!(matches!(r.check(false), Outcome::Reloaded { .. }));
        assert_eq!(
            store.fingerprint().map(|f| f.to_string()),
            Some(second.clone())
        );
        assert_ne!(first, second);

        std::fs::write(dir.join("k.pem"), "not a key").expect("break");
        assert!(matches!(r.check(false), Outcome::Kept(TlsError::Pem(_))));
        assert_eq!(
            store.fingerprint().map(|f| f.to_string()),
            Some(second),
            "old one kept"
        );
        assert!(
            matches!(r.check(false), Outcome::Unchanged),
            "not retried until changed"
        );
        assert!(matches!(r.check(true), Outcome::Kept(_)), "forced retries");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
