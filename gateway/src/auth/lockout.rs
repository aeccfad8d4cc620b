//! Addresses that keep failing to authenticate — a bad, used or expired one-time key, a
//! refused client certificate, a wrong admin token — are blocked for a while, longer each
//! time: after `failures` failures for `block`, then twice as long with every further failure,
//! up to `max_block`. A success forgets the address's failures; so does a quiet period of
//! twice `max_block`. While blocked, nothing from the address is looked at (a one-time key it
//! presents is not consumed). Addresses count like the connection limit: IPv6 per /64.
//!
//! Time is an input (`now`), so tests drive it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::conn_limit::address_key;

/// The most addresses remembered at once; beyond it new ones are not tracked.
const MAX_ENTRIES: usize = 100_000;

/// When blocking starts and how it grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures before the first block.
    pub failures: u32,
    /// The first block.
    pub block: Duration,
    /// The longest block.
    pub max_block: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            failures: 5,
            block: Duration::from_secs(10),
            max_block: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    blocked_until: Option<Instant>,
}

/// Failures and blocks per address.
#[derive(Debug)]
pub struct Lockout {
    policy: LockoutPolicy,
    entries: Mutex<HashMap<IpAddr, Entry>>,
    /// Blocks imposed since start.
    pub blocks_total: AtomicU64,
}

impl Lockout {
    pub fn new(policy: LockoutPolicy) -> Self {
        Self {
            policy,
            entries: Mutex::new(HashMap::new()),
            blocks_total: AtomicU64::new(0),
        }
    }

    pub fn policy(&self) -> LockoutPolicy {
        self.policy
    }

    fn forget_after(&self) -> Duration {
        self.policy.max_block.saturating_mul(2)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How much longer `ip` is blocked, if it is.
    pub fn blocked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let entries = self.lock();
        let until = entries.get(&address_key(ip))?.blocked_until?;
        (until > now).then(|| until - now)
    }

    /// Records a failure from `ip`; returns the block it starts, if any.
    pub fn failure(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let mut entries = self.lock();
        let forget = self.forget_after();
        if entries.len() >= MAX_ENTRIES / 10 {
            entries.retain(|_, e| now.saturating_duration_since(e.last_failure) < forget);
        }
        let key = address_key(ip);
        if !entries.contains_key(&key) && entries.len() >= MAX_ENTRIES {
            return None;
        }
        let e = entries.entry(key).or_insert(Entry {
            failures: 0,
            last_failure: now,
            blocked_until: None,
        });
        if now.saturating_duration_since(e.last_failure) >= forget {
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        e.last_failure = now;
        if e.failures < self.policy.failures {
            return None;
        }
        let doublings = (e.failures - self.policy.failures).min(31);
        let block = self
            .policy
            .block
            .saturating_mul(1u32 << doublings)
            .min(self.policy.max_block);
        e.blocked_until = Some(now + block);
        self.blocks_total.fetch_add(1, Ordering::Relaxed);
        Some(block)
    }

    /// A success from `ip`: its failures are forgotten.
    pub fn success(&self, ip: IpAddr) {
        self.lock().remove(&address_key(ip));
    }

    /// Addresses blocked at `now`.
    pub fn blocked_count(&self, now: Instant) -> usize {
        self.lock()
            .values()
            .filter(|e| e.blocked_until.is_some_and(|u| u > now))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn blocks_after_the_threshold_and_doubles_up_to_the_cap() {
        let l = Lockout::new(LockoutPolicy {
            failures: 3,
            block: Duration::from_secs(10),
            max_block: Duration::from_secs(35),
        });
        let a = ip("192.0.2.1");
        let mut now = Instant::now();
        assert_eq!(l.failure(a, now), None);
        assert_eq!(l.failure(a, now), None);
        assert_eq!(l.blocked(a, now), None);
        assert_eq!(l.failure(a, now), Some(Duration::from_secs(10)));
        assert_eq!(l.blocked(a, now), Some(Duration::from_secs(10)));
        assert_eq!(l.blocked(ip("192.0.2.2"), now), None, "only that address");
        now += Duration::from_secs(11);
        assert_eq!(l.blocked(a, now), None, "the block ends");
        assert_eq!(l.failure(a, now), Some(Duration::from_secs(20)));
        now += Duration::from_secs(21);
        assert_eq!(l.failure(a, now), Some(Duration::from_secs(35)), "capped");
        assert_eq!(l.blocked_count(now), 1);
        assert_eq!(l.blocks_total.load(Ordering::Relaxed), 3);
        l.success(a);
        assert_eq!(l.blocked(a, now), None);
        assert_eq!(l.failure(a, now), None, "a success starts over");
    }

    #[test]
    fn ipv6_counts_per_64_and_quiet_addresses_are_forgotten() {
        let l = Lockout::new(LockoutPolicy {
            failures: 2,
            block: Duration::from_secs(1),
            max_block: Duration::from_secs(4),
        });
        let now = Instant::now();
        assert_eq!(l.failure(ip("2001:db8::1"), now), None);
        assert!(l.failure(ip("2001:db8::2"), now).is_some(), "same /64");
        let later = now + Duration::from_secs(9);
        assert_eq!(l.failure(ip("2001:db8::3"), later), None, "forgotten");
    }
}
