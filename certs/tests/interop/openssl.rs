//! OpenSSL reads every format the store writes: chains, CRLs, PKCS#12, encrypted keys, CSRs.

use std::time::SystemTime;

use certs::fs::Overwrite;
use certs::generate::crl::Reason;
use certs::generate::key::{KeyFile, KeyType};
use certs::generate::pkcs12::P12Encryption;
use certs::CertInfo;

use crate::{fails, first_cert, ok, openssl, server, Pki};

#[test]
fn chains_verify_with_the_right_purposes() {
    let pki = Pki::new("chain");
    let (ca, sub, web, alice) = (
        pki.file("ca.crt"),
        pki.file("sub.crt"),
        pki.file("web.crt"),
        pki.file("alice.crt"),
    );
    let out = ok(
        openssl(&[
            "verify",
            "-CAfile",
            &ca,
            "-untrusted",
            &sub,
            "-purpose",
            "sslserver",
            &web,
        ]),
        "verify web",
    );
    assert!(out.contains("web.crt: OK"), "{out}");
    let leaf = pki.scratch("web-leaf.pem");
    first_cert(pki.store.cert_path(&Pki::name("web")).as_path(), &leaf);
    ok(
        openssl(&[
            "verify",
            "-CAfile",
            &ca,
            "-untrusted",
            &sub,
            "-verify_hostname",
            "web.test",
            leaf.to_str().expect("utf-8"),
        ]),
        "verify the leaf alone with the intermediate untrusted",
    );
    fails(
        openssl(&["verify", "-CAfile", &ca, &web]),
        "verify without the intermediate",
    );
    ok(
        openssl(&["verify", "-CAfile", &ca, "-purpose", "sslclient", &alice]),
        "verify alice as client",
    );
    let out = fails(
        openssl(&["verify", "-CAfile", &ca, "-purpose", "sslserver", &alice]),
        "alice as server",
    );
    assert!(out.contains("unsuitable certificate purpose"), "{out}");

    let out = ok(
        openssl(&[
            "x509",
            "-in",
            &ca,
            "-noout",
            "-ext",
            "basicConstraints,keyUsage",
        ]),
        "ca ext",
    );
    assert!(
        out.contains("CA:TRUE") && out.contains("Certificate Sign, CRL Sign"),
        "{out}"
    );
    let out = ok(
        openssl(&["x509", "-in", &sub, "-noout", "-ext", "basicConstraints"]),
        "sub ext",
    );
    assert!(out.contains("CA:TRUE, pathlen:0"), "{out}");

    let (der, info) = pki.store.read_info(&Pki::name("web")).expect("web");
    let out = ok(
        openssl(&[
            "x509",
            "-in",
            &web,
            "-noout",
            "-fingerprint",
            "-sha256",
            "-serial",
        ]),
        "fp",
    );
    assert!(
        out.contains(&format!("sha256 Fingerprint={}", info.fingerprint)),
        "{out}\n{}",
        info.fingerprint
    );
    let serial: String = info.serial.iter().map(|b| format!("{b:02X}")).collect();
    assert!(out.contains(&format!("serial={serial}")), "{out}");
    assert_eq!(
        CertInfo::parse("web", &der).expect("parse").fingerprint,
        info.fingerprint
    );
}

#[test]
fn crls_list_revoked_serials_and_openssl_enforces_them() {
    let pki = Pki::new("crl");
    pki.issue("web2", server(&["web2.test"]), "sub", KeyType::EcdsaP256);
    let now = SystemTime::now();
    pki.store
        .revoke(
            &Pki::name("web"),
            Some(Reason::KeyCompromise),
            None,
            30,
            now,
        )
        .expect("revoke web");
    pki.store
        .revoke(&Pki::name("alice"), None, None, 30, now)
        .expect("revoke alice");
    let (ca, sub, crl, sub_crl) = (
        pki.file("ca.crt"),
        pki.file("sub.crt"),
        pki.file("crl.pem"),
        pki.file("sub.crl.pem"),
    );

    let (_, alice) = pki.store.read_info(&Pki::name("alice")).expect("alice");
    let (_, web) = pki.store.read_info(&Pki::name("web")).expect("web");
    let hex = |s: &[u8]| s.iter().map(|b| format!("{b:02X}")).collect::<String>();
    let out = ok(
        openssl(&["crl", "-in", &crl, "-noout", "-text"]),
        "crl text",
    );
    assert!(
        out.contains(&format!("Serial Number: {}", hex(&alice.serial))),
        "{out}"
    );
    assert!(
        out.contains("X509v3 CRL Number: \n                2"),
        "{out}"
    );
    let out = ok(
        openssl(&["crl", "-in", &sub_crl, "-noout", "-text"]),
        "sub crl text",
    );
    assert!(
        out.contains(&format!("Serial Number: {}", hex(&web.serial))),
        "{out}"
    );
    assert!(out.contains("Key Compromise"), "{out}");
    let out = ok(
        openssl(&["crl", "-in", &crl, "-noout", "-CAfile", &ca]),
        "crl signature",
    );
    assert!(out.contains("verify OK"), "{out}");

    let out = fails(
        openssl(&[
            "verify",
            "-crl_check",
            "-CAfile",
            &ca,
            "-CRLfile",
            &crl,
            &pki.file("alice.crt"),
        ]),
        "revoked alice",
    );
    assert!(out.contains("certificate revoked"), "{out}");
    let chain_check = |leaf: &str| {
        openssl(&[
            "verify",
            "-crl_check_all",
            "-CAfile",
            &ca,
            "-untrusted",
            &sub,
            "-CRLfile",
            &crl,
            "-CRLfile",
            &sub_crl,
            leaf,
        ])
    };
    let out = fails(chain_check(&pki.file("web.crt")), "revoked web");
    assert!(out.contains("certificate revoked"), "{out}");
    ok(chain_check(&pki.file("web2.crt")), "web2 is not revoked");
}

#[test]
fn pkcs12_files_open_in_openssl() {
    let pki = Pki::new("p12");
    let pass = pki.pass();
    let pass_arg = pki.pass_arg();
    for (enc, scheme) in [
        (P12Encryption::Modern, "PBES2, PBKDF2, AES-256-CBC"),
        (P12Encryption::Legacy, "pbeWithSHA1And3-KeyTripleDES-CBC"),
    ] {
        let p12 = pki.scratch(&format!("alice-{enc:?}.p12"));
        let p12s = p12.to_str().expect("utf-8");
        pki.store
            .export_p12(
                &Pki::name("alice"),
                &p12,
                &pass,
                None,
                enc,
                Overwrite::Refuse,
            )
            .expect("export");
        let out = ok(
            openssl(&[
                "pkcs12", "-info", "-in", p12s, "-passin", &pass_arg, "-nokeys",
            ]),
            "pkcs12 -info",
        );
        assert!(out.contains(scheme), "{out}");
        assert!(
            out.contains("subject=CN = alice, emailAddress = alice@example.com"),
            "{out}"
        );
        let pem = pki.scratch("alice-from-p12.pem");
        let pems = pem.to_str().expect("utf-8");
        ok(
            openssl(&[
                "pkcs12", "-in", p12s, "-passin", &pass_arg, "-nodes", "-out", pems,
            ]),
            "pkcs12 -nodes",
        );
        let key_pub = ok(openssl(&["pkey", "-in", pems, "-pubout"]), "key from p12");
        let cert_pub = ok(
            openssl(&["x509", "-in", &pki.file("alice.crt"), "-noout", "-pubkey"]),
            "cert key",
        );
        assert_eq!(key_pub, cert_pub, "the key in the file is alice's");
        let out = fails(
            openssl(&["pkcs12", "-in", p12s, "-passin", "pass:wrong", "-nokeys"]),
            "wrong pass",
        );
        assert!(out.to_lowercase().contains("mac verify"), "{out}");
    }
}

#[test]
fn encrypted_keys_open_in_openssl_and_openssl_keys_open_here() {
    let pki = Pki::new("pkey");
    pki.store
        .protect(&Pki::name("web"), &pki.pass())
        .expect("protect");
    let key = pki.file("web.key");
    let out = ok(
        openssl(&["pkey", "-in", &key, "-passin", &pki.pass_arg(), "-pubout"]),
        "pkey",
    );
    let cert_pub = ok(
        openssl(&["x509", "-in", &pki.file("web.crt"), "-noout", "-pubkey"]),
        "cert key",
    );
    assert_eq!(out, cert_pub);
    let out = ok(openssl(&["asn1parse", "-in", &key]), "asn1parse");
    assert!(
        out.contains("PBES2") && out.contains("PBKDF2") && out.contains("aes-256-cbc"),
        "{out}"
    );
    fails(
        openssl(&["pkey", "-in", &key, "-passin", "pass:nope", "-noout"]),
        "wrong passphrase",
    );

    let plain = pki.scratch("plain.pem");
    let plains = plain.to_str().expect("utf-8");
    ok(
        openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            plains,
        ]),
        "genpkey",
    );
    let pass_arg = pki.pass_arg();
    for scheme in [&["-v2", "aes-256-cbc"][..], &["-scrypt"][..]] {
        let enc = pki.scratch("enc.pem");
        let encs = enc.to_str().expect("utf-8");
        let mut args = vec![
            "pkcs8", "-topk8", "-in", plains, "-passout", &pass_arg, "-out", encs,
        ];
        args.extend_from_slice(scheme);
        ok(openssl(&args), "openssl pkcs8 -topk8");
        let file = KeyFile::parse(&enc, &std::fs::read(&enc).expect("read")).expect("parse");
        assert!(file.is_encrypted());
        file.key_pair(&enc, Some(&pki.pass()))
            .unwrap_or_else(|e| panic!("{scheme:?}: {e}"));
    }
}

#[test]
fn requests_signed_by_an_openssl_ca_import_back() {
    let pki = Pki::new("csr");
    let desk = Pki::name("desk");
    pki.store
        .request(
            &desk,
            &server(&["desk.test"]),
            KeyType::EcdsaP256,
            None,
            Overwrite::Refuse,
            SystemTime::now(),
        )
        .expect("request");
    let csr = pki.file("desk.csr");
    let out = ok(
        openssl(&["req", "-in", &csr, "-noout", "-verify", "-text"]),
        "req -verify",
    );
    assert!(
        out.contains("verify OK") && out.contains("DNS:desk.test"),
        "{out}"
    );

    let (ext_key, ext_ca, signed) = (
        pki.scratch("ext.key"),
        pki.scratch("ext.pem"),
        pki.scratch("signed.pem"),
    );
    let s = |p: &std::path::Path| p.to_str().expect("utf-8").to_owned();
    ok(
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=External CA",
            "-days",
            "30",
            "-keyout",
            &s(&ext_key),
            "-out",
            &s(&ext_ca),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]),
        "external CA",
    );
    ok(
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &s(&ext_ca),
            "-CAkey",
            &s(&ext_key),
            "-days",
            "20",
            "-copy_extensions",
            "copyall",
            "-out",
            &s(&signed),
        ]),
        "sign the request",
    );
    let mut bundle = std::fs::read_to_string(&signed).expect("signed");
    bundle.push_str(&std::fs::read_to_string(&ext_ca).expect("ca"));
    std::fs::write(&signed, bundle).expect("bundle");
    let written = pki
        .store
        .import(&desk, &signed, None, Overwrite::Refuse)
        .expect("import");
    assert_eq!(written.info.kind, certs::Kind::Server);
    assert_eq!(written.info.sans, vec!["DNS:desk.test"]);
    let e = pki
        .store
        .import(&Pki::name("alice"), &signed, None, Overwrite::Replace)
        .expect_err("other key");
    assert!(e.to_string().contains("for a different key"), "{e}");
}

#[test]
fn the_gateway_self_signed_certificate_is_well_formed() {
    let pki = Pki::new("self");
    let names: Vec<String> = ["vm", "my_host", "localhost", "127.0.0.1", "::1"]
        .map(String::from)
        .to_vec();
    let issued =
        certs::generate::self_signed_server("vncgate self-signed", &names, 825).expect("make");
    let path = pki.scratch("self-signed.crt");
    let paths = path.to_str().expect("utf-8");
    std::fs::write(&path, &issued.cert_pem).expect("write");
    let out = ok(
        openssl(&[
            "x509",
            "-in",
            paths,
            "-noout",
            "-ext",
            "subjectAltName,extendedKeyUsage,basicConstraints",
        ]),
        "x509",
    );
    for want in [
        "DNS:vm",
        "DNS:my_host",
        "DNS:localhost",
        "IP Address:127.0.0.1",
        "IP Address:0:0:0:0:0:0:0:1",
        "TLS Web Server Authentication",
        "CA:FALSE",
    ] {
        assert!(out.contains(want), "{want} in {out}");
    }
    ok(
        openssl(&[
            "verify",
            "-CAfile",
            paths,
            "-purpose",
            "sslserver",
            "-verify_ip",
            "127.0.0.1",
            paths,
        ]),
        "verify the pinned self-signed certificate",
    );
}
