//! Child processes that die with their handle, and small waiting helpers.

use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::bail;

/// A child process, stopped and reaped on drop.
pub struct Proc {
    pub name: String,
    pub child: Child,
    stop: Stop,
}

/// How a [`Proc`] is stopped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// SIGKILL at once.
    Kill,
    /// SIGTERM first, so it can remove what it holds outside itself: x11vnc's SysV shared
    /// memory segments outlive a killed x11vnc (about 20 a test), and a machine that runs the
    /// tests often enough reaches the system's limit (`shmmni`), after which no x11vnc starts.
    Terminate,
    /// SIGTERM first, one X server at a time, so it can remove what it left in /tmp.
    XServer,
}

impl Proc {
    pub fn new(name: &str, child: Child) -> Self {
        Self {
            name: name.to_owned(),
            child,
            stop: Stop::Kill,
        }
    }

    /// A process asked to exit with SIGTERM before it is killed.
    pub fn terminated_first(name: &str, child: Child) -> Self {
        Self {
            name: name.to_owned(),
            child,
            stop: Stop::Terminate,
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

/// X servers of this process start and stop one at a time. An X server that is exiting still
/// holds its display's abstract socket and removes its socket file as it goes: a server
/// started meanwhile on the same display number (the exiting one gave up its lock first)
/// would answer no client once the old one is gone ("Can't open display").
static X_LIFECYCLE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn x_lifecycle() -> std::sync::MutexGuard<'static, ()> {
    X_LIFECYCLE.lock().unwrap_or_else(|e| e.into_inner())
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _one_at_a_time = (self.stop == Stop::XServer).then(x_lifecycle);
        if self.stop != Stop::Kill && terminate(&mut self.child, Duration::from_secs(3)) {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends SIGTERM (through `kill(1)`: no `unsafe` here) and waits up to `grace` for the exit.
fn terminate(child: &mut Child, grace: Duration) -> bool {
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    let deadline = Instant::now() + grace;
    while sent && Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

pub use test_ports::free_port;

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

/// Waits until `proc` itself listens on `port` (as `ss -ltnp` tells): `Ok(true)`; `Ok(false)`
/// when `proc` exited first — another process had the port (a free port picked by two tests
/// at once). Only a port that is the process's own means the test talks to its own server.
pub fn wait_own_port(proc: &mut Proc, port: u16) -> anyhow::Result<bool> {
    let pid = proc.child.id();
    let owner = format!("pid={pid},");
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if proc.check_alive().is_err() {
            return Ok(false);
        }
        let out = std::process::Command::new("ss")
            .args(["-Hltnp", &format!("sport = :{port}")])
            .output()?;
        if String::from_utf8_lossy(&out.stdout).contains(&owner) {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!(
        "{} (pid {pid}) is not listening on port {port} after 15 s",
        proc.name
    )
}

pub fn wait_for_port(port: u16, what: &str) -> anyhow::Result<()> {
    wait_until(Duration::from_secs(15), what, || {
        Ok(std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| ()))
    })
}

/// Starts an X server (`Xvnc`, `Xvfb`) on a display it picks itself.
///
/// The server is given `-displayfd 1`: it takes the first display number it can lock
/// (removing locks left by dead servers) and prints that number on stdout once clients can
/// connect. Choosing the number here instead races other test binaries and fails once
/// crashed runs have left sockets in /tmp/.X11-unix.
pub fn start_x_server(program: &str, args: &[String]) -> anyhow::Result<(Proc, u16)> {
    // Held until the server says it listens; released before any error drops the server
    // (whose drop takes it again).
    let one_at_a_time = x_lifecycle();
    let mut child = std::process::Command::new(program)
        .args(["-displayfd", "1"])
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {program} ({e}); run `cargo xtask setup`"))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut server = Proc::new(program, child);
    server.stop = Stop::XServer;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(20));
    drop(one_at_a_time);
    let line =
        line.map_err(|_| anyhow::anyhow!("{program} did not report its display within 20 s"))?;
    match line.trim().parse() {
        Ok(display) => Ok((server, display)),
        Err(_) => {
            server.check_alive()?;
            bail!("{program} printed {line:?} instead of a display number")
        }
    }
}

/// Runs an X client on `display` (e.g. `:31`) to completion (e.g. `xsetroot`); fails if it does.
pub fn run_x_client(display: &str, program: &str, args: &[&str]) -> anyhow::Result<()> {
    let status = std::process::Command::new(program)
        .args(args)
        .env("DISPLAY", display)
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run {program}: {e}"))?;
    anyhow::ensure!(status.success(), "{program} {args:?} failed: {status}");
    Ok(())
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

/// Runs an X client on `display` and returns what it printed (`xwininfo`, `xdotool`).
pub fn x_output(display: &str, program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .env("DISPLAY", display)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run {program}: {e}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{program} {args:?} on {display} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Makes the image `out` with ImageMagick's `convert ARGS… OUT`; returns `out` as text.
pub fn convert(args: &[&str], out: &std::path::Path) -> anyhow::Result<String> {
    let ok = std::process::Command::new("convert")
        .args(args)
        .arg(out)
        .status()
        .map_err(|e| anyhow::anyhow!("cannot run convert (package imagemagick): {e}"))?
        .success();
    anyhow::ensure!(ok, "convert {args:?} failed");
    Ok(out.display().to_string())
}
