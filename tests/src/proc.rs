//! Child processes that die with their handle, and small waiting helpers.

use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::bail;

/// A child process, killed and reaped on drop.
pub struct Proc {
    pub name: String,
    pub child: Child,
}

impl Proc {
    pub fn new(name: &str, child: Child) -> Self {
        Self {
            name: name.to_owned(),
            child,
        }
    }

    /// Fails if the process has already exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited early with {status}", self.name);
        }
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback TCP port that was free a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Polls `f` every 100 ms until it returns `Some`, or fails after `timeout` saying `what`.
pub fn wait_until<T>(
    timeout: Duration,
    what: &str,
    mut f: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    let mut last_err = None;
    loop {
        match f() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_err = Some(e),
        }
        if Instant::now() > deadline {
            match last_err {
                Some(e) => {
                    bail!("timed out after {timeout:?} waiting for {what}; last error: {e:#}")
                }
                None => bail!("timed out after {timeout:?} waiting for {what}"),
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn wait_for_port(port: u16, what: &str) -> anyhow::Result<()> {
    wait_until(Duration::from_secs(15), what, || {
        Ok(std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| ()))
    })
}

/// Display numbers handed out by this process, so parallel tests never pick the same one.
static NEXT_DISPLAY: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);

/// An X display number with no server on it. Callers retry with another number if the
/// server they start on it exits at once (another process took it meanwhile).
pub fn candidate_display() -> u16 {
    // Spread by pid so several test binaries rarely race for a number.
    let base = 30 + (std::process::id() % 40) as u16 * 5;
    loop {
        let n = base + NEXT_DISPLAY.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 300;
        let lock = format!("/tmp/.X{n}-lock");
        let socket = format!("/tmp/.X11-unix/X{n}");
        if !std::path::Path::new(&lock).exists() && !std::path::Path::new(&socket).exists() {
            return n;
        }
    }
}

/// Starts an X client on `display` (e.g. `:31`), silenced, killed when the handle drops.
pub fn spawn_x_client(display: &str, program: &str, args: &[&str]) -> anyhow::Result<Proc> {
    let child = std::process::Command::new(program)
        .args(args)
        .env("DISPLAY", display)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {program}: {e}"))?;
    Ok(Proc::new(program, child))
}
