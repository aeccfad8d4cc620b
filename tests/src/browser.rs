//! Headless Chromium driven through chromedriver's W3C WebDriver API.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::proc::{free_port, wait_for_port, wait_until, Proc};
use crate::TempDir;

pub struct Browser {
    base: String,
    session: String,
    agent: ureq::Agent,
    _profile: TempDir,
    _driver: Proc,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium that accepts the gateway's self-signed
    /// certificate (as a user clicking through the warning once would).
    pub fn start() -> anyhow::Result<Self> {
        let port = free_port()?;
        let driver = Command::new(
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into()),
        )
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start chromedriver; run `cargo xtask setup`")?;
        let driver = Proc::new("chromedriver", driver);
        wait_for_port(port, "chromedriver")?;
        let profile = TempDir::new("chromium")?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--disable-quic", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        }}});
        let v = call(&agent, "POST", &format!("{base}/session"), Some(caps))?;
        let session = v["sessionId"]
            .as_str()
            .context("no sessionId in the new-session reply")?
            .to_owned();
        Ok(Self {
            base,
            session,
            agent,
            _profile: profile,
            _driver: driver,
        })
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        call(
            &self.agent,
            method,
            &format!("{}/session/{}{path}", self.base, self.session),
            body,
        )
    }

    pub fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.cmd("POST", "/url", Some(json!({ "url": url })))
            .map(|_| ())
    }

    /// Runs a script in the page (`return …;`) and returns its JSON value.
    pub fn eval(&self, script: &str) -> anyhow::Result<Value> {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
    }

    /// W3C actions (pointer and key sequences).
    pub fn actions(&self, actions: Value) -> anyhow::Result<()> {
        self.cmd("POST", "/actions", Some(json!({ "actions": actions })))
            .map(|_| ())
    }

    /// Waits for `#status[data-state]` to become `state`; returns the page's message text.
    pub fn wait_for_state(&self, state: &str, timeout: Duration) -> anyhow::Result<String> {
        wait_until(
            timeout,
            &format!("the viewer to reach state '{state}'"),
            || {
                let v = self.eval(
                "const s = document.getElementById('status'); const m = document.getElementById('message');\
                 return [s ? s.dataset.state : null, m ? m.textContent : ''];",
            )?;
                Ok((v[0].as_str() == Some(state)).then(|| v[1].as_str().unwrap_or("").to_owned()))
            },
        )
    }

    /// The RGBA pixel of the `#screen` canvas at (x, y).
    pub fn canvas_pixel(&self, x: u32, y: u32) -> anyhow::Result<[u8; 4]> {
        let v = self.eval(&format!(
            "const c = document.getElementById('screen');\
             return Array.from(c.getContext('2d').getImageData({x}, {y}, 1, 1).data);"
        ))?;
        let a = v.as_array().context("getImageData returned no array")?;
        let px: Vec<u8> = a
            .iter()
            .filter_map(|n| n.as_u64())
            .map(|n| n as u8)
            .collect();
        px.try_into()
            .map_err(|p| anyhow::anyhow!("bad pixel {p:?}"))
    }

    /// Saves a PNG screenshot of the page.
    pub fn screenshot(&self, path: &std::path::Path) -> anyhow::Result<()> {
        let v = self.cmd("GET", "/screenshot", None)?;
        let b64 = v.as_str().context("screenshot is not a string")?;
        std::fs::write(path, decode_base64(b64)?)?;
        Ok(())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.cmd("DELETE", "", None);
    }
}

fn call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut resp = match (method, body) {
        ("POST", Some(b)) => agent.post(url).send_json(b)?,
        ("POST", None) => agent.post(url).send_json(json!({}))?,
        ("DELETE", _) => agent.delete(url).call()?,
        _ => agent.get(url).call()?,
    };
    let status = resp.status();
    let v: Value = resp
        .body_mut()
        .read_json()
        .with_context(|| format!("{method} {url}: reply is not JSON"))?;
    if !status.is_success() {
        bail!(
            "{method} {url}: {status}: {}",
            v["value"]["message"].as_str().unwrap_or("(no message)")
        );
    }
    Ok(v["value"].clone())
}

fn decode_base64(s: &str) -> anyhow::Result<Vec<u8>> {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|c| *c != b'=' && !c.is_ascii_whitespace()) {
        let v = T.iter().position(|t| *t == c).context("bad base64")? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}
