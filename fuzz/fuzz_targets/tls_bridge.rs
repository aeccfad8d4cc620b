#![no_main]
//! `rfb::tls::bridge`, the bytes between the viewer and its TLS module: parameters, chains and
//! errors decode without panicking or allocating beyond the input, and whatever decodes
//! encodes back to the same bytes.

use libfuzzer_sys::fuzz_target;
use rfb::tls::bridge;

fuzz_target!(|data: &[u8]| {
    if let Some((trust, identity)) = bridge::decode_params(data) {
        assert_eq!(bridge::encode_params(&trust, identity.as_ref()), data);
    }
    if let Some(chain) = bridge::decode_chain(data) {
        assert!(chain.iter().map(Vec::len).sum::<usize>() <= data.len());
        assert_eq!(bridge::encode_chain(&chain), data);
    }
    let e = bridge::decode_error(data);
    // An error travels unchanged once decoded.
    assert_eq!(
        bridge::decode_error(&bridge::encode_error(&e)).to_string(),
        e.to_string()
    );
});
