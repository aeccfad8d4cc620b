//! Addresses (and credentials) that keep failing to authenticate — a bad, used or expired
//! one-time key, a refused client certificate, a wrong admin token — are blocked for a
//! while, longer each time: after `failures` failures for `block`, then twice as long with
//! every further failure, up to `max_block`. A success forgets the failures; so does a quiet
//! period of twice `max_block`. While blocked, nothing from the address is looked at (a
//! one-time key it presents is not consumed). Addresses count like the connection limit:
//! IPv6 per /64 (the caller passes [`crate::conn_limit::address_key`]).
//!
//! The table is bounded (`max_entries`): when it is full, the entry whose last failure is the
//! oldest is forgotten to make room, so new attackers are always tracked. Each failure costs
//! O(1) amortised (a hash map, and a queue in failure order whose stale items are dropped as
//! they reach its front); nothing scans the table except `/metrics`.
//!
//! Time is an input (`now`), so tests drive it.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The most entries remembered at once by default.
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;

/// When blocking starts and how it grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures before the first block.
    pub failures: u32,
    /// The first block.
    pub block: Duration,
    /// The longest block.
    pub max_block: Duration,
    /// Entries remembered at once; the least recently failing one makes room for a new one.
    pub max_entries: usize,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            failures: 5,
            block: Duration::from_secs(10),
            max_block: Duration::from_secs(3600),
            max_entries: DEFAULT_MAX_ENTRIES,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    blocked_until: Option<Instant>,
    /// The number of this entry's newest item in the failure queue.
    seq: u64,
}

#[derive(Debug)]
struct Table<K> {
    entries: HashMap<K, Entry>,
    /// Keys in the order of their failures; an item is stale once its key failed again
    /// (its `seq` no longer matches) or was forgotten.
    order: VecDeque<(K, u64)>,
    next_seq: u64,
}

impl<K: Hash + Eq + Clone> Table<K> {
    /// Forgets the least recently failing entry.
    fn evict_one(&mut self) {
        while let Some((k, seq)) = self.order.pop_front() {
            if self.entries.get(&k).is_some_and(|e| e.seq == seq) {
                self.entries.remove(&k);
                return;
            }
        }
    }

    /// Drops stale queue items once they outnumber the entries (amortised O(1)).
    fn compact(&mut self) {
        if self.order.len() > 2 * self.entries.len() + 64 {
            let entries = &self.entries;
            self.order
                .retain(|(k, seq)| entries.get(k).is_some_and(|e| e.seq == *seq));
        }
    }
}

/// Failures and blocks per key (an address, or a credential).
#[derive(Debug)]
pub struct Lockout<K = IpAddr> {
    policy: LockoutPolicy,
    table: Mutex<Table<K>>,
    /// Blocks imposed since start.
    pub blocks_total: AtomicU64,
    /// Entries forgotten to make room for new ones.
    pub evictions_total: AtomicU64,
}

impl<K: Hash + Eq + Clone> Lockout<K> {
    pub fn new(policy: LockoutPolicy) -> Self {
        Self {
            policy,
            table: Mutex::new(Table {
                entries: HashMap::new(),
                order: VecDeque::new(),
                next_seq: 0,
            }),
            blocks_total: AtomicU64::new(0),
            evictions_total: AtomicU64::new(0),
        }
    }

    pub fn policy(&self) -> LockoutPolicy {
        self.policy
    }

    fn forget_after(&self) -> Duration {
        self.policy.max_block.saturating_mul(2)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table<K>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How much longer `key` is blocked, if it is.
    pub fn blocked(&self, key: &K, now: Instant) -> Option<Duration> {
        let table = self.lock();
        let until = table.entries.get(key)?.blocked_until?;
        (until > now).then(|| until - now)
    }

    /// Records a failure of `key`; returns the block it starts, if any.
    pub fn failure(&self, key: &K, now: Instant) -> Option<Duration> {
        let mut table = self.lock();
        let forget = self.forget_after();
        if !table.entries.contains_key(key) && table.entries.len() >= self.policy.max_entries.max(1)
        {
            table.evict_one();
            self.evictions_total.fetch_add(1, Ordering::Relaxed);
        }
        let seq = table.next_seq;
        table.next_seq += 1;
        table.order.push_back((key.clone(), seq));
        let e = table.entries.entry(key.clone()).or_insert(Entry {
            failures: 0,
            last_failure: now,
            blocked_until: None,
            seq,
        });
        if now.saturating_duration_since(e.last_failure) >= forget {
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        e.last_failure = now;
        e.seq = seq;
        let result = if e.failures < self.policy.failures {
            None
        } else {
            let doublings = (e.failures - self.policy.failures).min(31);
            let block = self
                .policy
                .block
                .saturating_mul(1u32 << doublings)
                .min(self.policy.max_block);
            e.blocked_until = Some(now + block);
            self.blocks_total.fetch_add(1, Ordering::Relaxed);
            Some(block)
        };
        table.compact();
        result
    }

    /// A success of `key`: its failures are forgotten.
    pub fn success(&self, key: &K) {
        let mut table = self.lock();
        table.entries.remove(key);
        table.compact();
    }

    /// Keys blocked at `now` (a scan: for `/metrics` only).
    pub fn blocked_count(&self, now: Instant) -> usize {
        self.lock()
            .entries
            .values()
            .filter(|e| e.blocked_until.is_some_and(|u| u > now))
            .count()
    }

    /// Entries remembered now.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        crate::conn_limit::address_key(s.parse().expect("ip"))
    }

    #[test]
    fn blocks_after_the_threshold_and_doubles_up_to_the_cap() {
        let l = Lockout::new(LockoutPolicy {
            failures: 3,
            block: Duration::from_secs(10),
            max_block: Duration::from_secs(35),
            ..LockoutPolicy::default()
        });
        let a = ip("192.0.2.1");
        let mut now = Instant::now();
        assert_eq!(l.failure(&a, now), None);
        assert_eq!(l.failure(&a, now), None);
        assert_eq!(l.blocked(&a, now), None);
        assert_eq!(l.failure(&a, now), Some(Duration::from_secs(10)));
        assert_eq!(l.blocked(&a, now), Some(Duration::from_secs(10)));
        assert_eq!(l.blocked(&ip("192.0.2.2"), now), None, "only that address");
        now += Duration::from_secs(11);
        assert_eq!(l.blocked(&a, now), None, "the block ends");
        assert_eq!(l.failure(&a, now), Some(Duration::from_secs(20)));
        now += Duration::from_secs(21);
        assert_eq!(l.failure(&a, now), Some(Duration::from_secs(35)), "capped");
        assert_eq!(l.blocked_count(now), 1);
        assert_eq!(l.blocks_total.load(Ordering::Relaxed), 3);
        l.success(&a);
        assert_eq!(l.blocked(&a, now), None);
        assert_eq!(l.failure(&a, now), None, "a success starts over");
    }

    #[test]
    fn ipv6_counts_per_64_and_quiet_addresses_are_forgotten() {
        let l = Lockout::new(LockoutPolicy {
            failures: 2,
            block: Duration::from_secs(1),
            max_block: Duration::from_secs(4),
            ..LockoutPolicy::default()
        });
        let now = Instant::now();
        assert_eq!(l.failure(&ip("2001:db8::1"), now), None);
        assert!(l.failure(&ip("2001:db8::2"), now).is_some(), "same /64");
        let later = now + Duration::from_secs(9);
        assert_eq!(l.failure(&ip("2001:db8::3"), later), None, "forgotten");
    }

    #[test]
    fn a_full_table_forgets_the_oldest_and_keeps_tracking_new_addresses() {
        let l = Lockout::new(LockoutPolicy {
            failures: 2,
            block: Duration::from_secs(60),
            max_block: Duration::from_secs(600),
            max_entries: 100,
        });
        let now = Instant::now();
        for i in 0..1000u32 {
            let a = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert_eq!(l.failure(&a, now), None, "first failure of {a}");
            assert!(l.len() <= 100, "bounded: {}", l.len());
        }
        let newest = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + 999));
        assert_eq!(
            l.failure(&newest, now),
            Some(Duration::from_secs(60)),
            "a new address is still tracked when the table is full"
        );
        let oldest = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000u32));
        assert_eq!(l.failure(&oldest, now), None, "the oldest was forgotten");
        assert!(l.evictions_total.load(Ordering::Relaxed) >= 900);
        // A repeatedly failing key survives a flood of one-off ones within its recency.
        let table = l.lock();
        assert!(table.order.len() <= 2 * table.entries.len() + 64 + 1);
    }

    #[test]
    fn credentials_lock_apart_from_addresses() {
        let l: Lockout<String> = Lockout::new(LockoutPolicy {
            failures: 1,
            ..LockoutPolicy::default()
        });
        let now = Instant::now();
        assert!(l.failure(&"cert:aa".to_owned(), now).is_some());
        assert!(l.blocked(&"cert:aa".to_owned(), now).is_some());
        assert_eq!(l.blocked(&"cert:bb".to_owned(), now), None);
    }
}
