//! The DER walk in `x509` against x509-parser as the reference: certificates of every key type,
//! name form and extension this project makes or meets must read the same with both.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, SanType,
};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use super::{strip_leading_zeros, CertInfo, KeyAlgorithm, Kind};
use crate::generate::key::{generate_of, KeyType};

/// The key types met in practice; rcgen makes the EC and Ed25519 ones, `generate_of` RSA.
#[derive(Clone, Copy)]
enum Key {
    P256,
    P384,
    Ed25519,
    Rsa2048,
}

fn make_key(k: Key) -> KeyPair {
    match k {
        Key::P256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("P-256"),
        Key::P384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("P-384"),
        Key::Ed25519 => KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("Ed25519"),
        Key::Rsa2048 => generate_of(KeyType::Rsa2048).expect("RSA"),
    }
}

/// What x509-parser reads from `der`, in `CertInfo`'s terms.
fn reference(der: &[u8]) -> CertInfo {
    let (rest, cert) = X509Certificate::from_der(der).expect("x509-parser reads it");
    assert!(rest.is_empty());
    let basic = cert.basic_constraints().expect("bc");
    let is_ca = basic.as_ref().is_some_and(|b| b.value.ca);
    let self_issued = cert.subject().as_raw() == cert.issuer().as_raw();
    let (server, client) = cert
        .extended_key_usage()
        .expect("eku")
        .map(|e| {
            (
                e.value.server_auth || e.value.any,
                e.value.client_auth || e.value.any,
            )
        })
        .unwrap_or((false, false));
    let kind = match (is_ca, self_issued, server, client) {
        (true, true, _, _) => Kind::RootCa,
        (true, false, _, _) => Kind::IntermediateCa,
        (false, _, true, true) => Kind::ServerAndClient,
        (false, _, true, false) => Kind::Server,
        (false, _, false, true) => Kind::Client,
        (false, _, false, false) => Kind::Other,
    };
    let sans = cert
        .subject_alternative_name()
        .expect("san")
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .map(|n| match n {
                    GeneralName::DNSName(n) => format!("DNS:{n}"),
                    GeneralName::RFC822Name(e) => format!("email:{e}"),
                    GeneralName::URI(u) => format!("URI:{u}"),
                    GeneralName::IPAddress(raw) => match raw.len() {
                        4 => format!(
                            "IP:{}",
                            std::net::IpAddr::from(<[u8; 4]>::try_from(*raw).expect("4"))
                        ),
                        _ => format!(
                            "IP:{}",
                            std::net::IpAddr::from(<[u8; 16]>::try_from(*raw).expect("16"))
                        ),
                    },
                    other => panic!("not made in these tests: {other:?}"),
                })
                .collect()
        })
        .unwrap_or_default();
    let key = match cert.public_key().parsed() {
        Ok(PublicKey::EC(point)) => KeyAlgorithm::Ec {
            bits: point.key_size(),
        },
        Ok(PublicKey::RSA(rsa)) => KeyAlgorithm::Rsa {
            bits: rsa.key_size(),
        },
        _ => KeyAlgorithm::Ed25519,
    };
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .map(str::to_owned);
    CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        common_name,
        sans,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        serial: strip_leading_zeros(cert.raw_serial()),
        kind,
        self_issued,
        path_len: basic.and_then(|b| b.value.path_len_constraint),
        key,
        fingerprint: crate::Fingerprint::of_der(der),
        subject_der: cert.subject().as_raw().to_vec(),
        issuer_der: cert.issuer().as_raw().to_vec(),
        public_key: cert.public_key().subject_public_key.data.to_vec(),
    }
}

fn check(der: &[u8]) -> CertInfo {
    let ours = CertInfo::parse("test", der).expect("our reader reads it");
    assert_eq!(ours, reference(der));
    ours
}

fn names(cn: &str, extra: &[(DnType, &str)]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    for (t, v) in extra {
        dn.push(t.clone(), *v);
    }
    dn
}

#[test]
fn certificates_read_as_x509_parser_reads_them() {
    // A root with a long name and a path length, on P-384.
    let root_key = make_key(Key::P384);
    let mut root = CertificateParams::new(Vec::<String>::new()).expect("params");
    root.distinguished_name = names(
        "Büro CA ☃",
        &[
            (DnType::OrganizationName, "vncgate tests"),
            (DnType::OrganizationalUnitName, "QA"),
            (DnType::CountryName, "DE"),
            (DnType::LocalityName, "Köln"),
            (DnType::StateOrProvinceName, "NRW"),
            (
                DnType::CustomDnType(vec![1, 2, 840, 113_549, 1, 9, 1]),
                "ca@example.test",
            ),
        ],
    );
    root.is_ca = IsCa::Ca(BasicConstraints::Constrained(2));
    let root_cert = root.self_signed(&root_key).expect("root");
    let info = check(root_cert.der());
    assert_eq!(info.kind, Kind::RootCa);
    assert_eq!(info.path_len, Some(2));
    assert_eq!(info.key, KeyAlgorithm::Ec { bits: 384 });
    assert!(
        info.subject.contains("Email=ca@example.test"),
        "{}",
        info.subject
    );
    let issuer = Issuer::new(root, root_key);

    // An intermediate, unconstrained.
    let mid_key = make_key(Key::P256);
    let mut mid = CertificateParams::new(Vec::<String>::new()).expect("params");
    mid.distinguished_name = names("Intermediate", &[]);
    mid.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let info = check(mid.signed_by(&mid_key, &issuer).expect("mid").der());
    assert_eq!(info.kind, Kind::IntermediateCa);

    // A server with every SAN form, serverAuth only.
    let key = make_key(Key::P256);
    let mut server = CertificateParams::new(vec!["desk.example.test".to_owned()]).expect("p");
    server.subject_alt_names.extend([
        SanType::IpAddress("127.0.0.1".parse().expect("ip")),
        SanType::IpAddress("::1".parse().expect("ip")),
        SanType::Rfc822Name("ops@example.test".try_into().expect("email")),
        SanType::URI("https://desk.example.test/".try_into().expect("uri")),
    ]);
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let info = check(server.signed_by(&key, &issuer).expect("server").der());
    assert_eq!(info.kind, Kind::Server);
    assert_eq!(info.sans.len(), 5);

    // Clients: Ed25519 with clientAuth, RSA with both, and one with any-purpose.
    for (kind, ekus, expected) in [
        (
            Key::Ed25519,
            vec![ExtendedKeyUsagePurpose::ClientAuth],
            Kind::Client,
        ),
        (
            Key::Rsa2048,
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            Kind::ServerAndClient,
        ),
        (
            Key::P256,
            vec![ExtendedKeyUsagePurpose::Any],
            Kind::ServerAndClient,
        ),
        (Key::P256, vec![], Kind::Other),
    ] {
        let key = make_key(kind);
        let mut client = CertificateParams::new(Vec::<String>::new()).expect("params");
        client.distinguished_name = names("alice", &[(DnType::OrganizationName, "Users")]);
        client.extended_key_usages = ekus;
        let info = check(client.signed_by(&key, &issuer).expect("client").der());
        assert_eq!(info.kind, expected);
    }
}

#[test]
fn damaged_certificates_are_errors_not_panics() {
    let key = make_key(Key::P256);
    let params = CertificateParams::new(vec!["x.example".to_owned()]).expect("params");
    let der = params.self_signed(&key).expect("cert").der().to_vec();
    for end in 0..der.len() {
        assert!(CertInfo::parse("prefix", &der[..end]).is_err(), "{end}");
    }
    // Every single-byte change: no panic; when both readers accept it, they agree.
    for i in 0..der.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bad = der.clone();
            bad[i] ^= flip;
            if let (Ok(ours), Ok((rest, _))) = (
                CertInfo::parse("bad", &bad),
                X509Certificate::from_der(&bad),
            ) {
                if rest.is_empty() {
                    let theirs = std::panic::catch_unwind(|| reference(&bad));
                    if let Ok(theirs) = theirs {
                        // Names of unknown attributes are spelled differently; the rest agrees.
                        let at = format!("byte {i} ^ {flip:#x}");
                        assert_eq!(ours.subject_der, theirs.subject_der, "{at}");
                        assert_eq!(ours.sans, theirs.sans, "{at}");
                        assert_eq!(ours.serial, theirs.serial, "{at}");
                        assert_eq!(ours.not_after, theirs.not_after, "{at}");
                        assert_eq!(ours.kind, theirs.kind, "{at}");
                    }
                }
            }
        }
    }
}
