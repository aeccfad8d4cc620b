//! Portal embedding: noVNC's own `vnc_lite.html`, served from another origin (a second
//! vncgate with `--web-root` and `--web-root-csp`, since the page runs inline script), opens
//! a WebSocket to the gateway's `/websockify` — which accepts it only when `--allow-origin`
//! names that origin, and otherwise refuses the upgrade and says why in its log.

use std::time::Duration;

use anyhow::{ensure, Context};
use serde_json::Value;
use tests::browser::Browser;
use tests::gateway::Gateway;
use tests::proc::wait_until;
use tests::xvnc::Xvnc;

const NOVNC: &str = "/usr/share/novnc";
const T: Duration = Duration::from_secs(30);
const ROOT: [u8; 4] = [0x33, 0x66, 0x99, 0xff];

/// noVNC's page needs its inline module script and a WebSocket to the other origin.
const NOVNC_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
                         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self' wss:";

/// The portal: noVNC's files on their own origin.
fn portal() -> anyhow::Result<Gateway> {
    ensure!(
        std::path::Path::new(NOVNC).join("vnc_lite.html").exists(),
        "noVNC is not installed (cargo xtask setup installs the novnc package)"
    );
    Gateway::start(&["--web-root", NOVNC, "--web-root-csp", NOVNC_CSP])
}

/// The desktop and the gateway in front of it, allowing `origins`.
fn desk_and_gateway(origins: &[String]) -> anyhow::Result<(Xvnc, Gateway)> {
    let desk = Xvnc::start(640, 480, &["-SecurityTypes", "None"])?;
    desk.run("xsetroot", &["-solid", "#336699"])?;
    let target = format!("desk=127.0.0.1:{}", desk.port);
    let mut args = vec!["--target", &target, "--danger-no-auth"];
    for o in origins {
        args.extend(["--allow-origin", o.as_str()]);
    }
    let gate = Gateway::start(&args)?;
    Ok((desk, gate))
}

/// noVNC's page on the portal, pointed at the gateway's websockify path.
fn open_novnc(browser: &Browser, portal: &Gateway, gate: &Gateway) -> anyhow::Result<()> {
    browser.goto(&portal.url(&format!(
        "vnc_lite.html?host=127.0.0.1&port={}&path=websockify%3Ftoken%3Ddesk&scale=false",
        gate.port
    )))
}

/// With `VNCGATE_SCREENSHOTS=DIR`, saves the page as DIR/NAME.png.
fn screenshot(browser: &Browser, name: &str) -> anyhow::Result<()> {
    if let Some(dir) = std::env::var_os("VNCGATE_SCREENSHOTS") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir)?;
        browser.screenshot(&dir.join(format!("{name}.png")))?;
    }
    Ok(())
}

fn novnc_status(browser: &Browser) -> anyhow::Result<String> {
    let v = browser
        .eval("const s = document.getElementById('status'); return s ? s.textContent : '';")?;
    Ok(v.as_str().unwrap_or_default().to_owned())
}

fn novnc_pixel(browser: &Browser, x: u32, y: u32) -> anyhow::Result<Option<[u8; 4]>> {
    let v = browser.eval(&format!(
        "const c = document.querySelector('#screen canvas'); if (!c || c.width < {x}) return null;\
         return Array.from(c.getContext('2d').getImageData({x}, {y}, 1, 1).data);"
    ))?;
    if v == Value::Null {
        return Ok(None);
    }
    let a = v.as_array().context("pixel")?;
    let px = |i: usize| a.get(i).and_then(Value::as_u64).unwrap_or(0) as u8;
    Ok(Some([px(0), px(1), px(2), px(3)]))
}

#[test]
fn novnc_from_a_portal_origin_connects_when_the_origin_is_allowed() -> anyhow::Result<()> {
    let portal = portal()?;
    let origin = format!("https://127.0.0.1:{}", portal.port);
    let (_desk, gate) = desk_and_gateway(&[origin])?;
    let browser = Browser::start()?;
    open_novnc(&browser, &portal, &gate)?;
    wait_until(T, "noVNC connected and showing the desktop", || {
        let connected = novnc_status(&browser)?.starts_with("Connected");
        Ok((connected && novnc_pixel(&browser, 600, 400)? == Some(ROOT)).then_some(()))
    })?;
    screenshot(&browser, "portal-novnc-allowed")?;
    ensure!(gate.log_contains("relay started"), "the gateway relayed");
    Ok(())
}

#[test]
fn novnc_from_a_portal_origin_is_refused_without_allow_origin() -> anyhow::Result<()> {
    let portal = portal()?;
    let (_desk, gate) = desk_and_gateway(&[])?;
    let browser = Browser::start()?;
    open_novnc(&browser, &portal, &gate)?;
    wait_until(T, "the gateway refuses the foreign origin", || {
        Ok(gate
            .log_contains("refused a WebSocket from a foreign origin")
            .then_some(()))
    })?;
    wait_until(T, "noVNC gives up", || {
        let s = novnc_status(&browser)?;
        Ok(
            (!s.is_empty() && !s.starts_with("Connecting") && !s.starts_with("Loading"))
                .then_some(s),
        )
    })
    .map(|s| {
        assert!(!s.starts_with("Connected"), "noVNC says {s:?}");
    })?;
    screenshot(&browser, "portal-novnc-refused")?;
    ensure!(!gate.log_contains("relay started"), "nothing was relayed");
    Ok(())
}
