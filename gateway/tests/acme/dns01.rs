//! dns-01 end to end: TXT records through a `--dns-hook` script and through RFC 2136 with
//! TSIG against BIND, checked visible, validated by pebble, and removed afterwards.

use gateway::acme::config::{DnsProvider, HostPort};
use gateway::acme::dns::tsig::TsigKey;
use gateway::acme::{obtain, AcmeStore};

use crate::servers::{free_port, Bind, ChallTestSrv, Pebble, TempDir};
use crate::{challtestsrv_hook, config, dns01, txt_at};

#[tokio::test]
async fn dns01_through_a_hook_issues_reuses_the_account_and_removes_the_record() {
    let dir = TempDir::new("hook");
    let dns = ChallTestSrv::start(&dir);
    let pebble = Pebble::start(&dir, dns.dns, free_port());
    let (script, log) = challtestsrv_hook(&dir, dns.management, None);
    let cfg = config(
        &pebble,
        &["vnc.test.example"],
        dns01(DnsProvider::Hook { script }, dns.dns),
    );
    let store = AcmeStore::new(&dir.path("state"));

    let issued = obtain(&cfg, &store, None).await.expect("issued");
    assert_eq!(issued.info.sans, ["DNS:vnc.test.example"]);
    assert!(
        issued.info.issuer.contains("Pebble"),
        "{}",
        issued.info.issuer
    );

    let calls = std::fs::read_to_string(&log).expect("hook log");
    let lines: Vec<&str> = calls.lines().collect();
    assert_eq!(lines.len(), 2, "{calls}");
    assert!(
        lines[0].starts_with("present _acme-challenge.vnc.test.example. "),
        "{calls}"
    );
    assert!(lines[0].ends_with(" 60"), "{calls}");
    assert!(
        lines[1].starts_with("cleanup _acme-challenge.vnc.test.example. "),
        "{calls}"
    );
    assert!(txt_at(dns.dns, "_acme-challenge.vnc.test.example.")
        .await
        .is_empty());

    // Stored: key private, account reused by the next issuance.
    let mode = |p: std::path::PathBuf| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).expect("meta").permissions().mode() & 0o777
    };
    let account = store.account_path(&cfg.directory);
    assert_eq!(mode(account.clone()), 0o600);
    assert_eq!(mode(store.key_path()), 0o600);
    let account_before = std::fs::read(&account).expect("account");
    let again = obtain(&cfg, &store, None).await.expect("second issuance");
    assert_ne!(again.info.fingerprint, issued.info.fingerprint);
    assert_eq!(std::fs::read(&account).expect("account"), account_before);
    let loaded = store.load_certificate().expect("load").expect("stored");
    assert_eq!(loaded.info.fingerprint, again.info.fingerprint);
}

/// A CA that still holds a valid authorization for the name (pebble reusing them all) gets no
/// DNS record published for the next order.
#[tokio::test]
async fn authorizations_the_ca_reuses_need_no_record() {
    let dir = TempDir::new("reuse");
    let dns = ChallTestSrv::start(&dir);
    let pebble = Pebble::start_reusing(&dir, dns.dns, free_port(), 100);
    let (script, log) = challtestsrv_hook(&dir, dns.management, None);
    let cfg = config(
        &pebble,
        &["vnc.test.example"],
        dns01(DnsProvider::Hook { script }, dns.dns),
    );
    let store = AcmeStore::new(&dir.path("state"));
    let first = obtain(&cfg, &store, None).await.expect("first");
    let calls = std::fs::read_to_string(&log).expect("hook log");
    assert_eq!(calls.lines().count(), 2, "present and cleanup: {calls}");
    let second = obtain(&cfg, &store, None).await.expect("second");
    assert_ne!(second.info.fingerprint, first.info.fingerprint);
    let calls = std::fs::read_to_string(&log).expect("hook log");
    assert_eq!(
        calls.lines().count(),
        2,
        "no hook call for the reused one: {calls}"
    );
}

#[tokio::test]
async fn dns01_through_rfc2136_with_tsig_issues_a_name_and_its_wildcard() {
    let dir = TempDir::new("rfc2136");
    let bind = Bind::start(&dir);
    let pebble = Pebble::start(&dir, bind.addr, free_port());
    let provider = DnsProvider::Rfc2136 {
        server: HostPort {
            host: "127.0.0.1".into(),
            port: bind.addr.port(),
        },
        key: TsigKey::load(&bind.key_file).expect("tsig-keygen output"),
    };
    let cfg = config(
        &pebble,
        &[Bind::ZONE, "*.test.example"],
        dns01(provider, bind.addr),
    );
    let store = AcmeStore::new(&dir.path("state"));

    let issued = obtain(&cfg, &store, None).await.expect("issued");
    let mut sans = issued.info.sans.clone();
    sans.sort();
    assert_eq!(sans, ["DNS:*.test.example", "DNS:test.example"]);
    // Both values went onto one name, and both are gone.
    assert!(txt_at(bind.addr, "_acme-challenge.test.example.")
        .await
        .is_empty());
    let log = std::fs::read_to_string(dir.path("named.log")).expect("named log");
    assert_eq!(
        log.matches("adding an RR at '_acme-challenge.test.example' TXT")
            .count(),
        2,
        "{log}"
    );
    assert_eq!(
        log.matches("deleting an RR at _acme-challenge.test.example TXT")
            .count(),
        2,
        "{log}"
    );
}

#[tokio::test]
async fn dns01_rfc2136_rejections_say_what_to_fix() {
    let dir = TempDir::new("tsig");
    let bind = Bind::start(&dir);
    let pebble = Pebble::start(&dir, bind.addr, free_port());
    let server = HostPort {
        host: "127.0.0.1".into(),
        port: bind.addr.port(),
    };
    let store = AcmeStore::new(&dir.path("state"));

    // A wrong secret: BIND logs `tsig verify failure` and answers BADSIG.
    let wrong = DnsProvider::Rfc2136 {
        server: server.clone(),
        key: TsigKey::load(&bind.wrong_key_file(&dir.0)).expect("key"),
    };
    let cfg = config(&pebble, &["vnc.test.example"], dns01(wrong, bind.addr));
    let msg = obtain(&cfg, &store, None)
        .await
        .expect_err("BADSIG")
        .to_string();
    assert!(msg.starts_with(&format!("--dns-rfc2136 {}: the server did not accept TSIG key \"acme-key\" for the update (adding) of _acme-challenge.vnc.test.example.", bind.addr)), "{msg}");
    assert!(
        msg.contains("--tsig-key ") && msg.contains("wrong-tsig.key"),
        "{msg}"
    );
    let log = std::fs::read_to_string(dir.path("named.log")).expect("named log");
    assert!(log.contains("tsig verify failure"), "{log}");

    // The right key, but the zone's update-policy does not cover the name.
    let right = DnsProvider::Rfc2136 {
        server,
        key: TsigKey::load(&bind.key_file).expect("key"),
    };
    let cfg = config(&pebble, &["vnc.locked.example"], dns01(right, bind.addr));
    let msg = obtain(&cfg, &store, None)
        .await
        .expect_err("REFUSED")
        .to_string();
    assert!(msg.contains("addition of _acme-challenge.vnc.locked.example. in zone locked.example. rejected with REFUSED"), "{msg}");
    assert!(msg.ends_with("for BIND `update-policy { grant acme-key name _acme-challenge.vnc.locked.example. TXT; };`"), "{msg}");
    assert!(store.load_certificate().expect("load").is_none());
}
