//! A real `x11vnc` serving an `Xvfb` display, on loopback.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;

use crate::proc::{free_port, start_x_server, wait_until, Proc};

pub struct X11vnc {
    pub display: u16,
    pub port: u16,
    clients: Vec<Proc>,
    _vnc: Proc,
    _xvfb: Proc,
}

impl X11vnc {
    /// Starts Xvfb at `width`×`height`×24 and x11vnc on it with `extra` arguments.
    pub fn start(width: u16, height: u16, extra: &[&str]) -> anyhow::Result<Self> {
        let mut last_err = None;
        for _ in 0..5 {
            let (xvfb, display) = start_x_server(
                "Xvfb",
                &[
                    "-screen".into(),
                    "0".into(),
                    format!("{width}x{height}x24"),
                    "-nolisten".into(),
                    "tcp".into(),
                ],
            )?;
            let port = free_port()?;
            let child = Command::new("x11vnc")
                .args([
                    "-display",
                    &format!(":{display}"),
                    "-rfbport",
                    &port.to_string(),
                ])
                .args([
                    "-localhost",
                    "-forever",
                    "-shared",
                    "-quiet",
                    "-noxdamage",
                    "-nocursor",
                ])
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("cannot start x11vnc; run `cargo xtask setup`")?;
            let mut vnc = Proc::terminated_first("x11vnc", child);
            // Another process may take the port meanwhile: x11vnc exits, another is tried.
            let listening = wait_until(Duration::from_secs(20), "x11vnc to listen", || {
                vnc.check_alive()?;
                Ok(std::net::TcpStream::connect(("127.0.0.1", port))
                    .ok()
                    .map(|_| ()))
            });
            if let Err(e) = listening {
                last_err = Some(e);
                continue;
            }
            return Ok(Self {
                display,
                port,
                clients: Vec::new(),
                _vnc: vnc,
                _xvfb: xvfb,
            });
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("x11vnc did not start")))
    }

    pub fn display_env(&self) -> String {
        format!(":{}", self.display)
    }

    /// Runs an X client to completion (e.g. `xsetroot`).
    pub fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        crate::proc::run_x_client(&self.display_env(), program, args)
    }

    pub fn spawn(&mut self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        self.clients.push(crate::proc::spawn_x_client(
            &self.display_env(),
            program,
            args,
        )?);
        Ok(())
    }
}

impl Drop for X11vnc {
    fn drop(&mut self) {
        self.clients.clear();
    }
}
