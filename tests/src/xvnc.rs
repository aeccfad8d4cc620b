//! A real TigerVNC `Xvnc` desktop on a free display, listening on loopback only.

use std::time::Duration;

use crate::proc::{free_port, wait_until, Proc};

pub struct Xvnc {
    pub display: u16,
    pub port: u16,
    _server: Proc,
    clients: Vec<Proc>,
}

impl Xvnc {
    /// Starts `Xvnc` with `extra` arguments (e.g. `-SecurityTypes None`).
    pub fn start(width: u16, height: u16, extra: &[&str]) -> anyhow::Result<Self> {
        // Another process may take the port between the check and the start: then Xvnc exits
        // at once, and another port is tried.
        let mut last_err = None;
        for _ in 0..5 {
            let port = free_port()?;
            let mut args: Vec<String> = [
                "-geometry",
                &format!("{width}x{height}"),
                "-depth",
                "24",
                "-localhost",
                "-AlwaysShared",
                "-desktop",
                "vncgate-test",
                "-rfbport",
                &port.to_string(),
            ]
            .map(str::to_owned)
            .into();
            args.extend(extra.iter().map(|a| (*a).to_owned()));
            let (mut server, display) = crate::proc::start_x_server("Xvnc", &args)?;
            let ready = wait_until(Duration::from_secs(15), "Xvnc to listen", || {
                server.check_alive()?;
                Ok(std::net::TcpStream::connect(("127.0.0.1", port))
                    .ok()
                    .map(|_| ()))
            });
            match ready {
                Ok(()) => {
                    return Ok(Self {
                        display,
                        port,
                        _server: server,
                        clients: Vec::new(),
                    });
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("Xvnc did not start")))
    }

    pub fn display_env(&self) -> String {
        format!(":{}", self.display)
    }

    /// Runs an X client to completion (e.g. `xsetroot`).
    pub fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        crate::proc::run_x_client(&self.display_env(), program, args)
    }

    /// Starts an X client that lives as long as this desktop.
    pub fn spawn(&mut self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        self.clients.push(crate::proc::spawn_x_client(
            &self.display_env(),
            program,
            args,
        )?);
        Ok(())
    }
}

impl Drop for Xvnc {
    fn drop(&mut self) {
        self.clients.clear();
    }
}
