#![no_main]
//! The server side of the handshake (`rfb::server`) on arbitrary client bytes, fed in chunk
//! sizes taken from the first byte, with either offer: security None (the gateway's greeting
//! after its own login) or VeNCrypt X509Plain/X509None (native viewers). Beyond "no panic":
//! the chunking changes nothing; the server always opens with RFB 3.8; with None it sends the
//! ServerInit only after a complete, valid handshake, exactly once, and hands on exactly the
//! input that followed the handshake; with VeNCrypt no Authenticate event comes before TLS,
//! so nothing in clear is ever judged.

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use rfb::security::VeNCryptSubtype;
use rfb::server::{Offer, Server, ServerConfig, ServerEvent};

const SERVER_INIT: &[u8] = b"\x04\x00\x03\x00SERVER-INIT";

fn vencrypt() -> ServerConfig {
    static TLS: OnceLock<Arc<rustls::ServerConfig>> = OnceLock::new();
    let tls = TLS.get_or_init(|| {
        use rustls::pki_types::pem::PemObject;
        let issued = certs::generate::self_signed_server("fuzz", &["fuzz.test".to_owned()], 30)
            .expect("certificate");
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes())
            .expect("key");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_no_client_auth()
                .with_single_cert(vec![issued.cert_der.into()], key)
                .expect("config"),
        )
    });
    ServerConfig {
        offer: Offer::VeNCrypt {
            subtypes: vec![VeNCryptSubtype::X509Plain, VeNCryptSubtype::X509None],
            tls: tls.clone(),
            hint: "use X509Plain".to_owned(),
        },
        challenge: [0; 16],
    }
}

/// What was sent, whether it failed, the events, and the session bytes handed on.
fn run(config: ServerConfig, data: &[u8], chunk: usize) -> (Vec<u8>, bool, Vec<ServerEvent>, Vec<u8>) {
    let mut s = Server::new(config);
    // The server speaks first, before any input.
    let mut out = s.poll_transmit().unwrap_or_default();
    let (mut events, mut rest) = (Vec::new(), Vec::new());
    let mut failed = false;
    for part in data.chunks(chunk.max(1)) {
        if s.receive(part).is_err() {
            failed = true;
        }
        while let Some(e) = s.poll_event() {
            if let ServerEvent::ClientInit { .. } = e {
                s.send_server_init(SERVER_INIT).expect("after ClientInit");
            }
            events.push(e);
        }
        out.extend(s.poll_transmit().unwrap_or_default());
        rest.extend(s.take_from_client());
        if failed {
            break;
        }
    }
    (out, failed, events, rest)
}

fuzz_target!(|data: &[u8]| {
    let Some((&sizes, input)) = data.split_first() else { return };
    let chunk = usize::from(sizes % 32) + 1;
    let none = || ServerConfig { offer: Offer::None, challenge: [0; 16] };
    let got = run(none(), input, chunk);
    assert_eq!(got, run(none(), input, input.len()), "the chunking changed the handshake");
    let (out, _, _, rest) = got;
    assert!(out.starts_with(b"RFB 003.008\n"));
    let inits = out.windows(SERVER_INIT.len()).filter(|w| *w == SERVER_INIT).count();
    if inits > 0 {
        assert_eq!(inits, 1);
        assert!(out.ends_with(SERVER_INIT));
        let used = match &input[..12] {
            b"RFB 003.003\n" => 13,
            b"RFB 003.007\n" | b"RFB 003.008\n" => {
                assert_eq!(input[12], 1, "a security type other than None was accepted");
                14
            }
            v => panic!("version {v:?} accepted"),
        };
        assert_eq!(rest, input[used..], "the session's first bytes are not what followed the handshake");
    }

    let (out, _, events, _) = run(vencrypt(), input, chunk);
    assert!(out.starts_with(b"RFB 003.008\n"));
    // Random bytes never complete a TLS handshake: nothing is ever up for judgement.
    assert!(events.is_empty(), "an event without TLS: {events:?}");
});
