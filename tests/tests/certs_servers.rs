//! The certificate toolkit's output in real servers: TigerVNC Xvnc (VeNCrypt X509None),
//! x11vnc `-ssl … -sslverify` (TLS from the first byte, and VeNCrypt) — each reached with
//! `vncgate snapshot`; client certificates that are foreign, missing or revoked are refused.

use std::path::{Path, PathBuf};

use tests::vnc::{snapshot, vncgate};
use tests::x11vnc::X11vnc;
use tests::xvnc::Xvnc;
use tests::TempDir;

fn certs(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let d = dir.display().to_string();
    let mut all = vec!["certs", "--dir", &d];
    all.extend_from_slice(args);
    vncgate(&all)
}

fn p(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

#[test]
fn xvnc_x509none_accepts_the_toolkits_server_certificate() -> anyhow::Result<()> {
    let t = TempDir::new("xvnc-x509")?;
    let pki = t.path().join("pki");
    let other = t.path().join("other");
    certs(&pki, &["init-ca", "--name", "Desk CA"])?;
    certs(&other, &["init-ca", "--name", "Other CA"])?;
    certs(
        &pki,
        &[
            "issue",
            "server",
            "desk",
            "--san",
            "127.0.0.1",
            "--san",
            "localhost",
        ],
    )?;
    let desk = Xvnc::start(
        320,
        200,
        &[
            "-SecurityTypes",
            "X509None",
            "-X509Cert",
            &p(&pki, "desk.crt"),
            "-X509Key",
            &p(&pki, "desk.key"),
        ],
    )?;
    let img = snapshot(desk.port, &["--ca", &p(&pki, "ca.crt")])?;
    assert_eq!((img.width, img.height), (320, 200));
    snapshot(
        desk.port,
        &["--ca", &p(&pki, "ca.crt"), "--server-name", "localhost"],
    )?;
    let err = snapshot(desk.port, &["--ca", &p(&other, "ca.crt")]).expect_err("foreign CA");
    assert!(
        format!("{err:#}").contains("not issued by the CA"),
        "{err:#}"
    );
    Ok(())
}

struct X11Pki {
    pki: PathBuf,
    foreign: PathBuf,
    server_pem: String,
}

fn x11_pki(dir: &Path) -> anyhow::Result<X11Pki> {
    let pki = dir.join("pki");
    let foreign = dir.join("foreign");
    certs(&pki, &["init-ca", "--name", "Office CA"])?;
    certs(&foreign, &["init-ca", "--name", "Stranger CA"])?;
    // x11vnc loads RSA server keys only.
    certs(
        &pki,
        &[
            "issue",
            "server",
            "x11",
            "--san",
            "127.0.0.1",
            "--key",
            "rsa-2048",
        ],
    )?;
    certs(
        &pki,
        &["issue", "client", "alice", "--email", "alice@example.test"],
    )?;
    certs(&pki, &["issue", "client", "mallory"])?;
    certs(&pki, &["revoke", "mallory"])?;
    certs(&foreign, &["issue", "client", "eve"])?;
    let server_pem = p(dir, "x11vnc.pem");
    certs(&pki, &["export", "x11", "--x11vnc", &server_pem])?;
    Ok(X11Pki {
        pki,
        foreign,
        server_pem,
    })
}

#[test]
fn x11vnc_ssl_verifies_client_certificates() -> anyhow::Result<()> {
    let t = TempDir::new("x11vnc-ssl")?;
    let k = x11_pki(t.path())?;
    let (ca, crl) = (p(&k.pki, "ca.crt"), p(&k.pki, "crl.pem"));
    let desk = X11vnc::start(
        320,
        200,
        &[
            "-nopw",
            "-ssl",
            &k.server_pem,
            "-sslverify",
            &ca,
            "-sslCRL",
            &crl,
        ],
    )?;
    let client = |dir: &Path, name: &str| -> Vec<String> {
        vec![
            "--client-cert".into(),
            p(dir, &format!("{name}.crt")),
            "--client-key".into(),
            p(dir, &format!("{name}.key")),
        ]
    };
    let args = |extra: &[String], tls: bool| -> Vec<String> {
        let mut v = vec!["--ca".to_owned(), ca.clone()];
        if tls {
            v.push("--tls".into());
        }
        v.extend_from_slice(extra);
        v
    };
    let run = |a: Vec<String>| {
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        snapshot(desk.port, &refs)
    };
    // TLS from the first byte, and VeNCrypt on the same port.
    run(args(&client(&k.pki, "alice"), true))?;
    run(args(&client(&k.pki, "alice"), false))?;
    let err = run(args(&[], true)).expect_err("no client certificate");
    assert!(
        format!("{err:#}").contains("requires a client certificate"),
        "{err:#}"
    );
    let err = run(args(&client(&k.foreign, "eve"), true)).expect_err("foreign client");
    assert!(
        format!("{err:#}").contains("refused this client's certificate"),
        "{err:#}"
    );
    let err = run(args(&client(&k.pki, "mallory"), true)).expect_err("revoked client");
    assert!(
        format!("{err:#}").contains("refused this client's certificate"),
        "{err:#}"
    );
    Ok(())
}
