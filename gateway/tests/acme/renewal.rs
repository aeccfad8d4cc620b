//! Renewal: a stored certificate is served at start; when it is due (here forced by a renew
//! threshold longer than its lifetime) a new one is obtained, stored, put on the watch
//! channel, and swapped into the gateway's CertStore.

use std::sync::Arc;
use std::time::Duration;

use gateway::acme::config::DnsProvider;
use gateway::acme::{install, obtain, spawn, AcmeStore};
use gateway::tls::CertStore;

use crate::servers::{free_port, ChallTestSrv, Pebble, TempDir};
use crate::{challtestsrv_hook, config, dns01, eventually};

#[tokio::test]
async fn a_forced_renewal_puts_a_new_certificate_on_the_channel_and_into_the_store() {
    let dir = TempDir::new("renew");
    let dns = ChallTestSrv::start(&dir);
    let pebble = Pebble::start(&dir, dns.dns, free_port());
    let (script, _log) = challtestsrv_hook(&dir, dns.management, None);
    let mut cfg = config(
        &pebble,
        &["vnc.test.example"],
        dns01(DnsProvider::Hook { script }, dns.dns),
    );
    let state = dir.path("state");
    let store = AcmeStore::new(&state);
    let first = obtain(&cfg, &store, None).await.expect("first certificate");

    // The gateway serves its self-signed certificate until install() hands it the ACME one.
    let self_signed =
        certs::generate::self_signed_server("vncgate self-signed", &["localhost".into()], 2)
            .expect("self-signed");
    let self_signed = gateway::acme::store::parse_pair(
        self_signed.cert_pem.as_bytes(),
        self_signed.key_pem.as_bytes(),
    )
    .expect("pair");
    let served = Arc::new(CertStore::new((*self_signed.key).clone()));

    cfg.renew_before = Some(Duration::from_secs(100 * 365 * 86_400));
    let handle = spawn(cfg, &state, None);
    let mut rx = handle.certificates();
    let initial = rx
        .borrow_and_update()
        .clone()
        .expect("stored certificate published at start");
    let fp =
        |k: &rustls::sign::CertifiedKey| certs::Fingerprint::of_der(k.cert.first().expect("leaf"));
    assert_eq!(fp(&initial), first.info.fingerprint);
    let _installer = install(&handle, served.clone());
    assert_eq!(served.fingerprint(), Some(first.info.fingerprint));

    tokio::time::timeout(Duration::from_secs(30), rx.changed())
        .await
        .expect("renewed in time")
        .expect("loop alive");
    let renewed = rx.borrow_and_update().clone().expect("new certificate");
    assert_ne!(fp(&renewed), first.info.fingerprint);
    let on_disk = store.load_certificate().expect("load").expect("stored");
    assert_eq!(on_disk.info.fingerprint, fp(&renewed));
    eventually(5, "the CertStore to serve the new certificate", || {
        served.fingerprint() == Some(fp(&renewed))
    })
    .await;
    let status = store.load_status();
    assert_eq!(
        status.certificate.map(|c| c.fingerprint),
        Some(fp(&renewed).to_string())
    );
    assert_eq!(status.last_attempt.and_then(|a| a.error), None);
    // The next renewal waits at least min_renewal_interval, even with this threshold.
    let next = status.next_attempt.expect("scheduled");
    assert!(next >= gateway::acme::unix_now() + 3000, "{next}");
}
