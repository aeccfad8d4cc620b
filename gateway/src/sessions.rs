//! The sessions this instance relays, while they last: each relay registers itself (who,
//! from where, which target, in which mode, since when) and counts its bytes into the entry; an
//! administrator can end any of them ([`LiveSessions::kill`], from `DELETE /api/sessions/ID`
//! here or on another instance, or `vncgate sessions kill`).
//!
//! The registry is the instance's own; [`publish`] copies it into the store so every instance
//! and the command line see it: changes within a second, and everything again every heartbeat,
//! with an expiry of [`ttl`] — the entries of an instance that died vanish on their own.
//!
//! ```text
//! relay ─register─► LiveSessions ─(changes, heartbeat)─► Store (SQLite table | Redis keys)
//!   ▲                    │ kill(id, by)                        │
//!   └── ends with "ended by an administrator" ◄── kill listener ◄┘ (table poll | pub/sub)
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::admission::{Revoked, Route, Via};

/// The most removals kept for a store that does not answer.
pub const MAX_PENDING_REMOVALS: usize = 65_536;

/// How often changes (sessions started or ended) reach the store.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// How long a published entry lives without a heartbeat: three heartbeats.
pub fn ttl(heartbeat: Duration) -> Duration {
    heartbeat.saturating_mul(3)
}

/// One live session, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// 16 hex digits, unique in the fleet.
    pub id: String,
    /// The instance relaying it (`--instance`).
    pub instance: String,
    pub target: String,
    /// Who, as the audit log names them (certificate subject and/or key id).
    pub who: String,
    /// `full` or `view-only`.
    pub mode: String,
    /// The client's address (from the PROXY header behind a load balancer).
    pub client: String,
    /// `websocket`, `native_tls` or `native_plain`.
    pub via: String,
    /// Unix milliseconds.
    pub started_ms: u64,
    pub bytes_to_target: u64,
    pub bytes_to_client: u64,
}

/// Bytes a relay moved so far, each way; the relay adds, listings read.
#[derive(Debug, Default)]
pub struct RelayCounters {
    pub to_target: AtomicU64,
    pub to_client: AtomicU64,
}

#[derive(Debug)]
struct Entry {
    info: SessionInfo,
    /// What admitted it, for [`LiveSessions::recheck`].
    route: Route,
    client: SocketAddr,
    via: Via,
    counters: Arc<RelayCounters>,
    /// Why it must end, once something ended it.
    end: watch::Sender<Option<Ending>>,
}

/// Why the gateway ends a session that is still relaying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// An administrator ended it; `by` is who, for the audit log.
    Killed { by: String },
    /// A reloaded configuration no longer admits it.
    Revoked(Revoked),
}

#[derive(Debug, Default)]
struct Changes {
    added: Vec<String>,
    removed: Vec<String>,
}

/// This instance's live sessions.
#[derive(Debug)]
pub struct LiveSessions {
    instance: String,
    live: Mutex<HashMap<String, Entry>>,
    changes: Mutex<Changes>,
}

/// What [`LiveSessions::take_changes`] hands to the store.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SessionChanges {
    pub added: Vec<SessionInfo>,
    pub removed: Vec<String>,
}

impl SessionChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// A relay's place in the registry; dropping it ends the entry.
#[derive(Debug)]
pub struct Registration {
    id: String,
    owner: Arc<LiveSessions>,
    counters: Arc<RelayCounters>,
    end: KillWatch,
}

impl Registration {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn counters(&self) -> Arc<RelayCounters> {
        self.counters.clone()
    }

    /// A handle that learns when the session is ended.
    pub fn watch(&self) -> KillWatch {
        self.end.clone()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let removed = self.owner.lock().remove(&self.id).is_some();
        if removed {
            self.owner.note(|c| c.removed.push(self.id.clone()));
        }
    }
}

/// Learns when the gateway ends a session (an administrator, a reload), and why.
#[derive(Debug, Clone)]
pub struct KillWatch(watch::Receiver<Option<Ending>>);

impl KillWatch {
    /// Resolves with why the session was ended; never otherwise.
    pub async fn killed(&mut self) -> Ending {
        loop {
            if let Some(by) = self.0.borrow_and_update().clone() {
                return by;
            }
            if self.0.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// [`Self::killed`] of an optional watch: never, without one.
    pub async fn killed_opt(w: &mut Option<Self>) -> Ending {
        match w {
            Some(w) => w.killed().await,
            None => std::future::pending().await,
        }
    }
}

/// A new session id: 8 random bytes in hex. Without randomness (which TLS needs too), a hash
/// of the instance, the process, the time and a counter: still unique in the fleet.
fn new_id(instance: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let seed = format!(
            "{instance}/{}/{}/{n}",
            std::process::id(),
            unix_ms(SystemTime::now())
        );
        let digest = Sha256::digest(seed.as_bytes());
        b.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl LiveSessions {
    pub fn new(instance: String) -> Arc<Self> {
        Arc::new(Self {
            instance,
            live: Mutex::new(HashMap::new()),
            changes: Mutex::new(Changes::default()),
        })
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn note(&self, f: impl FnOnce(&mut Changes)) {
        f(&mut self.changes.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Registers a relay of `route` for `client`.
    pub fn register(self: &Arc<Self>, route: &Route, client: SocketAddr, via: Via) -> Registration {
        let id = new_id(&self.instance);
        let counters = Arc::new(RelayCounters::default());
        let (end, rx) = watch::channel(None);
        let info = SessionInfo {
            id: id.clone(),
            instance: self.instance.clone(),
            target: route.name.clone(),
            who: route.who.to_string(),
            mode: route.mode.as_str().to_owned(),
            client: client.to_string(),
            via: via.label().to_owned(),
            started_ms: unix_ms(SystemTime::now()),
            bytes_to_target: 0,
            bytes_to_client: 0,
        };
        self.lock().insert(
            id.clone(),
            Entry {
                info,
                route: route.clone(),
                client,
                via,
                counters: counters.clone(),
                end,
            },
        );
        self.note(|c| c.added.push(id.clone()));
        Registration {
            id,
            owner: self.clone(),
            counters,
            end: KillWatch(rx),
        }
    }

    /// Ends session `id` if it runs here; `true` if it did (or was ending already).
    pub fn kill(&self, id: &str, by: &str) -> bool {
        match self.lock().get(id) {
            Some(e) => {
                Self::end(e, Ending::Killed { by: by.to_owned() });
                true
            }
            None => false,
        }
    }

    /// Ends session `id`, which the rules in force no longer admit.
    pub fn revoke(&self, id: &str, why: Revoked) {
        if let Some(e) = self.lock().get(id) {
            Self::end(e, Ending::Revoked(why));
        }
    }

    /// Ends every session `judge` no longer admits (given its route, client and way in);
    /// returns the ids and reasons of those it ended.
    pub fn recheck(
        &self,
        judge: impl Fn(&Route, SocketAddr, Via) -> Option<Revoked>,
    ) -> Vec<(SessionInfo, Revoked)> {
        let live = self.lock();
        let mut ended = Vec::new();
        for e in live.values() {
            if let Some(why) = judge(&e.route, e.client, e.via) {
                if Self::end(e, Ending::Revoked(why.clone())) {
                    ended.push((Self::listed(e), why));
                }
            }
        }
        ended.sort_by_key(|e| e.0.started_ms);
        ended
    }

    /// Ends `e` for `why` unless something ended it already; `true` if this did.
    fn end(e: &Entry, why: Ending) -> bool {
        e.end.send_if_modified(|v| {
            let first = v.is_none();
            if first {
                *v = Some(why);
            }
            first
        })
    }

    fn listed(e: &Entry) -> SessionInfo {
        let mut info = e.info.clone();
        info.bytes_to_target = e.counters.to_target.load(Ordering::Relaxed);
        info.bytes_to_client = e.counters.to_client.load(Ordering::Relaxed);
        info
    }

    /// Every live session, with its bytes so far, oldest first.
    pub fn snapshot(&self) -> Vec<SessionInfo> {
        let mut all: Vec<SessionInfo> = self.lock().values().map(Self::listed).collect();
        all.sort_by(|a, b| a.started_ms.cmp(&b.started_ms).then(a.id.cmp(&b.id)));
        all
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sessions started and ended since the last call. A session that started and ended in
    /// between is not published, but its removal is (a SET of it may have landed before a
    /// publish failed: deleting an entry that is not there is harmless).
    pub fn take_changes(&self) -> SessionChanges {
        let Changes { added, removed } =
            std::mem::take(&mut *self.changes.lock().unwrap_or_else(|e| e.into_inner()));
        let live = self.lock();
        SessionChanges {
            added: added
                .iter()
                .filter_map(|id| live.get(id).map(Self::listed))
                .collect(),
            removed,
        }
    }

    /// Puts changes back that could not be published (they are tried again). Removals are
    /// kept up to [`MAX_PENDING_REMOVALS`]: in a long outage the oldest ones are dropped, their
    /// entries having expired by then anyway.
    pub fn restore_changes(&self, changes: SessionChanges) {
        self.note(|c| {
            c.added.extend(changes.added.into_iter().map(|i| i.id));
            let mut removed = changes.removed;
            removed.append(&mut c.removed);
            let excess = removed.len().saturating_sub(MAX_PENDING_REMOVALS);
            removed.drain(..excess);
            c.removed = removed;
        });
    }
}

/// The instance name when none is configured: this host's name and the listening port.
pub fn default_instance(listen: SocketAddr) -> String {
    let host = crate::config::host_name().unwrap_or_else(|| "vncgate".to_owned());
    format!("{host}:{}", listen.port())
}

/// Copies the registry into `store` until the task is dropped: changes every
/// [`FLUSH_INTERVAL`], everything every `heartbeat` (entries expire after [`ttl`]). A store
/// that fails is reported once per outage; what it missed is sent again.
pub async fn publish(store: crate::store::Store, live: Arc<LiveSessions>, heartbeat: Duration) {
    let mut tick = tokio::time::interval(FLUSH_INTERVAL.min(heartbeat));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_full = tokio::time::Instant::now();
    let mut failing = false;
    let mut need_full = true;
    loop {
        tick.tick().await;
        let changes = live.take_changes();
        let full_due = need_full || last_full.elapsed() >= heartbeat;
        let result = if full_due {
            store
                .refresh_sessions(
                    live.instance(),
                    &live.snapshot(),
                    &changes.removed,
                    ttl(heartbeat),
                )
                .await
        } else if changes.is_empty() {
            continue;
        } else {
            store.publish_sessions(&changes, ttl(heartbeat)).await
        };
        match result {
            Ok(()) => {
                if full_due {
                    last_full = tokio::time::Instant::now();
                    need_full = false;
                }
                if failing {
                    tracing::info!(store = %store.describe(), "the session registry reaches the store again");
                    failing = false;
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "the session registry cannot reach the store; sessions go on, the list is stale until it returns");
                    failing = true;
                }
                live.restore_changes(changes);
                need_full = true;
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::admission::{Basis, Principal};
    use crate::auth::Mode;
    use crate::config::TargetAddr;

    /// A view-only route to `desk` with a key: what a registry entry is made of.
    pub(crate) fn route() -> Route {
        Route {
            name: "desk".into(),
            addr: TargetAddr {
                host: "127.0.0.1".into(),
                port: 5900,
            },
            mode: Mode::ViewOnly,
            who: Principal {
                subject: None,
                key_id: Some("00112233aabbccdd".into()),
            },
            basis: Basis::Key(crate::otk::Grant {
                key_id: "00112233aabbccdd".into(),
                target: "desk".into(),
                mode: Mode::ViewOnly,
            }),
            generation: 0,
        }
    }

    #[tokio::test]
    async fn sessions_register_count_list_end_and_report_their_changes() {
        let live = LiveSessions::new("gw1:8443".into());
        let client: SocketAddr = "192.0.2.7:5000".parse().expect("addr");
        let a = live.register(&route(), client, Via::WebSocket);
        let b = live.register(&route(), client, Via::NativeTls);
        assert_ne!(a.id(), b.id());
        assert_eq!(a.id().len(), 16);
        a.counters().to_client.fetch_add(1234, Ordering::Relaxed);
        let list = live.snapshot();
        assert_eq!(list.len(), 2);
        let first = list.iter().find(|s| s.id == a.id()).expect("listed");
        assert_eq!(first.bytes_to_client, 1234);
        assert_eq!(first.client, "192.0.2.7:5000");
        assert_eq!(first.instance, "gw1:8443");
        assert_eq!(first.mode, "view-only");
        assert_eq!(first.who, "key 00112233aabbccdd");
        let changes = live.take_changes();
        assert_eq!(changes.added.len(), 2);
        assert!(changes.removed.is_empty());
        assert!(live.take_changes().is_empty(), "taken once");

        let mut watch = a.watch();
        assert!(live.kill(a.id(), "admin token"));
        assert!(!live.kill("ffffffffffffffff", "admin token"), "not here");
        let by = tokio::time::timeout(Duration::from_secs(1), watch.killed())
            .await
            .expect("told");
        assert_eq!(
            by,
            Ending::Killed {
                by: "admin token".into()
            }
        );
        let a_id = a.id().to_owned();
        drop(a);
        assert_eq!(live.len(), 1);
        assert_eq!(live.take_changes().removed, vec![a_id]);

        // A reload ends the sessions it no longer admits, once, with its reason.
        let mut watch_b = b.watch();
        let why = Revoked {
            reason: "ended by a configuration change: target 'desk' was removed".into(),
        };
        let ended = live.recheck(|r, c, via| {
            assert_eq!((r.name.as_str(), c, via), ("desk", client, Via::NativeTls));
            Some(why.clone())
        });
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].0.id, b.id());
        assert_eq!(watch_b.killed().await, Ending::Revoked(why.clone()));
        assert!(
            live.recheck(|_, _, _| Some(why.clone())).is_empty(),
            "ended already"
        );
        assert!(live.kill(b.id(), "admin"), "still listed until it returns");
        assert_eq!(
            watch_b.killed().await,
            Ending::Revoked(why),
            "the first reason stays"
        );

        // Started and ended between two flushes: not published, only deleted.
        let c = live.register(&route(), client, Via::WebSocket);
        let c_id = c.id().to_owned();
        drop(c);
        let changes = live.take_changes();
        assert!(changes.added.is_empty());
        assert_eq!(changes.removed, vec![c_id]);
        // A long outage keeps a bounded number of removals.
        live.restore_changes(SessionChanges {
            added: Vec::new(),
            removed: (0..MAX_PENDING_REMOVALS + 10)
                .map(|i| i.to_string())
                .collect(),
        });
        let kept = live.take_changes().removed;
        assert_eq!(kept.len(), MAX_PENDING_REMOVALS);
        assert_eq!(
            kept.first().map(String::as_str),
            Some("10"),
            "the oldest go first"
        );
        drop(b);
    }
}
