//! rustls (webpki), as the gateway will use it for client certificates and as a TLS client:
//! chains through the intermediate verify, names are checked, and the per-CA CRLs revoke.

use std::sync::Arc;
use std::time::SystemTime;

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;

use crate::Pki;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(pki: &Pki) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    roots
        .add(pki.store.ca_der(&Pki::name("ca")).expect("ca"))
        .expect("root");
    Arc::new(roots)
}

fn crls(pki: &Pki) -> Vec<CertificateRevocationListDer<'static>> {
    pki.store
        .crls()
        .expect("crls")
        .into_iter()
        .map(|(_, der, _)| CertificateRevocationListDer::from(der))
        .collect()
}

fn chain(pki: &Pki, name: &str) -> Vec<CertificateDer<'static>> {
    pki.store.read_chain(&Pki::name(name)).expect("chain")
}

#[test]
fn client_certificates_verify_until_revoked() {
    let pki = Pki::new("rustls-client");
    pki.issue(
        "bob",
        certs::generate::profile::Profile::Client {
            common_name: "bob".into(),
            email: None,
        },
        "sub",
        certs::generate::key::KeyType::EcdsaP256,
    );
    let verify = |name: &str| {
        let verifier = WebPkiClientVerifier::builder_with_provider(roots(&pki), provider())
            .with_crls(crls(&pki))
            .build()
            .expect("verifier");
        let c = chain(&pki, name);
        verifier
            .verify_client_cert(&c[0], &c[1..], UnixTime::now())
            .map(|_| ())
    };
    verify("alice").expect("alice, signed by the root");
    verify("bob").expect("bob, through the intermediate (CRLs of both CAs checked)");
    let e = verify("web").expect_err("a server certificate is not a client certificate");
    assert!(format!("{e:?}").contains("InvalidPurpose"), "{e:?}");

    pki.store
        .revoke(&Pki::name("bob"), None, None, 30, SystemTime::now())
        .expect("revoke bob");
    let e = verify("bob").expect_err("revoked");
    assert!(format!("{e:?}").contains("Revoked"), "{e:?}");
    verify("alice").expect("alice is still fine");
}

#[test]
fn server_certificates_verify_for_their_names() {
    let pki = Pki::new("rustls-server");
    let verifier = WebPkiServerVerifier::builder_with_provider(roots(&pki), provider())
        .with_crls(crls(&pki))
        .build()
        .expect("verifier");
    let c = chain(&pki, "web");
    for name in ["web.test", "127.0.0.1"] {
        let server = ServerName::try_from(name).expect("name");
        verifier
            .verify_server_cert(&c[0], &c[1..], &server, &[], UnixTime::now())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let other = ServerName::try_from("other.test").expect("name");
    let e = verifier
        .verify_server_cert(&c[0], &c[1..], &other, &[], UnixTime::now())
        .expect_err("wrong name");
    assert!(format!("{e:?}").contains("NotValidForName"), "{e:?}");

    // The gateway's own self-signed certificate, pinned as its own trust anchor.
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let issued = certs::generate::self_signed_server("vncgate self-signed", &names, 825)
        .expect("self-signed");
    let der = CertificateDer::from(issued.cert_der);
    let mut pinned = RootCertStore::empty();
    pinned.add(der.clone()).expect("anchor");
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(pinned), provider())
        .build()
        .expect("verifier");
    let localhost = ServerName::try_from("localhost").expect("name");
    verifier
        .verify_server_cert(&der, &[], &localhost, &[], UnixTime::now())
        .expect("self-signed and pinned");
    let key = certs::pem::private_key("key", issued.key_pem.as_bytes()).expect("key");
    rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![der], key)
        .expect("usable by a rustls server");
}
