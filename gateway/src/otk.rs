//! One-time keys: 256-bit random keys that admit one session to one target, in one mode,
//! until they expire. Only their SHA-256 is stored; the key itself exists in the link
//! (`https://HOST:PORT/#otk=KEY&target=NAME`, in the fragment, which browsers never send) and,
//! on use, in the WebSocket request (`/ws/NAME?otk=KEY`), which is never logged.
//!
//! Local stores are behind [`OtkStore`]: [`sqlite::SqliteStore`] (embedded, durable, in the
//! state directory) and [`memory::MemoryStore`] (tests); a fleet keeps its keys in Redis
//! ([`crate::store::redis`]). Using a key is one atomic conditional update — of two
//! simultaneous uses exactly one succeeds, on one instance or many.
//!
//! ```text
//! issue (CLI or POST /api/otk) ─► random key ─► link to the person; SHA-256 ─► store
//! /ws/NAME?otk=KEY ─► redeem: find(hash) ─► checks (target, expiry, `for`) ─► consume ─► Grant
//! ```

pub mod memory;
pub mod sqlite;

use base64::Engine as _;
use certs::session_file::OneTimeKey;
use sha2::{Digest, Sha256};

use crate::auth::{Acl, CertIdentity, Mode, Pattern};

/// The longest a key may live.
pub const MAX_TTL_SECS: u64 = 30 * 86_400;
/// How long a key lives unless told otherwise.
pub const DEFAULT_TTL_SECS: u64 = 600;

/// SHA-256 of a key's text: what the store keeps.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash(pub [u8; 32]);

impl std::fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyHash({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

impl KeyHash {
    pub fn of(key: &OneTimeKey) -> Self {
        Self(Sha256::digest(key.expose().as_bytes()).into())
    }
}

/// One issued key, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// A public name for the key (16 hex digits): in logs, the audit log and the API.
    pub id: String,
    pub hash: KeyHash,
    pub target: String,
    pub mode: Mode,
    /// Only a client certificate matching this pattern may use the key.
    pub for_identity: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// Who issued it (`cli`, `token`, a certificate subject).
    pub created_by: String,
}

impl KeyRecord {
    /// Pending: neither used, revoked nor expired at `now`.
    pub fn is_pending(&self, now: i64) -> bool {
        self.used_at.is_none() && self.revoked_at.is_none() && self.expires_at > now
    }

    pub fn state(&self, now: i64) -> &'static str {
        match (self.used_at, self.revoked_at) {
            (Some(_), _) => "used",
            (None, Some(_)) => "revoked",
            (None, None) if self.expires_at <= now => "expired",
            (None, None) => "pending",
        }
    }
}

/// What a valid key grants (the key is used up by then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub key_id: String,
    pub target: String,
    pub mode: Mode,
}

/// Why a presented key does not admit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyProblem {
    Unknown,
    Used,
    Expired,
    Revoked,
    OtherTarget,
    /// The key names a certificate holder, and the connection is not theirs.
    NotForYou,
    /// The store could not be read or written (logged with the cause).
    StoreUnavailable,
}

impl KeyProblem {
    /// For the person (a WebSocket close reason).
    pub fn reason(self) -> &'static str {
        match self {
            Self::Unknown => "this link's one-time key is not valid: ask for a new link",
            Self::Used => "this link was already used: one-time links work once, ask for a new one",
            Self::Expired => "this link has expired: ask for a new one",
            Self::Revoked => "this link was revoked: ask for a new one",
            Self::OtherTarget => "this link's key is for another target",
            Self::NotForYou => {
                "this link is for someone else: open it with the client certificate it was made for"
            }
            Self::StoreUnavailable => {
                "the gateway cannot check one-time keys right now: try again later"
            }
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Unknown => "key_unknown",
            Self::Used => "key_used",
            Self::Expired => "key_expired",
            Self::Revoked => "key_revoked",
            Self::OtherTarget => "key_wrong_target",
            Self::NotForYou => "key_wrong_identity",
            Self::StoreUnavailable => "key_store_unavailable",
        }
    }

    /// Whether presenting this key counts as a failed authentication.
    pub fn is_failure(self) -> bool {
        self != Self::StoreUnavailable
    }
}

/// The store could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the one-time-key store {path}: {error}; check that the state directory is writable")]
    Open {
        path: std::path::PathBuf,
        error: rusqlite::Error,
    },
    #[error("one-time-key store: {what} failed: {error}")]
    Query {
        what: &'static str,
        error: rusqlite::Error,
    },
    #[error("one-time-key store: row {id} is damaged ({field})")]
    Damaged { id: String, field: &'static str },
    #[error("a key with id {id} exists already")]
    Duplicate { id: String },
}

/// What revoking a key did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    Revoked,
    NotFound,
    /// It was used (or revoked) before; nothing changed.
    NotPending,
}

/// Where keys are kept. Every method is blocking: call it from `spawn_blocking`.
pub trait OtkStore: Send + Sync + std::fmt::Debug {
    fn insert(&self, record: &KeyRecord) -> Result<(), StoreError>;
    fn find(&self, hash: &KeyHash) -> Result<Option<KeyRecord>, StoreError>;
    /// Marks the key used if it is pending at `now`, atomically; `true` if this call did.
    fn consume(&self, hash: &KeyHash, now: i64) -> Result<bool, StoreError>;
    /// Revokes a pending key.
    fn revoke(&self, id: &str, now: i64) -> Result<Revoked, StoreError>;
    /// Every key, newest first.
    fn list(&self) -> Result<Vec<KeyRecord>, StoreError>;
    /// Forgets keys that expired or were used or revoked before `before`.
    fn purge(&self, before: i64) -> Result<usize, StoreError>;
}

/// A new key and its record (not stored yet).
pub struct Issued {
    pub key: OneTimeKey,
    pub record: KeyRecord,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("key", &self.key)
            .field("record", &self.record)
            .finish()
    }
}

/// What a new key is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRequest {
    pub target: String,
    pub ttl_secs: u64,
    pub mode: Mode,
    pub for_identity: Option<Pattern>,
    pub created_by: String,
}

/// A key could not be made.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("the system gave no random numbers: {0}")]
    Random(getrandom::Error),
    #[error("the new key is not a valid one-time key (a bug)")]
    Encoding,
}

fn random<const N: usize>() -> Result<[u8; N], IssueError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(IssueError::Random)?;
    Ok(b)
}

/// Makes a key: 32 random bytes as URL-safe base64 (43 characters, nothing to escape in a
/// URL), and a random 8-byte id.
pub fn issue(req: &KeyRequest, now: i64) -> Result<Issued, IssueError> {
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random::<32>()?);
    let key = OneTimeKey::parse(&text).map_err(|_| IssueError::Encoding)?;
    let id: String = random::<8>()?.iter().map(|b| format!("{b:02x}")).collect();
    let ttl = i64::try_from(req.ttl_secs.min(MAX_TTL_SECS)).unwrap_or(i64::MAX);
    Ok(Issued {
        record: KeyRecord {
            id,
            hash: KeyHash::of(&key),
            target: req.target.clone(),
            mode: req.mode,
            for_identity: req.for_identity.as_ref().map(ToString::to_string),
            created_at: now,
            expires_at: now.saturating_add(ttl),
            used_at: None,
            revoked_at: None,
            created_by: req.created_by.clone(),
        },
        key,
    })
}

/// The link a person opens: the key is in the fragment, which the browser keeps to itself.
pub fn link(gateway: &str, key: &OneTimeKey, target: &str, mode: Mode) -> String {
    let base = gateway.trim_end_matches('/');
    let mut s = format!("{base}/#otk={}&target={target}", key.expose());
    if mode == Mode::ViewOnly {
        s.push_str("&view_only=1");
    }
    s
}

/// Why a key that is no longer pending does not admit.
pub fn ended(rec: &KeyRecord, now: i64) -> KeyProblem {
    match rec.state(now) {
        "used" => KeyProblem::Used,
        "revoked" => KeyProblem::Revoked,
        _ => KeyProblem::Expired,
    }
}

/// Whether a stored key admits to `target` at `now`: for this target, pending, and (if it names
/// one) for this certificate. Pure: the caller consumes the key afterwards. A key for another
/// target is refused before anything else, so it is not used up.
pub fn check(
    rec: &KeyRecord,
    target: &str,
    identity: Option<&CertIdentity>,
    acl: Option<&Acl>,
    now: i64,
) -> Result<(), KeyProblem> {
    if rec.target != target {
        return Err(KeyProblem::OtherTarget);
    }
    if !rec.is_pending(now) {
        return Err(ended(rec, now));
    }
    if let Some(p) = &rec.for_identity {
        let named = match (p.parse::<Pattern>(), identity) {
            (Ok(p), Some(id)) => match acl {
                Some(acl) => acl.names(&p, id),
                None => p.matches(id, &Default::default()),
            },
            _ => false,
        };
        if !named {
            return Err(KeyProblem::NotForYou);
        }
    }
    Ok(())
}

/// Checks and uses a presented key for `target` in a local store (blocking): found,
/// [`check`]ed, then consumed. The gateway goes through [`crate::store::Store::redeem`], which
/// takes the same steps with any store.
pub fn redeem(
    store: &dyn OtkStore,
    key: &OneTimeKey,
    target: &str,
    identity: Option<&CertIdentity>,
    acl: Option<&Acl>,
    now: i64,
) -> Result<Grant, KeyProblem> {
    let hash = KeyHash::of(key);
    let unavailable = |e: StoreError| {
        tracing::error!(error = %e, "one-time key not checked");
        KeyProblem::StoreUnavailable
    };
    let rec = store
        .find(&hash)
        .map_err(unavailable)?
        .ok_or(KeyProblem::Unknown)?;
    check(&rec, target, identity, acl, now)?;
    if !store.consume(&hash, now).map_err(unavailable)? {
        // Lost a race, or it expired meanwhile.
        let again = store.find(&hash).map_err(unavailable)?;
        return Err(again.map_or(KeyProblem::Unknown, |r| ended(&r, now)));
    }
    Ok(Grant {
        key_id: rec.id,
        target: rec.target,
        mode: rec.mode,
    })
}

/// Parses a duration like `90s`, `10m`, `2h`, `1d` or plain seconds.
pub fn parse_ttl(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num.parse().ok()?;
    let mul = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(mul).filter(|&t| t > 0 && t <= MAX_TTL_SECS)
}

/// How long a key that ended (used, revoked, expired) stays in the store — and in
/// `vncgate otk list` — before the running gateway forgets it.
pub const KEEP_ENDED_SECS: i64 = 7 * 86_400;

/// How often the running gateway forgets ended keys (the first time at start).
pub const PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// Forgets keys that ended more than [`KEEP_ENDED_SECS`] ago, at start and then every
/// `interval`, so the store does not grow forever. Runs until the task is dropped.
pub async fn purge_ended(store: crate::store::Store, interval: std::time::Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let before = unix_now().saturating_sub(KEEP_ENDED_SECS);
        match store.purge_keys(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(forgotten = n, "ended one-time keys purged"),
            Err(e) => tracing::warn!(error = %e, "ended one-time keys not purged; retrying later"),
        }
    }
}

/// Seconds since the Unix epoch, from the system clock (the shells' one clock).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;
