//! The gateway's short-lived security state, in one place: one-time keys, the lockout, and the
//! registry of live sessions. Two implementations, chosen once from the validated config
//! (`--store`, docs/fleet.md):
//!
//! - [`local::LocalStore`] (the default, one instance): keys in `otk.sqlite3`, the lockout in
//!   memory, the session registry in `sessions.sqlite3` (so `vncgate sessions` sees it);
//! - [`redis::RedisStore`] (a fleet): everything in one Redis that every instance shares —
//!   keys by their SHA-256 with their expiry as TTL and redeemed in one atomic step, failure
//!   counters with expiry, sessions with a heartbeat TTL, and kill requests by pub/sub.
//!
//! Every method is async; the SQLite ones run on the blocking pool. An error means the store
//! could not answer: callers fail closed where security depends on the answer (a one-time key
//! is refused with "the gateway cannot check one-time keys right now") and carry on where it
//! does not (a relaying session goes on while the registry cannot be written).

pub mod local;
pub mod redis;

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use certs::session_file::OneTimeKey;

use crate::auth::lockout::LockoutPolicy;
use crate::auth::{Acl, CertIdentity};
use crate::config::store::StoreConfig;
use crate::otk::{Grant, KeyHash, KeyProblem, KeyRecord, Revoked};
use crate::sessions::{LiveSessions, SessionChanges, SessionInfo};

/// What the lockout counts failures against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LockKey {
    /// A client address (IPv6: its /64, see [`crate::conn_limit::address_key`]).
    Address(IpAddr),
    /// A verified client certificate, `sha256:FINGERPRINT`.
    Credential(String),
}

impl std::fmt::Display for LockKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Address(a) => write!(f, "addr:{a}"),
            Self::Credential(c) => write!(f, "cert:{c}"),
        }
    }
}

/// The store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Sqlite(#[from] crate::otk::StoreError),
    #[error("the session registry {path}: {what} failed: {error}")]
    Sessions {
        path: std::path::PathBuf,
        what: &'static str,
        error: rusqlite::Error,
    },
    #[error("the store {url}: {what} failed: {error}")]
    Redis {
        url: String,
        what: &'static str,
        error: ::redis::RedisError,
    },
    #[error("the store {url}: {what} did not answer within {} s", within.as_secs())]
    Timeout {
        url: String,
        what: &'static str,
        within: Duration,
    },
    #[error("the store {url} holds a damaged {what} ({key}); it is ignored")]
    Damaged {
        url: String,
        what: &'static str,
        key: String,
    },
    #[error("a store task failed: {0}")]
    Task(String),
}

/// Opening the store failed: the gateway does not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Sqlite(#[from] crate::otk::StoreError),
    #[error("cannot open the session registry {path}: {error}; check that the state directory is writable")]
    Sessions {
        path: std::path::PathBuf,
        error: rusqlite::Error,
    },
    #[error("cannot reach the store {url}: {error}; check that Redis runs there and that --store (or `store` in the config file) names it")]
    Unreachable { url: String, error: String },
    #[error("cannot read --store-ca {path}: {error}")]
    Ca {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
}

/// What asking an instance to end a session did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KillSent {
    /// The instance running it was told.
    Sent { instance: String },
    /// No live session has this id.
    NotFound,
    /// The registry names an instance that is not listening (it died: its entry expires
    /// within the heartbeat TTL).
    InstanceSilent { instance: String },
}

/// The store, chosen once from the config.
///
/// Redis calls are boxed: a connection's task is one future as large as its largest state,
/// and an unboxed Redis call on the way to a relay (a refused certificate counted, a key used)
/// would size every idle relay's task.
#[derive(Debug, Clone)]
pub enum Store {
    Local(Arc<local::LocalStore>),
    Redis(Arc<redis::RedisStore>),
}

impl Store {
    /// Opens the configured store; for Redis, checks that it answers.
    pub async fn open(
        config: &StoreConfig,
        state_dir: &Path,
        policy: LockoutPolicy,
    ) -> Result<Self, OpenError> {
        Ok(match config {
            StoreConfig::Sqlite => {
                Self::Local(Arc::new(local::LocalStore::open(state_dir, policy)?))
            }
            StoreConfig::Redis { url, ca } => Self::Redis(Arc::new(
                redis::RedisStore::connect(url.clone(), ca.as_deref(), policy).await?,
            )),
        })
    }

    /// For messages: where the state is, without secrets.
    pub fn describe(&self) -> String {
        match self {
            Self::Local(l) => l.describe(),
            Self::Redis(r) => r.url().to_string(),
        }
    }

    // One-time keys.

    pub async fn insert_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        match self {
            Self::Local(l) => l.insert_key(record).await,
            Self::Redis(r) => Box::pin(r.insert_key(record)).await,
        }
    }

    pub async fn find_key(&self, hash: &KeyHash) -> Result<Option<KeyRecord>, StoreError> {
        match self {
            Self::Local(l) => l.find_key(hash).await,
            Self::Redis(r) => Box::pin(r.find_key(hash)).await,
        }
    }

    pub async fn revoke_key(&self, id: &str, now: i64) -> Result<Revoked, StoreError> {
        match self {
            Self::Local(l) => l.revoke_key(id, now).await,
            Self::Redis(r) => Box::pin(r.revoke_key(id, now)).await,
        }
    }

    /// Every key the store remembers, newest first.
    pub async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        match self {
            Self::Local(l) => l.list_keys().await,
            Self::Redis(r) => Box::pin(r.list_keys()).await,
        }
    }

    /// Forgets keys that ended before `before` (Redis forgets them by itself at expiry).
    pub async fn purge_keys(&self, before: i64) -> Result<usize, StoreError> {
        match self {
            Self::Local(l) => l.purge_keys(before).await,
            Self::Redis(_) => Ok(0),
        }
    }

    /// Checks and uses `key` for `target` (see [`crate::otk::check`]): single use across
    /// every instance sharing the store. A refused key the store knows is named by its id.
    pub async fn redeem(
        &self,
        key: &OneTimeKey,
        target: &str,
        identity: Option<&CertIdentity>,
        acl: Option<&Acl>,
        now: i64,
    ) -> Result<Grant, (KeyProblem, Option<String>)> {
        let hash = KeyHash::of(key);
        let unavailable = |e: StoreError| {
            tracing::error!(error = %e, "one-time key not checked");
            (KeyProblem::StoreUnavailable, None)
        };
        let rec = self
            .find_key(&hash)
            .await
            .map_err(unavailable)?
            .ok_or((KeyProblem::Unknown, None))?;
        crate::otk::check(&rec, target, identity, acl, now)
            .map_err(|p| (p, Some(rec.id.clone())))?;
        let used = match self {
            Self::Local(l) => l.consume_key(&hash, now).await,
            Self::Redis(r) => Box::pin(r.consume_key(&hash, now)).await,
        }
        .map_err(unavailable)?;
        if !used {
            // Lost a race, or it expired meanwhile.
            let again = self.find_key(&hash).await.map_err(unavailable)?;
            return Err(match again {
                Some(r) => (crate::otk::ended(&r, now), Some(r.id)),
                None => (KeyProblem::Unknown, None),
            });
        }
        Ok(Grant {
            key_id: rec.id,
            target: rec.target,
            mode: rec.mode,
        })
    }

    // The lockout.

    /// How much longer `key` is blocked, if it is.
    pub async fn blocked(&self, key: &LockKey) -> Result<Option<Duration>, StoreError> {
        match self {
            Self::Local(l) => Ok(l.blocked(key)),
            Self::Redis(r) => Box::pin(r.blocked(key)).await,
        }
    }

    /// Counts a failure of `key`; the block it starts, if any.
    pub async fn failure(&self, key: &LockKey) -> Result<Option<Duration>, StoreError> {
        match self {
            Self::Local(l) => Ok(l.failure(key)),
            Self::Redis(r) => Box::pin(r.failure(key)).await,
        }
    }

    /// A success of `key`: its failures are forgotten.
    pub async fn success(&self, key: &LockKey) -> Result<(), StoreError> {
        match self {
            Self::Local(l) => {
                l.success(key);
                Ok(())
            }
            Self::Redis(r) => Box::pin(r.success(key)).await,
        }
    }

    /// Prometheus lines about the lockout (what this instance can tell).
    pub fn render_lockout_metrics(&self, out: &mut String) {
        match self {
            Self::Local(l) => l.render_lockout_metrics(out),
            Self::Redis(r) => r.render_lockout_metrics(out),
        }
    }

    // The session registry.

    /// Publishes sessions started and ended, each entry living `ttl` unless refreshed.
    pub async fn publish_sessions(
        &self,
        changes: &SessionChanges,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        match self {
            Self::Local(l) => l.publish_sessions(changes, ttl).await,
            Self::Redis(r) => Box::pin(r.publish_sessions(changes, ttl)).await,
        }
    }

    /// Publishes all of `instance`'s sessions again (the heartbeat).
    pub async fn refresh_sessions(
        &self,
        instance: &str,
        all: &[SessionInfo],
        removed: &[String],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        match self {
            Self::Local(l) => l.refresh_sessions(instance, all, removed, ttl).await,
            Self::Redis(r) => Box::pin(r.refresh_sessions(all, removed, ttl)).await,
        }
    }

    /// Live sessions of every instance, as last published.
    pub async fn list_sessions(&self) -> Result<Vec<SessionInfo>, StoreError> {
        let mut all = match self {
            Self::Local(l) => l.list_sessions().await,
            Self::Redis(r) => Box::pin(r.list_sessions()).await,
        }?;
        all.sort_by(|a, b| a.started_ms.cmp(&b.started_ms).then(a.id.cmp(&b.id)));
        Ok(all)
    }

    /// Asks the instance running session `id` to end it.
    pub async fn request_kill(&self, id: &str, by: &str) -> Result<KillSent, StoreError> {
        match self {
            Self::Local(l) => l.request_kill(id, by).await,
            Self::Redis(r) => Box::pin(r.request_kill(id, by)).await,
        }
    }

    /// Ends the sessions of `live` that an administrator asks to end elsewhere (another
    /// instance, the command line), until the task is dropped; reconnects when the store
    /// comes back.
    pub async fn serve_kills(self, live: Arc<LiveSessions>) {
        match self {
            Self::Local(l) => l.serve_kills(live).await,
            Self::Redis(r) => Box::pin(r.serve_kills(live)).await,
        }
    }
}
