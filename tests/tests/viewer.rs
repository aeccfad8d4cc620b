//! The browser viewer end to end: a real Xvnc desktop, the real vncgate binary, headless
//! Chromium on the page — typing (with accents), clicking, the clipboard both ways, remote
//! resize, view-only, the password prompt, VeNCrypt X509 with CA data from the link or trust
//! on first use, and session files.
//!
//! With `VNCGATE_SCREENSHOTS=DIR` the tests save the page in its main states as PNGs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};
use tests::browser::Browser;
use tests::gateway::Gateway;
use tests::proc::wait_until;
use tests::vnc::vncgate;
use tests::xvnc::Xvnc;
use tests::TempDir;

const T: Duration = Duration::from_secs(20);

fn screenshot(browser: &Browser, name: &str) -> anyhow::Result<()> {
    if let Some(dir) = std::env::var_os("VNCGATE_SCREENSHOTS") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir)?;
        // Let the page settle (fonts, the last frame).
        std::thread::sleep(Duration::from_millis(400));
        browser.screenshot(&dir.join(format!("{name}.png")))?;
    }
    Ok(())
}

fn gateway(targets: &[(&str, u16)]) -> anyhow::Result<Gateway> {
    let mut args = vec!["--danger-no-auth".to_owned()];
    for (name, port) in targets {
        args.push("--target".to_owned());
        args.push(format!("{name}=127.0.0.1:{port}"));
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Gateway::start(&refs)
}

/// Runs an X client on `display` and returns its standard output.
fn x_output(display: &str, program: &str, args: &[&str]) -> anyhow::Result<String> {
    tests::proc::x_output(display, program, args)
}

/// The canvas's place on the page: (left, top, CSS pixels per framebuffer pixel x, y).
fn canvas_geometry(browser: &Browser) -> anyhow::Result<(f64, f64, f64, f64)> {
    let v = browser.eval(
        "const c = document.getElementById('screen'); const r = c.getBoundingClientRect();\
         return [r.left, r.top, r.width / c.width, r.height / c.height];",
    )?;
    let n = |i: usize| v[i].as_f64().context("canvas geometry");
    Ok((n(0)?, n(1)?, n(2)?, n(3)?))
}

/// Clicks framebuffer pixel (x, y) with the left button.
fn click_at(browser: &Browser, x: u32, y: u32) -> anyhow::Result<()> {
    let (left, top, sx, sy) = canvas_geometry(browser)?;
    let vx = (left + (f64::from(x) + 0.5) * sx).round() as i64;
    let vy = (top + (f64::from(y) + 0.5) * sy).round() as i64;
    browser.actions(json!([{
        "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
        "actions": [
            {"type": "pointerMove", "origin": "viewport", "x": vx, "y": vy},
            {"type": "pointerDown", "button": 0},
            {"type": "pointerUp", "button": 0}
        ]
    }]))
}

/// Taps framebuffer pixel (x, y) with a finger.
fn tap_at(browser: &Browser, x: u32, y: u32) -> anyhow::Result<()> {
    let (left, top, sx, sy) = canvas_geometry(browser)?;
    let vx = (left + (f64::from(x) + 0.5) * sx).round() as i64;
    let vy = (top + (f64::from(y) + 0.5) * sy).round() as i64;
    browser.actions(json!([{
        "type": "pointer", "id": "finger", "parameters": {"pointerType": "touch"},
        "actions": [
            {"type": "pointerMove", "origin": "viewport", "x": vx, "y": vy},
            {"type": "pointerDown", "button": 0},
            {"type": "pointerUp", "button": 0}
        ]
    }]))
}

/// Types `text` (WebDriver key values: `\u{E007}` is Enter).
fn type_text(browser: &Browser, text: &str) -> anyhow::Result<()> {
    let mut keys = Vec::new();
    for c in text.chars() {
        keys.push(json!({"type": "keyDown", "value": c.to_string()}));
        keys.push(json!({"type": "keyUp", "value": c.to_string()}));
    }
    browser.actions(json!([{ "type": "key", "id": "keyboard", "actions": keys }]))
}

/// A desktop with an xterm (UTF-8) that writes the first line typed into it to `file`.
fn desk_with_xterm(width: u16, height: u16, extra: &[&str], file: &Path) -> anyhow::Result<Xvnc> {
    Xvnc::with_xterm(width, height, extra, file)
}

fn read_typed(file: &Path) -> anyhow::Result<String> {
    tests::xvnc::read_typed(file)
}

fn mouse_location(display: &str) -> anyhow::Result<(i64, i64)> {
    let out = x_output(display, "xdotool", &["getmouselocation"])?;
    let field = |name: &str| -> anyhow::Result<i64> {
        out.split_whitespace()
            .find_map(|f| f.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no {name} in {out:?}"))
    };
    Ok((field("x:")?, field("y:")?))
}

fn screen_size(display: &str) -> anyhow::Result<(u32, u32)> {
    let out = x_output(display, "xdpyinfo", &[])?;
    let dims = out
        .lines()
        .find(|l| l.trim_start().starts_with("dimensions:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .context("no dimensions in xdpyinfo")?;
    let (w, h) = dims.split_once('x').context("dimensions WxH")?;
    Ok((w.parse()?, h.parse()?))
}

fn is_visible(browser: &Browser, id: &str) -> anyhow::Result<bool> {
    let v = browser.eval(&format!(
        "const e = document.getElementById('{id}'); return !!e && !e.hidden && e.getClientRects().length > 0;"
    ))?;
    Ok(v == Value::Bool(true))
}

fn text_of(browser: &Browser, id: &str) -> anyhow::Result<String> {
    let v = browser.eval(&format!(
        "const e = document.getElementById('{id}'); return e ? (e.value !== undefined ? e.value : e.textContent) : null;"
    ))?;
    Ok(v.as_str().unwrap_or_default().to_owned())
}

fn click_id(browser: &Browser, id: &str) -> anyhow::Result<()> {
    browser.eval(&format!(
        "document.getElementById('{id}').click(); return null;"
    ))?;
    Ok(())
}

#[test]
fn desktop_appears_and_text_with_accents_reaches_an_xterm() -> anyhow::Result<()> {
    let out = TempDir::new("viewer-typed")?;
    let typed = out.path().join("typed.txt");
    let desk = desk_with_xterm(1024, 768, &["-SecurityTypes", "None"], &typed)?;
    let gate = gateway(&[("desk", desk.port)])?;
    let browser = Browser::start()?;
    browser.goto(&gate.url("#target=desk"))?;
    browser.wait_for_state("connected", T)?;
    wait_until(T, "the root colour on the canvas", || {
        Ok((browser.canvas_pixel(900, 700)? == [0x33, 0x66, 0x99, 0xff]).then_some(()))
    })?;
    let title = browser.eval("return document.title;")?;
    assert_eq!(
        title,
        json!("vncgate-test — vncgate"),
        "desktop name in the title"
    );
    // The viewer came brotli-compressed (made by `cargo xtask build-web`): smaller on the
    // wire than gzip would make it, and it runs.
    let encoding = browser.eval_async(
        "const done = arguments[arguments.length - 1];\
         fetch('/pkg/viewer_wasm_bg.wasm', { cache: 'no-store' })\
           .then((r) => done(r.headers.get('content-encoding')), (e) => done(String(e)));",
    )?;
    assert_eq!(encoding, json!("br"), "the viewer's encoding");
    let sizes = browser.eval(
        "const e = performance.getEntriesByType('resource')\
           .find((r) => r.name.endsWith('/pkg/viewer_wasm_bg.wasm'));\
         return e ? [e.encodedBodySize, e.decodedBodySize] : null;",
    )?;
    let (wire, size) = (
        sizes[0].as_u64().unwrap_or(0),
        sizes[1].as_u64().unwrap_or(0),
    );
    assert!(
        wire > 0 && wire * 5 < size * 2,
        "{wire} bytes on the wire for {size}"
    );
    // A server without TLS: the TLS module (rustls) is never fetched.
    assert!(!fetched(&browser, "/pkg/viewer_tls_bg.wasm")?);
    assert!(fetched(&browser, "/pkg/viewer_wasm_bg.wasm")?);
    screenshot(&browser, "connected")?;

    click_at(&browser, 60, 30)?;
    type_text(&browser, "Grüße, café ok\u{E007}")?;
    assert_eq!(read_typed(&typed)?, "Grüße, café ok");

    // The stats overlay: rates, and a round trip measured with the server's fences.
    click_id(&browser, "b-stats")?;
    let stats = wait_until(T, "a measured round trip", || {
        let t = text_of(&browser, "stats")?;
        Ok(t.split("round trip ")
            .nth(1)
            .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
            .then_some(t))
    })?;
    assert!(
        stats.contains("frames/s") && stats.contains("kbit/s"),
        "{stats}"
    );
    screenshot(&browser, "connected-stats")?;

    // "Save" downloads a session file for this desktop.
    let saved = browser.eval_async(
        "const done = arguments[arguments.length - 1]; let name = null, blob = null;\
         const click = HTMLAnchorElement.prototype.click, url = URL.createObjectURL;\
         URL.createObjectURL = (b) => { blob = b; return url(b); };\
         HTMLAnchorElement.prototype.click = function () { name = this.download; };\
         document.getElementById('b-save').click();\
         HTMLAnchorElement.prototype.click = click; URL.createObjectURL = url;\
         blob.text().then((t) => done([name, t]));",
    )?;
    assert_eq!(saved[0], json!("desk.vncgate"));
    let text = saved[1].as_str().unwrap_or_default();
    assert!(
        text.starts_with("vncgate-session=1\n") && text.contains("target=desk\n"),
        "{text}"
    );
    Ok(())
}

#[test]
fn a_click_lands_where_it_should_on_a_scaled_desktop() -> anyhow::Result<()> {
    // Larger than the window: the page scales it down, so the mapping is not the identity.
    let desk = Xvnc::start(1800, 1400, &["-SecurityTypes", "None"])?;
    let gate = gateway(&[("big", desk.port)])?;
    let browser = Browser::start()?;
    browser.goto(&gate.url("#target=big"))?;
    browser.wait_for_state("connected", T)?;
    let (_, _, sx, _) = canvas_geometry(&browser)?;
    assert!(sx < 0.9, "the desktop is scaled to fit: {sx}");
    for (x, y) in [(1234, 987), (10, 1390)] {
        click_at(&browser, x, y)?;
        let got = wait_until(T, "the X pointer to move", || {
            let p = mouse_location(&desk.display_env())?;
            Ok(((p.0 - i64::from(x)).abs() <= 2 && (p.1 - i64::from(y)).abs() <= 2).then_some(p))
        })?;
        assert!((got.0 - i64::from(x)).abs() <= 2, "{got:?} vs {x},{y}");
    }
    // A tap on a touch screen clicks there too.
    tap_at(&browser, 700, 500)?;
    wait_until(T, "the X pointer to move to the tap", || {
        let p = mouse_location(&desk.display_env())?;
        Ok(((p.0 - 700).abs() <= 2 && (p.1 - 500).abs() <= 2).then_some(p))
    })?;
    Ok(())
}

fn connected_desk(w: u16, h: u16) -> anyhow::Result<(Xvnc, Gateway, Browser)> {
    let desk = Xvnc::start(w, h, &["-SecurityTypes", "None"])?;
    let gate = gateway(&[("desk", desk.port)])?;
    let browser = Browser::start()?;
    browser.goto(&gate.url("#target=desk"))?;
    browser.wait_for_state("connected", T)?;
    Ok((desk, gate, browser))
}

#[test]
fn clipboard_panel_text_reaches_the_x_clipboard() -> anyhow::Result<()> {
    let (desk, _gate, browser) = connected_desk(640, 480)?;
    click_id(&browser, "b-clipboard")?;
    browser.eval(
        "document.getElementById('clipboard-text').value = 'from the browser: façade ✓'; return null;",
    )?;
    click_id(&browser, "clipboard-send")?;
    screenshot(&browser, "clipboard")?;
    // Xvnc asks the viewer for the text when an X client reads the CLIPBOARD.
    wait_until(T, "the browser's text in the X clipboard", || {
        let got = x_output(
            &desk.display_env(),
            "timeout",
            &["5", "xclip", "-selection", "clipboard", "-o"],
        )
        .unwrap_or_default();
        Ok((got == "from the browser: façade ✓").then_some(()))
    })?;
    Ok(())
}

#[test]
fn x_clipboard_reaches_the_clipboard_panel() -> anyhow::Result<()> {
    let (desk, _gate, browser) = connected_desk(640, 480)?;
    // xclip owns the CLIPBOARD (it forks and stays); Xvnc tells the viewer.
    let mut child = Command::new("xclip")
        .args(["-selection", "clipboard", "-i"])
        .env("DISPLAY", desk.display_env())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot run xclip (package xclip)")?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().context("xclip stdin")?;
        stdin.write_all("from X: naïve ✓".as_bytes())?;
    }
    child.wait()?;
    wait_until(T, "the X clipboard in the clipboard panel", || {
        Ok((text_of(&browser, "clipboard-text")? == "from X: naïve ✓").then_some(()))
    })?;
    let state = browser.eval("return document.getElementById('status').dataset.state;")?;
    assert_eq!(state, json!("connected"));
    Ok(())
}

#[test]
fn remote_resize_changes_the_x_screen() -> anyhow::Result<()> {
    let desk = Xvnc::start(800, 600, &["-SecurityTypes", "None"])?;
    let gate = gateway(&[("desk", desk.port)])?;
    let browser = Browser::start()?;
    browser.goto(&gate.url("#target=desk&scale=remote"))?;
    browser.wait_for_state("connected", T)?;
    let stage = |b: &Browser| -> anyhow::Result<(u32, u32)> {
        let v = b.eval(
            "const s = document.getElementById('stage'); return [s.clientWidth, s.clientHeight];",
        )?;
        Ok((
            v[0].as_u64().context("width")? as u32,
            v[1].as_u64().context("height")? as u32,
        ))
    };
    let want = stage(&browser)?;
    wait_until(T, "the X screen to take the window's size", || {
        Ok((screen_size(&desk.display_env())? == want).then_some(()))
    })?;
    browser.set_window_size(1000, 700)?;
    let want2 = wait_until(T, "the page to relayout", || {
        let s = stage(&browser)?;
        Ok((s != want).then_some(s))
    })?;
    wait_until(T, "the X screen to follow the window", || {
        Ok((screen_size(&desk.display_env())? == want2).then_some(()))
    })?;
    let canvas =
        browser.eval("const c = document.getElementById('screen'); return [c.width, c.height];")?;
    assert_eq!(
        canvas,
        json!([want2.0, want2.1]),
        "the canvas follows the new framebuffer"
    );
    Ok(())
}

#[test]
fn view_only_sends_no_input() -> anyhow::Result<()> {
    let out = TempDir::new("viewer-viewonly")?;
    let typed = out.path().join("typed.txt");
    let desk = desk_with_xterm(640, 480, &["-SecurityTypes", "None"], &typed)?;
    desk.run("xdotool", &["mousemove", "500", "400"])?;
    let gate = gateway(&[("desk", desk.port)])?;
    let browser = Browser::start()?;
    browser.goto(&gate.url("#target=desk&view_only=1"))?;
    browser.wait_for_state("connected", T)?;
    assert!(
        !is_visible(&browser, "keys")?,
        "no key buttons in view-only mode"
    );
    click_at(&browser, 60, 30)?;
    type_text(&browser, "nope\u{E007}")?;
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        mouse_location(&desk.display_env())?,
        (500, 400),
        "the pointer did not move"
    );
    assert!(!typed.exists(), "nothing was typed");
    Ok(())
}

#[test]
fn password_prompt_in_the_page() -> anyhow::Result<()> {
    let dir = TempDir::new("viewer-vncauth")?;
    let passwd = dir.path().join("passwd");
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf 'sesame\\n' | vncpasswd -f > {}",
            passwd.display()
        ))
        .status()?;
    anyhow::ensure!(st.success(), "vncpasswd failed");
    let passwd_s = passwd.display().to_string();
    let desk = Xvnc::start(
        640,
        480,
        &["-SecurityTypes", "VncAuth", "-PasswordFile", &passwd_s],
    )?;
    let gate = gateway(&[("locked", desk.port)])?;
    let browser = Browser::start()?;
    browser.goto(&gate.url("#target=locked"))?;
    browser.wait_for_state("password", T)?;
    assert!(is_visible(&browser, "password-form")?);
    browser.eval("document.getElementById('password').value = 'wrong'; return null;")?;
    screenshot(&browser, "password-prompt")?;
    browser.eval("document.getElementById('password-form').requestSubmit(); return null;")?;
    let msg = browser.wait_for_state("error", T)?;
    assert!(msg.contains("uthentication failed"), "page says: {msg}");
    screenshot(&browser, "error-wrong-password")?;

    click_id(&browser, "b-retry")?;
    browser.wait_for_state("password", T)?;
    // Typed as a person would, then Enter submits the form.
    let field = browser.find("#password")?;
    browser.send_keys(&field, "sesame\u{E007}")?;
    browser.wait_for_state("connected", T)?;
    assert_eq!(
        text_of(&browser, "password")?,
        "",
        "the password is not kept in the page"
    );
    Ok(())
}

/// A CA and a server certificate for 127.0.0.1 made with `vncgate certs`; returns the
/// directory.
fn pki(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let pki = dir.join(name);
    let d = pki.display().to_string();
    vncgate(&[
        "certs",
        "--dir",
        &d,
        "init-ca",
        "--name",
        &format!("{name} CA"),
    ])?;
    vncgate(&[
        "certs",
        "--dir",
        &d,
        "issue",
        "server",
        "desk",
        "--san",
        "127.0.0.1",
    ])?;
    Ok(pki)
}

fn ca_data(pki: &Path) -> anyhow::Result<String> {
    let d = pki.display().to_string();
    Ok(vncgate(&["certs", "--dir", &d, "ca-data"])?
        .trim()
        .to_owned())
}

/// Whether the page fetched a resource whose address ends with `suffix`.
fn fetched(browser: &Browser, suffix: &str) -> anyhow::Result<bool> {
    let found = browser.eval(&format!(
        "return performance.getEntriesByType('resource').some((r) => r.name.endsWith({}));",
        json!(suffix)
    ))?;
    Ok(found == json!(true))
}

fn x509_desk(pki: &Path) -> anyhow::Result<Xvnc> {
    Xvnc::start_x509(640, 480, &pki.join("desk.crt"), &pki.join("desk.key"))
}

#[test]
fn vencrypt_x509_with_ca_data_from_the_link() -> anyhow::Result<()> {
    let dir = TempDir::new("viewer-x509")?;
    let good = pki(dir.path(), "Desk")?;
    let other = pki(dir.path(), "Stranger")?;
    let desk = x509_desk(&good)?;
    let gate = gateway(&[("tls", desk.port)])?;
    let browser = Browser::start()?;

    let ca = ca_data(&good)?;
    browser.goto(&gate.url(&format!("#target=tls&ca={ca}")))?;
    browser.wait_for_state("connected", T)?;
    assert!(is_visible(&browser, "b-tls")?, "the TLS badge shows");
    // TLS ran in the second module, fetched when the server asked for it.
    assert!(fetched(&browser, "/pkg/viewer_tls_bg.wasm")?);
    click_id(&browser, "b-tls")?;
    let details = text_of(&browser, "cert-details")?;
    assert!(details.contains("Desk CA"), "issuer shown: {details}");
    assert!(details.contains("Catchphrase"), "{details}");
    screenshot(&browser, "connected-tls-info")?;

    browser.goto("about:blank")?;
    let wrong = ca_data(&other)?;
    browser.goto(&gate.url(&format!("#target=tls&ca={wrong}")))?;
    let msg = browser.wait_for_state("error", T)?;
    assert!(
        msg.contains("not issued by the CA this link trusts"),
        "page says: {msg}"
    );
    screenshot(&browser, "error-wrong-ca")?;

    // A page whose TLS module cannot be fetched says so, instead of waiting.
    let web = dir.path().join("web");
    let copied = std::process::Command::new("cp")
        .arg("-r")
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web"))
        .arg(&web)
        .status()?;
    anyhow::ensure!(copied.success(), "cp -r web failed");
    std::fs::remove_file(web.join("pkg/viewer_tls.js"))?;
    let web_root = web.display().to_string();
    let port = desk.port.to_string();
    let target = format!("tls=127.0.0.1:{port}");
    let partial = Gateway::start(&[
        "--danger-no-auth",
        "--target",
        &target,
        "--web-root",
        &web_root,
    ])?;
    browser.goto("about:blank")?;
    browser.goto(&partial.url(&format!("#target=tls&ca={ca}")))?;
    let msg = browser.wait_for_state("error", T)?;
    assert!(
        msg.contains("TLS module could not be loaded") && msg.contains("reload the page"),
        "page says: {msg}"
    );
    screenshot(&browser, "error-tls-module-missing")?;
    Ok(())
}

/// A single-use link for a VeNCrypt X509 desktop carries the CA from `otk issue --ca`: the
/// viewer verifies the server end to end on its first (and only) connection, and the session
/// file written alongside carries the same trust.
#[test]
fn one_time_key_link_carries_the_servers_ca() -> anyhow::Result<()> {
    let dir = TempDir::new("viewer-otk-ca")?;
    let good = pki(dir.path(), "Desk")?;
    let desk = x509_desk(&good)?;
    let gate = Gateway::start(&["--target", &format!("tls=127.0.0.1:{}", desk.port)])?;
    let session = dir.path().join("desk.vncgate");
    let link = otk_link(
        &gate,
        "tls",
        &[
            "--ca",
            "ca",
            "--dir",
            &good.display().to_string(),
            "--session-file",
            &session.display().to_string(),
        ],
    )?;
    assert!(link.contains("&ca=base64:"), "{link}");
    let file = std::fs::read_to_string(&session)?;
    assert!(
        file.contains("\nca=base64:") && !file.contains("fingerprint="),
        "{file}"
    );
    let browser = Browser::start()?;
    browser.goto(&link)?;
    browser.wait_for_state("connected", T)?;
    assert!(is_visible(&browser, "b-tls")?, "the TLS badge shows");
    Ok(())
}

#[test]
fn vencrypt_x509_trust_on_first_use_and_a_changed_certificate() -> anyhow::Result<()> {
    let dir = TempDir::new("viewer-tofu")?;
    let good = pki(dir.path(), "Desk")?;
    let desk = x509_desk(&good)?;
    let gate = gateway(&[("tls", desk.port)])?;
    let browser = Browser::start()?;
    browser.goto(&gate.url("#target=tls"))?;
    browser.wait_for_state("confirm", T)?;
    let words = text_of(&browser, "cc-words")?;
    let info = vncgate(&[
        "certs",
        "--dir",
        &good.display().to_string(),
        "info",
        "desk",
    ])?;
    assert!(
        info.contains(&words),
        "the page shows the certificate's catchphrase {words:?}; vncgate certs info says:\n{info}"
    );
    screenshot(&browser, "certificate-first-use")?;
    click_id(&browser, "cc-accept")?;
    browser.wait_for_state("connected", T)?;

    // Remembered: the next visit connects without asking.
    browser.goto("about:blank")?;
    browser.goto(&gate.url("#target=tls"))?;
    browser.wait_for_state("connected", T)?;

    // A different remembered pin stands for a replaced certificate: a loud warning, and no
    // way on without deliberately forgetting the old one.
    browser.eval(&format!(
        "localStorage.setItem('vncgate.pin.v1 ' + location.origin + ' tls', '{}'); return null;",
        "ab".repeat(32)
    ))?;
    browser.goto("about:blank")?;
    browser.goto(&gate.url("#target=tls"))?;
    browser.wait_for_state("error", T)?;
    assert!(is_visible(&browser, "cert-changed")?);
    let disabled = browser.eval("return document.getElementById('ch-forget').disabled;")?;
    assert_eq!(
        disabled,
        json!(true),
        "forgetting needs the acknowledgement first"
    );
    screenshot(&browser, "certificate-changed")?;
    click_id(&browser, "ch-ack")?;
    click_id(&browser, "ch-forget")?;
    browser.wait_for_state("confirm", T)?;
    click_id(&browser, "cc-accept")?;
    browser.wait_for_state("connected", T)?;

    // First use in one connection: a one-time key admits a single session, and the person's
    // confirmation happens inside it (a second connection would be refused).
    const TOKEN: &str = "viewer-tofu-admin-token-0123456789";
    std::fs::write(dir.path().join("token"), format!("{TOKEN}\n"))?;
    let keyed = Gateway::start(&[
        "--target",
        &format!("tls=127.0.0.1:{}", desk.port),
        "--admin-token-file",
        &dir.path().join("token").display().to_string(),
    ])?;
    let key = tests::api::issue(keyed.port, TOKEN, "tls")?;
    let fresh = Browser::start()?;
    fresh.goto(&keyed.url(&format!("#otk={key}&target=tls")))?;
    fresh.wait_for_state("confirm", T)?;
    assert_eq!(text_of(&fresh, "cc-words")?, words, "the same certificate");
    click_id(&fresh, "cc-accept")?;
    fresh.wait_for_state("connected", T)?;
    assert!(is_visible(&fresh, "b-tls")?, "the TLS badge shows");
    Ok(())
}

#[test]
fn connect_form_and_session_file() -> anyhow::Result<()> {
    let dir = TempDir::new("viewer-session")?;
    let desk = Xvnc::start(640, 480, &["-SecurityTypes", "None"])?;
    let gate = gateway(&[("desk", desk.port)])?;
    let browser = Browser::start()?;

    // Without a fragment: the connect form.
    browser.goto(&gate.url(""))?;
    browser.wait_for_state("idle", T)?;
    assert!(is_visible(&browser, "connect-form")?);
    wait_until(T, "the targets or the name field", || {
        let list =
            browser.eval("return document.querySelectorAll('#target-list button').length;")?;
        Ok((list.as_u64() > Some(0) || is_visible(&browser, "target-entry")?).then_some(()))
    })?;
    screenshot(&browser, "connect-form")?;

    // A session file, chosen with the file input.
    let file = dir.path().join("desk.vncgate");
    let file_s = file.display().to_string();
    let gw = format!("https://127.0.0.1:{}/", gate.port);
    vncgate(&[
        "session",
        "--target",
        "desk",
        "--gateway",
        &gw,
        "--scaling",
        "none",
        "-o",
        &file_s,
    ])?;
    let input = browser.find("input[type=file]")?;
    browser.send_keys(&input, &file_s)?;
    browser.wait_for_state("connected", T)?;
    assert_eq!(
        browser.eval("return document.getElementById('scale').value;")?,
        json!("1:1"),
        "the file's scaling applies"
    );

    // A broken file is refused with the line at fault.
    browser.goto("about:blank")?;
    browser.goto(&gate.url(""))?;
    browser.wait_for_state("idle", T)?;
    let bad = dir.path().join("bad.vncgate");
    std::fs::write(&bad, "vncgate-session=1\ntarget=desk\nquality=11\n")?;
    let input = browser.find("input[type=file]")?;
    browser.send_keys(&input, &bad.display().to_string())?;
    let msg = browser.wait_for_state("error", T)?;
    assert!(
        msg.contains("line 3") && msg.contains("quality"),
        "page says: {msg}"
    );

    // Typing a name in the form (when the gateway lists none) or choosing from the list.
    browser.goto("about:blank")?;
    browser.goto(&gate.url(""))?;
    browser.wait_for_state("idle", T)?;
    wait_until(T, "the form to be ready", || {
        let list =
            browser.eval("return document.querySelectorAll('#target-list button').length;")?;
        Ok((list.as_u64() > Some(0) || is_visible(&browser, "target-entry")?).then_some(()))
    })?;
    if is_visible(&browser, "target-entry")? {
        let field = browser.find("#target-name")?;
        browser.send_keys(&field, "desk\u{E007}")?;
    } else {
        browser.eval(
            "document.querySelector('#target-list button[data-target=desk]').click(); return null;",
        )?;
    }
    browser.wait_for_state("connected", T)?;
    let hash = browser.eval("return location.hash;")?;
    assert_eq!(
        hash,
        json!("#target=desk"),
        "the address names the desktop for a reload"
    );
    Ok(())
}

#[test]
fn unknown_settings_warn_and_bad_ones_name_the_key() -> anyhow::Result<()> {
    let desk = Xvnc::start(320, 200, &["-SecurityTypes", "None"])?;
    let gate = gateway(&[("desk", desk.port)])?;
    let browser = Browser::start()?;
    browser.goto(&gate.url("#target=desk&colour=blue&otk=one-time-secret"))?;
    browser.wait_for_state("connected", T)?;
    assert!(is_visible(&browser, "warnings")?);
    assert!(text_of(&browser, "warnings")?.contains("\"colour\""));
    let hash = browser.eval("return location.hash;")?;
    assert!(
        !hash.as_str().unwrap_or_default().contains("secret"),
        "one-time key left the address bar: {hash}"
    );

    browser.goto("about:blank")?;
    browser.goto(&gate.url("#target=desk&quality=11"))?;
    let msg = browser.wait_for_state("error", T)?;
    assert!(msg.contains("quality=\"11\""), "page says: {msg}");

    let closed = tests::proc::free_port()?;
    let gate2 = gateway(&[("gone", closed)])?;
    browser.goto("about:blank")?;
    browser.goto(&gate2.url("#target=gone"))?;
    browser.wait_for_state("error", T)?;
    screenshot(&browser, "error-unreachable")?;
    Ok(())
}

#[test]
fn reconnects_after_the_connection_drops() -> anyhow::Result<()> {
    let desk = Xvnc::start(320, 200, &["-SecurityTypes", "None"])?;
    let mut gate = Some(gateway(&[("desk", desk.port)])?);
    let port = gate.as_ref().map(|g| g.port).unwrap_or_default();
    let browser = Browser::start()?;
    browser.goto(&format!("https://127.0.0.1:{port}/#target=desk"))?;
    browser.wait_for_state("connected", T)?;
    // The gateway goes away: the page says so and counts down to a new attempt.
    gate.take();
    let msg = browser.wait_for_state("reconnecting", T)?;
    assert!(msg.contains("Reconnecting in"), "page says: {msg}");
    screenshot(&browser, "reconnecting")?;
    Ok(())
}

/// The link `vncgate otk issue --target TARGET EXTRA…` prints for `gate`.
fn otk_link(gate: &Gateway, target: &str, extra: &[&str]) -> anyhow::Result<String> {
    let state = gate.state.path().display().to_string();
    let base = format!("https://127.0.0.1:{}/", gate.port);
    let mut args = vec![
        "otk",
        "issue",
        "--state-dir",
        &state,
        "--target",
        target,
        "--gateway",
        &base,
    ];
    args.extend_from_slice(extra);
    let out = vncgate(&args)?;
    Ok(out
        .lines()
        .find(|l| l.starts_with("https://"))
        .context("otk issue printed no link")?
        .to_owned())
}

#[test]
fn one_time_key_link_opens_one_session() -> anyhow::Result<()> {
    let desk = Xvnc::start(320, 200, &["-SecurityTypes", "None"])?;
    // No --danger-no-auth: only the one-time key admits the page.
    let gate = Gateway::start(&["--target", &format!("desk=127.0.0.1:{}", desk.port)])?;
    let link = otk_link(&gate, "desk", &[])?;
    let browser = Browser::start()?;
    browser.goto(&link)?;
    browser.wait_for_state("connected", T)?;
    let hash = browser.eval("return location.hash;")?;
    assert!(
        !hash.as_str().unwrap_or_default().contains("otk"),
        "the key left the address bar: {hash}"
    );
    // The key was used: the same link again is refused, with the gateway's reason.
    browser.goto("about:blank")?;
    browser.goto(&link)?;
    let msg = browser.wait_for_state("error", T)?;
    assert!(!msg.contains("1006") && !msg.is_empty(), "page says: {msg}");
    Ok(())
}

#[test]
fn on_screen_keyboard_input_reaches_an_xterm() -> anyhow::Result<()> {
    let out = TempDir::new("viewer-osk")?;
    let typed = out.path().join("typed.txt");
    let desk = desk_with_xterm(640, 480, &["-SecurityTypes", "None"], &typed)?;
    let gate = gateway(&[("desk", desk.port)])?;
    let browser = Browser::start()?;
    browser.goto(&gate.url("#target=desk"))?;
    browser.wait_for_state("connected", T)?;
    click_at(&browser, 60, 30)?;
    // What a phone's keyboard produces: input events on the hidden field the ⌨ button focuses.
    click_id(&browser, "k-osk")?;
    browser.eval(
        "const o = document.getElementById('osk');\
         const send = (data, inputType) => { o.value = data || ''; o.dispatchEvent(new InputEvent('input', {data, inputType})); };\
         send('mobilx', 'insertText'); send(null, 'deleteContentBackward'); send('e ü', 'insertText');\
         send(null, 'insertLineBreak'); return null;",
    )?;
    assert_eq!(read_typed(&typed)?, "mobile ü");
    Ok(())
}

/// A viewer module the browser cannot compile is reported, not a blank page: as a damaged
/// download in a browser with WebAssembly SIMD and reference types, and as a browser too old
/// for the viewer in one without (switched off here by making `WebAssembly.validate` refuse
/// everything).
#[test]
fn a_viewer_that_cannot_start_says_why() -> anyhow::Result<()> {
    let dir = TempDir::new("viewer-cannot-start")?;
    let web = dir.path().join("web");
    let copied = Command::new("cp")
        .arg("-r")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../web"))
        .arg(&web)
        .status()?;
    anyhow::ensure!(copied.success(), "cp -r web failed");
    let module = web.join("pkg/viewer_wasm_bg.wasm");
    let whole = std::fs::read(&module)?;
    std::fs::write(&module, &whole[..whole.len() / 2])?;
    // Without precompressed forms, the gateway serves the damaged file itself.
    let _ = std::fs::remove_dir_all(web.join("pkg/br"));
    let web_root = web.display().to_string();
    let gate = Gateway::start(&[
        "--danger-no-auth",
        "--target",
        "desk=127.0.0.1:5999",
        "--web-root",
        &web_root,
    ])?;
    let browser = Browser::start()?;
    browser.goto(&gate.url("#target=desk"))?;
    let msg = browser.wait_for_state("error", T)?;
    assert!(
        msg.starts_with("The viewer cannot start: "),
        "page says: {msg}"
    );
    assert!(!msg.contains("too old"), "page says: {msg}");

    browser.cdp(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({"source": "WebAssembly.validate = () => false;"}),
    )?;
    browser.goto("about:blank")?;
    browser.goto(&gate.url("#target=desk"))?;
    let msg = browser.wait_for_state("error", T)?;
    assert!(
        msg.contains("too old for the viewer") && msg.contains("WebAssembly with SIMD"),
        "page says: {msg}"
    );
    screenshot(&browser, "error-browser-too-old")?;
    Ok(())
}

/// Every `step`th pixel of the `#screen` canvas, as an image of the samples.
fn canvas_samples(browser: &Browser, step: u32) -> anyhow::Result<tests::xwd::Image> {
    let v = browser.eval(&format!(
        "const c = document.getElementById('screen');\
         const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;\
         const out = [];\
         for (let y = 0; y < c.height; y += {step})\
           for (let x = 0; x < c.width; x += {step}) {{\
             const i = (y * c.width + x) * 4; out.push(d[i], d[i + 1], d[i + 2], d[i + 3]); }}\
         return [c.width, c.height, out];"
    ))?;
    let (w, h) = (v[0].as_u64().unwrap_or(0), v[1].as_u64().unwrap_or(0));
    let rgba: Vec<u8> = v[2]
        .as_array()
        .context("no pixels")?
        .iter()
        .map(|n| n.as_u64().unwrap_or(0) as u8)
        .collect();
    let (width, height) = (
        w.div_ceil(step.into()) as u32,
        h.div_ceil(step.into()) as u32,
    );
    anyhow::ensure!(
        rgba.len() == (width * height * 4) as usize,
        "a {w}×{h} canvas"
    );
    Ok(tests::xwd::Image {
        width,
        height,
        rgba,
    })
}

/// The same samples of a whole image.
fn samples_of(image: &tests::xwd::Image, step: u32) -> tests::xwd::Image {
    let mut rgba = Vec::new();
    for y in (0..image.height).step_by(step as usize) {
        for x in (0..image.width).step_by(step as usize) {
            rgba.extend_from_slice(&image.pixel(x, y));
        }
    }
    tests::xwd::Image {
        width: image.width.div_ceil(step),
        height: image.height.div_ceil(step),
        rgba,
    }
}

#[test]
fn photo_like_content_is_drawn_by_the_browsers_decoder_where_the_desktop_has_it(
) -> anyhow::Result<()> {
    let dir = TempDir::new("viewer-photo")?;
    let desk = Xvnc::start(640, 480, &["-SecurityTypes", "None"])?;
    let photo = dir.path().join("plasma.png");
    tests::proc::convert(
        &["-size", "640x480", "-seed", "7", "plasma:fractal"],
        &photo,
    )?;
    let photo = photo.display().to_string();
    let display = desk.display_env();
    // ImageMagick's `display` sets the root window's picture, then exits with status 1.
    Command::new("display")
        .args(["-window", "root", &photo])
        .env("DISPLAY", &display)
        .status()
        .context("cannot run display (package imagemagick)")?;
    let want = samples_of(&tests::vnc::wait_for_still_screen(&display)?, 4);
    let colours: std::collections::HashSet<&[u8]> = want.rgba.chunks(4).collect();
    anyhow::ensure!(
        colours.len() > 1000,
        "the desktop shows no photo: {} colours",
        colours.len()
    );
    let gate = gateway(&[("desk", desk.port)])?;
    let browser = Browser::start()?;
    // Counts the images handed to the browser's decoder.
    browser.cdp(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({"source": "window.vncgateImages = 0; const Decoder = window.ImageDecoder;\
            window.ImageDecoder = class extends Decoder {\
              constructor(init) { super(init); window.vncgateImages += 1; } };"}),
    )?;
    browser.goto(&gate.url("#target=desk"))?;
    browser.wait_for_state("connected", T)?;
    // JPEG at the viewer's quality 6 loses detail, not places: an image drawn anywhere else,
    // or a region painted over it from stale pixels, would be far below this.
    let psnr = wait_until(T, "the photo on the canvas", || {
        let p = canvas_samples(&browser, 4)?.psnr(&want);
        Ok((p >= 26.0).then_some(p))
    })?;
    let images = browser.eval("return window.vncgateImages;")?;
    assert!(
        images.as_u64().unwrap_or(0) > 0,
        "the photo came through the browser's decoder: {images} images (PSNR {psnr:.1} dB)"
    );
    screenshot(&browser, "photo")?;
    Ok(())
}
