#![no_main]
//! The normal-phase server-message stream, every encoding enabled.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sizes, rest)) = data.split_first() else { return };
    let mut c = rfb_fuzz::connected(64, 48);
    rfb_fuzz::feed(&mut c, sizes, rest);
});
