//! QEMU's built-in VNC server (no disk: the BIOS screen), with VeNCrypt X509 credentials.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;

use crate::proc::{wait_until, Proc};

pub struct Qemu {
    pub port: u16,
    _proc: Proc,
}

/// A port 5900+N that is free, as QEMU's `-vnc` takes a display number.
fn free_vnc_display() -> anyhow::Result<u16> {
    let base = 100 + (std::process::id() % 500) as u16;
    (0..400)
        .map(|i| base + i)
        .find(|d| std::net::TcpListener::bind(("127.0.0.1", 5900 + d)).is_ok())
        .context("no free VNC port above 6000")
}

impl Qemu {
    /// Starts QEMU with `tls-creds-x509` from `creds_dir` (ca-cert.pem, server-cert.pem,
    /// server-key.pem); with `password`, VNC authentication inside TLS (X509Vnc); with
    /// `verify_peer`, clients must present a certificate issued by the CA in ca-cert.pem.
    pub fn start(
        creds_dir: &Path,
        password: Option<&str>,
        verify_peer: bool,
    ) -> anyhow::Result<Self> {
        let display = free_vnc_display()?;
        let mut vnc = format!("127.0.0.1:{display},tls-creds=tls0");
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args([
            "-nodefaults",
            "-vga",
            "std",
            "-display",
            "none",
            "-m",
            "32",
            "-machine",
            "accel=tcg",
        ])
        .arg("-object")
        .arg(format!(
            "tls-creds-x509,id=tls0,dir={},endpoint=server,verify-peer={}",
            creds_dir.display(),
            if verify_peer { "yes" } else { "no" }
        ));
        if let Some(pw) = password {
            cmd.arg("-object").arg(format!("secret,id=vncpw,data={pw}"));
            vnc.push_str(",password-secret=vncpw");
        }
        let child = cmd
            .arg("-vnc")
            .arg(vnc)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start qemu-system-x86_64; run `cargo xtask setup`")?;
        let mut proc = Proc::new("qemu", child);
        let port = 5900 + display;
        wait_until(Duration::from_secs(20), "QEMU's VNC server", || {
            proc.check_alive()?;
            Ok(std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|_| ()))
        })?;
        Ok(Self { port, _proc: proc })
    }
}
