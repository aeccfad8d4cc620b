//! The store's operations end to end in a scratch directory: the workflows of
//! `docs/certs.md`, and the refusals and errors on the way.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::SystemTime;

use super::authority::{NewCa, NewCert, Signing};
use super::*;
use crate::fs::Overwrite;
use crate::generate::crl::Reason;
use crate::generate::key::{KeyType, Passphrase};
use crate::generate::pkcs12::P12Encryption;
use crate::generate::profile::{Profile, San};
use crate::Kind;

struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!("certs-store-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        Self(d)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn name(s: &str) -> Name {
    Name::parse(s).expect("name")
}

fn pass(s: &str) -> Passphrase {
    Passphrase::new(s).expect("pass")
}

fn init(store: &Store, passphrase: Option<&Passphrase>) {
    store
        .init_ca(&NewCa {
            common_name: "Test CA".into(),
            days: 3650,
            path_len: None,
            key_type: KeyType::EcdsaP256,
            passphrase,
            overwrite: Overwrite::Refuse,
            now: SystemTime::now(),
        })
        .expect("init-ca");
}

fn issue(
    store: &Store,
    n: &str,
    profile: Profile,
    signing: Signing<'_>,
) -> Result<authority::Written, Error> {
    store.issue(&NewCert {
        name: name(n),
        profile,
        days: 100,
        signing,
        key_type: KeyType::EcdsaP256,
        key_passphrase: None,
        overwrite: Overwrite::Refuse,
        now: SystemTime::now(),
    })
}

fn server(cn: &str) -> Profile {
    Profile::Server {
        common_name: cn.into(),
        sans: vec![San::parse(cn).expect("san")],
    }
}

fn by(ca: &str) -> Signing<'static> {
    Signing::Ca {
        name: name(ca),
        passphrase: None,
    }
}

#[test]
fn ca_server_intermediate_client_chain() {
    let dir = Scratch::new("chain");
    let store = Store::new(&dir.0);
    init(&store, None);
    let mode = |p: PathBuf| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(store.key_path(&Name::root())), 0o600);
    assert_eq!(mode(store.cert_path(&Name::root())), 0o644);
    assert_eq!(mode(dir.0.clone()), 0o700);

    let web = issue(&store, "web.lan", server("web.lan"), by("ca")).expect("server");
    assert_eq!(web.info.kind, Kind::Server);
    assert_eq!(store.read_chain(&name("web.lan")).expect("chain").len(), 1);

    let sub = Profile::IntermediateCa {
        common_name: "Sub CA".into(),
        path_len: 0,
    };
    issue(&store, "sub", sub.clone(), by("ca")).expect("intermediate");
    assert!(store.crl_path(&name("sub")).exists());
    let alice = Profile::Client {
        common_name: "alice".into(),
        email: Some("alice@example.com".into()),
    };
    issue(&store, "alice", alice, by("sub")).expect("client");
    let chain = store.read_chain(&name("alice")).expect("chain");
    let infos: Vec<_> = chain
        .iter()
        .map(|c| CertInfo::parse("c", c).expect("parse"))
        .collect();
    assert_eq!(infos.len(), 2, "leaf, intermediate; no root");
    assert_eq!(infos[0].kind, Kind::Client);
    assert_eq!(infos[0].issuer_der, infos[1].subject_der);
    assert_eq!(infos[1].kind, Kind::IntermediateCa);
    assert!(infos[0]
        .sans
        .contains(&"email:alice@example.com".to_owned()));

    let e = issue(&store, "deeper", sub, by("sub")).expect_err("path length 0");
    assert!(matches!(e, Error::PathLength { path_len: 0, .. }), "{e}");
    let e = issue(&store, "x", server("x"), by("web.lan")).expect_err("not a CA");
    assert!(matches!(e, Error::NotCa { .. }), "{e}");
    let e = issue(&store, "web.lan", server("web.lan"), by("ca")).expect_err("exists");
    assert!(matches!(e, Error::Exists { .. }), "{e}");
    let e = issue(&store, "ca", server("ca"), by("ca")).expect_err("root name");
    assert!(e.to_string().contains("root CA's name"), "{e}");
    let long = store.issue(&NewCert {
        days: 4000,
        ..NewCert {
            name: name("long"),
            profile: server("long"),
            days: 1,
            signing: by("ca"),
            key_type: KeyType::EcdsaP256,
            key_passphrase: None,
            overwrite: Overwrite::Refuse,
            now: SystemTime::now(),
        }
    });
    assert!(matches!(long, Err(Error::OutlivesCa { .. })), "{long:?}");
    // As long as the CA, started a moment later: ends with the CA instead of failing.
    let later = SystemTime::now() + std::time::Duration::from_secs(5);
    let same = store
        .issue(&NewCert {
            name: name("same"),
            profile: server("same"),
            days: 3650,
            signing: by("ca"),
            key_type: KeyType::EcdsaP256,
            key_passphrase: None,
            overwrite: Overwrite::Refuse,
            now: later,
        })
        .expect("clamped to the CA");
    let (_, root) = store.read_info(&Name::root()).expect("root");
    assert_eq!(same.info.not_after, root.not_after);

    let names: Vec<String> = store
        .names()
        .expect("names")
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(names, ["alice", "ca", "same", "sub", "web.lan"]);
}

#[test]
fn revocation_updates_the_right_crl() {
    let dir = Scratch::new("revoke");
    let store = Store::new(&dir.0);
    init(&store, None);
    issue(&store, "web", server("web"), by("ca")).expect("server");
    issue(
        &store,
        "sub",
        Profile::IntermediateCa {
            common_name: "Sub".into(),
            path_len: 0,
        },
        by("ca"),
    )
    .expect("sub");
    issue(
        &store,
        "bob",
        Profile::Client {
            common_name: "bob".into(),
            email: None,
        },
        by("sub"),
    )
    .expect("bob");
    issue(&store, "solo", server("solo"), Signing::SelfSigned).expect("self-signed");

    let now = SystemTime::now();
    let r = store
        .revoke(&name("web"), Some(Reason::KeyCompromise), None, 30, now)
        .expect("revoke web");
    assert_eq!(r.ca, Name::root());
    assert_eq!(r.crl_number, "2");
    let r = store
        .revoke(&name("bob"), None, None, 30, now)
        .expect("revoke bob");
    assert_eq!(r.ca, name("sub"));
    assert_eq!(r.crl, store.crl_path(&name("sub")));

    let crls = store.crls().expect("crls");
    assert_eq!(crls.len(), 2);
    assert!(store.entry(&name("web"), &crls).revoked);
    assert!(store.entry(&name("bob"), &crls).revoked);
    assert!(!store.entry(&name("sub"), &crls).revoked);

    let e = store
        .revoke(&name("web"), None, None, 30, now)
        .expect_err("twice");
    assert!(matches!(e, Error::AlreadyRevoked { .. }), "{e}");
    let e = store
        .revoke(&Name::root(), None, None, 30, now)
        .expect_err("root");
    assert!(e.to_string().contains("root CA"), "{e}");
    let e = store
        .revoke(&name("solo"), None, None, 30, now)
        .expect_err("self-signed");
    assert!(e.to_string().contains("self-signed"), "{e}");

    let renewed = store
        .renew_crl(&Name::root(), None, 60, now)
        .expect("renew");
    assert_eq!(renewed.crl_number, "3");
    assert!(
        store
            .entry(&name("web"), &store.crls().expect("crls"))
            .revoked,
        "entries kept"
    );
}

#[test]
fn encrypted_ca_key_needs_its_passphrase() {
    let dir = Scratch::new("protected");
    let store = Store::new(&dir.0);
    let secret = pass("ca secret");
    init(&store, Some(&secret));
    assert!(store.read_key(&Name::root()).expect("key").is_encrypted());
    let e = issue(&store, "web", server("web"), by("ca")).expect_err("no passphrase");
    assert!(matches!(e, Error::KeyEncrypted { .. }), "{e}");
    let wrong = pass("nope");
    let e = issue(
        &store,
        "web",
        server("web"),
        Signing::Ca {
            name: Name::root(),
            passphrase: Some(&wrong),
        },
    )
    .expect_err("wrong");
    assert!(matches!(e, Error::WrongPassphrase { .. }), "{e}");
    assert!(
        !store.key_path(&name("web")).exists(),
        "nothing written on failure"
    );
    issue(
        &store,
        "web",
        server("web"),
        Signing::Ca {
            name: Name::root(),
            passphrase: Some(&secret),
        },
    )
    .expect("right passphrase");

    store.protect(&name("web"), &secret).expect("protect");
    assert!(store.read_key(&name("web")).expect("key").is_encrypted());
    assert!(matches!(
        store.protect(&name("web"), &secret),
        Err(Error::KeyState { .. })
    ));
    store.unprotect(&name("web"), &secret).expect("unprotect");
    assert!(!store.read_key(&name("web")).expect("key").is_encrypted());
}

#[test]
fn request_then_import_checks_key_and_order() {
    let dir = Scratch::new("import");
    let store = Store::new(&dir.0);
    let ext = Scratch::new("import-ext");
    let external = Store::new(&ext.0);
    init(&external, None);
    issue(
        &external,
        "mid",
        Profile::IntermediateCa {
            common_name: "Ext Mid".into(),
            path_len: 0,
        },
        by("ca"),
    )
    .expect("mid");

    let n = name("desk");
    let secret = pass("k");
    let files = store
        .request(
            &n,
            &server("desk"),
            KeyType::EcdsaP256,
            Some(&secret),
            Overwrite::Refuse,
            SystemTime::now(),
        )
        .expect("request");
    assert_eq!(files.len(), 2);
    let csr_pem = std::fs::read_to_string(store.request_path(&n)).expect("csr");
    let csr = rcgen::CertificateSigningRequestParams::from_pem(&csr_pem).expect("parse csr");
    let mid_cert = external.read_info(&name("mid")).expect("mid").0;
    let mid_key = external
        .read_key(&name("mid"))
        .expect("k")
        .key_pair(Path::new("mid"), None)
        .expect("kp");
    let issuer = rcgen::Issuer::from_ca_cert_der(&mid_cert, &mid_key).expect("issuer");
    let signed = csr.signed_by(&issuer).expect("sign");

    let bad_order = dir.0.join("bad.pem");
    let good = dir.0.join("good.pem");
    let mid_pem = crate::pem::encode("CERTIFICATE", &mid_cert);
    crate::fs::write_atomic(
        &bad_order,
        format!("{}{}", signed.pem(), signed.pem()).as_bytes(),
        0o644,
    )
    .expect("w");
    crate::fs::write_atomic(
        &good,
        format!("{}{mid_pem}", signed.pem()).as_bytes(),
        0o644,
    )
    .expect("w");
    let e = store
        .import(&n, &bad_order, None, Overwrite::Refuse)
        .expect_err("order");
    assert!(
        e.to_string().contains("is not signed by certificate 2"),
        "{e}"
    );
    let wrong_key = ext.0.join("ca.crt");
    let e = store
        .import(&n, &wrong_key, None, Overwrite::Refuse)
        .expect_err("other key");
    assert!(matches!(e, Error::KeyMismatch { .. }), "{e}");
    // The key is encrypted and no passphrase is given: the request's key is compared.
    let w = store
        .import(&n, &good, None, Overwrite::Refuse)
        .expect("import");
    assert_eq!(w.info.common_name.as_deref(), Some("desk"));
    assert_eq!(store.read_chain(&n).expect("chain").len(), 2);
    let e = store
        .import(&n, &good, Some(&secret), Overwrite::Refuse)
        .expect_err("exists");
    assert!(matches!(e, Error::Exists { .. }));
    store
        .import(&n, &good, Some(&secret), Overwrite::Replace)
        .expect("with passphrase");
}

#[test]
fn exports_have_the_expected_shapes() {
    let dir = Scratch::new("export");
    let store = Store::new(&dir.0);
    init(&store, None);
    issue(&store, "web", server("web"), by("ca")).expect("server");
    issue(
        &store,
        "alice",
        Profile::Client {
            common_name: "alice".into(),
            email: None,
        },
        by("ca"),
    )
    .expect("client");
    issue(&store, "solo", server("solo"), Signing::SelfSigned).expect("self-signed");

    let q = dir.0.join("qemu");
    let out = store
        .export_qemu(&name("web"), &q, None, Overwrite::Refuse)
        .expect("qemu server");
    assert_eq!(out.endpoint, "server");
    for f in [
        "ca-cert.pem",
        "server-cert.pem",
        "server-key.pem",
        "ca-crl.pem",
    ] {
        assert!(q.join(f).exists(), "{f}");
    }
    let out = store
        .export_qemu(&name("alice"), &q, None, Overwrite::Refuse)
        .expect_err("ca-cert exists");
    assert!(matches!(out, Error::Exists { .. }));
    let qc = dir.0.join("qemu-client");
    store
        .export_qemu(&name("alice"), &qc, None, Overwrite::Refuse)
        .expect("qemu client");
    assert!(qc.join("client-key.pem").exists() && qc.join("client-cert.pem").exists());
    let e = store
        .export_qemu(&name("solo"), &dir.0.join("q3"), None, Overwrite::Refuse)
        .expect_err("self-signed");
    assert!(e.to_string().contains("self-signed"), "{e}");

    let x = dir.0.join("x11vnc.pem");
    let e = store
        .export_x11vnc(&name("web"), &x, Overwrite::Refuse)
        .expect_err("EC key");
    assert!(e.to_string().contains("only RSA keys"), "{e}");
    store
        .issue(&NewCert {
            name: name("vnc"),
            profile: server("vnc"),
            days: 30,
            signing: by("ca"),
            key_type: KeyType::Rsa2048,
            key_passphrase: None,
            overwrite: Overwrite::Refuse,
            now: SystemTime::now(),
        })
        .expect("rsa server");
    store
        .export_x11vnc(&name("vnc"), &x, Overwrite::Refuse)
        .expect("x11vnc");
    let blocks = crate::pem::blocks("x", &std::fs::read(&x).expect("read")).expect("pem");
    let labels: Vec<&str> = blocks.iter().map(|b| b.label.as_str()).collect();
    assert_eq!(labels, ["PRIVATE KEY", "CERTIFICATE"]);

    let p12 = dir.0.join("alice.p12");
    let pw = pass("p12");
    store
        .export_p12(
            &name("alice"),
            &p12,
            &pw,
            None,
            P12Encryption::Modern,
            Overwrite::Refuse,
        )
        .expect("p12");
    assert!(std::fs::metadata(&p12).expect("p12").len() > 500);

    let ca = store.ca_der(&Name::root()).expect("ca der");
    let decoded = crate::ca_data::decode(&crate::ca_data::encode_base64(&ca)).expect("ca data");
    assert_eq!(decoded.as_ref(), ca.as_ref());
}
