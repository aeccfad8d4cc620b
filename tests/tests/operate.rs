//! Operating the gateway as a service (docs/install.md, docs/gateway.md): a live reload on
//! SIGHUP against a real Xvnc, and the operator's page `/admin` in headless Chromium.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use anyhow::ensure;
use tests::api::{self, admitted, refused_with};
use tests::browser::Browser;
use tests::gateway::Gateway;
use tests::pki::CertDir;
use tests::wss::{self, ClientCert};
use tests::xvnc::Xvnc;
use tests::TempDir;

const TOKEN: &str = "operate-admin-token-0123456789";

fn local(host: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 9, host))
}

/// What both tests start from: a CA with certificates for `people` (NAME@example.com), the
/// admin token, and a desktop.
struct Setup {
    dir: TempDir,
    pki: CertDir,
    desk: Xvnc,
}

fn setup(tag: &str, ca: &str, people: &[&str]) -> anyhow::Result<Setup> {
    let dir = TempDir::new(tag)?;
    let pki = CertDir::init(&dir.path().join("pki"), ca)?;
    for name in people {
        pki.client(name, Some(&format!("{name}@example.com")))?;
    }
    std::fs::write(dir.path().join("token"), format!("{TOKEN}\n"))?;
    // Sessions the tests drop before their handshake must not get 127.0.0.1 blacklisted.
    let desk = Xvnc::start(
        640,
        480,
        &["-SecurityTypes", "None", "-BlacklistThreshold", "1000000"],
    )?;
    Ok(Setup { dir, pki, desk })
}

/// The config file: `targets` (NAME = PORT), alice's certificate allowed on `alice_targets`,
/// `auth` more lines of `[auth]`, and `tail` (more tables) at the end.
fn write_config(
    file: &Path,
    dir: &Path,
    targets: &[(&str, u16)],
    alice_targets: &[&str],
    auth: &str,
    tail: &str,
) -> anyhow::Result<()> {
    let mut t = format!(
        "audit_log = \"{}\"\n[targets]\n",
        dir.join("audit.jsonl").display()
    );
    for (name, port) in targets {
        t.push_str(&format!("{name} = \"127.0.0.1:{port}\"\n"));
    }
    t.push_str(&format!(
        "[auth]\nclient_ca = \"{}\"\nclient_auth = \"optional\"\nadmin_token_file = \"{}\"\n{auth}",
        dir.join("pki/ca.crt").display(),
        dir.join("token").display()
    ));
    let list: Vec<String> = alice_targets.iter().map(|t| format!("{t:?}")).collect();
    t.push_str(&format!(
        "[[acl.allow]]\nwho = [\"email:alice@example.com\"]\ntargets = [{}]\n",
        list.join(", ")
    ));
    t.push_str(tail);
    // Written whole, then renamed: the gateway never reads half a file.
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, t)?;
    std::fs::rename(&tmp, file)?;
    Ok(())
}

fn audit_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// SIGHUP re-reads the config file: a target added relays at once; a certificate the access
/// list no longer names loses its session with the reason; a removed target ends its
/// sessions; a session the new rules still admit goes on; the audit log is opened again (log
/// rotation); a setting that needs a restart is named and kept; a broken file is refused
/// and the running configuration keeps serving.
#[test]
fn sighup_reloads_targets_access_and_audit_and_refuses_a_broken_file() -> anyhow::Result<()> {
    let Setup { dir, pki, desk } = setup("reload", "Reload CA", &["alice"])?;
    let d = dir.path();
    let file = d.join("vncgate.toml");
    write_config(&file, d, &[("desk", desk.port)], &["desk"], "", "")?;
    let gate = Gateway::start(&["--config", &file.display().to_string()])?;
    let to = SocketAddr::from(([127, 0, 0, 1], gate.port));
    let (alice_cert, alice_key) = (pki.path("alice.crt"), pki.path("alice.key"));
    let as_alice = |host: u8, target: &str| -> anyhow::Result<(wss::Wss, wss::Frame)> {
        let mut ws = wss::open_as(
            local(host),
            to,
            &format!("/ws/{target}"),
            Some(ClientCert {
                cert: Path::new(&alice_cert),
                key: Path::new(&alice_key),
            }),
        )?;
        let first = ws.next_frame()?;
        Ok((ws, first))
    };

    let (mut by_key, first) =
        api::redeem(local(1), to, "desk", &api::issue(gate.port, TOKEN, "desk")?)?;
    ensure!(admitted(&first), "a key for desk: {first:?}");
    let (mut by_cert, first) = as_alice(2, "desk")?;
    ensure!(admitted(&first), "alice's certificate on desk: {first:?}");
    let (status, body) = api::call(
        gate.port,
        Some(TOKEN),
        "POST",
        "/api/otk",
        Some(r#"{"target":"lab"}"#),
    )?;
    ensure!(status == 400, "no target lab yet: {status} {body}");

    // lab added; alice now only on lab.
    write_config(
        &file,
        d,
        &[("desk", desk.port), ("lab", desk.port)],
        &["lab"],
        "",
        "",
    )?;
    let line = gate.reload()?;
    ensure!(
        line.contains("configuration reloaded") && line.contains("added: lab"),
        "{line}"
    );
    let reason = by_cert.close_reason_within(Duration::from_secs(5))?;
    ensure!(
        reason.starts_with("ended by a configuration change")
            && reason.contains("may no longer use 'desk'"),
        "alice's session ends with why: {reason:?}"
    );
    let (on_lab, first) = api::redeem(local(3), to, "lab", &api::issue(gate.port, TOKEN, "lab")?)?;
    ensure!(admitted(&first), "the new target relays: {first:?}");
    let (_, first) = as_alice(4, "lab")?;
    ensure!(admitted(&first), "alice on lab: {first:?}");
    let (_, first) = as_alice(5, "desk")?;
    ensure!(
        refused_with(&first, "may not use target 'desk'"),
        "alice on desk: {first:?}"
    );
    let live = api::sessions(gate.port, TOKEN)?;
    ensure!(
        live.iter().any(|s| s["target"] == "desk"
            && s["client"]
                .as_str()
                .is_some_and(|c| c.starts_with("127.0.9.1:"))),
        "the key's session on desk goes on: {live:?}"
    );

    // The audit log was rotated away; desk removed; a restart-only setting changed.
    let audit = d.join("audit.jsonl");
    std::fs::rename(&audit, d.join("audit.jsonl.1"))?;
    write_config(
        &file,
        d,
        &[("lab", desk.port)],
        &["lab"],
        "",
        "[limits]\nsession_heartbeat_secs = 3\n",
    )?;
    let line = gate.reload()?;
    ensure!(
        line.contains("removed: desk") && line.contains("sessions ended: 1"),
        "{line}"
    );
    ensure!(
        gate.log_contains("session_heartbeat_secs")
            && gate.log_contains("takes effect at the next restart"),
        "the restart-only limit is named:\n{}",
        gate.log_text()
    );
    let reason = by_key.close_reason_within(Duration::from_secs(5))?;
    ensure!(
        reason == "ended by a configuration change: target 'desk' was removed",
        "{reason:?}"
    );
    let ended = tests::proc::wait_until(
        Duration::from_secs(5),
        "the audit line in the new file",
        || {
            Ok(audit_lines(&audit)
                .into_iter()
                .find(|l| l["target"] == "desk"))
        },
    )?;
    ensure!(
        ended["reason"]
            .as_str()
            .is_some_and(|r| r.contains("target 'desk' was removed")),
        "{ended}"
    );

    // A broken file: refused, and the running configuration keeps serving.
    std::fs::write(&file, "[targets\nlab = ")?;
    let line = gate.reload()?;
    ensure!(
        line.contains("configuration NOT reloaded") && line.contains(&file.display().to_string()),
        "the error names the file: {line}"
    );
    let (status, st) = api::call(gate.port, Some(TOKEN), "GET", "/api/status", None)?;
    ensure!(
        status == 200
            && st["reload"]["ok"] == false
            && st["reload"]["summary"]
                .as_str()
                .is_some_and(|r| r.contains("vncgate.toml")),
        "the status page says the last reload was refused: {st}"
    );
    let (_, first) = api::redeem(local(6), to, "lab", &api::issue(gate.port, TOKEN, "lab")?)?;
    ensure!(admitted(&first), "lab still relays: {first:?}");
    let live = api::sessions(gate.port, TOKEN)?;
    ensure!(
        live.iter().any(|s| s["target"] == "lab"
            && s["client"]
                .as_str()
                .is_some_and(|c| c.starts_with("127.0.9.3:"))),
        "the session on lab went on through three reloads: {live:?}"
    );
    drop(on_lab);
    Ok(())
}

/// The operator's page in headless Chromium with an admin's certificate: it lists the live
/// session of a viewer in another browser, the refusals and the lockout of an address that
/// guessed keys, and the certificate; its End button closes the viewer's session with "ended
/// by an administrator". Without an admin identity the page and `GET /api/status` are 403.
#[test]
fn the_operator_page_lists_and_ends_sessions_for_admins_only() -> anyhow::Result<()> {
    let Setup { dir, pki, desk } = setup("admin-page", "Ops CA", &["alice", "bob"])?;
    let d = dir.path();
    let file = d.join("vncgate.toml");
    let admins = "admins = [\"email:alice@example.com\"]\n";
    write_config(&file, d, &[("desk", desk.port)], &["desk"], admins, "")?;
    let gate = Gateway::start(&["--config", &file.display().to_string()])?;
    let to = SocketAddr::from(([127, 0, 0, 1], gate.port));

    // Who is not an admin gets 403, with what would do.
    let curl = |extra: &[&str], path: &str| -> anyhow::Result<(String, String)> {
        let out = std::process::Command::new("curl")
            .args(["-sk", "-w", "\n%{http_code}"])
            .args(extra)
            .arg(format!("https://127.0.0.1:{}{path}", gate.port))
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
        Ok((code.to_owned(), body.to_owned()))
    };
    let bob = [
        "--cert",
        &pki.path("bob.crt"),
        "--key",
        &pki.path("bob.key"),
    ];
    for (who, extra) in [("no one", &[][..]), ("bob", &bob[..])] {
        for path in ["/admin/", "//admin/index.html", "///admin/admin.js"] {
            let (code, body) = curl(extra, path)?;
            ensure!(
                code == "403" && body.contains("[auth] admins"),
                "{who} on {path}: {code} {body}"
            );
        }
        let (code, _) = curl(extra, "/api/status")?;
        ensure!(code == "403", "{who} on /api/status: {code}");
    }
    let (code, _) = curl(&["-o", "/dev/null"], "/admin")?;
    ensure!(code == "308", "/admin goes to /admin/: {code}");

    // A viewer in its own browser, and an address guessing keys until it is locked out.
    let viewer = Browser::start()?;
    let key = api::issue(gate.port, TOKEN, "desk")?;
    viewer.goto(&gate.url(&format!("#otk={key}&target=desk")))?;
    viewer.wait_for_state("connected", Duration::from_secs(30))?;
    for _ in 0..5 {
        let (_, first) = api::redeem(local(20), to, "desk", "AAAAAAAAAAAAAAAAAAAAAAAAAA")?;
        ensure!(!admitted(&first), "a made-up key: {first:?}");
    }

    // Scripts read the same status with the admin token.
    let (status, st) = api::call(gate.port, Some(TOKEN), "GET", "/api/status", None)?;
    ensure!(status == 200, "GET /api/status: {status} {st}");
    ensure!(
        st["certificate"]["source"] == "self-signed"
            && st["certificate"]["days_left"]
                .as_i64()
                .is_some_and(|d| d > 300)
            && st["targets"] == serde_json::json!(["desk"])
            && st["sessions_here"] == 1
            && st["lockouts"].as_array().is_some_and(|l| l.len() == 1)
            && st["refusals"].as_array().is_some_and(|l| l.len() == 5)
            && st["client_ca"]["mode"] == "optional",
        "{st:#}"
    );

    let admin = Browser::as_holder(d, &pki, "alice", gate.port, "Ops CA")?;
    admin.goto(&gate.url("admin/"))?;
    let rows = "return [...document.querySelectorAll('#sessions tbody tr')].map(r => r.innerText)";
    let listed =
        tests::proc::wait_until(Duration::from_secs(15), "the session on the page", || {
            let v = admin.eval(rows)?;
            Ok(v.as_array()
                .filter(|a| a.len() == 1)
                .and_then(|a| a[0].as_str().map(str::to_owned)))
        })?;
    ensure!(
        listed.contains("desk") && listed.contains("key "),
        "{listed}"
    );
    let page = admin.eval("return document.querySelector('main').innerText")?;
    let page = page.as_str().unwrap_or_default();
    ensure!(
        page.contains("self-signed") && page.contains("days left"),
        "the certificate: {page}"
    );
    ensure!(
        page.contains("one-time key is not valid"),
        "the refusals: {page}"
    );
    ensure!(page.contains("blocked for"), "the lockout: {page}");
    let state = admin.eval("return document.getElementById('state').dataset.state")?;
    ensure!(state == "connected", "the page is live: {state}");
    // With VNCGATE_SCREENSHOTS=DIR the page is kept for docs/screenshots.
    if let Some(out) = std::env::var_os("VNCGATE_SCREENSHOTS") {
        admin.set_window_size(1280, 900)?;
        std::thread::sleep(Duration::from_millis(500));
        admin.screenshot(&Path::new(&out).join("admin.png"))?;
    }

    // End: the viewer is told, the list empties.
    admin.eval(
        "window.confirm = () => true; document.querySelector('#sessions button[data-session]').click(); return true",
    )?;
    let msg = viewer.wait_for_state("error", Duration::from_secs(15))?;
    ensure!(
        msg.contains("ended by an administrator"),
        "the viewer says: {msg}"
    );
    tests::proc::wait_until(Duration::from_secs(10), "an empty list", || {
        let empty = admin.eval("return !document.getElementById('no-sessions').hidden")?;
        Ok((empty == true).then_some(()))
    })?;
    tests::proc::wait_until(
        Duration::from_secs(5),
        "the audit line naming the admin",
        || {
            Ok(audit_lines(&d.join("audit.jsonl")).into_iter().find(|l| {
                l["reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("ended by an administrator (CN=alice"))
            }))
        },
    )?;
    Ok(())
}
