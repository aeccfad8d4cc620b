//! QEMU's built-in VNC server (no disk: the BIOS screen), with VeNCrypt X509 credentials.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;

use crate::proc::{wait_until, Proc};
use crate::TempDir;

pub struct Qemu {
    pub port: u16,
    _proc: Proc,
    _dir: TempDir,
}

/// The port of QEMU's VNC server, asked through its QMP socket (`query-vnc`).
fn vnc_port(qmp: &Path) -> anyhow::Result<u16> {
    use std::io::{BufRead, BufReader, Write};
    let stream = std::os::unix::net::UnixStream::connect(qmp)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut lines = BufReader::new(stream.try_clone()?).lines();
    let mut answer = |command: &str| -> anyhow::Result<serde_json::Value> {
        writeln!(&stream, "{{\"execute\":\"{command}\"}}")?;
        loop {
            let line = lines.next().context("QMP closed")??;
            let v: serde_json::Value = serde_json::from_str(&line)?;
            if let Some(r) = v.get("return") {
                return Ok(r.clone());
            }
            anyhow::ensure!(v.get("error").is_none(), "QMP {command}: {line}");
        }
    };
    answer("qmp_capabilities")?;
    let vnc = answer("query-vnc")?;
    vnc["service"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("no VNC port in {vnc}"))
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
        // QEMU binds the first free VNC display from 0 to 99 itself (`to=`) and says which
        // through QMP: no port is picked here for another process to take first.
        let dir = TempDir::new("qemu")?;
        let qmp = dir.path().join("qmp.sock");
        let mut vnc = "127.0.0.1:0,to=99,tls-creds=tls0".to_owned();
        let log = dir.path().join("qemu.log");
        let alive = |proc: &mut Proc| {
            proc.check_alive().with_context(|| {
                let said = std::fs::read_to_string(&log).unwrap_or_default();
                format!("QEMU said: {}", said.trim())
            })
        };
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
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", qmp.display()))
            .stdout(Stdio::null())
            // To a file, never a pipe nobody reads: QEMU would block once it filled.
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("cannot start qemu-system-x86_64; run `cargo xtask setup`")?;
        let mut proc = Proc::new("qemu", child);
        // QMP answers from the main loop, which starts after the VNC server is listening.
        let port = wait_until(Duration::from_secs(20), "QEMU's QMP socket", || {
            alive(&mut proc)?;
            if !qmp.exists() {
                return Ok(None);
            }
            vnc_port(&qmp).map(Some)
        })?;
        wait_until(Duration::from_secs(20), "QEMU's VNC server", || {
            alive(&mut proc)?;
            Ok(std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|_| ()))
        })?;
        Ok(Self {
            port,
            _proc: proc,
            _dir: dir,
        })
    }
}
