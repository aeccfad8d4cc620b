//! Authentication end to end: the real `vncgate` binary, real VNC servers, headless Chromium
//! presenting a client certificate from its NSS database, one-time-key links, the portal API
//! through curl, stunnel as a native client with a certificate, the lockout, and keys that
//! survive a restart and `kill -9`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use tests::browser::Browser;
use tests::gateway::Gateway;
use tests::pki::CertDir;
use tests::proc::{free_port, wait_for_port, wait_until, Proc};
use tests::vnc::vncgate;
use tests::xvnc::Xvnc;
use tests::TempDir;

const ROOT: [u8; 4] = [0x33, 0x66, 0x99, 0xff];

fn desktop(w: u16, h: u16, extra: &[&str]) -> anyhow::Result<Xvnc> {
    let mut args = vec!["-SecurityTypes", "None"];
    if !extra.is_empty() {
        args = extra.to_vec();
    }
    let desk = Xvnc::start(w, h, &args)?;
    desk.run("xsetroot", &["-solid", "#336699"])?;
    Ok(desk)
}

/// Waits for the viewer to connect and show the desktop's root colour at (x, y).
fn shows_desktop(browser: &Browser, x: u32, y: u32) -> anyhow::Result<()> {
    browser.wait_for_state("connected", Duration::from_secs(30))?;
    wait_until(
        Duration::from_secs(15),
        "the root colour on the canvas",
        || Ok((browser.canvas_pixel(x, y)? == ROOT).then_some(())),
    )
}

/// `curl -sk` with ARGS; returns (status, body).
fn curl(args: &[&str]) -> anyhow::Result<(u16, String)> {
    let out = Command::new("curl")
        .args(["-sk", "-w", "\n%{http_code}", "--max-time", "20"])
        .args(args)
        .output()
        .context("cannot run curl")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    Ok((code.trim().parse().unwrap_or(0), body.to_owned()))
}

fn write(dir: &Path, name: &str, text: &str) -> anyhow::Result<String> {
    let p = dir.join(name);
    std::fs::write(&p, text)?;
    Ok(p.display().to_string())
}

/// A browser that presents `name`'s certificate from its own NSS database to `gate`.
fn browser_as(
    t: &Path,
    pki: &CertDir,
    name: &str,
    gate: &Gateway,
    issuer: &str,
) -> anyhow::Result<Browser> {
    Browser::as_holder(t, pki, name, gate.port, issuer)
}

/// Chromium presents alice's certificate from its NSS database and sees her desktop; a revoked
/// certificate gets no page at all, and the gateway says why.
#[test]
fn a_browser_with_a_client_certificate_sees_its_desktop_and_a_revoked_one_is_refused(
) -> anyhow::Result<()> {
    let t = TempDir::new("e2e-mtls")?;
    let pki = CertDir::init(&t.path().join("pki"), "E2E Clients CA")?;
    pki.client("alice", Some("alice@example.test"))?;
    pki.client("mallory", None)?;
    pki.run(&["revoke", "mallory"])?;
    let desk = desktop(640, 480, &[])?;
    let gate = Gateway::start(&[
        "--target",
        &format!("desk=127.0.0.1:{}", desk.port),
        "--client-ca",
        &pki.path("ca.crt"),
        "--crl",
        &pki.path("crl.pem"),
        "--client-auth",
        "required",
    ])?;
    {
        let browser = browser_as(t.path(), &pki, "alice", &gate, "E2E Clients CA")?;
        browser.goto(&gate.url("#target=desk"))?;
        shows_desktop(&browser, 600, 400)?;
        ensure!(
            gate.log_contains("client certificate verified"),
            "the gateway saw alice"
        );
        ensure!(
            gate.log_contains("alice@example.test"),
            "by her e-mail address"
        );
    }
    let browser = browser_as(t.path(), &pki, "mallory", &gate, "E2E Clients CA")?;
    let _ = browser.goto(&gate.url("#target=desk"));
    wait_until(Duration::from_secs(20), "the revocation in the log", || {
        Ok(gate
            .log_contains("the client certificate is revoked")
            .then_some(()))
    })?;
    let viewer = browser.eval("return document.getElementById('status') !== null;")?;
    ensure!(
        viewer == serde_json::json!(false),
        "no viewer page for a revoked certificate"
    );
    Ok(())
}

/// A link from `vncgate otk issue` opens the desktop once; opened again it says it was used;
/// an expired link says so; the key never appears in the gateway's log.
#[test]
fn a_one_time_link_works_once_and_then_says_it_was_used() -> anyhow::Result<()> {
    let desk = desktop(640, 480, &[])?;
    let gate = Gateway::start(&["--target", &format!("desk=127.0.0.1:{}", desk.port)])?;
    let state = gate.state.path().display().to_string();
    let gw = format!("https://127.0.0.1:{}", gate.port);
    let link = vncgate(&[
        "otk",
        "issue",
        "--target",
        "desk",
        "--state-dir",
        &state,
        "--gateway",
        &gw,
    ])?;
    let link = link.trim().to_owned();
    ensure!(
        link.starts_with(&format!("{gw}/#otk=")) && link.ends_with("&target=desk"),
        "{link}"
    );
    let key = link
        .split("otk=")
        .nth(1)
        .and_then(|r| r.split('&').next())
        .context("no key in the link")?
        .to_owned();
    let browser = Browser::start()?;
    browser.goto(&link)?;
    shows_desktop(&browser, 600, 400)?;
    browser.goto("about:blank")?;
    browser.goto(&link)?;
    let msg = browser.wait_for_state("error", Duration::from_secs(20))?;
    ensure!(msg.contains("already used"), "page says: {msg}");

    let short = vncgate(&[
        "otk",
        "issue",
        "--target",
        "desk",
        "--ttl",
        "1s",
        "--state-dir",
        &state,
        "--gateway",
        &gw,
    ])?;
    // `otk list` and the gateway judge expiry by the same rule (expired once `expires_at <= now`).
    wait_until(Duration::from_secs(10), "the 1 s key to expire", || {
        let listed = vncgate(&["otk", "list", "--state-dir", &state])?;
        Ok(listed.contains("expired").then_some(()))
    })?;
    browser.goto("about:blank")?;
    browser.goto(short.trim())?;
    let msg = browser.wait_for_state("error", Duration::from_secs(20))?;
    ensure!(msg.contains("expired"), "page says: {msg}");

    let listed = vncgate(&["otk", "list", "--state-dir", &state])?;
    ensure!(
        listed.contains("used") && listed.contains("expired"),
        "{listed}"
    );
    ensure!(!listed.contains(&key), "the list never shows keys");
    ensure!(!gate.log_text().contains(&key), "the key is never logged");
    Ok(())
}

/// A portal asks for a link over the API (curl with the admin token); the link works.
#[test]
fn a_portal_gets_a_link_from_the_api_and_it_opens_the_desktop() -> anyhow::Result<()> {
    let t = TempDir::new("e2e-portal")?;
    let token = "portal-token-0123456789abcdef";
    let token_file = write(t.path(), "admin-token", &format!("{token}\n"))?;
    let desk = desktop(640, 480, &[])?;
    let gate = Gateway::start(&[
        "--target",
        &format!("desk=127.0.0.1:{}", desk.port),
        "--admin-token-file",
        &token_file,
    ])?;
    let api = format!("https://127.0.0.1:{}/api/otk", gate.port);
    let (status, body) = curl(&[
        "-X",
        "POST",
        &api,
        "-H",
        &format!("Authorization: Bearer {token}"),
        "-H",
        "Content-Type: application/json",
        "--data",
        r#"{"target":"desk","ttl_seconds":120,"view_only":false}"#,
    ])?;
    ensure!(status == 201, "{status}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body)?;
    let link = v["link"].as_str().context("no link")?.to_owned();
    let (status, _) = curl(&[
        "-X",
        "POST",
        &api,
        "-H",
        "Content-Type: application/json",
        "--data",
        r#"{"target":"desk"}"#,
    ])?;
    ensure!(status == 403, "no token: {status}");
    let browser = Browser::start()?;
    browser.goto(&link)?;
    shows_desktop(&browser, 600, 400)?;
    Ok(())
}

/// A portal with a client certificate named in `[auth] admins` mints and revokes links; a
/// user's certificate from the same CA may not.
#[test]
fn a_portal_with_an_admin_certificate_mints_and_revokes_links() -> anyhow::Result<()> {
    let t = TempDir::new("e2e-portal-cert")?;
    let pki = CertDir::init(&t.path().join("pki"), "Portal CA")?;
    pki.client("portal", None)?;
    pki.client("alice", Some("alice@example.test"))?;
    let desk = desktop(640, 480, &[])?;
    let config = write(
        t.path(),
        "vncgate.toml",
        &format!(
            "[targets]\ndesk = \"127.0.0.1:{}\"\n[auth]\nclient_ca = \"{}\"\nclient_auth = \"optional\"\nadmins = [\"cn:portal\"]\n",
            desk.port,
            pki.path("ca.crt")
        ),
    )?;
    let gate = Gateway::start(&["--config", &config])?;
    let api = format!("https://127.0.0.1:{}/api/otk", gate.port);
    let as_client = |name: &str| -> Vec<String> {
        vec![
            "--cert".into(),
            pki.path(&format!("{name}.crt")),
            "--key".into(),
            pki.path(&format!("{name}.key")),
        ]
    };
    let post = |who: &[String]| -> anyhow::Result<(u16, String)> {
        let mut args: Vec<&str> = who.iter().map(String::as_str).collect();
        args.extend([
            "-X",
            "POST",
            &api,
            "-H",
            "Content-Type: application/json",
            "--data",
            r#"{"target":"desk","ttl_seconds":120}"#,
        ]);
        curl(&args)
    };
    let (status, body) = post(&as_client("alice"))?;
    ensure!(status == 403, "alice is no admin: {status}: {body}");
    let (status, body) = post(&[])?;
    ensure!(status == 403, "no certificate: {status}: {body}");
    let (status, body) = post(&as_client("portal"))?;
    ensure!(status == 201, "{status}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body)?;
    let id = v["id"].as_str().context("no key id")?.to_owned();
    let link = v["link"].as_str().context("no link")?.to_owned();

    // Revoked before use, the link says so in the page.
    let portal = as_client("portal");
    let mut args: Vec<&str> = portal.iter().map(String::as_str).collect();
    let url = format!("{api}/{id}");
    args.extend(["-X", "DELETE", &url]);
    let (status, body) = curl(&args)?;
    ensure!(status == 204 || status == 200, "{status}: {body}");
    let browser = Browser::start()?;
    browser.goto(&link)?;
    let msg = browser.wait_for_state("error", Duration::from_secs(20))?;
    ensure!(msg.contains("revoked"), "page says: {msg}");
    Ok(())
}

/// Repeated wrong tokens block the address (visible in /metrics) — but not the holder of the
/// right token behind it; the block ends.
#[test]
fn repeated_failures_lock_the_address_out_for_a_while() -> anyhow::Result<()> {
    let t = TempDir::new("e2e-lockout")?;
    let token = "lockout-token-0123456789abcdef";
    let token_file = write(t.path(), "admin-token", &format!("{token}\n"))?;
    let desk = desktop(320, 200, &[])?;
    let gate = Gateway::start(&[
        "--target",
        &format!("desk=127.0.0.1:{}", desk.port),
        "--admin-token-file",
        &token_file,
        "--limit",
        "lockout_failures=3",
        "--limit",
        "lockout_block_secs=3",
    ])?;
    let api = format!("https://127.0.0.1:{}/api/otk", gate.port);
    let post = |tok: &str| {
        curl(&[
            "-X",
            "POST",
            &api,
            "-H",
            &format!("Authorization: Bearer {tok}"),
            "-H",
            "Content-Type: application/json",
            "--data",
            r#"{"target":"desk"}"#,
        ])
    };
    for _ in 0..3 {
        ensure!(post("wrong")?.0 == 401, "wrong token");
    }
    let (status, body) = post("wrong")?;
    ensure!(
        status == 429 && body.contains("too many failed attempts"),
        "{status}: {body}"
    );
    let (status, body) = post(token)?;
    ensure!(
        status == 201,
        "the right token is not locked out by its address: {status}: {body}"
    );
    let (_, metrics) = curl(&[&format!("https://127.0.0.1:{}/metrics", gate.port)])?;
    ensure!(
        metrics.contains("vncgate_lockout_blocked_addresses 1"),
        "{metrics}"
    );
    ensure!(
        metrics.contains("vncgate_auth_failures_total{credential=\"admin_token\"} 3"),
        "{metrics}"
    );
    ensure!(gate.log_contains("address blocked"), "logged");
    std::thread::sleep(Duration::from_millis(3200));
    ensure!(post("wrong")?.0 == 401, "the block ends");
    Ok(())
}

/// stunnel, as a native VNC client's TLS wrapper with alice's certificate, reaches the target
/// the access list gives her as default.
#[test]
fn stunnel_with_a_certificate_reaches_its_default_target() -> anyhow::Result<()> {
    let t = TempDir::new("e2e-stunnel")?;
    let pki = CertDir::init(&t.path().join("pki"), "Stunnel Clients CA")?;
    pki.client("alice", Some("alice@example.test"))?;
    let (desk, lab) = (desktop(400, 300, &[])?, desktop(320, 200, &[])?);
    let config = write(
        t.path(),
        "vncgate.toml",
        &format!(
            "[targets]\ndesk = \"127.0.0.1:{}\"\nlab = \"127.0.0.1:{}\"\n\n[auth]\nclient_ca = \"{}\"\ncrl = \"{}\"\n\n\
             [[acl.allow]]\nwho = [\"email:alice@example.test\"]\ntargets = [\"desk\", \"lab\"]\ndefault_target = \"lab\"\n",
            desk.port, lab.port, pki.path("ca.crt"), pki.path("crl.pem")
        ),
    )?;
    let gate = Gateway::start(&["--config", &config])?;
    let local = free_port()?;
    let conf = write(
        t.path(),
        "stunnel.conf",
        &format!(
            "foreground = yes\npid =\n[vnc]\nclient = yes\naccept = 127.0.0.1:{local}\nconnect = 127.0.0.1:{}\ncert = {}\nkey = {}\n",
            gate.port, pki.path("alice.crt"), pki.path("alice.key")
        ),
    )?;
    let child = Command::new("stunnel4")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start stunnel4 (apt-get install stunnel4)")?;
    let _stunnel = Proc::new("stunnel", child);
    wait_for_port(local, "stunnel")?;
    let img = tests::vnc::snapshot(local, &[])?;
    ensure!(
        (img.width, img.height) == (320, 200),
        "lab's size, got {}x{}",
        img.width,
        img.height
    );
    ensure!(img.pixel(100, 100) == ROOT, "lab's root colour");
    Ok(())
}

/// Keys issued before a `kill -9` (some while a portal was issuing more) still work after the
/// restart, exactly once; a key used before the kill stays used.
#[test]
fn keys_survive_a_restart_and_kill_9_mid_issue() -> anyhow::Result<()> {
    let t = TempDir::new("e2e-durable")?;
    let token = "durable-token-0123456789abcdef";
    let token_file = write(t.path(), "admin-token", &format!("{token}\n"))?;
    let desk = desktop(640, 480, &[])?;
    let target = format!("desk=127.0.0.1:{}", desk.port);
    let args = [
        "--target",
        target.as_str(),
        "--admin-token-file",
        token_file.as_str(),
    ];
    let gate = Gateway::start(&args)?;
    let state = gate.state.path().display().to_string();
    let gw = format!("https://127.0.0.1:{}", gate.port);
    let used = vncgate(&[
        "otk",
        "issue",
        "--target",
        "desk",
        "--state-dir",
        &state,
        "--gateway",
        &gw,
    ])?;
    {
        let browser = Browser::start()?;
        browser.goto(used.trim())?;
        shows_desktop(&browser, 600, 400)?;
    }
    // A portal issues keys as fast as it can; the gateway is killed in the middle of it.
    let api = format!("{gw}/api/otk");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let issuer = std::thread::spawn(move || {
        for _ in 0..200 {
            match curl(&[
                "-X",
                "POST",
                &api,
                "-H",
                &format!("Authorization: Bearer {token}"),
                "-H",
                "Content-Type: application/json",
                "--data",
                r#"{"target":"desk","ttl_seconds":600}"#,
            ]) {
                Ok((201, body)) => {
                    let key = serde_json::from_str::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| v["key"].as_str().map(str::to_owned));
                    if let Some(k) = key {
                        if tx.send(k).is_err() {
                            return;
                        }
                    }
                }
                _ => return,
            }
        }
    });
    // Killed once two keys are out, while the portal is asking for more.
    let mut issued = Vec::new();
    for _ in 0..2 {
        issued.push(
            rx.recv_timeout(Duration::from_secs(20))
                .context("no key from the API")?,
        );
    }
    let state_dir = gate.kill();
    let _ = issuer.join();
    issued.extend(rx.try_iter());
    ensure!(
        issued.len() >= 2,
        "the API issued keys before the kill: {}",
        issued.len()
    );

    let gate = Gateway::start_in(state_dir, &args)?;
    let port = gate.port;
    for key in &issued {
        let (status, body) = curl(&[&format!("https://127.0.0.1:{port}/api/targets?otk={key}")])?;
        ensure!(
            status == 200 && body.contains("\"desk\""),
            "a key returned before the kill is pending: {body}"
        );
    }
    let browser = Browser::start()?;
    browser.goto(&format!(
        "https://127.0.0.1:{port}/#otk={}&target=desk",
        issued[issued.len() - 1]
    ))?;
    shows_desktop(&browser, 600, 400)?;
    browser.goto("about:blank")?;
    let key_used = used
        .trim()
        .split("otk=")
        .nth(1)
        .and_then(|r| r.split('&').next())
        .unwrap_or_default();
    browser.goto(&format!(
        "https://127.0.0.1:{port}/#otk={key_used}&target=desk"
    ))?;
    let msg = browser.wait_for_state("error", Duration::from_secs(20))?;
    if !msg.contains("already used") {
        bail!("a key used before the kill came back: {msg}");
    }
    Ok(())
}

/// The gateway logs in to an Xvnc that wants a VNC password: the browser needs none.
#[test]
fn the_gateway_logs_in_with_a_vnc_password_and_the_browser_needs_none() -> anyhow::Result<()> {
    let t = TempDir::new("e2e-vncauth")?;
    let passwd = t.path().join("passwd");
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf 'sesame\\n' | vncpasswd -f > {}",
            passwd.display()
        ))
        .status()?;
    ensure!(st.success(), "vncpasswd failed");
    let desk = desktop(
        640,
        480,
        &[
            "-SecurityTypes",
            "VncAuth",
            "-PasswordFile",
            &passwd.display().to_string(),
        ],
    )?;
    write(t.path(), "desk.pass", "sesame\n")?;
    let config = write(
        t.path(),
        "vncgate.toml",
        &format!("danger_no_auth = true\n[targets.desk]\naddress = \"127.0.0.1:{}\"\npassword_file = \"desk.pass\"\n", desk.port),
    )?;
    let gate = Gateway::start(&["--config", &config])?;
    let browser = Browser::start()?;
    browser.goto(&gate.url("#target=desk"))?;
    shows_desktop(&browser, 600, 400)?;
    ensure!(
        !gate.log_text().contains("sesame"),
        "the password is never logged"
    );
    Ok(())
}

/// QEMU with `verify-peer=yes`: the gateway verifies QEMU's certificate with the CA and
/// presents its own client certificate; the browser sees the BIOS screen.
#[test]
fn the_gateway_presents_a_client_certificate_to_qemu() -> anyhow::Result<()> {
    let t = TempDir::new("e2e-qemu")?;
    let pki = CertDir::init(&t.path().join("pki"), "QEMU CA")?;
    pki.run(&[
        "issue",
        "server",
        "qemu",
        "--san",
        "127.0.0.1",
        "--san",
        "localhost",
    ])?;
    pki.client("gateway", None)?;
    let creds = t.path().join("qemu-creds");
    pki.run(&["export", "qemu", "--qemu", &creds.display().to_string()])?;
    let q = tests::qemu::Qemu::start(&creds, None, true)?;
    // Without a client certificate QEMU refuses (it just closes the connection).
    ensure!(
        tests::vnc::snapshot(q.port, &["--ca", &pki.path("ca.crt")]).is_err(),
        "QEMU verify-peer=yes let a client without a certificate in"
    );
    let config = write(
        t.path(),
        "vncgate.toml",
        &format!(
            "danger_no_auth = true\n[targets.vm]\naddress = \"127.0.0.1:{}\"\nca = \"{}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"\n",
            q.port,
            pki.path("ca.crt"),
            pki.path("gateway.crt"),
            pki.path("gateway.key")
        ),
    )?;
    let gate = Gateway::start(&["--config", &config])?;
    let browser = Browser::start()?;
    browser.goto(&gate.url("#target=vm"))?;
    browser.wait_for_state("connected", Duration::from_secs(30))?;
    let size =
        browser.eval("const c = document.getElementById('screen'); return [c.width, c.height];")?;
    ensure!(
        size[0].as_u64().unwrap_or(0) >= 640,
        "the BIOS screen: {size}"
    );
    Ok(())
}

/// A view-only link shows the desktop; what is typed never reaches the xterm, and what the
/// operator copies never reaches the viewer (the session itself goes on).
#[test]
fn a_view_only_session_cannot_type_or_read_the_clipboard() -> anyhow::Result<()> {
    let t = TempDir::new("e2e-viewonly")?;
    let typed = t.path().join("typed.txt");
    let mut desk = desktop(1024, 768, &[])?;
    let script = format!("read line; printf '%s' \"$line\" > {}", typed.display());
    desk.spawn(
        "xterm",
        &["-geometry", "40x6+0+0", "-e", "sh", "-c", &script],
    )?;
    let gate = Gateway::start(&["--target", &format!("desk=127.0.0.1:{}", desk.port)])?;
    let state = gate.state.path().display().to_string();
    let gw = format!("https://127.0.0.1:{}", gate.port);
    let link = vncgate(&[
        "otk",
        "issue",
        "--target",
        "desk",
        "--view-only",
        "--state-dir",
        &state,
        "--gateway",
        &gw,
    ])?;
    ensure!(link.trim().ends_with("&view_only=1"), "{link}");
    // Without the flag the viewer sends input as usual: the gateway must be what stops it.
    let link = link.trim().trim_end_matches("&view_only=1").to_owned();
    let browser = Browser::start()?;
    browser.goto(&link)?;
    shows_desktop(&browser, 900, 700)?;
    let rect = browser.eval("const r = document.getElementById('screen').getBoundingClientRect(); return [r.left, r.top];")?;
    let (left, top) = (
        rect[0].as_f64().unwrap_or(0.0),
        rect[1].as_f64().unwrap_or(0.0),
    );
    browser.actions(serde_json::json!([{
        "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
        "actions": [
            {"type": "pointerMove", "origin": "viewport", "x": (left + 60.0) as i64, "y": (top + 30.0) as i64},
            {"type": "pointerDown", "button": 0},
            {"type": "pointerUp", "button": 0}
        ]
    }]))?;
    let mut keys = Vec::new();
    for c in "secret".chars().chain(std::iter::once('\u{E007}')) {
        keys.push(serde_json::json!({"type": "keyDown", "value": c.to_string()}));
        keys.push(serde_json::json!({"type": "keyUp", "value": c.to_string()}));
    }
    browser.actions(serde_json::json!([{ "type": "key", "id": "keyboard", "actions": keys }]))?;
    // Once the gateway has dropped the click and the 14 key events, none of them can reach
    // the xterm any more.
    let metrics = wait_until(
        Duration::from_secs(20),
        "the gateway to drop the keys and the click",
        || {
            let (_, metrics) = curl(&[&format!("{gw}/metrics")])?;
            let dropped: u64 = metrics
                .lines()
                .find_map(|l| l.strip_prefix("vncgate_view_only_input_dropped_total "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            Ok((dropped >= 14).then_some(metrics))
        },
    )?;
    ensure!(!typed.exists(), "typed text reached the xterm");
    ensure!(
        metrics.contains("vncgate_backend_logins_total 1"),
        "{metrics}"
    );
    // The operator copies a password: xclip owns the CLIPBOARD, Xvnc sends it to viewers.
    let mut xclip = Command::new("xclip")
        .args(["-selection", "clipboard", "-i"])
        .env("DISPLAY", desk.display_env())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot run xclip (package xclip)")?;
    {
        use std::io::Write;
        let mut stdin = xclip.stdin.take().context("xclip stdin")?;
        stdin.write_all(b"hunter2")?;
    }
    xclip.wait()?;
    wait_until(
        Duration::from_secs(20),
        "the gateway drops the desktop's clipboard",
        || {
            let (_, metrics) = curl(&[&format!("{gw}/metrics")])?;
            let n: u64 = metrics
                .lines()
                .find_map(|l| l.strip_prefix("vncgate_view_only_clipboard_dropped_total "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            Ok((n >= 1).then_some(()))
        },
    )?;
    let panel = browser
        .eval("const e = document.getElementById('clipboard-text'); return e ? e.value : null;")?;
    ensure!(
        !panel.as_str().unwrap_or_default().contains("hunter2"),
        "the desktop's clipboard reached a view-only viewer: {panel}"
    );
    // The gateway followed Xvnc's real stream: the session is still up and painting.
    let state = browser.eval("return document.getElementById('status').dataset.state;")?;
    ensure!(state == serde_json::json!("connected"), "{state}");
    desk.run("xsetroot", &["-solid", "#225588"])?;
    wait_until(
        Duration::from_secs(15),
        "the new root colour on the canvas",
        || Ok((browser.canvas_pixel(900, 700)? == [0x22, 0x55, 0x88, 0xff]).then_some(())),
    )?;
    Ok(())
}

/// x11vnc with `-ssl -sslverify` and a VNC password: the gateway holds all three (the CA that
/// checks x11vnc, its own client certificate, the password) and reaches it both with TLS from
/// the first byte (`tls_wrapped`) and through VeNCrypt X509Vnc on the same port; the browser
/// needs none of them.
#[test]
fn the_gateway_reaches_x11vnc_over_tls_with_its_certificate_and_password() -> anyhow::Result<()> {
    let t = TempDir::new("e2e-x11vnc-tls")?;
    let pki = CertDir::init(&t.path().join("pki"), "Desk CA")?;
    // x11vnc loads RSA server keys only.
    pki.run(&[
        "issue",
        "server",
        "x11",
        "--san",
        "127.0.0.1",
        "--key",
        "rsa-2048",
    ])?;
    pki.client("gateway", None)?;
    let bundle = t.path().join("x11vnc.pem").display().to_string();
    pki.run(&["export", "x11", "--x11vnc", &bundle])?;
    let desk = tests::x11vnc::X11vnc::start(
        640,
        480,
        &[
            "-passwd",
            "sesame",
            "-ssl",
            &bundle,
            "-sslverify",
            &pki.path("ca.crt"),
        ],
    )?;
    desk.run("xsetroot", &["-solid", "#336699"])?;
    write(t.path(), "desk.pass", "sesame\n")?;
    let target = |name: &str, wrapped: bool| {
        format!(
            "[targets.{name}]\naddress = \"127.0.0.1:{}\"\npassword_file = \"desk.pass\"\nca = \"{}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"\ntls_wrapped = {wrapped}\n",
            desk.port,
            pki.path("ca.crt"),
            pki.path("gateway.crt"),
            pki.path("gateway.key")
        )
    };
    let config = write(
        t.path(),
        "vncgate.toml",
        &format!(
            "danger_no_auth = true\n{}{}",
            target("wrapped", true),
            target("vencrypt", false)
        ),
    )?;
    let gate = Gateway::start(&["--config", &config])?;
    for name in ["wrapped", "vencrypt"] {
        let browser = Browser::start()?;
        browser.goto(&gate.url(&format!("#target={name}")))?;
        shows_desktop(&browser, 600, 400).with_context(|| format!("target {name}"))?;
    }
    ensure!(
        !gate.log_text().contains("sesame"),
        "the password is never logged"
    );
    Ok(())
}
