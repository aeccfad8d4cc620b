//! Through the real `vncgate serve` binary: the self-signed certificate serves first, then the
//! ACME certificate obtained with dns-01 replaces it, and `openssl s_client` sees pebble's chain.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::challtestsrv_hook;
use crate::servers::{free_port, ChallTestSrv, Pebble, TempDir};

/// The issuer line `openssl s_client` prints for the certificate served to `name`.
fn served_issuer(port: u16, name: &str) -> Option<String> {
    let out = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            name,
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find(|l| l.starts_with("issuer="))
        .map(str::to_owned)
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `vncgate serve` on 127.0.0.1:`port` with `acme` flags and pebble's directory.
fn serve(dir: &TempDir, port: u16, pebble: &Pebble, acme: &[&str]) -> Child {
    Child(
        Command::new(env!("CARGO_BIN_EXE_vncgate"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--danger-no-auth",
            ])
            .args([
                "--target",
                "desk=127.0.0.1:5999",
                "--state-dir",
                &dir.path("state").display().to_string(),
            ])
            .args(acme)
            .args(["--acme-directory", &pebble.directory])
            .args([
                "--acme-ca-root",
                &pebble.listener_root.display().to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("vncgate"),
    )
}

/// Waits until the certificate served for `name` is pebble's.
fn wait_for_pebble_certificate(port: u16, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut last = None;
    while Instant::now() < deadline {
        last = served_issuer(port, name);
        if last.as_deref().is_some_and(|i| i.contains("Pebble")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("vncgate never served pebble's certificate for {name}; last issuer seen: {last:?}");
}

#[test]
fn serve_obtains_a_dns01_certificate_and_serves_it() {
    let dir = TempDir::new("serve");
    let dns = ChallTestSrv::start(&dir);
    let pebble = Pebble::start(&dir, dns.dns, free_port());
    let (script, _log) = challtestsrv_hook(&dir, dns.management);
    let port = free_port();
    let (script, resolver) = (script.display().to_string(), dns.dns.to_string());
    let _gate = serve(
        &dir,
        port,
        &pebble,
        &[
            "--acme-domain",
            "vnc.test.example",
            "--acme-challenge",
            "dns-01",
            "--dns-hook",
            &script,
            "--dns-resolver",
            &resolver,
        ],
    );
    wait_for_pebble_certificate(port, "vnc.test.example");
    let status = Command::new(env!("CARGO_BIN_EXE_vncgate"))
        .args([
            "acme",
            "status",
            "--state-dir",
            &dir.path("state").display().to_string(),
        ])
        .output()
        .expect("acme status");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("vnc.test.example"), "{text}");
}

#[test]
fn serve_answers_tls_alpn01_on_its_own_port() {
    let dir = TempDir::new("serve-alpn");
    let dns = ChallTestSrv::start(&dir);
    // Pebble validates tls-alpn-01 at the name's address (challtestsrv: 127.0.0.1) on this
    // port: vncgate's single port.
    let port = free_port();
    let pebble = Pebble::start(&dir, dns.dns, port);
    let _gate = serve(
        &dir,
        port,
        &pebble,
        &[
            "--acme-domain",
            "alpn.test.example",
            "--acme-challenge",
            "tls-alpn-01",
        ],
    );
    wait_for_pebble_certificate(port, "alpn.test.example");
}
