#![no_main]
//! Protocol detection on the first bytes of a connection. Beyond "no panic": a decision, once
//! made on a prefix, never changes as more bytes arrive (the server stops peeking at the first
//! decision), and detection never asks for more than the longest signature it knows.

use gateway::detect::{detect, Detected};
use libfuzzer_sys::fuzz_target;

/// The longest signature: the PROXY v2 one (12 bytes); `OPTIONS ` and `CONNECT ` are 8.
const LONGEST_SIGNATURE: usize = 12;

fuzz_target!(|data: &[u8]| {
    let mut decided: Option<(usize, Detected)> = None;
    for cut in 0..=data.len() {
        let got = detect(&data[..cut]);
        match decided {
            Some((at, first)) => assert_eq!(got, first, "decided {first:?} at {at}, then {got:?} at {cut}"),
            None if got != Detected::NeedMore => decided = Some((cut, got)),
            None => assert!(cut < LONGEST_SIGNATURE, "still undecided after {cut} bytes"),
        }
    }
});
