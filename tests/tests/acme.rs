//! ACME end to end: the real `vncgate` binary gets a dns-01 certificate from a real `pebble`,
//! Chromium loads the viewer trusting only pebble's root (no "accept the risk" click), and a
//! renewal swaps the certificate while that browser's WebSocket session stays open.
//!
//! Pebble, `pebble-challtestsrv` and BIND are started by the same code as the gateway crate's
//! ACME tests (`gateway/tests/acme/servers.rs`, included here rather than copied).

use std::path::Path;
use std::time::Duration;

use tests::browser::Browser;
use tests::gateway::Gateway;
use tests::proc::wait_until;
use tests::xvnc::Xvnc;

#[allow(dead_code)]
#[path = "../../gateway/tests/acme/servers.rs"]
mod servers;

use servers::{challtestsrv_hook, free_port, s_client, x509, ChallTestSrv, Pebble, TempDir};

const NAME: &str = "vnc.test.example";
const BLUE: [u8; 4] = [0x33, 0x66, 0x99, 0xff];
const GREEN: [u8; 4] = [0x22, 0x88, 0x44, 0xff];

/// What `openssl s_client` sees for `NAME` on `port`: the leaf's SHA-256 fingerprint, and
/// whether the chain verified against `root` for that name.
fn served(port: u16, root: &Path) -> anyhow::Result<(String, bool)> {
    let root = root.display().to_string();
    let out = s_client(port, NAME, &["-verify_hostname", NAME, "-CAfile", &root]);
    let fingerprint = x509(&out, &["-noout", "-fingerprint", "-sha256"]);
    let fingerprint = fingerprint
        .trim()
        .split_once('=')
        .map(|(_, f)| f.to_owned())
        .ok_or_else(|| anyhow::anyhow!("no certificate from s_client: {out}"))?;
    Ok((fingerprint, out.contains("Verify return code: 0 (ok)")))
}

fn relays(gate: &Gateway) -> usize {
    gate.log_text().matches("relay started").count()
}

#[test]
fn the_browser_trusts_the_acme_certificate_and_keeps_its_session_through_a_renewal(
) -> anyhow::Result<()> {
    let dir = TempDir::new("e2e");
    let dns = ChallTestSrv::start(&dir);
    let pebble = Pebble::start(&dir, dns.dns, free_port());
    let root = dir.path("pebble-root.pem");
    std::fs::write(&root, pebble.issuing_root())?;
    let hold = dir.path("hold");
    let (script, _log) = challtestsrv_hook(&dir, dns.management, Some(&hold));
    let script = script.display().to_string();
    let desk = Xvnc::start(800, 600, &["-SecurityTypes", "None"])?;
    desk.run("xsetroot", &["-solid", "#336699"])?;
    let target = format!("desk=127.0.0.1:{}", desk.port);
    let resolver = dns.dns.to_string();
    let ca_root = pebble.listener_root.display().to_string();
    let mut args = vec![
        "--target",
        &target,
        "--danger-no-auth",
        "--acme-domain",
        NAME,
        "--acme-email",
        "ops@vnc.test.example",
        "--acme-challenge",
        "dns-01",
        "--dns-hook",
        &script,
        "--dns-resolver",
        &resolver,
        "--acme-directory",
        &pebble.directory,
        "--acme-ca-root",
        &ca_root,
    ];

    // First start: the self-signed certificate serves until pebble's arrives.
    let gate = Gateway::start(&args)?;
    wait_until(
        Duration::from_secs(40),
        "the first ACME certificate",
        || {
            Ok(gate
                .log_contains("now serving the new ACME certificate")
                .then_some(()))
        },
    )?;
    let (first, verified) = served(gate.port, &root)?;
    assert!(
        verified,
        "the chain vncgate serves verifies against pebble's root"
    );

    // Restart on the same state directory with a renewal threshold longer than the
    // certificate's life: the stored certificate serves at once, and a renewal starts, held in
    // the hook until the browser is connected.
    std::fs::write(&hold, "")?;
    let state = gate.kill();
    // The renewal orders under a new account. Pebble gives an account's new order the valid
    // authorization of its last one in 1 of 100 orders even with PEBBLE_AUTHZREUSE=0 (it makes
    // a new one only when `rand.Intn(100) > percent`, and Intn can draw 0); such a renewal
    // would need no record, never be held, and finish before the browser connects.
    std::fs::remove_dir_all(state.path().join("acme/accounts"))?;
    args.extend(["--acme-renew-before", "36500d"]);
    let gate = Gateway::start_in(state, &args)?;
    assert_eq!(
        served(gate.port, &root)?.0,
        first,
        "after a restart the stored certificate serves"
    );
    let hook_calls = || -> anyhow::Result<(usize, usize)> {
        let calls = std::fs::read_to_string(dir.path("hook.log"))?;
        Ok((
            calls.matches("present").count(),
            calls.matches("cleanup").count(),
        ))
    };
    wait_until(
        Duration::from_secs(40),
        "the renewal to be held in its hook",
        || Ok((hook_calls()?.0 == 2).then_some(())),
    )?;

    let browser = Browser::start_trusting(&root, &[NAME])?;
    browser.goto(&format!("https://{NAME}:{}/#target=desk", gate.port))?;
    browser.wait_for_state("connected", Duration::from_secs(20))?;
    wait_until(Duration::from_secs(10), "the desktop on the canvas", || {
        Ok((browser.canvas_pixel(700, 500)? == BLUE).then_some(()))
    })?;
    if let Some(out) = std::env::var_os("VNCGATE_SCREENSHOTS") {
        browser.screenshot(&Path::new(&out).join("acme-trusted.png"))?;
    }
    assert_eq!(relays(&gate), 1);
    // The renewal is still held: its record is being presented, not yet cleaned up.
    assert_eq!(hook_calls()?, (2, 1));

    // Let the renewal finish: new connections get the new certificate...
    std::fs::remove_file(&hold)?;
    wait_until(Duration::from_secs(40), "the renewed certificate", || {
        Ok(gate
            .log_contains("now serving the new ACME certificate")
            .then_some(()))
    })?;
    let (second, verified) = served(gate.port, &root)?;
    assert_ne!(second, first, "a new certificate serves after the renewal");
    assert!(verified, "the renewed chain verifies against pebble's root");

    // ...while the browser's session, opened under the old one, still carries the desktop.
    desk.run("xsetroot", &["-solid", "#228844"])?;
    wait_until(
        Duration::from_secs(10),
        "the new root colour on the canvas",
        || Ok((browser.canvas_pixel(700, 500)? == GREEN).then_some(())),
    )?;
    assert_eq!(
        browser.eval("return document.getElementById('status').dataset.state")?,
        "connected"
    );
    assert_eq!(relays(&gate), 1, "the session was never re-opened");
    Ok(())
}
