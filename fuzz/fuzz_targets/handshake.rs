#![no_main]
//! The handshake on arbitrary server bytes, with every kind of credential configured.

use libfuzzer_sys::fuzz_target;
use rfb::{Client, ClientConfig, Password, TlsTrust};

fuzz_target!(|data: &[u8]| {
    let Some((&sizes, rest)) = data.split_first() else { return };
    let cfg = ClientConfig {
        password: Some(Password::new("pw")),
        username: Some("u".into()),
        tls_trust: Some(TlsTrust::Pinned([7; 32])),
        prompt_for_credentials: sizes & 0x80 != 0,
        ..ClientConfig::default()
    };
    let mut c = Client::new(cfg);
    c.set_time(1_800_000_000);
    rfb_fuzz::feed(&mut c, sizes, rest);
});
