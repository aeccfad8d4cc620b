//! The store of a single instance: one-time keys in `STATE_DIR/otk.sqlite3`
//! ([`crate::otk::sqlite`]), the lockout in memory ([`crate::auth::lockout`]), and the live
//! sessions in `STATE_DIR/sessions.sqlite3`, where `vncgate sessions list` reads them and
//! `vncgate sessions kill` leaves requests that the gateway picks up every
//! [`KILL_POLL_INTERVAL`]. SQLite calls run on the blocking pool.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use super::{KillSent, LockKey, OpenError, StoreError};
use crate::auth::lockout::{Lockout, LockoutPolicy};
use crate::otk::sqlite::SqliteStore;
use crate::otk::{KeyHash, KeyRecord, OtkStore, Revoked};
use crate::sessions::{LiveSessions, SessionChanges, SessionInfo};

/// The session registry's file in the state directory.
pub const SESSIONS_FILE: &str = "sessions.sqlite3";

/// How often the gateway looks for kill requests left by the command line.
pub const KILL_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Kill requests older than this are dropped (their session ended some other way).
const KILL_REQUEST_LIFETIME_MS: i64 = 60_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (
    id          TEXT PRIMARY KEY,
    instance    TEXT NOT NULL,
    info        TEXT NOT NULL,
    expires_ms  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS kills (
    id     TEXT PRIMARY KEY,
    by     TEXT NOT NULL,
    at_ms  INTEGER NOT NULL
);";

/// The single instance's store.
#[derive(Debug)]
pub struct LocalStore {
    keys: Arc<dyn OtkStore>,
    sessions: Arc<SessionTable>,
    addresses: Lockout<IpAddr>,
    credentials: Lockout<String>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
}

impl LocalStore {
    /// Opens (creating) both files in `state_dir`.
    pub fn open(state_dir: &Path, policy: LockoutPolicy) -> Result<Self, OpenError> {
        let keys = Arc::new(SqliteStore::open_in(state_dir)?);
        let sessions = SessionTable::open(&state_dir.join(SESSIONS_FILE))?;
        Ok(Self {
            keys,
            sessions: Arc::new(sessions),
            addresses: Lockout::new(policy),
            credentials: Lockout::new(policy),
        })
    }

    pub fn describe(&self) -> String {
        let dir = self.sessions.path.parent().unwrap_or(Path::new("."));
        format!("SQLite in {}", dir.display())
    }

    pub async fn insert_key(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let (keys, record) = (self.keys.clone(), record.clone());
        blocking(move || Ok(keys.insert(&record)?)).await
    }

    pub async fn find_key(&self, hash: &KeyHash) -> Result<Option<KeyRecord>, StoreError> {
        let (keys, hash) = (self.keys.clone(), *hash);
        blocking(move || Ok(keys.find(&hash)?)).await
    }

    pub async fn consume_key(&self, hash: &KeyHash, now: i64) -> Result<bool, StoreError> {
        let (keys, hash) = (self.keys.clone(), *hash);
        blocking(move || Ok(keys.consume(&hash, now)?)).await
    }

    pub async fn revoke_key(&self, id: &str, now: i64) -> Result<Revoked, StoreError> {
        let (keys, id) = (self.keys.clone(), id.to_owned());
        blocking(move || Ok(keys.revoke(&id, now)?)).await
    }

    pub async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let keys = self.keys.clone();
        blocking(move || Ok(keys.list()?)).await
    }

    pub async fn purge_keys(&self, before: i64) -> Result<usize, StoreError> {
        let keys = self.keys.clone();
        blocking(move || Ok(keys.purge(before)?)).await
    }

    pub fn blocked(&self, key: &LockKey) -> Option<Duration> {
        let now = tokio::time::Instant::now();
        match key {
            LockKey::Address(a) => self.addresses.blocked(a, now),
            LockKey::Credential(c) => self.credentials.blocked(c, now),
        }
    }

    pub fn failure(&self, key: &LockKey) -> Option<Duration> {
        let now = tokio::time::Instant::now();
        match key {
            LockKey::Address(a) => self.addresses.failure(a, now),
            LockKey::Credential(c) => self.credentials.failure(c, now),
        }
    }

    pub fn success(&self, key: &LockKey) {
        match key {
            LockKey::Address(a) => self.addresses.success(a),
            LockKey::Credential(c) => self.credentials.success(c),
        }
    }

    pub fn render_lockout_metrics(&self, out: &mut String) {
        let now = tokio::time::Instant::now();
        crate::metrics::scalar(
            out,
            "vncgate_lockout_blocked_addresses",
            "gauge",
            "Client addresses blocked now after repeated failed authentications.",
            self.addresses.blocked_count(now),
        );
        crate::metrics::scalar(
            out,
            "vncgate_lockout_blocks_total",
            "counter",
            "Blocks imposed on client addresses after repeated failed authentications.",
            self.addresses.blocks_total.load(Ordering::Relaxed),
        );
        crate::metrics::scalar(
            out,
            "vncgate_lockout_blocked_certificates",
            "gauge",
            "Client certificates blocked now after repeated failed authentications.",
            self.credentials.blocked_count(now),
        );
        crate::metrics::scalar(
            out,
            "vncgate_lockout_evictions_total",
            "counter",
            "Lockout entries forgotten to make room for new ones (the table is full).",
            self.addresses.evictions_total.load(Ordering::Relaxed)
                + self.credentials.evictions_total.load(Ordering::Relaxed),
        );
    }

    fn table(&self) -> Arc<SessionTable> {
        self.sessions.clone()
    }

    pub async fn publish_sessions(
        &self,
        changes: &SessionChanges,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let t = self.table();
        let changes = changes.clone();
        blocking(move || t.write(None, &changes.added, &changes.removed, ttl)).await
    }

    pub async fn refresh_sessions(
        &self,
        instance: &str,
        all: &[SessionInfo],
        removed: &[String],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let t = self.table();
        let (instance, all, removed) = (instance.to_owned(), all.to_vec(), removed.to_vec());
        blocking(move || t.write(Some(&instance), &all, &removed, ttl)).await
    }

    pub async fn list_sessions(&self) -> Result<Vec<SessionInfo>, StoreError> {
        let t = self.table();
        blocking(move || t.list()).await
    }

    pub async fn request_kill(&self, id: &str, by: &str) -> Result<KillSent, StoreError> {
        let t = self.table();
        let (id, by) = (id.to_owned(), by.to_owned());
        blocking(move || t.request_kill(&id, &by)).await
    }

    pub async fn serve_kills(self: Arc<Self>, live: Arc<LiveSessions>) {
        let t = self.table();
        let mut tick = tokio::time::interval(KILL_POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let (t, live) = (t.clone(), live.clone());
            let done = blocking(move || t.take_kills(&live)).await;
            if let Err(e) = done {
                tracing::warn!(error = %e, "kill requests not read; retrying");
            }
        }
    }
}

/// `sessions.sqlite3`: the registry as last published, and kill requests.
#[derive(Debug)]
struct SessionTable {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl SessionTable {
    fn open(path: &Path) -> Result<Self, OpenError> {
        let err = |error| OpenError::Sessions {
            path: path.to_owned(),
            error,
        };
        crate::state_dir::create_private(path);
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        // What is lost in a crash is rewritten at the next heartbeat.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(Self {
            path: path.to_owned(),
            conn: Mutex::new(conn),
        })
    }

    fn err(&self, what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |error| StoreError::Sessions {
            path: self.path.clone(),
            what,
            error,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes `added`, deletes `removed`; with `instance`, first forgets that instance's
    /// entries (a full refresh).
    fn write(
        &self,
        instance: Option<&str>,
        added: &[SessionInfo],
        removed: &[String],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(self.err("write"))?;
        if let Some(i) = instance {
            tx.execute("DELETE FROM sessions WHERE instance = ?1", params![i])
                .map_err(self.err("write"))?;
        }
        let expires = now_ms().saturating_add(ms(ttl));
        {
            let mut put = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO sessions (id, instance, info, expires_ms) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(self.err("write"))?;
            for s in added {
                let info = serde_json::to_string(s).unwrap_or_default();
                put.execute(params![s.id, s.instance, info, expires])
                    .map_err(self.err("write"))?;
            }
            let mut del = tx
                .prepare_cached("DELETE FROM sessions WHERE id = ?1")
                .map_err(self.err("write"))?;
            for id in removed {
                del.execute(params![id]).map_err(self.err("write"))?;
            }
        }
        tx.execute(
            "DELETE FROM sessions WHERE expires_ms <= ?1",
            params![now_ms()],
        )
        .map_err(self.err("write"))?;
        tx.commit().map_err(self.err("write"))
    }

    fn list(&self) -> Result<Vec<SessionInfo>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare("SELECT info FROM sessions WHERE expires_ms > ?1")
            .map_err(self.err("list"))?;
        let rows = stmt
            .query_map(params![now_ms()], |r| r.get::<_, String>(0))
            .map_err(self.err("list"))?;
        let mut all = Vec::new();
        for row in rows {
            let text = row.map_err(self.err("list"))?;
            match serde_json::from_str(&text) {
                Ok(s) => all.push(s),
                Err(e) => tracing::warn!(error = %e, "a damaged session entry is ignored"),
            }
        }
        Ok(all)
    }

    fn request_kill(&self, id: &str, by: &str) -> Result<KillSent, StoreError> {
        let conn = self.lock();
        let instance: Option<String> = conn
            .query_row(
                "SELECT instance FROM sessions WHERE id = ?1 AND expires_ms > ?2",
                params![id, now_ms()],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err("kill"))?;
        let Some(instance) = instance else {
            return Ok(KillSent::NotFound);
        };
        conn.execute(
            "INSERT OR REPLACE INTO kills (id, by, at_ms) VALUES (?1, ?2, ?3)",
            params![id, by, now_ms()],
        )
        .map_err(self.err("kill"))?;
        Ok(KillSent::Sent { instance })
    }

    /// Ends the requested sessions that run here; forgets requests that were served or are old.
    fn take_kills(&self, live: &LiveSessions) -> Result<(), StoreError> {
        let conn = self.lock();
        let requests: Vec<(String, String, i64)> = {
            let mut stmt = conn
                .prepare("SELECT id, by, at_ms FROM kills")
                .map_err(self.err("read kills"))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(self.err("read kills"))?;
            rows.collect::<Result<_, _>>()
                .map_err(self.err("read kills"))?
        };
        let now = now_ms();
        for (id, by, at) in requests {
            let served = live.kill(&id, &by);
            if served {
                tracing::info!(session = %id, by = %by, "session ended by an administrator (command line)");
            }
            if served || now - at > KILL_REQUEST_LIFETIME_MS {
                conn.execute("DELETE FROM kills WHERE id = ?1", params![id])
                    .map_err(self.err("read kills"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::Via;
    use crate::sessions::tests::route;

    #[tokio::test]
    async fn the_session_file_lists_what_was_published_and_carries_kill_requests() {
        let dir = std::env::temp_dir().join(format!(
            "vncgate-local-store-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Arc::new(LocalStore::open(&dir, LockoutPolicy::default()).expect("open"));
        let live = LiveSessions::new("gw:8443".into());
        let client = "192.0.2.9:4000".parse().expect("addr");
        let a = live.register(&route(), client, Via::WebSocket);
        let b = live.register(&route(), client, Via::NativeTls);
        let ttl = Duration::from_secs(30);
        store
            .publish_sessions(&live.take_changes(), ttl)
            .await
            .expect("publish");
        let listed = store.list_sessions().await.expect("list");
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().all(|s| s.client == "192.0.2.9:4000"));

        // A second process (the command line) opens the same files.
        let cli = LocalStore::open(&dir, LockoutPolicy::default()).expect("open again");
        assert_eq!(
            cli.request_kill(a.id(), "command line (root)")
                .await
                .expect("kill"),
            KillSent::Sent {
                instance: "gw:8443".into()
            }
        );
        assert_eq!(
            cli.request_kill("0000000000000000", "x")
                .await
                .expect("kill"),
            KillSent::NotFound
        );
        let mut watch = a.watch();
        let t = store.table();
        let l = live.clone();
        blocking(move || t.take_kills(&l)).await.expect("served");
        assert_eq!(
            watch.killed().await,
            crate::sessions::Ending::Killed {
                by: "command line (root)".into()
            }
        );

        // Ended sessions leave the file; expired entries are not listed.
        drop(a);
        store
            .publish_sessions(&live.take_changes(), Duration::ZERO)
            .await
            .expect("publish");
        assert!(store
            .list_sessions()
            .await
            .expect("list")
            .iter()
            .all(|s| s.id == b.id()));
        store
            .refresh_sessions("gw:8443", &live.snapshot(), &[], Duration::ZERO)
            .await
            .expect("refresh");
        assert!(
            store.list_sessions().await.expect("list").is_empty(),
            "expired"
        );
        drop(b);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
