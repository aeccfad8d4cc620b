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

/// Runs the handshake for `subtype`; returns the client's events or its error.
fn run(p: &Pki, subtype: u32, cfg: ClientConfig) -> Result<Vec<Event>, Error> {
    let mut c = Client::new(cfg);
    c.set_time(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_secs(),
    );
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
    let first = c.poll_transmit().unwrap_or_default();
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
