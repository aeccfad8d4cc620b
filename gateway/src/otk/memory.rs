//! Keys in memory: the second [`OtkStore`], for tests and for gateways that want keys to die
//! with the process.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{KeyHash, KeyRecord, OtkStore, Revoked, StoreError};

#[derive(Debug, Default)]
pub struct MemoryStore {
    keys: Mutex<HashMap<KeyHash, KeyRecord>>,
}

impl MemoryStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<KeyHash, KeyRecord>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl OtkStore for MemoryStore {
    fn insert(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let mut keys = self.lock();
        if keys.contains_key(&record.hash) || keys.values().any(|r| r.id == record.id) {
            return Err(StoreError::Duplicate {
                id: record.id.clone(),
            });
        }
        keys.insert(record.hash, record.clone());
        Ok(())
    }

    fn find(&self, hash: &KeyHash) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.lock().get(hash).cloned())
    }

    fn consume(&self, hash: &KeyHash, now: i64) -> Result<bool, StoreError> {
        let mut keys = self.lock();
        match keys.get_mut(hash) {
            Some(r) if r.is_pending(now) => {
                r.used_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn revoke(&self, id: &str, now: i64) -> Result<Revoked, StoreError> {
        let mut keys = self.lock();
        let Some(r) = keys.values_mut().find(|r| r.id == id) else {
            return Ok(Revoked::NotFound);
        };
        if r.used_at.is_some() || r.revoked_at.is_some() {
            return Ok(Revoked::NotPending);
        }
        r.revoked_at = Some(now);
        Ok(Revoked::Revoked)
    }

    fn list(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let mut all: Vec<KeyRecord> = self.lock().values().cloned().collect();
        all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        Ok(all)
    }

    fn purge(&self, before: i64) -> Result<usize, StoreError> {
        let mut keys = self.lock();
        let n = keys.len();
        keys.retain(|_, r| {
            let ended = [Some(r.expires_at), r.used_at, r.revoked_at]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(r.expires_at);
            ended >= before
        });
        Ok(n - keys.len())
    }
}
