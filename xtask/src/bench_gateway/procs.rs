//! The processes of a run: started, watched, and ended with whatever they forked.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::{Figures, LOCALHOST};
use crate::describe;

/// Runs `cmd` with a time limit; its `result key=value …` line.
pub fn run_scenario(cmd: Command, limit: Duration) -> anyhow::Result<Figures> {
    run_scenario_with(cmd, limit, || Ok(()))
}

/// [`run_scenario`], calling `meanwhile` every 50 ms while `cmd` runs (an error from it ends
/// the scenario).
pub fn run_scenario_with(
    mut cmd: Command,
    limit: Duration,
    mut meanwhile: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Figures> {
    let what = describe(&cmd);
    let mut child = cmd
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {what}"))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{what}: not done within {} s", limit.as_secs());
        }
        if let Err(e) = meanwhile() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_string(&mut out)?;
    }
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("result "))
        .with_context(|| format!("{what}: no result line"))?;
    Ok(line
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

/// Child processes, killed (with their descendants) when ended. Each long-running child
/// holds a stdin pipe: the wsbench servers end by themselves when it closes.
#[derive(Default)]
pub struct Procs {
    children: Vec<(Child, Option<ChildStdin>)>,
}

impl Procs {
    pub fn last_pid(&self) -> u32 {
        self.children.last().map_or(0, |(c, _)| c.id())
    }

    /// Starts `cmd` and returns its first stdout line (its ports).
    pub fn start_and_read_line(&mut self, mut cmd: Command) -> anyhow::Result<String> {
        let what = describe(&cmd);
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {what}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        self.children.push((child, stdin));
        let mut line = String::new();
        BufReader::new(stdout.context("stdout")?).read_line(&mut line)?;
        if line.trim().is_empty() {
            bail!("{what} printed no ports");
        }
        Ok(line.trim().to_owned())
    }

    pub fn start_logged(&mut self, mut cmd: Command, log: &Path) -> anyhow::Result<()> {
        let what = describe(&cmd);
        eprintln!("$ {what}  (log: {})", log.display());
        let file = std::fs::File::create(log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("cannot start {what}"))?;
        self.children.push((child, None));
        Ok(())
    }

    /// Waits until the last started child accepts TCP connections on `port`.
    pub fn wait_listening(&mut self, port: u16, log: &Path) -> anyhow::Result<()> {
        let started = Instant::now();
        let addr = SocketAddr::from((LOCALHOST, port));
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if let Some((child, _)) = self.children.last_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!("exited ({status}) before listening; see {}", log.display());
                }
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("not listening on {addr} after 30 s; see {}", log.display());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Ends every child started here, newest first, and what each of them forked.
    pub fn end_all(&mut self) {
        while let Some((mut child, stdin)) = self.children.pop() {
            drop(stdin);
            for pid in descendants(child.id()) {
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        self.end_all();
    }
}

/// Every process below `pid` (websockify's per-connection forks), from /proc.
fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((p, ppid))
        })
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while let Some(&parent) = found.get(i) {
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.split_off(1)
}

pub use test_ports::free_port;
