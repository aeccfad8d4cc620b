//! The fleet's store: one Redis shared by every instance (docs/fleet.md). Keys, all under
//! `vncgate:`:
//!
//! | key | holds | expires |
//! |---|---|---|
//! | `otk:HASH` | a one-time key's record (hash: id, target, mode, for, times, creator) | at the key's expiry |
//! | `otk-id:ID` | the `HASH` of key `ID` (for revoking and listing by id) | at the key's expiry |
//! | `lockout:addr:IP` / `lockout:cert:sha256:FP` | the failures counted | 2 × the longest block after the last failure |
//! | `blocked:addr:IP` / `blocked:cert:sha256:FP` | a block | when the block ends |
//! | `session:ID` | a live session (JSON, [`SessionInfo`]) | 3 heartbeats after the last |
//!
//! Kill requests go to channel `vncgate:kill:INSTANCE` (JSON `{"id","by"}`), which only the
//! instance running the session subscribes to. Using a key and counting a failure are each
//! one Lua script, so they are atomic across instances: of 50 simultaneous uses of a key on
//! any number of instances exactly one succeeds.
//!
//! The connection manager reconnects by itself; every call is bounded by [`CALL_TIMEOUT`], so
//! while Redis is away an admission that needs it fails within seconds, with a reason.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

use super::{KillSent, LockKey, OpenError, StoreError};
use crate::auth::lockout::LockoutPolicy;
use crate::auth::Mode;
use crate::config::store::RedisUrl;
use crate::otk::{KeyHash, KeyRecord, Revoked};
use crate::sessions::{LiveSessions, SessionChanges, SessionInfo};

/// The longest any one call to Redis may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Every key and channel starts with this.
pub const PREFIX: &str = "vncgate:";

/// How long the kill listener waits before subscribing again after losing Redis.
const RESUBSCRIBE_DELAY: Duration = Duration::from_secs(1);

/// How often the kill listener pings its subscription connection.
const PUBSUB_PING_EVERY: Duration = Duration::from_secs(10);

/// Sessions read per `MGET` when listing.
const LIST_BATCH: usize = 500;

const INSERT_KEY: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'target', ARGV[2], 'mode', ARGV[3],
  'created_at', ARGV[4], 'expires_at', ARGV[5], 'created_by', ARGV[6])
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'for', ARGV[7]) end
redis.call('EXPIREAT', KEYS[1], ARGV[5])
redis.call('SET', KEYS[2], ARGV[8], 'EXAT', ARGV[5])
return 1
";

/// Marks a pending key used at ARGV[1]: 1 if this call did.
const CONSUME_KEY: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HEXISTS', KEYS[1], 'used_at') == 1 then return 0 end
if redis.call('HEXISTS', KEYS[1], 'revoked_at') == 1 then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'expires_at')) <= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'used_at', ARGV[1])
return 1
";

/// 1: revoked; 2: used or revoked before; 0: gone.
const REVOKE_KEY: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HEXISTS', KEYS[1], 'used_at') == 1 then return 2 end
if redis.call('HEXISTS', KEYS[1], 'revoked_at') == 1 then return 2 end
redis.call('HSET', KEYS[1], 'revoked_at', ARGV[1])
return 1
";

/// Counts a failure in KEYS[1]; a block is KEYS[2] living as long as the block (its PTTL is
/// what is left: no instance's clock is compared with another's). Returns the block in ms
/// (0: none). ARGV: failures before the first block, first block ms, longest block ms,
/// forget ms.
const FAILURE: &str = r"
local f = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local threshold = tonumber(ARGV[1])
if f < threshold then return 0 end
local doublings = math.min(f - threshold, 31)
local block = math.floor(math.min(tonumber(ARGV[2]) * 2 ^ doublings, tonumber(ARGV[3])))
redis.call('SET', KEYS[2], '1', 'PX', block)
return block
";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn key_of(hash: &KeyHash) -> String {
    format!("{PREFIX}otk:{}", hex(&hash.0))
}

fn id_key(id: &str) -> String {
    format!("{PREFIX}otk-id:{id}")
}

fn session_key(id: &str) -> String {
    format!("{PREFIX}session:{id}")
}

/// The channel an instance hears kill requests on.
pub fn kill_channel(instance: &str) -> String {
    format!("{PREFIX}kill:{instance}")
}

fn lock_key(k: &LockKey) -> String {
    format!("{PREFIX}lockout:{k}")
}

fn block_key(k: &LockKey) -> String {
    format!("{PREFIX}blocked:{k}")
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct KillRequest {
    id: String,
    by: String,
}

/// The Redis store.
pub struct RedisStore {
    url: RedisUrl,
    client: redis::Client,
    conn: ConnectionManager,
    policy: LockoutPolicy,
    scripts: Scripts,
    /// Blocks this instance imposed since start.
    blocks_total: AtomicU64,
}

struct Scripts {
    insert_key: Script,
    consume_key: Script,
    revoke_key: Script,
    failure: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.url)
            .finish()
    }
}

impl RedisStore {
    /// Connects to `url` (verifying a `rediss://` server against `ca` when given) and checks
    /// that it answers.
    pub async fn connect(
        url: RedisUrl,
        ca: Option<&std::path::Path>,
        policy: LockoutPolicy,
    ) -> Result<Self, OpenError> {
        let shown = url.to_string();
        let unreachable = |error: String| OpenError::Unreachable {
            url: shown.clone(),
            error,
        };
        let client = match ca {
            Some(path) => {
                let root_cert = std::fs::read(path).map_err(|error| OpenError::Ca {
                    path: path.to_owned(),
                    error,
                })?;
                redis::Client::build_with_tls(
                    url.expose(),
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(root_cert),
                    },
                )
            }
            None => redis::Client::open(url.expose()),
        }
        .map_err(|e| unreachable(e.to_string()))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = tokio::time::timeout(
            CALL_TIMEOUT * 2,
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| {
            unreachable(format!(
                "no answer within {} s",
                (CALL_TIMEOUT * 2).as_secs()
            ))
        })?
        .map_err(|e| unreachable(e.to_string()))?;
        let store = Self {
            url,
            client,
            conn,
            policy,
            scripts: Scripts {
                insert_key: Script::new(INSERT_KEY),
                consume_key: Script::new(CONSUME_KEY),
                revoke_key: Script::new(REVOKE_KEY),
                failure: Script::new(FAILURE),
            },
            blocks_total: AtomicU64::new(0),
        };
        let pong: String = store
            .call("PING", |mut c| async move {
                redis::cmd("PING").query_async(&mut c).await
            })
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        if pong != "PONG" {
            return Err(unreachable(format!("PING answered {pong:?}")));
        }
        Ok(store)
    }

    pub fn url(&self) -> &RedisUrl {
        &self.url
    }

    /// Runs one call on a clone of the managed connection, bounded by [`CALL_TIMEOUT`].
    async fn call<T, F, Fut>(&self, what: &'static str, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        match tokio::time::timeout(CALL_TIMEOUT, f(self.conn.clone())).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(error)) => Err(StoreError::Redis {
                url: self.url.to_string(),
                what,
                error,
            }),
            Err(_) => Err(StoreError::Timeout {
                url: self.url.to_string(),
                what,
                within: CALL_TIMEOUT,
            }),
        }
    }

    fn damaged(&self, what: &'static str, key: &str) -> StoreError {
        StoreError::Damaged {
            url: self.url.to_string(),
            what,
            key: key.to_owned(),
        }
    }

    // One-time keys.

    pub async fn insert_key(&self, r: &KeyRecord) -> Result<(), StoreError> {
        let script = &self.scripts.insert_key;
        let done: i64 = self
            .call("storing a key", |mut c| async move {
                script
                    .key(key_of(&r.hash))
                    .key(id_key(&r.id))
                    .arg(&r.id)
                    .arg(&r.target)
                    .arg(r.mode.as_str())
                    .arg(r.created_at)
                    .arg(r.expires_at)
                    .arg(&r.created_by)
                    .arg(r.for_identity.as_deref().unwrap_or(""))
                    .arg(hex(&r.hash.0))
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        if done == 1 {
            Ok(())
        } else {
            Err(crate::otk::StoreError::Duplicate { id: r.id.clone() }.into())
        }
    }

    fn record(
        &self,
        hash: KeyHash,
        key: &str,
        f: &HashMap<String, String>,
    ) -> Result<KeyRecord, StoreError> {
        let num = |name: &str| f.get(name).and_then(|v| v.parse::<i64>().ok());
        let text = |name: &str| f.get(name).cloned();
        let damaged = || self.damaged("one-time key", key);
        Ok(KeyRecord {
            id: text("id").ok_or_else(damaged)?,
            hash,
            target: text("target").ok_or_else(damaged)?,
            mode: f
                .get("mode")
                .and_then(|m| Mode::parse(m))
                .ok_or_else(damaged)?,
            for_identity: text("for"),
            created_at: num("created_at").ok_or_else(damaged)?,
            expires_at: num("expires_at").ok_or_else(damaged)?,
            used_at: num("used_at"),
            revoked_at: num("revoked_at"),
            created_by: text("created_by").unwrap_or_default(),
        })
    }

    pub async fn find_key(&self, hash: &KeyHash) -> Result<Option<KeyRecord>, StoreError> {
        let key = key_of(hash);
        let k = key.clone();
        let fields: HashMap<String, String> = self
            .call("reading a key", |mut c| async move { c.hgetall(k).await })
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        self.record(*hash, &key, &fields).map(Some)
    }

    pub async fn consume_key(&self, hash: &KeyHash, now: i64) -> Result<bool, StoreError> {
        let script = &self.scripts.consume_key;
        let used: i64 = self
            .call("using a key", |mut c| async move {
                script.key(key_of(hash)).arg(now).invoke_async(&mut c).await
            })
            .await?;
        Ok(used == 1)
    }

    pub async fn revoke_key(&self, id: &str, now: i64) -> Result<Revoked, StoreError> {
        let k = id_key(id);
        let hash: Option<String> = self
            .call("revoking a key", |mut c| async move { c.get(k).await })
            .await?;
        let Some(hash) = hash else {
            return Ok(Revoked::NotFound);
        };
        let hash = KeyHash(unhex(&hash).ok_or_else(|| self.damaged("key id", id))?);
        let script = &self.scripts.revoke_key;
        let done: i64 = self
            .call("revoking a key", |mut c| async move {
                script
                    .key(key_of(&hash))
                    .arg(now)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(match done {
            1 => Revoked::Revoked,
            2 => Revoked::NotPending,
            _ => Revoked::NotFound,
        })
    }

    /// Names of keys matching `pattern` (SCAN: never blocks Redis).
    async fn scan(&self, pattern: String) -> Result<Vec<String>, StoreError> {
        self.call("listing", |mut c| async move {
            let mut it: redis::AsyncIter<'_, String> = c
                .scan_options(
                    redis::ScanOptions::default()
                        .with_pattern(pattern)
                        .with_count(1000),
                )
                .await?;
            let mut names = Vec::new();
            while let Some(n) = it.next().await {
                names.push(n?);
            }
            Ok(names)
        })
        .await
    }

    pub async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let names = self.scan(format!("{PREFIX}otk:*")).await?;
        let mut all = Vec::new();
        for name in names {
            let Some(hash) = name.rsplit(':').next().and_then(unhex) else {
                continue;
            };
            if let Some(r) = self.find_key(&KeyHash(hash)).await? {
                all.push(r);
            }
        }
        all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        Ok(all)
    }

    // The lockout.

    pub async fn blocked(&self, key: &LockKey) -> Result<Option<Duration>, StoreError> {
        let k = block_key(key);
        // PTTL: what is left of the block in ms; -2 when there is none.
        let left: i64 = self
            .call(
                "reading the lockout",
                |mut c| async move { c.pttl(k).await },
            )
            .await?;
        Ok(u64::try_from(left)
            .ok()
            .filter(|&ms| ms > 0)
            .map(Duration::from_millis))
    }

    pub async fn failure(&self, key: &LockKey) -> Result<Option<Duration>, StoreError> {
        let p = self.policy;
        let script = &self.scripts.failure;
        let (k, b) = (lock_key(key), block_key(key));
        let block_ms: u64 = self
            .call("counting a failure", |mut c| async move {
                script
                    .key(k)
                    .key(b)
                    .arg(p.failures.max(1))
                    .arg(ms(p.block))
                    .arg(ms(p.max_block))
                    .arg(ms(p.max_block.saturating_mul(2)).max(1))
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        if block_ms == 0 {
            return Ok(None);
        }
        self.blocks_total.fetch_add(1, Ordering::Relaxed);
        Ok(Some(Duration::from_millis(block_ms)))
    }

    pub async fn success(&self, key: &LockKey) -> Result<(), StoreError> {
        let (k, b) = (lock_key(key), block_key(key));
        self.call("clearing the lockout", |mut c| async move {
            c.del::<_, ()>(&[k, b]).await
        })
        .await
    }

    pub fn render_lockout_metrics(&self, out: &mut String) {
        crate::metrics::scalar(
            out,
            "vncgate_lockout_blocks_total",
            "counter",
            "Blocks this instance imposed after repeated failed authentications (the fleet's lockout is in Redis).",
            self.blocks_total.load(Ordering::Relaxed),
        );
    }

    // The session registry.

    async fn write_sessions(
        &self,
        added: &[SessionInfo],
        removed: &[String],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        if added.is_empty() && removed.is_empty() {
            return Ok(());
        }
        // MULTI/EXEC: an entry's SET and a later DEL never land apart.
        let mut pipe = redis::pipe();
        pipe.atomic();
        for s in added {
            let json = serde_json::to_string(s).unwrap_or_default();
            pipe.cmd("SET")
                .arg(session_key(&s.id))
                .arg(json)
                .arg("PX")
                .arg(ms(ttl).max(1))
                .ignore();
        }
        for id in removed {
            pipe.del(session_key(id)).ignore();
        }
        self.call("publishing sessions", |mut c| async move {
            pipe.query_async::<()>(&mut c).await
        })
        .await
    }

    pub async fn publish_sessions(
        &self,
        changes: &SessionChanges,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.write_sessions(&changes.added, &changes.removed, ttl)
            .await
    }

    pub async fn refresh_sessions(
        &self,
        all: &[SessionInfo],
        removed: &[String],
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.write_sessions(all, removed, ttl).await
    }

    pub async fn list_sessions(&self) -> Result<Vec<SessionInfo>, StoreError> {
        let names = self.scan(format!("{PREFIX}session:*")).await?;
        let mut all = Vec::with_capacity(names.len());
        for batch in names.chunks(LIST_BATCH) {
            let batch = batch.to_vec();
            let values: Vec<Option<String>> = self
                .call("listing sessions", |mut c| async move {
                    redis::cmd("MGET").arg(&batch).query_async(&mut c).await
                })
                .await?;
            for v in values.into_iter().flatten() {
                match serde_json::from_str(&v) {
                    Ok(s) => all.push(s),
                    Err(e) => {
                        tracing::warn!(error = %e, "a damaged session entry in Redis is ignored")
                    }
                }
            }
        }
        Ok(all)
    }

    pub async fn request_kill(&self, id: &str, by: &str) -> Result<KillSent, StoreError> {
        let k = session_key(id);
        let found: Option<String> = self
            .call("finding a session", |mut c| async move { c.get(k).await })
            .await?;
        let Some(info) = found.and_then(|v| serde_json::from_str::<SessionInfo>(&v).ok()) else {
            return Ok(KillSent::NotFound);
        };
        let message = serde_json::to_string(&KillRequest {
            id: id.to_owned(),
            by: by.to_owned(),
        })
        .unwrap_or_default();
        let channel = kill_channel(&info.instance);
        let heard: i64 = self
            .call("sending a kill request", |mut c| async move {
                c.publish(channel, message).await
            })
            .await?;
        Ok(if heard > 0 {
            KillSent::Sent {
                instance: info.instance,
            }
        } else {
            KillSent::InstanceSilent {
                instance: info.instance,
            }
        })
    }

    /// Subscribes to this instance's kill channel and ends what it names; subscribes again
    /// whenever the subscription is lost — also silently, when a ping goes unanswered (a
    /// half-open connection after a failover would otherwise wait forever). Each change
    /// between listening and not is logged once.
    pub async fn serve_kills(self: Arc<Self>, live: Arc<LiveSessions>) {
        let channel = kill_channel(live.instance());
        let mut listening = None;
        loop {
            let why = match self.subscribe(&channel).await {
                Ok((sink, stream)) => {
                    if listening != Some(true) {
                        tracing::info!(channel, "listening for kill requests");
                    }
                    listening = Some(true);
                    Self::listen(sink, stream, &live).await
                }
                Err(e) => e,
            };
            if listening != Some(false) {
                tracing::warn!(error = %why, "kill requests from other instances cannot be received until the store answers again");
            }
            listening = Some(false);
            tokio::time::sleep(RESUBSCRIBE_DELAY).await;
        }
    }

    async fn subscribe(
        &self,
        channel: &str,
    ) -> Result<(redis::aio::PubSubSink, redis::aio::PubSubStream), String> {
        let no_answer = || format!("no answer within {} s", CALL_TIMEOUT.as_secs());
        let pubsub = tokio::time::timeout(CALL_TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(|_| no_answer())?
            .map_err(|e| e.to_string())?;
        let (mut sink, stream) = pubsub.split();
        tokio::time::timeout(CALL_TIMEOUT, sink.subscribe(channel))
            .await
            .map_err(|_| no_answer())?
            .map_err(|e| e.to_string())?;
        Ok((sink, stream))
    }

    /// Ends the sessions kill requests name until the subscription fails; why it did.
    async fn listen(
        mut sink: redis::aio::PubSubSink,
        mut stream: redis::aio::PubSubStream,
        live: &LiveSessions,
    ) -> String {
        let mut ping = tokio::time::interval(PUBSUB_PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = stream.next() => {
                    let Some(msg) = msg else {
                        return "the subscription ended".to_owned();
                    };
                    let Ok(payload) = msg.get_payload::<String>() else {
                        continue;
                    };
                    match serde_json::from_str::<KillRequest>(&payload) {
                        Ok(k) => {
                            if live.kill(&k.id, &k.by) {
                                tracing::info!(session = %k.id, by = %k.by, "session ended by an administrator");
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "a damaged kill request is ignored"),
                    }
                }
                _ = ping.tick() => {
                    match tokio::time::timeout(CALL_TIMEOUT, sink.ping::<redis::Value>()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return e.to_string(),
                        Err(_) => return format!("no answer to a ping within {} s", CALL_TIMEOUT.as_secs()),
                    }
                }
            }
        }
    }
}
