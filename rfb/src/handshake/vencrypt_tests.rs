//! VeNCrypt X509 against an in-memory rustls server: the right CA or pin connects; a wrong CA
//! or a changed pin is refused with the reason.

use std::io::{Read, Write};
use std::sync::Arc;

use crate::client::{Client, ClientConfig, Event};
use crate::error::Error;
use crate::pixel_format::PixelFormat;
use crate::security::Password;
use crate::tls::{sha256, CertRejection, TlsTrust};

struct Pki {
    ca_der: Vec<u8>,
    leaf_der: Vec<u8>,
    leaf_key_der: Vec<u8>,
}

fn pki() -> Pki {
    let (ca_der, mut leaves) = crate::test_pki::ca_and_leaves(&["qemu.test"]);
    let leaf = leaves.remove(0);
    Pki {
        ca_der,
        leaf_der: leaf.der,
        leaf_key_der: leaf.key,
    }
}

fn server_conn(p: &Pki) -> rustls::ServerConnection {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![p.leaf_der.clone().into()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(p.leaf_key_der.clone().into()),
        )
        .expect("server config");
    rustls::ServerConnection::new(Arc::new(cfg)).expect("server")
}

fn server_init() -> Vec<u8> {
    let mut v = vec![0, 0, 0, 0]; // SecurityResult OK
    v.extend_from_slice(&[0, 64, 0, 32]);
    PixelFormat::RGBX_LE.write(&mut v);
    v.extend_from_slice(&[0, 0, 0, 4]);
    v.extend_from_slice(b"qemu");
    v
}

/// A client for `cfg` that knows the time (the certificates' validity is checked).
fn client_now(cfg: ClientConfig) -> Client {
    let mut c = Client::new(cfg);
    c.set_time(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_secs(),
    );
    c
}

/// Runs the handshake for `subtype`; returns the client's events or its error.
fn run(p: &Pki, subtype: u32, cfg: ClientConfig) -> Result<Vec<Event>, Error> {
    let mut c = client_now(cfg);
    c.receive(b"RFB 003.008\n\x02\x13\x02")?;
    let sent = c.poll_transmit().unwrap_or_default();
    assert_eq!(&sent[12..], &[19], "chose VeNCrypt");
    c.receive(&[0, 2])?;
    assert_eq!(c.poll_transmit(), Some(vec![0, 2]));
    let mut list = vec![0, 1];
    list.extend_from_slice(&subtype.to_be_bytes());
    list.push(1); // TLS ack, in the same chunk as the list
    c.receive(&list)?;
    let mut server = server_conn(p);
    let mut first = c.poll_transmit().unwrap_or_default();
    if c.tls_parameters().is_some() {
        // The application's engine (as the browser viewer's second module gives it): nothing
        // inside TLS goes out before it is given.
        assert_eq!(c.poll_event(), Some(Event::TlsEngineNeeded));
        assert_eq!(first.len(), 4, "only the subtype before the engine");
        c.receive(&[])?;
        assert_eq!(c.poll_transmit(), None);
        let (trust, identity) = c.tls_parameters().expect("parameters");
        let (trust, identity) =
            crate::tls::bridge::decode_params(&crate::tls::bridge::encode_params(trust, identity))
                .expect("bridge");
        let engine = crate::tls::RustlsEngine::new(&trust, identity.as_ref(), 1)?;
        c.provide_tls_engine(Box::new(engine))?;
        first.extend(c.poll_transmit().unwrap_or_default());
    }
    assert_eq!(
        &first[..4],
        &subtype.to_be_bytes(),
        "subtype goes out in clear"
    );
    let mut to_server = first[4..].to_vec();
    let mut init_sent = false;
    let mut events = Vec::new();
    for _ in 0..20 {
        let mut rd = &to_server[..];
        while !rd.is_empty() {
            server.read_tls(&mut rd).expect("server read");
        }
        to_server.clear();
        if server.process_new_packets().is_err() {
            // Let the client see the alert, then report its error.
            let mut alert = Vec::new();
            let _ = server.write_tls(&mut alert);
            c.receive(&alert)?;
        }
        let mut plain = Vec::new();
        let _ = server.reader().read_to_end(&mut plain);
        if subtype == 261 && plain.len() == 16 {
            server.writer().write_all(&server_init()).expect("write");
            init_sent = true;
        }
        if !server.is_handshaking() && !init_sent && subtype != 261 {
            if subtype == 261 {
                server.writer().write_all(&[7; 16]).expect("challenge");
            } else {
                server.writer().write_all(&server_init()).expect("write");
                init_sent = true;
            }
        }
        let mut to_client = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut to_client).expect("server write");
        }
        if !to_client.is_empty() {
            c.receive(&to_client)?;
        }
        to_server.extend(c.poll_transmit().unwrap_or_default());
        while let Some(e) = c.poll_event() {
            events.push(e);
        }
        if c.is_connected() {
            return Ok(events);
        }
        if subtype == 261
            && !server.is_handshaking()
            && plain.is_empty()
            && !init_sent
            && to_server.is_empty()
        {
            server.writer().write_all(&[7; 16]).expect("challenge");
        }
    }
    panic!("handshake did not finish; events so far: {events:?}");
}

#[test]
fn an_engine_the_application_gives_when_asked_runs_the_same_handshake() {
    let p = pki();
    for (subtype, trust) in [
        (260, TlsTrust::Pinned(sha256(&p.leaf_der))),
        (
            260,
            TlsTrust::Ca {
                roots: vec![p.ca_der.clone()],
                server_name: Some("qemu.test".into()),
            },
        ),
    ] {
        let cfg = ClientConfig {
            tls_trust: Some(trust),
            tls_source: crate::tls::TlsSource::Application,
            ..ClientConfig::default()
        };
        let events = run(&p, subtype, cfg).expect("connects");
        assert!(
            matches!(events.first(), Some(Event::ServerCertificate { sha256: s, .. }) if *s == sha256(&p.leaf_der)),
            "{events:?}"
        );
    }
    // The engine's verdict comes through it: a wrong pin is refused with the reason.
    let cfg = ClientConfig {
        tls_trust: Some(TlsTrust::Pinned([1; 32])),
        tls_source: crate::tls::TlsSource::Application,
        ..ClientConfig::default()
    };
    assert!(matches!(
        run(&p, 260, cfg),
        Err(Error::CertificateRejected {
            why: CertRejection::PinMismatch { .. },
            ..
        })
    ));
}

/// A client at VeNCrypt's switch to TLS, waiting for the application's engine.
fn awaiting_engine(trust: TlsTrust) -> Client {
    let mut c = client_now(ClientConfig {
        tls_trust: Some(trust),
        tls_source: crate::tls::TlsSource::Application,
        ..ClientConfig::default()
    });
    c.receive(b"RFB 003.008\n\x02\x13\x02").expect("versions");
    let _ = c.poll_transmit();
    c.receive(&[0, 2, 0, 1, 0, 0, 1, 4, 1])
        .expect("subtypes and ack");
    let _ = c.poll_transmit();
    assert_eq!(c.poll_event(), Some(Event::TlsEngineNeeded));
    c
}

#[test]
fn while_the_engine_is_awaited_input_is_held_within_the_limit_and_a_closed_client_stays_closed() {
    let p = pki();
    let pin = TlsTrust::Pinned(sha256(&p.leaf_der));
    let engine =
        || Box::new(crate::tls::RustlsEngine::new(&TlsTrust::AskFirst, None, 1).expect("engine"));

    // What arrives meanwhile is kept, and counts towards the buffer limit.
    let mut c = awaiting_engine(pin.clone());
    let limit = ClientConfig::default().limits.max_buffered_bytes;
    c.receive(&vec![0x16; limit - 10]).expect("held");
    assert_eq!(
        c.poll_transmit(),
        None,
        "nothing goes out without an engine"
    );
    assert!(matches!(
        c.receive(&[0x16; 11]),
        Err(Error::LimitExceeded { .. })
    ));
    // Closed by that: no parameters, no engine taken, nothing sent.
    assert!(c.tls_parameters().is_none());
    assert!(matches!(c.provide_tls_engine(engine()), Err(Error::Closed)));
    assert_eq!(c.poll_transmit(), None);

    // Refused while waiting: the same.
    let mut c = awaiting_engine(pin.clone());
    c.refuse_certificate();
    assert!(matches!(c.provide_tls_engine(engine()), Err(Error::Closed)));
    assert_eq!(c.poll_transmit(), None);

    // Given once, the ClientHello goes out; a second engine changes nothing.
    let mut c = awaiting_engine(pin);
    c.provide_tls_engine(engine()).expect("engine");
    let hello = c.poll_transmit().expect("ClientHello");
    assert_eq!(hello.first(), Some(&0x16), "a TLS handshake record");
    c.provide_tls_engine(engine()).expect("ignored");
    assert_eq!(c.poll_transmit(), None);
    assert!(c.tls_parameters().is_none());
}

#[test]
fn x509none_with_the_right_ca_connects_and_reports_the_certificate() {
    let p = pki();
    let cfg = ClientConfig {
        tls_trust: Some(TlsTrust::Ca {
            roots: vec![p.ca_der.clone()],
            server_name: None,
        }),
        ..ClientConfig::default()
    };
    let events = run(&p, 260, cfg).expect("connects");
    assert!(events.contains(&Event::ServerCertificate {
        chain: vec![p.leaf_der.clone()],
        sha256: sha256(&p.leaf_der)
    }));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Connected { name, .. } if name == "qemu")));
}

#[test]
fn x509vnc_with_a_pin_connects() {
    let p = pki();
    let cfg = ClientConfig {
        password: Some(Password::new("secret")),
        tls_trust: Some(TlsTrust::Pinned(sha256(&p.leaf_der))),
        ..ClientConfig::default()
    };
    run(&p, 261, cfg).expect("connects");
}

#[test]
fn wrong_ca_and_changed_pin_are_refused_with_the_reason() {
    let p = pki();
    let other = pki();
    let cfg = ClientConfig {
        tls_trust: Some(TlsTrust::Ca {
            roots: vec![other.ca_der.clone()],
            server_name: None,
        }),
        ..ClientConfig::default()
    };
    match run(&p, 260, cfg) {
        Err(Error::CertificateRejected {
            why: CertRejection::UnknownIssuer,
            sha256: fp,
        }) => {
            assert_eq!(fp, sha256(&p.leaf_der));
        }
        other => panic!("expected UnknownIssuer, got {other:?}"),
    }
    let cfg = ClientConfig {
        tls_trust: Some(TlsTrust::Pinned([9; 32])),
        ..ClientConfig::default()
    };
    let err = run(&p, 260, cfg).expect_err("pin mismatch");
    assert!(
        matches!(
            err,
            Error::CertificateRejected {
                why: CertRejection::PinMismatch { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("fingerprint differs"), "{err}");
}

#[test]
fn name_is_checked_only_when_given() {
    let p = pki();
    let cfg = ClientConfig {
        tls_trust: Some(TlsTrust::Ca {
            roots: vec![p.ca_der.clone()],
            server_name: Some("qemu.test".into()),
        }),
        ..ClientConfig::default()
    };
    run(&p, 260, cfg).expect("right name");
    let cfg = ClientConfig {
        tls_trust: Some(TlsTrust::Ca {
            roots: vec![p.ca_der.clone()],
            server_name: Some("other.test".into()),
        }),
        ..ClientConfig::default()
    };
    let err = run(&p, 260, cfg).expect_err("wrong name");
    assert!(
        matches!(
            err,
            Error::CertificateRejected {
                why: CertRejection::WrongName { .. },
                ..
            }
        ),
        "{err:?}"
    );
}

/// Moves bytes both ways until neither side has more; returns what the server read inside TLS.
fn pump(c: &mut Client, server: &mut rustls::ServerConnection, events: &mut Vec<Event>) -> Vec<u8> {
    let mut plain = Vec::new();
    for _ in 0..10 {
        let to_server = c.poll_transmit().unwrap_or_default();
        let mut rd = &to_server[..];
        while !rd.is_empty() {
            server.read_tls(&mut rd).expect("server read");
        }
        server
            .process_new_packets()
            .expect("server accepts the client");
        let _ = server.reader().read_to_end(&mut plain);
        let mut to_client = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut to_client).expect("server write");
        }
        if !to_client.is_empty() {
            c.receive(&to_client).expect("client accepts the server");
        }
        while let Some(e) = c.poll_event() {
            events.push(e);
        }
        if to_server.is_empty() && to_client.is_empty() {
            break;
        }
    }
    plain
}

/// A server offering only VeNCrypt X509Plain, up to the start of TLS, with a client that
/// trusts on first use; returns the client, the server's TLS side and the events so far.
fn ask_first_up_to_the_decision(p: &Pki) -> (Client, rustls::ServerConnection, Vec<Event>) {
    ask_first_with(
        p,
        ClientConfig {
            username: Some("alice".to_owned()),
            password: Some(Password::new("secret")),
            tls_trust: Some(TlsTrust::AskFirst),
            ..ClientConfig::default()
        },
    )
}

fn ask_first_with(p: &Pki, cfg: ClientConfig) -> (Client, rustls::ServerConnection, Vec<Event>) {
    let mut c = client_now(cfg);
    c.receive(b"RFB 003.008\n\x01\x13").expect("types");
    assert_eq!(c.poll_transmit().map(|v| v[12..].to_vec()), Some(vec![19]));
    c.receive(&[0, 2]).expect("version");
    assert_eq!(c.poll_transmit(), Some(vec![0, 2]));
    c.receive(&[0, 1, 0, 0, 1, 6, 1])
        .expect("X509Plain and the ack");
    let mut server = server_conn(p);
    let first = c.poll_transmit().unwrap_or_default();
    assert_eq!(c.waiting_for(), "the TLS handshake");
    assert_eq!(&first[..4], &262u32.to_be_bytes(), "the subtype, in clear");
    let mut hello = &first[4..];
    while !hello.is_empty() {
        server.read_tls(&mut hello).expect("server read");
    }
    let mut events = Vec::new();
    let plain = pump(&mut c, &mut server, &mut events);
    assert!(!server.is_handshaking(), "the TLS handshake completes");
    assert!(
        plain.is_empty(),
        "no credentials before the decision: {plain:?}"
    );
    assert_eq!(c.waiting_for(), "a decision on the server's certificate");
    (c, server, events)
}

#[test]
fn trust_on_first_use_pauses_after_the_handshake_until_the_person_decides() {
    let p = pki();
    let (mut c, mut server, mut events) = ask_first_up_to_the_decision(&p);
    let fp = sha256(&p.leaf_der);
    assert!(events.contains(&Event::ServerCertificate {
        chain: vec![p.leaf_der.clone()],
        sha256: fp
    }));
    assert_eq!(
        events.last(),
        Some(&Event::CertificateDecision { sha256: fp })
    );
    // What the server sends meanwhile waits: no credentials go out, no event comes.
    server.writer().write_all(&[0, 0]).expect("write");
    events.clear();
    assert!(pump(&mut c, &mut server, &mut events).is_empty());
    assert!(events.is_empty(), "{events:?}");
    assert!(!c.is_connected());

    c.trust_certificate(&fp).expect("trusted");
    let plain = pump(&mut c, &mut server, &mut events);
    let mut want = vec![0, 0, 0, 5, 0, 0, 0, 6];
    want.extend_from_slice(b"alicesecret");
    assert_eq!(plain, want, "the credentials, once trusted");
    // The two bytes that waited were the start of SecurityResult: the rest completes it.
    server
        .writer()
        .write_all(&server_init()[2..])
        .expect("write");
    pump(&mut c, &mut server, &mut events);
    assert!(c.is_connected(), "{events:?}");
    c.trust_certificate(&fp)
        .expect("a second call does nothing");
}

#[test]
fn a_refused_certificate_closes_without_sending_anything_inside_tls() {
    let p = pki();
    let (mut c, mut server, _) = ask_first_up_to_the_decision(&p);
    c.refuse_certificate();
    let bye = c.poll_transmit().unwrap_or_default();
    let mut rd = &bye[..];
    while !rd.is_empty() {
        server.read_tls(&mut rd).expect("server read");
    }
    let state = server.process_new_packets().expect("a clean close");
    assert!(state.peer_has_closed(), "close_notify");
    let mut plain = Vec::new();
    let _ = server.reader().read_to_end(&mut plain);
    assert!(plain.is_empty(), "{plain:?}");
    assert_eq!(c.receive(&[0]), Err(Error::Closed));
}

#[test]
fn a_pin_or_a_ca_never_waits_for_a_decision() {
    let p = pki();
    let cfg = ClientConfig {
        tls_trust: Some(TlsTrust::Pinned(sha256(&p.leaf_der))),
        ..ClientConfig::default()
    };
    let events = run(&p, 260, cfg).expect("connects");
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::CertificateDecision { .. })));
}

#[test]
fn credentials_are_asked_for_only_after_the_certificate_is_trusted() {
    let p = pki();
    let (mut c, mut server, mut events) = ask_first_with(
        &p,
        ClientConfig {
            tls_trust: Some(TlsTrust::AskFirst),
            prompt_for_credentials: true,
            ..ClientConfig::default()
        },
    );
    let fp = sha256(&p.leaf_der);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::CredentialsRequired { .. })),
        "no password prompt before the certificate is trusted: {events:?}"
    );
    assert_eq!(
        events.last(),
        Some(&Event::CertificateDecision { sha256: fp })
    );
    events.clear();
    c.trust_certificate(&fp).expect("trusted");
    while let Some(e) = c.poll_event() {
        events.push(e);
    }
    assert_eq!(events, [Event::CredentialsRequired { username: true }]);
    c.provide_credentials(Some("bob".to_owned()), Password::new("pw"))
        .expect("credentials");
    let plain = pump(&mut c, &mut server, &mut events);
    let mut want = vec![0, 0, 0, 3, 0, 0, 0, 2];
    want.extend_from_slice(b"bobpw");
    assert_eq!(plain, want);
}

#[test]
fn trusting_another_fingerprint_than_the_one_presented_closes() {
    let p = pki();
    let (mut c, mut server, mut events) = ask_first_up_to_the_decision(&p);
    let err = c
        .trust_certificate(&[1; 32])
        .expect_err("not the one presented");
    assert!(
        matches!(
            err,
            Error::CertificateRejected {
                why: CertRejection::PinMismatch { .. },
                sha256: fp,
            } if fp == sha256(&p.leaf_der)
        ),
        "{err:?}"
    );
    let mut rd = &c.poll_transmit().unwrap_or_default()[..];
    while !rd.is_empty() {
        server.read_tls(&mut rd).expect("server read");
    }
    assert!(server
        .process_new_packets()
        .expect("close")
        .peer_has_closed());
    let mut plain = Vec::new();
    let _ = server.reader().read_to_end(&mut plain);
    assert!(plain.is_empty(), "nothing sent: {plain:?}");
    events.clear();
    assert_eq!(c.receive(&[0]), Err(Error::Closed));
}
