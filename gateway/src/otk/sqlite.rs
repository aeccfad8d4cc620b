//! Keys in SQLite (compiled in): `STATE_DIR/otk.sqlite3`, write-ahead log, every write
//! synchronous — a key survives a restart or `kill -9` once `issue` returned, and a used key
//! stays used. Using a key is one `UPDATE … WHERE used_at IS NULL AND revoked_at IS NULL AND
//! expires_at > now`; whoever changed the row got the key. `vncgate otk issue` and the running
//! gateway share the file (SQLite locks it; writers wait up to `BUSY_TIMEOUT`).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{KeyHash, KeyRecord, OtkStore, Revoked, StoreError};
use crate::auth::Mode;

/// The file in the state directory.
pub const FILE_NAME: &str = "otk.sqlite3";
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS otk (
    id           TEXT PRIMARY KEY,
    key_hash     BLOB NOT NULL UNIQUE,
    target       TEXT NOT NULL,
    view_only    INTEGER NOT NULL,
    for_identity TEXT,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER,
    revoked_at   INTEGER,
    created_by   TEXT NOT NULL
);";

#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

fn q(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |error| StoreError::Query { what, error }
}

impl SqliteStore {
    /// Opens (creating if needed, mode 0600) `STATE_DIR/otk.sqlite3`.
    pub fn open_in(state_dir: &Path) -> Result<Self, StoreError> {
        Self::open(&state_dir.join(FILE_NAME))
    }

    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let open_err = |error| StoreError::Open {
            path: path.to_owned(),
            error,
        };
        // Mode 0600 before SQLite opens it: the hashes are not secret, but who used which
        // target when is nobody else's business.
        crate::state_dir::create_private(path);
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        conn.execute_batch(SCHEMA).map_err(open_err)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(open_err)?;
        if version == 0 {
            conn.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(open_err)?;
        }
        Ok(Self {
            path: path.to_owned(),
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

const COLUMNS: &str =
    "id, key_hash, target, view_only, for_identity, created_at, expires_at, used_at, revoked_at, created_by";

fn record(row: &Row<'_>) -> rusqlite::Result<(KeyRecord, Option<&'static str>)> {
    let id: String = row.get(0)?;
    let hash: Vec<u8> = row.get(1)?;
    let mut damaged = None;
    let hash = <[u8; 32]>::try_from(hash.as_slice()).unwrap_or_else(|_| {
        damaged = Some("key_hash");
        [0; 32]
    });
    let view_only: i64 = row.get(3)?;
    Ok((
        KeyRecord {
            id,
            hash: KeyHash(hash),
            target: row.get(2)?,
            mode: if view_only != 0 {
                Mode::ViewOnly
            } else {
                Mode::Full
            },
            for_identity: row.get(4)?,
            created_at: row.get(5)?,
            expires_at: row.get(6)?,
            used_at: row.get(7)?,
            revoked_at: row.get(8)?,
            created_by: row.get(9)?,
        },
        damaged,
    ))
}

fn checked((r, damaged): (KeyRecord, Option<&'static str>)) -> Result<KeyRecord, StoreError> {
    match damaged {
        Some(field) => Err(StoreError::Damaged { id: r.id, field }),
        None => Ok(r),
    }
}

impl OtkStore for SqliteStore {
    fn insert(&self, r: &KeyRecord) -> Result<(), StoreError> {
        let conn = self.lock();
        let done = conn.execute(
            &format!(
                "INSERT INTO otk ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            ),
            params![
                r.id,
                r.hash.0.as_slice(),
                r.target,
                i64::from(r.mode == Mode::ViewOnly),
                r.for_identity,
                r.created_at,
                r.expires_at,
                r.used_at,
                r.revoked_at,
                r.created_by
            ],
        );
        match done {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StoreError::Duplicate { id: r.id.clone() })
            }
            Err(e) => Err(q("insert")(e)),
        }
    }

    fn find(&self, hash: &KeyHash) -> Result<Option<KeyRecord>, StoreError> {
        let conn = self.lock();
        let found = conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM otk WHERE key_hash = ?1"),
                params![hash.0.as_slice()],
                record,
            )
            .optional()
            .map_err(q("find"))?;
        found.map(checked).transpose()
    }

    fn consume(&self, hash: &KeyHash, now: i64) -> Result<bool, StoreError> {
        let conn = self.lock();
        let changed = conn
            .execute(
                "UPDATE otk SET used_at = ?2 WHERE key_hash = ?1 AND used_at IS NULL \
                 AND revoked_at IS NULL AND expires_at > ?2",
                params![hash.0.as_slice(), now],
            )
            .map_err(q("consume"))?;
        Ok(changed == 1)
    }

    fn revoke(&self, id: &str, now: i64) -> Result<Revoked, StoreError> {
        let conn = self.lock();
        let changed = conn
            .execute(
                "UPDATE otk SET revoked_at = ?2 WHERE id = ?1 AND used_at IS NULL AND revoked_at IS NULL",
                params![id, now],
            )
            .map_err(q("revoke"))?;
        if changed == 1 {
            return Ok(Revoked::Revoked);
        }
        let exists: Option<i64> = conn
            .query_row("SELECT 1 FROM otk WHERE id = ?1", params![id], |r| r.get(0))
            .optional()
            .map_err(q("revoke"))?;
        Ok(if exists.is_some() {
            Revoked::NotPending
        } else {
            Revoked::NotFound
        })
    }

    fn list(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM otk ORDER BY created_at DESC, id"
            ))
            .map_err(q("list"))?;
        let rows = stmt.query_map([], record).map_err(q("list"))?;
        rows.map(|r| r.map_err(q("list")).and_then(checked))
            .collect()
    }

    fn purge(&self, before: i64) -> Result<usize, StoreError> {
        let conn = self.lock();
        conn.execute(
            "DELETE FROM otk WHERE MIN(expires_at, COALESCE(used_at, expires_at), \
             COALESCE(revoked_at, expires_at)) < ?1",
            params![before],
        )
        .map_err(q("purge"))
    }
}
