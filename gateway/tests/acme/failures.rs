//! Failures say what happened and what to check, the TXT records are removed anyway, and the
//! certificate being served stays.

use std::time::Duration;

use gateway::acme::config::DnsProvider;
use gateway::acme::{obtain, spawn, AcmeStore};

use crate::servers::{free_port, ChallTestSrv, Pebble, TempDir};
use crate::{config, dns01, eventually, script};

#[tokio::test]
async fn a_failing_hook_is_reported_with_its_stderr_and_the_served_certificate_stays() {
    let dir = TempDir::new("hookfail");
    let dns = ChallTestSrv::start(&dir);
    let pebble = Pebble::start(&dir, dns.dns, free_port());
    let hook = script(
        &dir,
        "failing-hook.sh",
        "echo 'provider API: zone test.example not found' >&2\nexit 7",
    );
    let cfg = config(
        &pebble,
        &["vnc.test.example"],
        dns01(
            DnsProvider::Hook {
                script: hook.clone(),
            },
            dns.dns,
        ),
    );
    // A certificate is being served (here: one for another name, so renewal is due at once).
    let state = dir.path("state");
    let store = AcmeStore::new(&state);
    let old =
        certs::generate::self_signed_server("old", &["old.test.example".into()], 30).expect("old");
    let old = store
        .save_certificate(&old.cert_pem, &old.key_pem)
        .expect("store old");

    let handle = spawn(cfg, &state, None);
    let rx = handle.certificates();
    eventually(20, "a failed attempt in status.json", || {
        store
            .load_status()
            .last_attempt
            .is_some_and(|a| a.error.is_some())
    })
    .await;
    let status = store.load_status();
    let error = status
        .last_attempt
        .and_then(|a| a.error)
        .expect("error recorded");
    assert!(
        error.starts_with(&format!(
            "--dns-hook {} present _acme-challenge.vnc.test.example.: exit status: 7",
            hook.display()
        )),
        "{error}"
    );
    assert!(
        error.ends_with("its stderr: provider API: zone test.example not found"),
        "{error}"
    );
    assert!(status.next_attempt.is_some());
    let serving = rx.borrow().clone().expect("still serving");
    assert_eq!(
        certs::Fingerprint::of_der(serving.cert.first().expect("leaf")),
        old.info.fingerprint
    );
    drop(handle);
}

#[tokio::test]
async fn a_record_the_servers_never_show_is_reported_and_still_cleaned_up() {
    let dir = TempDir::new("invisible");
    let dns = ChallTestSrv::start(&dir);
    let pebble = Pebble::start(&dir, dns.dns, free_port());
    let log = dir.path("calls.log");
    // `present` succeeds but publishes nothing (say, into the wrong zone).
    let hook = script(
        &dir,
        "lying-hook.sh",
        &format!("echo \"$1 $2\" >> {}", log.display()),
    );
    let mut challenge = dns01(DnsProvider::Hook { script: hook }, dns.dns);
    if let gateway::acme::ChallengeConfig::Dns01(d) = &mut challenge {
        d.propagation_timeout = Duration::from_secs(1);
    }
    let cfg = config(&pebble, &["vnc.test.example"], challenge);
    let store = AcmeStore::new(&dir.path("state"));
    let e = obtain(&cfg, &store, None).await.expect_err("invisible");
    let msg = e.to_string();
    assert!(
        msg.starts_with(
            "the TXT record _acme-challenge.vnc.test.example. is not visible after 1s: "
        ),
        "{msg}"
    );
    assert!(msg.contains("serves 0 of its 1 values"), "{msg}");
    assert_eq!(
        std::fs::read_to_string(&log).expect("log"),
        "present _acme-challenge.vnc.test.example.\ncleanup _acme-challenge.vnc.test.example.\n"
    );
}

#[tokio::test]
async fn an_unreachable_ca_is_reported_with_what_to_check() {
    let dir = TempDir::new("cadown");
    let port = free_port();
    let cfg = crate::config_at(
        &format!("https://127.0.0.1:{port}/dir"),
        &["vnc.test.example"],
        gateway::acme::ChallengeConfig::TlsAlpn01,
    );
    let resolver = gateway::acme::AcmeResolver::new(std::sync::Arc::new(
        gateway::tls::CertStore::new(test_key()),
    ));
    let store = AcmeStore::new(&dir.path("state"));
    let e = obtain(&cfg, &store, Some(&resolver))
        .await
        .expect_err("nobody listens");
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "cannot reach the ACME server https://127.0.0.1:{port}/dir (account request): "
        )),
        "{msg}"
    );
    assert!(msg.contains("Connection refused"), "{msg}");
    assert!(msg.ends_with("check --acme-directory, the network (DNS, proxy, firewall) and, for a private CA, --acme-ca-root"), "{msg}");
    assert!(!store.account_path(&cfg.directory).exists());
}

fn test_key() -> rustls::sign::CertifiedKey {
    let pair = certs::generate::self_signed_server("t", &["localhost".into()], 2).expect("pair");
    gateway::acme::store::parse_pair(pair.cert_pem.as_bytes(), pair.key_pem.as_bytes())
        .map(|s| (*s.key).clone())
        .expect("key")
}
