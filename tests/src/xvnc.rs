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

    /// A desktop (root colour #336699) with an xterm (UTF-8, top left) that writes the first
    /// line typed into it to `file`.
    pub fn with_xterm(
        width: u16,
        height: u16,
        extra: &[&str],
        file: &std::path::Path,
    ) -> anyhow::Result<Self> {
        let mut desk = Self::start(width, height, extra)?;
        desk.run("xsetroot", &["-solid", "#336699"])?;
        let script = format!("read line; printf '%s' \"$line\" > {}", file.display());
        desk.spawn(
            "env",
            &[
                "LANG=C.UTF-8",
                "LC_ALL=C.UTF-8",
                "xterm",
                "-u8",
                "-geometry",
                "40x6+0+0",
                "-e",
                "sh",
                "-c",
                &script,
            ],
        )?;
        // The xterm maps its window before anyone can type into it.
        wait_until(Duration::from_secs(20), "the xterm window", || {
            let tree =
                crate::proc::x_output(&desk.display_env(), "xwininfo", &["-root", "-children"])?;
            Ok(tree.contains("xterm").then_some(()))
        })?;
        Ok(desk)
    }

    /// A desktop that offers only VeNCrypt X509None, with this certificate and key (PEM).
    pub fn start_x509(
        width: u16,
        height: u16,
        cert: &std::path::Path,
        key: &std::path::Path,
    ) -> anyhow::Result<Self> {
        let (cert, key) = (cert.display().to_string(), key.display().to_string());
        Self::start(
            width,
            height,
            &[
                "-SecurityTypes",
                "X509None",
                "-X509Cert",
                &cert,
                "-X509Key",
                &key,
            ],
        )
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

/// The line typed into a [`Xvnc::with_xterm`] desktop, once it arrived (20 s at most).
pub fn read_typed(file: &std::path::Path) -> anyhow::Result<String> {
    wait_until(
        Duration::from_secs(20),
        "the typed line to reach the xterm",
        || Ok(std::fs::read_to_string(file).ok().filter(|s| !s.is_empty())),
    )
}
