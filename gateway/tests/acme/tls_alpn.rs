//! tls-alpn-01 on the single port: a rustls listener whose resolver is `AcmeResolver` over the
//! gateway's `CertStore` answers pebble's validator (ALPN `acme-tls/1`) with the challenge
//! certificate, and everyone else with the normal certificate.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use gateway::acme::tls_alpn::{is_acme_tls_alpn, offer_acme_alpn};
use gateway::acme::{obtain, AcmeResolver, AcmeStore, ChallengeConfig};
use gateway::tls::CertStore;
use rustls_pki_types::ServerName;
use tokio::net::{TcpListener, TcpStream};

use crate::servers::{ChallTestSrv, Pebble, TempDir};

#[tokio::test]
async fn tls_alpn01_is_answered_on_our_port_and_other_clients_get_the_normal_certificate() {
    let dir = TempDir::new("alpn");
    // Pebble's validator connects to vnc.test.example:<tlsPort>; challtestsrv resolves every
    // name to 127.0.0.1, so the listener must exist before pebble is told its port.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let dns = ChallTestSrv::start(&dir);
    let pebble = Pebble::start(&dir, dns.dns, port);

    let normal =
        certs::generate::self_signed_server("vncgate self-signed", &["localhost".into()], 2)
            .expect("self-signed");
    let normal_key =
        gateway::acme::store::parse_pair(normal.cert_pem.as_bytes(), normal.key_pem.as_bytes())
            .expect("pair");
    let resolver = Arc::new(AcmeResolver::new(Arc::new(CertStore::new(
        (*normal_key.key).clone(),
    ))));
    let mut server_config =
        (*gateway::tls::server_config(resolver.clone()).expect("config")).clone();
    offer_acme_alpn(&mut server_config);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
    let validations = Arc::new(AtomicUsize::new(0));
    let counted = validations.clone();
    let server = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, counted) = (acceptor.clone(), counted.clone());
            tokio::spawn(async move {
                // A failed handshake (a validator asking for a name without a challenge) is
                // just a closed connection.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if is_acme_tls_alpn(tls.get_ref().1) {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
                // Either way the test server closes: the gateway would hand non-ACME
                // connections to HTTP.
            });
        }
    });

    let cfg = crate::config(&pebble, &["vnc.test.example"], ChallengeConfig::TlsAlpn01);
    let store = AcmeStore::new(&dir.path("state"));
    let issued = obtain(&cfg, &store, Some(&resolver))
        .await
        .expect("issued through tls-alpn-01");
    assert_eq!(issued.info.sans, ["DNS:vnc.test.example"]);
    assert!(validations.load(Ordering::SeqCst) >= 1);
    assert_eq!(resolver.pending(), 0, "challenge certificates removed");

    // A browser-like client (ALPN http/1.1) gets the normal certificate.
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(normal_key.key.cert[0].clone())
        .expect("trust the self-signed certificate");
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(gateway::tls::provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut client = client;
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(client))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("handshake with the normal certificate");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    server.abort();
}
