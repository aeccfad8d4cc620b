//! End to end: a real Xvnc desktop, the real vncgate binary, headless Chromium on the page.

use std::time::Duration;

use serde_json::json;
use tests::browser::Browser;
use tests::gateway::Gateway;
use tests::proc::wait_until;
use tests::xvnc::Xvnc;
use tests::TempDir;

const ROOT: [u8; 4] = [0x33, 0x66, 0x99, 0xff];

/// The desktop appears on the canvas, and text typed into the page reaches an xterm.
#[test]
fn browser_shows_the_desktop_and_types_into_an_xterm() -> anyhow::Result<()> {
    let out = TempDir::new("typed")?;
    let typed = out.path().join("typed.txt");
    let mut desk = Xvnc::start(1024, 768, &["-SecurityTypes", "None"])?;
    desk.run("xsetroot", &["-solid", "#336699"])?;
    // The xterm writes the first line typed into it to a file, so the test reads what arrived.
    let script = format!("read line; printf '%s' \"$line\" > {}", typed.display());
    desk.spawn(
        "xterm",
        &["-geometry", "40x6+0+0", "-e", "sh", "-c", &script],
    )?;
    let gate = Gateway::start(&[
        "--target",
        &format!("desk=127.0.0.1:{}", desk.port),
        "--danger-no-auth",
    ])?;
    let browser = Browser::start()?;
    browser.goto(&gate.url("#target=desk"))?;
    let name = browser.wait_for_state("connected", Duration::from_secs(20))?;
    let _ = name;
    let size =
        browser.eval("const c = document.getElementById('screen'); return [c.width, c.height];")?;
    assert_eq!(size, json!([1024, 768]), "canvas takes the desktop's size");
    let px = wait_until(
        Duration::from_secs(10),
        "the root colour on the canvas",
        || {
            let p = browser.canvas_pixel(900, 700)?;
            Ok((p == ROOT).then_some(p))
        },
    )?;
    assert_eq!(px, ROOT);
    if let Some(dir) = std::env::var_os("VNCGATE_SCREENSHOTS") {
        browser.screenshot(&std::path::Path::new(&dir).join("connected.png"))?;
    }

    // Point at the xterm (focus follows the pointer without a window manager), then type.
    let rect = browser.eval("const r = document.getElementById('screen').getBoundingClientRect(); return [r.left, r.top];")?;
    let (left, top) = (
        rect[0].as_f64().unwrap_or(0.0),
        rect[1].as_f64().unwrap_or(0.0),
    );
    browser.actions(json!([{
        "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
        "actions": [
            {"type": "pointerMove", "origin": "viewport", "x": (left + 60.0) as i64, "y": (top + 30.0) as i64},
            {"type": "pointerDown", "button": 0},
            {"type": "pointerUp", "button": 0}
        ]
    }]))?;
    let mut keys = Vec::new();
    for c in "hello vnc".chars().chain(std::iter::once('\u{E007}')) {
        keys.push(json!({"type": "keyDown", "value": c.to_string()}));
        keys.push(json!({"type": "keyUp", "value": c.to_string()}));
    }
    browser.actions(json!([{ "type": "key", "id": "keyboard", "actions": keys }]))?;
    let got = wait_until(
        Duration::from_secs(10),
        "the typed line to reach the xterm",
        || {
            Ok(std::fs::read_to_string(&typed)
                .ok()
                .filter(|s| !s.is_empty()))
        },
    )?;
    assert_eq!(got, "hello vnc");
    Ok(())
}

/// A target that is down gives the user a message naming it, not "code 1006".
#[test]
fn unreachable_target_is_reported_in_the_page() -> anyhow::Result<()> {
    let closed = tests::proc::free_port()?;
    let gate = Gateway::start(&[
        "--target",
        &format!("gone=127.0.0.1:{closed}"),
        "--danger-no-auth",
    ])?;
    let browser = Browser::start()?;
    browser.goto(&gate.url("#target=gone"))?;
    let msg = browser.wait_for_state("error", Duration::from_secs(20))?;
    assert!(
        msg.contains("target 'gone' is not reachable"),
        "page says: {msg}"
    );
    // A new fragment alone does not reload a page: leave it first.
    browser.goto("about:blank")?;
    browser.goto(&gate.url("#target=nosuch"))?;
    let msg = browser.wait_for_state("error", Duration::from_secs(20))?;
    assert!(msg.contains("unknown target 'nosuch'"), "page says: {msg}");
    Ok(())
}

/// Without an authentication method the gateway relays nothing, and says so.
#[test]
fn no_auth_configured_relays_nothing() -> anyhow::Result<()> {
    let desk = Xvnc::start(320, 200, &["-SecurityTypes", "None"])?;
    let gate = Gateway::start(&["--target", &format!("desk=127.0.0.1:{}", desk.port)])?;
    wait_until(Duration::from_secs(5), "the start-up warning", || {
        Ok(gate
            .log_contains("no authentication is configured")
            .then_some(()))
    })?;
    let browser = Browser::start()?;
    browser.goto(&gate.url("#target=desk"))?;
    let msg = browser.wait_for_state("error", Duration::from_secs(20))?;
    assert!(
        msg.contains("no authentication configured"),
        "page says: {msg}"
    );
    Ok(())
}
