//! A fleet on loopback: `redis-server` and HAProxy (TCP mode, PROXY v2 to each instance,
//! health checks on `/healthz` inside TLS), as docs/fleet.md sets them up.

use anyhow::Context;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::proc::{free_port, wait_own_port, Proc};

/// The address HAProxy connects from: the one the instances trust for PROXY headers, so
/// that tests can reach an instance directly from any other loopback address.
pub const HAPROXY_SOURCE: &str = "127.0.0.9";

/// A `redis-server` without persistence on a free port.
pub struct Redis {
    pub port: u16,
    /// TLS only (`rediss://`): the certificate and key files.
    tls: Option<(String, String)>,
    proc: Option<Proc>,
}

impl Redis {
    pub fn start() -> anyhow::Result<Self> {
        let mut r = Self {
            port: free_port()?,
            tls: None,
            proc: None,
        };
        r.start_somewhere()?;
        Ok(r)
    }

    /// Starts on `self.port`, or — when another process took that port first — on another.
    fn start_somewhere(&mut self) -> anyhow::Result<()> {
        for _ in 0..5 {
            if self.spawn()? {
                return Ok(());
            }
            self.port = free_port()?;
        }
        anyhow::bail!("redis-server found no free port in 5 tries")
    }

    /// A server that speaks TLS only, with this certificate and key (PEM).
    pub fn start_tls(cert: &str, key: &str) -> anyhow::Result<Self> {
        let mut r = Self {
            port: free_port()?,
            tls: Some((cert.to_owned(), key.to_owned())),
            proc: None,
        };
        r.start_somewhere()?;
        Ok(r)
    }

    /// `redis://127.0.0.1:PORT/0`, or `rediss://…` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}/0", self.port)
    }

    /// Stops the server (SIGKILL: what it held is gone).
    pub fn stop(&mut self) {
        self.proc = None;
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.spawn()?,
            "redis-server cannot listen on port {} again: another process took it",
            self.port
        );
        Ok(())
    }

    /// Starts redis-server on `self.port`; whether it is the one listening there.
    fn spawn(&mut self) -> anyhow::Result<bool> {
        let port = self.port.to_string();
        let mut cmd = Command::new("redis-server");
        match &self.tls {
            None => cmd.args(["--port", &port]),
            Some((cert, key)) => cmd
                .args(["--port", "0", "--tls-port", &port])
                .args(["--tls-cert-file", cert, "--tls-key-file", key])
                .args(["--tls-auth-clients", "no"]),
        };
        let child = cmd
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--protected-mode", "yes", "--loglevel", "warning"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start redis-server (apt-get install redis-server)")?;
        let mut proc = Proc::new("redis-server", child);
        let own = wait_own_port(&mut proc, self.port)?;
        self.proc = own.then_some(proc);
        Ok(own)
    }

    /// `redis-cli ARGS` against this server; its output.
    pub fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .context("cannot run redis-cli")?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// HAProxy in front of vncgate instances.
pub struct Haproxy {
    pub port: u16,
    _proc: Proc,
}

/// The configuration docs/fleet.md describes, for `servers` (name, port) on loopback; at most
/// `maxconn` connections (HAProxy needs two descriptors for each).
pub fn haproxy_config(port: u16, servers: &[(&str, u16)], maxconn: u32) -> String {
    let mut cfg = format!(
        "global\n    maxconn {maxconn}\n\n\
         defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 1h\n    timeout server 1h\n\
         \x20   retries 3\n    option redispatch\n\n\
         frontend vnc\n    bind 127.0.0.1:{port}\n    default_backend vncgate\n\n\
         backend vncgate\n    balance roundrobin\n    source {HAPROXY_SOURCE}\n\
         \x20   option httpchk\n    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host vncgate\n\
         \x20   http-check expect status 200\n\
         \x20   default-server send-proxy-v2 check check-ssl verify none check-send-proxy inter 500ms fall 2 rise 1\n"
    );
    for (name, p) in servers {
        cfg.push_str(&format!("    server {name} 127.0.0.1:{p}\n"));
    }
    cfg
}

impl Haproxy {
    /// Starts HAProxy with [`haproxy_config`].
    pub fn start(dir: &Path, servers: &[(&str, u16)], maxconn: u32) -> anyhow::Result<Self> {
        let cfg = dir.join("haproxy.cfg");
        for _ in 0..5 {
            let port = free_port()?;
            std::fs::write(&cfg, haproxy_config(port, servers, maxconn))?;
            let check = Command::new("haproxy")
                .args(["-c", "-q", "-f"])
                .arg(&cfg)
                .status()
                .context("cannot run haproxy (apt-get install haproxy)")?;
            anyhow::ensure!(check.success(), "haproxy -c refused {}", cfg.display());
            let child = Command::new("haproxy")
                .args(["-db", "-f"])
                .arg(&cfg)
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .context("cannot start haproxy")?;
            let mut proc = Proc::new("haproxy", child);
            // Servers count as up from the start; a failing check takes one out after `fall`.
            if wait_own_port(&mut proc, port)? {
                return Ok(Self { port, _proc: proc });
            }
        }
        anyhow::bail!("haproxy found no free port in 5 tries")
    }
}
