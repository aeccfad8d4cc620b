//! Connections open at once per client address: a slot is taken when the real client address
//! is known (after any PROXY header) and given back when the connection ends.
//!
//! IPv4 addresses count one by one; IPv6 addresses count per /64, the block one subscriber
//! usually gets, so a client cannot step around the limit by changing its interface ID.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::config::cidr::{canonical, network_of};

/// The key a client address counts under.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        v6 @ IpAddr::V6(_) => network_of(v6, 64),
        v4 => v4,
    }
}

/// Counts open connections per address.
#[derive(Debug)]
pub struct AddressLimiter {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection's slot; given back on drop.
#[derive(Debug)]
pub struct AddressSlot {
    limiter: Arc<AddressLimiter>,
    key: IpAddr,
}

impl AddressLimiter {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for `ip`, or `None` when it already has `max` connections open.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        let key = address_key(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(key).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            limiter: self.clone(),
            key,
        })
    }

    /// Connections open from `ip`'s key now.
    pub fn open(&self, ip: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&address_key(ip)).copied().unwrap_or(0)
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.limiter.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn slots_are_counted_per_address_and_given_back() {
        let l = AddressLimiter::new(2);
        let a = l.try_acquire(ip("192.0.2.1")).expect("first");
        let _b = l
            .try_acquire(ip("::ffff:192.0.2.1"))
            .expect("second, same address mapped");
        assert!(l.try_acquire(ip("192.0.2.1")).is_none(), "third refused");
        assert!(
            l.try_acquire(ip("192.0.2.2")).is_some(),
            "another address is fine"
        );
        drop(a);
        assert_eq!(l.open(ip("192.0.2.1")), 1);
        assert!(l.try_acquire(ip("192.0.2.1")).is_some());
    }

    #[test]
    fn ipv6_counts_per_64() {
        let l = AddressLimiter::new(1);
        let _a = l.try_acquire(ip("2001:db8:1:2::1")).expect("first");
        assert!(
            l.try_acquire(ip("2001:db8:1:2:ffff::9")).is_none(),
            "same /64"
        );
        assert!(l.try_acquire(ip("2001:db8:1:3::1")).is_some(), "other /64");
    }
}
