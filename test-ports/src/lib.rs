//! Loopback TCP ports for the servers that tests and benchmarks start (Xvnc, x11vnc, pebble,
//! redis, HAProxy, …), which take a port number on their command line rather than a socket.
//!
//! A port the kernel picks for `bind(0)` comes from its ephemeral range (32768–60999 by
//! default), from which every outgoing connection also takes its source port: between the
//! pick and the server's own bind, a connection can take it (pebble once failed so: "address
//! already in use"). The ports here come from below that range, and calls in one process never
//! hand out the same one twice.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// The ports [`free_port`] hands out.
pub const PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A loopback TCP port that was free a moment ago and that no outgoing connection will take.
/// Each process starts at its own place in [`PORTS`] (from its id), so parallel test binaries
/// rarely try the same port; a port another process holds is skipped.
pub fn free_port() -> std::io::Result<u16> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let first = u32::from(PORTS.start);
    let count = u32::from(PORTS.end) - first;
    let start = std::process::id() % count;
    for _ in 0..count {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let Ok(port) = u16::try_from(first + (start + n % count) % count) else {
            continue;
        };
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        format!(
            "no free loopback port in {}..{}: stop the servers earlier runs left behind",
            PORTS.start, PORTS.end
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_free_below_the_ephemeral_range_and_never_twice() {
        let a = free_port().expect("a port");
        let held = TcpListener::bind(("127.0.0.1", a)).expect("it was free");
        let b = free_port().expect("another port");
        assert_ne!(a, b);
        assert!(PORTS.contains(&a) && PORTS.contains(&b));
        assert!(b < 32_768, "below the kernel's ephemeral range");
        drop(held);
    }
}
