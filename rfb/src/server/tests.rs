//! The server handshake against this crate's own client (through real rustls TLS in memory),
//! against hand-written client bytes split at every point, and against refusals a person
//! must be able to act on.

use std::sync::Arc;

use super::*;
use crate::client::{Client, ClientConfig};
use crate::error::Error;
use crate::pixel_format::PixelFormat;
use crate::security::Password;
use crate::tls::{TlsIdentity, TlsTrust};

struct Pki {
    ca_der: Vec<u8>,
    server_der: Vec<u8>,
    server_key: Vec<u8>,
    client_der: Vec<u8>,
    client_key: Vec<u8>,
}

fn pki() -> Pki {
    let (ca_der, leaves) = crate::test_pki::ca_and_leaves(&["gateway.test", "alice.test"]);
    let [server, client]: [crate::test_pki::Leaf; 2] = leaves.try_into().ok().expect("two");
    Pki {
        ca_der,
        server_der: server.der,
        server_key: server.key,
        client_der: client.der,
        client_key: client.key,
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server's TLS: its certificate, and (with `verify_clients`) client certificates of the
/// same CA, optional.
fn tls(p: &Pki, verify_clients: bool) -> Arc<rustls::ServerConfig> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions");
    let builder = if verify_clients {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(p.ca_der.clone().into()).expect("root");
        let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider(),
        )
        .allow_unauthenticated()
        .build()
        .expect("verifier");
        builder.with_client_cert_verifier(v)
    } else {
        builder.with_no_client_auth()
    };
    Arc::new(
        builder
            .with_single_cert(
                vec![p.server_der.clone().into()],
                rustls_pki_types::PrivateKeyDer::Pkcs8(p.server_key.clone().into()),
            )
            .expect("server config"),
    )
}

const HINT: &str = "use VeNCrypt X509Plain with the gateway's certificate";

fn vencrypt(p: &Pki, subtypes: &[VeNCryptSubtype], verify_clients: bool) -> ServerConfig {
    ServerConfig {
        offer: Offer::VeNCrypt {
            subtypes: subtypes.to_vec(),
            tls: tls(p, verify_clients),
            hint: HINT.to_owned(),
        },
        challenge: [7; 16],
    }
}

fn server_init() -> Vec<u8> {
    let mut v = vec![0, 64, 0, 32];
    PixelFormat::RGBX_LE.write(&mut v);
    v.extend_from_slice(&[0, 0, 0, 4]);
    v.extend_from_slice(b"desk");
    v
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs()
}

fn client_config(p: &Pki) -> ClientConfig {
    ClientConfig {
        tls_trust: Some(TlsTrust::Ca {
            roots: vec![p.ca_der.clone()],
            server_name: Some("gateway.test".into()),
        }),
        ..ClientConfig::default()
    }
}

/// Runs client and server against each other until neither has anything to say. `decide`
/// answers each Authenticate event: `Ok` accepts, `Err(reason)` refuses.
fn converse(
    client: &mut Client,
    server: &mut Server,
    decide: &mut dyn FnMut(&Auth, &Server) -> Result<(), String>,
) -> Result<Vec<ServerEvent>, Error> {
    let mut seen = Vec::new();
    for _ in 0..50 {
        let mut quiet = true;
        while let Some(b) = server.poll_transmit() {
            quiet = false;
            client.receive(&b)?;
        }
        while let Some(b) = client.poll_transmit() {
            quiet = false;
            if server.receive(&b).is_err() {
                if let Some(last) = server.poll_transmit() {
                    client.receive(&last)?;
                }
                return Err(Error::Closed);
            }
        }
        while let Some(e) = server.poll_event() {
            quiet = false;
            match &e {
                ServerEvent::Authenticate(a) => match decide(a, server) {
                    Ok(()) => server.accept().expect("accept"),
                    Err(reason) => server.refuse(&reason),
                },
                ServerEvent::ClientInit { .. } => {
                    server.send_server_init(&server_init()).expect("init")
                }
            }
            seen.push(e);
        }
        if quiet {
            break;
        }
    }
    Ok(seen)
}

#[test]
fn x509plain_gives_the_credentials_then_the_session_runs_inside_tls() {
    let p = pki();
    let mut server = Server::new(vencrypt(&p, &[VeNCryptSubtype::X509Plain], false));
    let mut cfg = client_config(&p);
    cfg.username = Some("desk".into());
    cfg.password = Some(Password::new("a-one-time-key"));
    let mut client = Client::new_pass_through(cfg);
    client.set_time(now());
    let events = converse(&mut client, &mut server, &mut |a, _| match a {
        Auth::Plain { username, password }
            if username == "desk" && password == "a-one-time-key" =>
        {
            Ok(())
        }
        other => Err(format!("unexpected {other:?}")),
    })
    .expect("handshake");
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(server.is_done() && server.is_tls());
    assert_eq!(server.client_version(), Some(ClientVersion::V3_8));
    let mut pt = client.into_passthrough().expect("held at ServerInit");
    assert_eq!(pt.server_init(), server_init().as_slice());

    // The session, both ways, through the server's TLS.
    pt.send(b"client says hello");
    while let Some(b) = pt.poll_transmit() {
        server.receive(&b).expect("session bytes");
    }
    assert_eq!(server.take_from_client(), b"client says hello");
    server.send(b"server says hello");
    while let Some(b) = server.poll_transmit() {
        pt.receive(&b).expect("to client");
    }
    assert_eq!(pt.take_from_server(), b"server says hello");
}

#[test]
fn a_refusal_reaches_the_viewer_with_its_reason() {
    let p = pki();
    let mut server = Server::new(vencrypt(&p, &[VeNCryptSubtype::X509Plain], false));
    let mut cfg = client_config(&p);
    cfg.username = Some("desk".into());
    cfg.password = Some(Password::new("used-key"));
    let mut client = Client::new_pass_through(cfg);
    client.set_time(now());
    let err = converse(&mut client, &mut server, &mut |_, _| {
        Err("this link was already used".into())
    })
    .expect_err("refused");
    assert_eq!(
        err,
        Error::AuthenticationFailed {
            reason: "this link was already used".into()
        }
    );
    assert!(server.receive(b"more").is_err(), "over");
}

#[test]
fn x509none_hands_over_the_verified_client_certificate() {
    let p = pki();
    let mut server = Server::new(vencrypt(&p, &[VeNCryptSubtype::X509None], true));
    let mut cfg = client_config(&p);
    cfg.tls_identity = Some(TlsIdentity {
        chain: vec![p.client_der.clone()],
        key: rustls_pki_types::PrivateKeyDer::Pkcs8(p.client_key.clone().into()),
    });
    let mut client = Client::new_pass_through(cfg);
    client.set_time(now());
    let client_der = p.client_der.clone();
    let events = converse(&mut client, &mut server, &mut |a, s| {
        let chain = s.peer_certificates().unwrap_or_default();
        if *a == Auth::Certificate && chain.first() == Some(&client_der) {
            Ok(())
        } else {
            Err("no certificate".into())
        }
    })
    .expect("handshake");
    assert_eq!(events[0], ServerEvent::Authenticate(Auth::Certificate));
    assert!(client.is_held());
}

#[test]
fn x509vnc_sends_the_challenge_and_reports_the_response() {
    let p = pki();
    let mut server = Server::new(vencrypt(&p, &[VeNCryptSubtype::X509Vnc], false));
    let mut cfg = client_config(&p);
    cfg.password = Some(Password::new("secret"));
    let mut client = Client::new_pass_through(cfg);
    client.set_time(now());
    let events = converse(&mut client, &mut server, &mut |a, _| match a {
        Auth::VncResponse {
            challenge,
            response,
        } if *challenge == [7; 16]
            && *response
                == crate::security::vnc_auth_response(challenge, &Password::new("secret")) =>
        {
            Ok(())
        }
        _ => Err("wrong".into()),
    })
    .expect("handshake");
    assert_eq!(events.len(), 2);
}

/// Feeds `client` to a fresh server in two chunks cut at every point; returns what the server
/// sent and how it ended.
fn every_split(config: &ServerConfig, client: &[u8]) -> (Vec<u8>, Result<(), ServerError>) {
    let whole = {
        let mut s = Server::new(config.clone());
        let r = s.receive(client);
        (s.poll_transmit().unwrap_or_default(), r)
    };
    for cut in 0..=client.len() {
        let mut s = Server::new(config.clone());
        let mut sent = Vec::new();
        let first = s.receive(&client[..cut]);
        sent.extend(s.poll_transmit().unwrap_or_default());
        let r = first.and_then(|()| s.receive(&client[cut..]));
        sent.extend(s.poll_transmit().unwrap_or_default());
        assert_eq!((&sent, &r), (&whole.0, &whole.1), "cut at {cut}");
    }
    whole
}

fn none() -> ServerConfig {
    ServerConfig {
        offer: Offer::None,
        challenge: [0; 16],
    }
}

#[test]
fn security_none_follows_each_version_at_every_split() {
    let (sent, r) = every_split(&none(), b"RFB 003.008\x0a\x01\x01");
    assert_eq!(r, Ok(()));
    assert_eq!(
        sent,
        [&b"RFB 003.008\n"[..], &[1, 1], &[0, 0, 0, 0]].concat()
    );
    let (sent, _) = every_split(&none(), b"RFB 003.007\n\x01\x00");
    assert_eq!(sent, [&b"RFB 003.008\n"[..], &[1, 1]].concat());
    let (sent, _) = every_split(&none(), b"RFB 003.003\n\x01");
    assert_eq!(sent, [&b"RFB 003.008\n"[..], &[0, 0, 0, 1]].concat());

    let mut s = Server::new(none());
    s.receive(b"RFB 003.008\n\x01\x01session").expect("valid");
    assert_eq!(
        s.poll_event(),
        Some(ServerEvent::ClientInit { shared: true })
    );
    assert!(s.take_from_client().is_empty(), "not before ServerInit");
    s.send_server_init(b"INIT").expect("init");
    assert_eq!(s.take_from_client(), b"session");
}

#[test]
fn what_is_not_offered_is_refused_with_what_to_configure() {
    let p = pki();
    let cfg = vencrypt(&p, &[VeNCryptSubtype::X509Plain], false);
    let hint_failure = [
        &1u32.to_be_bytes()[..],
        &(HINT.len() as u32).to_be_bytes(),
        HINT.as_bytes(),
    ]
    .concat();

    // A viewer that picks VNC authentication at the top.
    let (sent, r) = every_split(&cfg, b"RFB 003.008\n\x02");
    assert!(
        matches!(r, Err(ServerError::NotOffered { chosen: 2, .. })),
        "{r:?}"
    );
    assert_eq!(
        sent,
        [&b"RFB 003.008\n"[..], &[1, 19], &hint_failure].concat()
    );
    // One that picks Plain (no TLS) inside VeNCrypt: a reason can follow.
    let (sent, r) = every_split(&cfg, b"RFB 003.008\n\x13\x00\x02\x00\x00\x01\x00");
    assert!(
        matches!(r, Err(ServerError::NotOffered { chosen: 256, .. })),
        "{r:?}"
    );
    assert!(sent.ends_with(&hint_failure));
    // One that picks a TLS subtype not offered: the TLS ack says no.
    let (sent, r) = every_split(&cfg, b"RFB 003.008\n\x13\x00\x02\x00\x00\x01\x02");
    assert!(
        matches!(r, Err(ServerError::NotOffered { chosen: 258, .. })),
        "{r:?}"
    );
    assert_eq!(sent.last(), Some(&0));
    // VeNCrypt 0.1, and RFB 3.3 which cannot negotiate VeNCrypt.
    let (sent, r) = every_split(&cfg, b"RFB 003.008\n\x13\x00\x01");
    assert_eq!(r, Err(ServerError::VeNCryptVersion { major: 0, minor: 1 }));
    assert_eq!(sent.last(), Some(&0xff));
    let (sent, r) = every_split(&cfg, b"RFB 003.003\n");
    assert!(matches!(r, Err(ServerError::Refused { .. })), "{r:?}");
    assert!(sent[12..].starts_with(&[0, 0, 0, 0]));
    // Not RFB at all.
    let (_, r) = every_split(&cfg, b"GET / HTTP/1.1\r\n");
    assert!(matches!(r, Err(ServerError::Version { .. })));
}

/// (Oversized credentials: `a_credential_longer_than_the_limit_is_refused_from_its_length`.)
#[test]
fn floods_are_refused_before_they_are_buffered() {
    let p = pki();
    let mut s = Server::new(vencrypt(&p, &[VeNCryptSubtype::X509Plain], false));
    s.receive(b"RFB 003.008\n\x13\x00\x02").expect("valid");
    let flood = vec![0u8; MAX_BUFFERED_BYTES + 1];
    // After the subtype the bytes are TLS: a flood of zeros is not a TLS record.
    let mut with_subtype = vec![0, 0, 1, 6];
    with_subtype.extend_from_slice(&flood);
    assert!(matches!(
        s.receive(&with_subtype),
        Err(ServerError::Tls { .. })
    ));

    let mut s = Server::new(none());
    let mut junk = b"RFB 003.008\n\x01".to_vec();
    junk.extend(std::iter::repeat_n(0u8, MAX_BUFFERED_BYTES));
    // The handshake uses ClientInit; what follows waits for ServerInit, within the bound.
    s.receive(&junk).expect("within the bound");
    assert_eq!(
        s.receive(&[0, 0]),
        Err(ServerError::TooMuchInput {
            got: MAX_BUFFERED_BYTES + 1
        })
    );
}

#[test]
fn decisions_out_of_turn_are_refused_not_obeyed() {
    let mut s = Server::new(none());
    assert_eq!(s.accept(), Err(ServerError::NotNow { what: "accepting" }));
    assert!(s.send_server_init(b"x").is_err());
    s.receive(b"RFB 003.008\n").expect("valid");
    assert!(s.send_server_init(b"x").is_err(), "no ClientInit yet");
}

#[test]
fn arbitrary_client_bytes_never_panic() {
    let p = pki();
    let cfg = vencrypt(
        &p,
        &[
            VeNCryptSubtype::X509Plain,
            VeNCryptSubtype::X509None,
            VeNCryptSubtype::X509Vnc,
        ],
        true,
    );
    let mut seed = 0x1234_5678_u32;
    for _ in 0..2000 {
        let mut s = Server::new(cfg.clone());
        let mut input = b"RFB 003.008\n\x13\x00\x02".to_vec();
        let n = (seed % 40) as usize;
        for _ in 0..n {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            input.push((seed >> 16) as u8);
        }
        let _ = s.receive(&input);
        let _ = s.poll_transmit();
    }
}

/// A rustls client that chose X509Plain from `server` and finished the TLS handshake with it.
fn x509plain_client(p: &Pki, server: &mut Server) -> rustls::ClientConnection {
    server
        .receive(b"RFB 003.008\n\x13\x00\x02\x00\x00\x01\x06")
        .expect("prelude");
    let _ = server.poll_transmit();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(p.ca_der.clone().into()).expect("root");
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("gateway.test").expect("name");
    let mut client = rustls::ClientConnection::new(Arc::new(cfg), name).expect("client");
    for _ in 0..10 {
        let mut wire = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut wire).expect("write");
        }
        server.receive(&wire).expect("handshake");
        if let Some(back) = server.poll_transmit() {
            let mut rd = &back[..];
            while !rd.is_empty() {
                client.read_tls(&mut rd).expect("read");
            }
            client.process_new_packets().expect("process");
        }
    }
    assert!(!client.is_handshaking());
    client
}

/// Sends `plain` to `server` inside the client's TLS session.
fn send_inside(
    client: &mut rustls::ClientConnection,
    server: &mut Server,
    plain: &[u8],
) -> Result<(), ServerError> {
    use std::io::Write;
    client.writer().write_all(plain).expect("plaintext");
    let mut wire = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut wire).expect("write");
    }
    server.receive(&wire)
}

/// A user name longer than [`MAX_CREDENTIAL_BYTES`] is refused from its length, inside TLS,
/// before any of it is buffered.
#[test]
fn a_credential_longer_than_the_limit_is_refused_from_its_length() {
    let p = pki();
    let mut server = Server::new(vencrypt(&p, &[VeNCryptSubtype::X509Plain], false));
    let mut client = x509plain_client(&p, &mut server);
    let too_long = u32::try_from(MAX_CREDENTIAL_BYTES + 1).expect("small");
    let mut lengths = too_long.to_be_bytes().to_vec();
    lengths.extend_from_slice(&4u32.to_be_bytes());
    assert_eq!(
        send_inside(&mut client, &mut server, &lengths),
        Err(ServerError::CredentialTooLong {
            got: u64::from(too_long)
        })
    );
    // At the limit the same message is waited for.
    let mut server = Server::new(vencrypt(&p, &[VeNCryptSubtype::X509Plain], false));
    let mut client = x509plain_client(&p, &mut server);
    let mut lengths = (too_long - 1).to_be_bytes().to_vec();
    lengths.extend_from_slice(&4u32.to_be_bytes());
    assert_eq!(send_inside(&mut client, &mut server, &lengths), Ok(()));
}

/// A client that closes its TLS session and sends more must not keep the server busy: the
/// bytes after close_notify end the connection (they once spun `receive` forever).
#[test]
fn bytes_after_close_notify_end_the_connection() {
    let p = pki();
    let mut server = Server::new(vencrypt(&p, &[VeNCryptSubtype::X509Plain], false));
    let mut client = x509plain_client(&p, &mut server);
    client.send_close_notify();
    let mut wire = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut wire).expect("write");
    }
    server.receive(&wire).expect("the close itself");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = server.receive(&[0x17]);
        let _ = tx.send(r);
    });
    let r = rx
        .recv_timeout(std::time::Duration::from_secs(5))
        .expect("receive returned");
    assert_eq!(r, Err(ServerError::Closed));
}

#[test]
fn an_empty_offer_is_refused_not_framed_wrong() {
    let p = pki();
    let mut s = Server::new(vencrypt(&p, &[], false));
    let r = s.receive(b"RFB 003.008\n\x13\x00\x02");
    assert!(matches!(r, Err(ServerError::Refused { .. })), "{r:?}");
    assert_eq!(s.poll_transmit().unwrap_or_default().last(), Some(&0xff));
    let mut s = Server::new(none());
    s.receive(b"RFB 003.003\n").expect("valid");
    assert_eq!(s.client_version(), Some(ClientVersion::V3_3));
}
