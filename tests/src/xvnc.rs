//! A real TigerVNC `Xvnc` desktop on a free display, listening on loopback only.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Context;

use crate::proc::{free_port, wait_for_port, Proc};

pub struct Xvnc {
    pub display: u16,
    pub port: u16,
    _server: Proc,
    clients: Vec<Proc>,
}

fn free_display() -> anyhow::Result<u16> {
    // Start high and spread by pid so parallel test binaries rarely race for a number.
    let base = 30 + (std::process::id() % 50) as u16;
    (0..200)
        .map(|i| 30 + (base - 30 + i) % 200)
        .find(|n| {
            !Path::new(&format!("/tmp/.X{n}-lock")).exists()
                && !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
        })
        .context("no free X display number")
}

impl Xvnc {
    /// Starts `Xvnc` with `extra` arguments (e.g. `-SecurityTypes None`).
    pub fn start(width: u16, height: u16, extra: &[&str]) -> anyhow::Result<Self> {
        let display = free_display()?;
        let port = free_port()?;
        let child = Command::new("Xvnc")
            .arg(format!(":{display}"))
            .args([
                "-geometry",
                &format!("{width}x{height}"),
                "-depth",
                "24",
                "-localhost",
                "-AlwaysShared",
            ])
            .args(["-rfbport", &port.to_string(), "-desktop", "vncgate-test"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start Xvnc; run `cargo xtask setup`")?;
        let server = Proc::new("Xvnc", child);
        wait_for_port(port, "Xvnc to listen")?;
        Ok(Self {
            display,
            port,
            _server: server,
            clients: Vec::new(),
        })
    }

    pub fn display_env(&self) -> String {
        format!(":{}", self.display)
    }

    /// Runs an X client to completion (e.g. `xsetroot`).
    pub fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        let status = Command::new(program)
            .args(args)
            .env("DISPLAY", self.display_env())
            .status()
            .with_context(|| format!("cannot run {program}"))?;
        anyhow::ensure!(status.success(), "{program} {args:?} failed: {status}");
        Ok(())
    }

    /// Starts an X client that lives as long as this desktop.
    pub fn spawn(&mut self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        let child = Command::new(program)
            .args(args)
            .env("DISPLAY", self.display_env())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {program}"))?;
        self.clients.push(Proc::new(program, child));
        Ok(())
    }
}

impl Drop for Xvnc {
    fn drop(&mut self) {
        self.clients.clear();
    }
}
