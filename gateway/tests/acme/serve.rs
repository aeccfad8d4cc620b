//! Through the real `vncgate serve` binary: the self-signed certificate serves first, then the
//! ACME certificate obtained with dns-01 replaces it, and `openssl s_client` sees pebble's chain.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::challtestsrv_hook;
use crate::servers::{free_port, s_client, x509, Bind, ChallTestSrv, Pebble, TempDir};

/// The issuer line `openssl s_client` prints for the certificate served to `name`.
fn served_issuer(port: u16, name: &str) -> Option<String> {
    s_client(port, name, &[])
        .lines()
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

/// Starts `vncgate serve` on 127.0.0.1:`port` with `acme` flags and pebble's directory; its
/// log goes to `vncgate.log` in `dir`.
fn serve(dir: &TempDir, port: u16, pebble: &Pebble, acme: &[&str]) -> Child {
    let log = std::fs::File::create(dir.path("vncgate.log")).expect("log file");
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
            .stderr(log)
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
    let (script, _log) = challtestsrv_hook(&dir, dns.management, None);
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

/// The domains and the DNS provider come from the config file's `[acme]` table here.
#[test]
fn serve_obtains_a_name_and_its_wildcard_through_rfc2136() {
    let dir = TempDir::new("serve-2136");
    let bind = Bind::start(&dir);
    let pebble = Pebble::start(&dir, bind.addr, free_port());
    let port = free_port();
    let config = dir.path("vncgate.toml");
    std::fs::write(
        &config,
        format!(
            "[acme]\ndomains = [\"{zone}\", \"*.{zone}\"]\ndns_rfc2136 = \"{server}\"\n\
             tsig_key = \"{key}\"\ndns_resolver = \"{server}\"\n",
            zone = Bind::ZONE,
            server = bind.addr,
            key = bind.key_file.display(),
        ),
    )
    .expect("config file");
    let _gate = serve(
        &dir,
        port,
        &pebble,
        &["--config", &config.display().to_string()],
    );
    wait_for_pebble_certificate(port, "desk7.test.example");
    let sans = served_sans(port, "desk7.test.example");
    assert!(
        sans.contains("DNS:*.test.example") && sans.contains("DNS:test.example"),
        "{sans}"
    );
}

/// The subjectAltName extension of the certificate served to `name`, as openssl prints it.
fn served_sans(port: u16, name: &str) -> String {
    x509(
        &s_client(port, name, &[]),
        &["-noout", "-ext", "subjectAltName"],
    )
}

#[test]
fn serve_keeps_serving_when_the_dns_server_rejects_its_tsig_key() {
    let dir = TempDir::new("serve-badsig");
    let bind = Bind::start(&dir);
    let pebble = Pebble::start(&dir, bind.addr, free_port());
    let port = free_port();
    let wrong = bind.wrong_key_file(&dir.0).display().to_string();
    let server = bind.addr.to_string();
    let _gate = serve(
        &dir,
        port,
        &pebble,
        &[
            "--acme-domain",
            "vnc.test.example",
            "--dns-rfc2136",
            &server,
            "--tsig-key",
            &wrong,
            "--dns-resolver",
            &server,
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let log = loop {
        let log = std::fs::read_to_string(dir.path("vncgate.log")).unwrap_or_default();
        if log.contains("ACME certificate not obtained") || Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        log.contains("did not accept TSIG key") && log.contains("wrong-tsig.key"),
        "the log names the rejected key file:\n{log}"
    );
    assert!(
        log.contains("the self-signed certificate stays in service"),
        "{log}"
    );
    // Still serving, with the self-signed certificate.
    let issuer = served_issuer(port, "vnc.test.example").expect("a TLS handshake");
    assert!(!issuer.contains("Pebble"), "{issuer}");
}

/// Set inside the namespaces [`serve_checks_the_record_at_the_zones_own_servers`] re-runs in.
const IN_NAMESPACE: &str = "VNCGATE_TEST_IN_NETNS";

/// Without --dns-resolver, the TXT record is checked at the zone's authoritative servers, found
/// through /etc/resolv.conf. The test re-runs itself in a new network and mount namespace, where
/// BIND can take 127.0.0.1:53 as the zone's server and /etc/resolv.conf names it.
#[test]
fn serve_checks_the_record_at_the_zones_own_servers() {
    const NAME: &str = "serve::serve_checks_the_record_at_the_zones_own_servers";
    if std::env::var_os(IN_NAMESPACE).is_none() {
        let dir = TempDir::new("serve-ns-outer");
        let status = Command::new("unshare")
            .args(["--net", "--mount", "--propagation", "private", "sh", "-c"])
            .arg(
                "ip link set lo up && echo 'nameserver 127.0.0.1' > \"$0\" \
                 && mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"",
            )
            .arg(dir.path("resolv.conf"))
            .arg(std::env::current_exe().expect("test binary"))
            .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
            .env(IN_NAMESPACE, "1")
            .status()
            .expect("unshare (util-linux)");
        assert!(status.success(), "{NAME} failed inside its namespaces");
        return;
    }
    let dir = TempDir::new("serve-ns");
    let addr: std::net::SocketAddr = "127.0.0.1:53".parse().expect("addr");
    let bind = Bind::start_at(&dir, addr);
    let pebble = Pebble::start(&dir, bind.addr, free_port());
    let port = free_port();
    let key = bind.key_file.display().to_string();
    let _gate = serve(
        &dir,
        port,
        &pebble,
        &[
            "--acme-domain",
            "vnc.test.example",
            "--dns-rfc2136",
            "127.0.0.1",
            "--tsig-key",
            &key,
        ],
    );
    wait_for_pebble_certificate(port, "vnc.test.example");
    let log = std::fs::read_to_string(dir.path("vncgate.log")).expect("log");
    assert!(
        log.contains("waiting for the TXT record to be visible at")
            && log.contains("servers=ns.test.example."),
        "{log}"
    );
}
