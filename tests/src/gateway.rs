//! The real `vncgate` binary, started on a free loopback port with a fresh state directory.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::proc::Proc;
use crate::TempDir;

pub struct Gateway {
    pub port: u16,
    pub state: TempDir,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _proc: Proc,
}

/// Where the vncgate binary is: `$VNCGATE_BIN`, else next to this test's target directory.
pub fn binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("VNCGATE_BIN") {
        return Ok(p.into());
    }
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .context("test binary has no target dir")?;
    let p = dir.join("vncgate");
    if !p.exists() {
        bail!(
            "{} not found: build it with `cargo build -p gateway` (cargo xtask test does)",
            p.display()
        );
    }
    Ok(p)
}

impl Gateway {
    /// Starts `vncgate serve --listen 127.0.0.1:0 ARGS` and waits for its banner.
    pub fn start(args: &[&str]) -> anyhow::Result<Self> {
        Self::start_in(TempDir::new("state")?, args)
    }

    /// [`Gateway::start`] with an existing state directory (as after a restart).
    pub fn start_in(state: TempDir, args: &[&str]) -> anyhow::Result<Self> {
        let mut child = Command::new(binary()?)
            .args(["serve", "--listen", "127.0.0.1:0", "--state-dir"])
            .arg(state.path())
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start vncgate")?;
        let stderr = child.stderr.take().context("no stderr")?;
        let proc = Proc::new("vncgate", child);
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[vncgate] {line}");
                if let Some(rest) = line.strip_prefix("vncgate listening on https://127.0.0.1:") {
                    let port: Option<u16> = rest.trim_end_matches('/').parse().ok();
                    let _ = tx.send(port);
                }
                if let Ok(mut l) = log2.lock() {
                    l.push(line);
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(20))
            .context("vncgate printed no 'listening on' line within 20 s")?
            .context("vncgate's banner had no port")?;
        Ok(Self {
            port,
            state,
            log,
            _proc: proc,
        })
    }

    /// Kills the process (SIGKILL, as `kill -9`) and hands back its state directory.
    pub fn kill(self) -> TempDir {
        let Self { state, _proc, .. } = self;
        drop(_proc);
        state
    }

    /// Sends SIGTERM (as `systemctl stop` does): the gateway stops accepting and drains.
    pub fn terminate(&self) -> anyhow::Result<()> {
        let ok = Command::new("kill")
            .args(["-TERM", &self._proc.child.id().to_string()])
            .status()?
            .success();
        anyhow::ensure!(ok, "kill -TERM failed");
        Ok(())
    }

    /// Sends SIGHUP (as `systemctl reload` does) and waits until the gateway logged that it
    /// reloaded its configuration, or refused to: the log line, which says which.
    pub fn reload(&self) -> anyhow::Result<String> {
        let done = |l: &String| {
            l.contains("configuration reloaded") || l.contains("configuration NOT reloaded")
        };
        let before = self
            .log
            .lock()
            .map(|l| l.iter().filter(|x| done(x)).count())
            .unwrap_or(0);
        let ok = Command::new("kill")
            .args(["-HUP", &self._proc.child.id().to_string()])
            .status()?
            .success();
        anyhow::ensure!(ok, "kill -HUP failed");
        crate::proc::wait_until(Duration::from_secs(10), "the reload's log line", || {
            let log = self
                .log
                .lock()
                .map_err(|_| anyhow::anyhow!("log poisoned"))?;
            Ok(log.iter().filter(|x| done(x)).nth(before).cloned())
        })
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self._proc.child.try_wait(), Ok(Some(_)))
    }

    /// The log lines so far.
    pub fn log_text(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    pub fn url(&self, fragment: &str) -> String {
        format!("https://127.0.0.1:{}/{fragment}", self.port)
    }

    pub fn log_contains(&self, needle: &str) -> bool {
        self.log
            .lock()
            .map(|l| l.iter().any(|x| x.contains(needle)))
            .unwrap_or(false)
    }
}
