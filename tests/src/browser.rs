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

/// A client certificate for the browser: an NSS database in `home` (`$HOME/.pki/nssdb`, see
/// [`crate::pki::nss_db`]) and the `AutoSelectCertificateForUrls` policy for `url_pattern`, so
/// Chromium presents it without a dialog. The policy lives in a private mount namespace
/// (a bind mount over `/etc/chromium`), so nothing outside this browser sees it.
pub struct ClientCert {
    pub home: std::path::PathBuf,
    pub url_pattern: String,
    /// Only certificates issued by this CN are chosen.
    pub issuer_cn: String,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium that accepts the gateway's self-signed
    /// certificate (as a user clicking through the warning once would).
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(None)
    }

    /// [`Browser::start`], presenting a client certificate when asked.
    pub fn start_with(cert: Option<&ClientCert>) -> anyhow::Result<Self> {
        let profile = TempDir::new("chromium")?;
        let binary = match cert {
            None => "/usr/bin/chromium".to_owned(),
            Some(c) => wrapper(profile.path(), c)?,
        };
        Self::launch(profile, binary, true, Vec::new())
    }

    /// A browser that presents client certificate `name` of `pki` (issued by CA `issuer_cn`)
    /// from an NSS database of its own under `dir` to the gateway on `port`.
    pub fn as_holder(
        dir: &std::path::Path,
        pki: &crate::pki::CertDir,
        name: &str,
        port: u16,
        issuer_cn: &str,
    ) -> anyhow::Result<Self> {
        let home = dir.join(format!("home-{name}"));
        let p12 = pki.p12(name, "p12-pass")?;
        crate::pki::nss_db(&home, &p12, "p12-pass")?;
        Self::start_with(Some(&ClientCert {
            home,
            url_pattern: format!("https://127.0.0.1:{port}"),
            issuer_cn: issuer_cn.to_owned(),
        }))
    }

    /// A browser that accepts only certificates chaining to `ca_pem` (trusted in a fresh NSS
    /// database, as an administrator would import a company root) or to the public roots,
    /// resolving the host names in `hosts` to 127.0.0.1.
    pub fn start_trusting(ca_pem: &std::path::Path, hosts: &[&str]) -> anyhow::Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        let profile = TempDir::new("chromium")?;
        let home = profile.path().join("home");
        crate::pki::nss_trust(&home, ca_pem)?;
        let script = profile.path().join("chromium-trusting.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nexport HOME='{}'\nexec /usr/bin/chromium \"$@\"\n",
                home.display()
            ),
        )?;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
        let rules = hosts
            .iter()
            .map(|h| format!("MAP {h} 127.0.0.1"))
            .collect::<Vec<_>>()
            .join(",");
        let binary = script.display().to_string();
        Self::launch(
            profile,
            binary,
            false,
            vec![format!("--host-resolver-rules={rules}")],
        )
    }

    fn launch(
        profile: TempDir,
        binary: String,
        accept_insecure_certs: bool,
        extra_args: Vec<String>,
    ) -> anyhow::Result<Self> {
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
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
            "--window-size=1280,1000",
        ]
        .map(str::to_owned)
        .into();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.extend(extra_args);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": accept_insecure_certs,
            "goog:chromeOptions": { "binary": binary, "args": args }
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

    /// CPU seconds (user + system) used so far by this browser's renderer processes (its
    /// pages), read from /proc: the processes with `--type=renderer` descended from this
    /// browser's chromedriver.
    pub fn renderer_cpu_seconds(&self) -> f64 {
        self.renderer_pids()
            .iter()
            .filter_map(|pid| stat_ticks(&format!("/proc/{pid}/stat")))
            .map(|(_, ticks)| ticks)
            .sum::<u64>() as f64
            / USER_HZ
    }

    /// The renderer processes' threads now: thread id → (name, CPU seconds so far). A
    /// process's main thread (the page's, in Chromium) is named `main`; the others keep the
    /// names Chromium gives them (`Compositor`, `ThreadPoolForeg`, …). See [`thread_cpu`].
    pub fn renderer_threads(&self) -> Threads {
        let mut threads = Threads::new();
        for pid in self.renderer_pids() {
            let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
                continue;
            };
            for t in tasks.filter_map(Result::ok) {
                let Some(tid) = t.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                    continue;
                };
                let Some((name, ticks)) = stat_ticks(&t.path().join("stat").to_string_lossy())
                else {
                    continue;
                };
                let name = if tid == pid { "main".to_owned() } else { name };
                threads.insert(tid, (name, ticks as f64 / USER_HZ));
            }
        }
        threads
    }

    /// This browser's renderer processes: `--type=renderer` in the command line (Chromium
    /// rewrites it into one string, its process title), descended from its chromedriver.
    fn renderer_pids(&self) -> Vec<u32> {
        let driver = self._driver.child.id();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        // pid → (parent, a renderer?)
        let mut procs = std::collections::HashMap::new();
        for e in entries.filter_map(Result::ok) {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // After the command name: state, ppid (index 1), ….
            let parent = stat
                .rsplit_once(") ")
                .and_then(|(_, rest)| rest.split(' ').nth(1))
                .and_then(|p| p.parse::<u32>().ok())
                .unwrap_or(0);
            let renderer = std::fs::read(e.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains("--type=renderer"))
                .unwrap_or(false);
            procs.insert(pid, (parent, renderer));
        }
        let descends = |mut pid: u32| {
            for _ in 0..64 {
                match procs.get(&pid) {
                    Some((parent, _)) if *parent == driver => return true,
                    Some((parent, _)) if *parent > 1 => pid = *parent,
                    _ => return false,
                }
            }
            false
        };
        procs
            .iter()
            .filter(|(pid, (_, renderer))| *renderer && descends(**pid))
            .map(|(pid, _)| *pid)
            .collect()
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

    /// Runs an asynchronous script: it calls `arguments[arguments.length - 1](value)` when
    /// done; returns that value.
    pub fn eval_async(&self, script: &str) -> anyhow::Result<Value> {
        self.cmd(
            "POST",
            "/execute/async",
            Some(json!({ "script": script, "args": [] })),
        )
    }

    /// A Chrome DevTools Protocol command on the page (chromedriver's `goog/cdp/execute`).
    pub fn cdp(&self, cmd: &str, params: Value) -> anyhow::Result<Value> {
        self.cmd(
            "POST",
            "/goog/cdp/execute",
            Some(json!({ "cmd": cmd, "params": params })),
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

    /// The WebDriver reference of the first element matching a CSS selector.
    pub fn find(&self, css: &str) -> anyhow::Result<String> {
        let v = self.cmd(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        )?;
        v["element-6066-11e4-a52e-4f735466cecf"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no element reference for {css}"))
    }

    /// Types `text` into an element; for `input[type=file]` the text is a file's path.
    pub fn send_keys(&self, element: &str, text: &str) -> anyhow::Result<()> {
        self.cmd(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .map(|_| ())
    }

    /// Sets the browser window's size.
    pub fn set_window_size(&self, width: u32, height: u32) -> anyhow::Result<()> {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .map(|_| ())
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

/// A script that runs Chromium with `HOME` = the NSS database's home and the auto-select
/// policy bind-mounted over `/etc/chromium` in a private mount namespace.
fn wrapper(dir: &std::path::Path, c: &ClientCert) -> anyhow::Result<String> {
    use std::os::unix::fs::PermissionsExt;
    let etc = dir.join("etc-chromium");
    let managed = etc.join("policies/managed");
    std::fs::create_dir_all(&managed)?;
    if let Ok(prefs) = std::fs::read("/etc/chromium/master_preferences") {
        std::fs::write(etc.join("master_preferences"), prefs)?;
    }
    let rule =
        json!({"pattern": c.url_pattern, "filter": {"ISSUER": {"CN": c.issuer_cn}}}).to_string();
    std::fs::write(
        managed.join("autoselect.json"),
        json!({ "AutoSelectCertificateForUrls": [rule] }).to_string(),
    )?;
    let script = dir.join("chromium-with-cert.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexport HOME='{home}'\nexec unshare -m --propagation private sh -c \
             'mount --bind \"$0\" /etc/chromium && shift && exec /usr/bin/chromium \"$@\"' '{etc}' x \"$@\"\n",
            home = c.home.display(),
            etc = etc.display()
        ),
    )?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    Ok(script.display().to_string())
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

/// Renderer threads at one moment: thread id → (name, CPU seconds so far).
pub type Threads = std::collections::BTreeMap<u32, (String, f64)>;

/// The CPU seconds each thread name used between two readings, largest first: a thread that
/// started in between counts from zero; one that ended in between is missing (its time is
/// still in [`Browser::renderer_cpu_seconds`] while its process lives).
pub fn thread_cpu(before: &Threads, after: &Threads) -> Vec<(String, f64)> {
    let mut by_name = std::collections::BTreeMap::<&str, f64>::new();
    for (tid, (name, secs)) in after {
        let start = before.get(tid).map_or(0.0, |(_, s)| *s);
        *by_name.entry(name).or_default() += secs - start;
    }
    let mut v: Vec<(String, f64)> = by_name
        .into_iter()
        .filter(|(_, s)| *s > 0.0)
        .map(|(n, s)| (n.to_owned(), s))
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v
}

/// The kernel's clock tick for /proc, 100 Hz on Linux (`USER_HZ`).
const USER_HZ: f64 = 100.0;

/// A process's or thread's name and its user + system ticks, from a `/proc/…/stat` (the name
/// is in parentheses and may hold spaces or parentheses; after it: state, ppid, …, utime at
/// 11, stime at 12). `None` when it cannot be read (the process or thread ended).
fn stat_ticks(path: &str) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(path).ok()?;
    let (head, rest) = stat.rsplit_once(") ")?;
    let (_, name) = head.split_once(" (")?;
    let fields: Vec<&str> = rest.split(' ').collect();
    let num = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    Some((name.to_owned(), num(11)? + num(12)?))
}
