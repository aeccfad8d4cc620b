//! `cargo xtask bench fleet [--keys N] [--sessions N]`: what the shared store costs and what a
//! fleet holds (docs/fleet.md).
//!
//! 1. One-time keys: a release vncgate in front of wsbench's idle VNC source, first with the
//!    SQLite store, then with Redis; `wsbench redeem` issues N keys through the API and uses
//!    them with 16 clients at once. Redemptions per second and the latency of each (all of it,
//!    and from the WebSocket upgrade on: what admission adds).
//! 2. Idle sessions: two instances sharing Redis behind HAProxy (TCP, PROXY v2), and
//!    `wsbench idle` opening as many sessions as the machine's descriptor limit lets HAProxy
//!    hold (it needs two per session; the goal is 20,000), held for 20 s. The instances'
//!    memory per session, and Redis's memory per live session (its registry entries).
//!
//! Printed, and written to `target/bench-fleet/report.md`; `docs/benchmarks.md` keeps the
//! figures. Never part of `cargo xtask test`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::bench_gateway::procs::{free_port, run_scenario, run_scenario_with, Procs};

type Figures = std::collections::BTreeMap<String, String>;

/// The goal for idle sessions in all, and for the memory each takes on its instance.
const GOAL_SESSIONS: usize = 20_000;
const GOAL_KIB_PER_SESSION: f64 = 32.0;
/// Redemptions under way at once.
const REDEEM_CONCURRENCY: usize = 16;
/// How long the idle sessions are held before the memory is read.
const HOLD_SECS: u32 = 20;

struct Options {
    keys: usize,
    sessions: usize,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Self> {
        let mut o = Self {
            keys: 3000,
            sessions: GOAL_SESSIONS,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it.next().with_context(|| format!("{flag} needs a value"))?;
            let n = |max: usize| {
                value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=max).contains(n))
                    .with_context(|| format!("{flag} {value}: expected 1 to {max}"))
            };
            match flag.as_str() {
                "--keys" => o.keys = n(100_000)?,
                "--sessions" => o.sessions = n(GOAL_SESSIONS)?,
                _ => bail!(
                    "unknown flag {flag}; usage: cargo xtask bench fleet [--keys N] [--sessions N]"
                ),
            }
        }
        Ok(o)
    }
}

struct Fleet {
    vncgate: PathBuf,
    wsbench: PathBuf,
    work: PathBuf,
    /// wsbench's idle VNC source.
    idle_port: u16,
    redis_port: u16,
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let options = Options::parse(args)?;
    crate::setup::run()?;
    crate::bench_gateway::build_release()?;
    let out = crate::bench_gateway::target_dir().join("bench-fleet");
    let work = out.join("run");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let release = crate::bench_gateway::target_dir().join("release");
    let mut procs = Procs::default();
    let load_before = crate::bench_gateway::uptime();

    let mut cmd = Command::new(release.join("examples/wsbench"));
    cmd.args(["backend", "--stream-bytes", "1"]);
    let ports = procs.start_and_read_line(cmd)?;
    let idle_port = ports
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("idle="))
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("wsbench backend printed {ports:?}"))?;
    let redis_port = free_port()?;
    let mut cmd = Command::new("redis-server");
    cmd.args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--maxclients", "1000"]);
    let redis_log = work.join("redis.log");
    procs.start_logged(cmd, &redis_log)?;
    procs.wait_listening(redis_port, &redis_log)?;

    let fleet = Fleet {
        vncgate: release.join("vncgate"),
        wsbench: release.join("examples/wsbench"),
        work,
        idle_port,
        redis_port,
    };
    fleet.pki()?;
    let sqlite = fleet.redemptions(None, options.keys)?;
    let redis = fleet.redemptions(Some(&fleet.redis_url()), options.keys)?;
    let idle = fleet.idle_sessions(options.sessions)?;
    let load_after = crate::bench_gateway::uptime();
    drop(procs);

    let report = report(&options, &sqlite, &redis, &idle, &load_before, &load_after)?;
    std::fs::write(out.join("report.md"), &report)?;
    println!("\n{report}");
    eprintln!("(also in {})", out.join("report.md").display());
    Ok(())
}

impl Fleet {
    fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.redis_port)
    }

    fn path(&self, name: &str) -> String {
        self.work.join(name).display().to_string()
    }

    /// One certificate for every instance (a browser must see the same one wherever HAProxy
    /// sends it), and the admin token.
    fn pki(&self) -> anyhow::Result<()> {
        let certs = self.path("certs");
        for args in [
            &["init-ca", "--name", "vncgate fleet bench CA"][..],
            &["issue", "server", "gateway", "--san", "127.0.0.1"][..],
        ] {
            crate::run_cmd(
                Command::new(&self.vncgate)
                    .args(["certs", "--dir", &certs])
                    .args(args),
            )?;
        }
        std::fs::write(
            self.work.join("admin-token"),
            "fleet-bench-admin-token-0123456789\n",
        )?;
        Ok(())
    }

    /// Starts `vncgate serve` (through `wsbench exec`, for its descriptor limit) on a free
    /// port; the port and pid.
    fn start_instance(
        &self,
        procs: &mut Procs,
        name: &str,
        extra: &[&str],
    ) -> anyhow::Result<(u16, u32)> {
        let port = free_port()?;
        let mut cmd = Command::new(&self.wsbench);
        cmd.arg("exec")
            .arg(&self.vncgate)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--state-dir", &self.path(&format!("state-{name}"))])
            .args(["--cert", &self.path("certs/gateway.crt")])
            .args(["--key", &self.path("certs/gateway.key")])
            .args(["--target", &format!("desk=127.0.0.1:{}", self.idle_port)])
            .args(["--admin-token-file", &self.path("admin-token")])
            .args(["--instance", name])
            .args(["--limit", "max_connections=100000"])
            .args(["--limit", "max_connections_per_address=100000"])
            .args(extra)
            .env("RUST_LOG", "warn");
        let log = self.work.join(format!("vncgate-{name}.log"));
        procs.start_logged(cmd, &log)?;
        let pid = procs.last_pid();
        procs.wait_listening(port, &log)?;
        Ok((port, pid))
    }

    /// Keys issued and redeemed through one instance with `store` (None: SQLite).
    fn redemptions(&self, store: Option<&str>, keys: usize) -> anyhow::Result<Figures> {
        let mut procs = Procs::default();
        let name = if store.is_some() { "redis" } else { "sqlite" };
        let extra: Vec<&str> = store.map(|s| vec!["--store", s]).unwrap_or_default();
        let (port, _) = self.start_instance(&mut procs, name, &extra)?;
        let mut cmd = Command::new(&self.wsbench);
        cmd.arg("redeem")
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .args(["--cert", &self.path("certs/gateway.crt")])
            .args(["--admin-token-file", &self.path("admin-token")])
            .args(["--target", "desk", "--keys", &keys.to_string()])
            .args(["--concurrency", &REDEEM_CONCURRENCY.to_string()]);
        eprintln!("$ {}", crate::describe(&cmd));
        run_scenario(cmd, Duration::from_secs(300))
    }

    fn redis_used_memory(&self) -> anyhow::Result<u64> {
        let out = Command::new("redis-cli")
            .args(["-p", &self.redis_port.to_string(), "INFO", "memory"])
            .output()
            .context("cannot run redis-cli")?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .context("redis-cli INFO memory: no used_memory")
    }

    fn redis_sessions(&self) -> usize {
        Command::new("redis-cli")
            .args([
                "-p",
                &self.redis_port.to_string(),
                "--scan",
                "--pattern",
                "vncgate:session:*",
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
            .unwrap_or(0)
    }

    /// Two instances behind HAProxy, and as many idle sessions as fit.
    fn idle_sessions(&self, wanted: usize) -> anyhow::Result<Figures> {
        let out = Command::new(&self.wsbench).arg("nofile").output()?;
        let nofile: usize = String::from_utf8_lossy(&out.stdout)
            .trim()
            .strip_prefix("nofile ")
            .and_then(|n| n.parse().ok())
            .context("wsbench nofile: no limit printed")?;
        // HAProxy: two descriptors per session and some of its own.
        let maxconn = nofile.saturating_sub(500) / 2;
        let sessions = wanted.min(maxconn.saturating_sub(100));
        if sessions < wanted {
            eprintln!(
                "note: RLIMIT_NOFILE is {nofile} and cannot be raised here: HAProxy holds \
                 {maxconn} connections, so {sessions} idle sessions instead of {wanted}"
            );
        }
        let mut procs = Procs::default();
        let store = self.redis_url();
        let common = [
            "--store",
            store.as_str(),
            "--proxy-protocol-from",
            "127.0.0.1",
            "--danger-no-auth",
        ];
        let (port_a, pid_a) = self.start_instance(&mut procs, "a", &common)?;
        let (port_b, pid_b) = self.start_instance(&mut procs, "b", &common)?;
        let lb = free_port()?;
        let cfg = self.work.join("haproxy.cfg");
        std::fs::write(
            &cfg,
            haproxy_config(lb, maxconn, &[("a", port_a), ("b", port_b)]),
        )?;
        let mut cmd = Command::new(&self.wsbench);
        cmd.args(["exec", "haproxy", "-db", "-f"]).arg(&cfg);
        let log = self.work.join("haproxy.log");
        procs.start_logged(cmd, &log)?;
        procs.wait_listening(lb, &log)?;
        std::thread::sleep(Duration::from_secs(2));

        let redis_before = self.redis_used_memory()?;
        let mut redis_peak = redis_before;
        let mut registered_peak = 0;
        let mut cmd = Command::new(&self.wsbench);
        cmd.arg("idle")
            .args(["--url", &format!("wss://127.0.0.1:{lb}/ws/desk")])
            .args(["--cert", &self.path("certs/gateway.crt")])
            .args(["--sessions", &sessions.to_string()])
            .args(["--pid", &pid_a.to_string(), "--pid", &pid_b.to_string()])
            .args(["--hold-secs", &HOLD_SECS.to_string(), "--concurrency", "64"]);
        eprintln!("$ {}", crate::describe(&cmd));
        let mut last_sample = std::time::Instant::now();
        let mut figures = run_scenario_with(cmd, Duration::from_secs(600), || {
            if last_sample.elapsed() >= Duration::from_secs(2) {
                last_sample = std::time::Instant::now();
                if let Ok(m) = self.redis_used_memory() {
                    redis_peak = redis_peak.max(m);
                }
                registered_peak = registered_peak.max(self.redis_sessions());
            }
            Ok(())
        })
        .with_context(|| format!("logs in {}", self.work.display()))?;
        figures.insert("wanted".into(), wanted.to_string());
        figures.insert("nofile".into(), nofile.to_string());
        figures.insert("redis_before_b".into(), redis_before.to_string());
        figures.insert("redis_peak_b".into(), redis_peak.to_string());
        figures.insert("registered_peak".into(), registered_peak.to_string());
        Ok(figures)
    }
}

/// docs/fleet.md's HAProxy configuration, on loopback.
fn haproxy_config(port: u16, maxconn: usize, servers: &[(&str, u16)]) -> String {
    let mut cfg = format!(
        "global\n    maxconn {maxconn}\n\n\
         defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 1h\n    timeout server 1h\n\
         \x20   retries 3\n    option redispatch\n\n\
         frontend vnc\n    bind 127.0.0.1:{port}\n    default_backend vncgate\n\n\
         backend vncgate\n    balance roundrobin\n\
         \x20   option httpchk\n    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host vncgate\n\
         \x20   http-check expect status 200\n\
         \x20   default-server send-proxy-v2 check check-ssl verify none check-send-proxy inter 2s fall 2 rise 2\n"
    );
    for (name, p) in servers {
        let _ = writeln!(cfg, "    server {name} 127.0.0.1:{p}");
    }
    cfg
}

fn report(
    options: &Options,
    sqlite: &Figures,
    redis: &Figures,
    idle: &Figures,
    load_before: &str,
    load_after: &str,
) -> anyhow::Result<String> {
    let get = |f: &Figures, k: &str| f.get(k).cloned().unwrap_or_else(|| "?".into());
    let num = |f: &Figures, k: &str| f.get(k).and_then(|v| v.parse::<f64>().ok());
    let mut r = String::new();
    writeln!(
        r,
        "- command: `cargo xtask bench fleet --sessions {}` ({} keys per store)",
        options.sessions, options.keys
    )?;
    writeln!(r, "- machine: {}", crate::bench_gateway::machine())?;
    writeln!(r, "- load before: {load_before}")?;
    writeln!(r, "- load after: {load_after}")?;
    writeln!(r)?;
    writeln!(r, "One-time keys through one instance ({REDEEM_CONCURRENCY} clients at once; a redemption is TCP, TLS, the upgrade, admission, the dial and the RFB greeting):")?;
    writeln!(r)?;
    writeln!(r, "| store | keys issued/s | redeemed (failed) | redemptions/s | p50 / p99 whole | p50 / p99 from the upgrade |")?;
    writeln!(r, "|---|---|---|---|---|---|")?;
    for (name, f) in [("SQLite", sqlite), ("Redis", redis)] {
        writeln!(
            r,
            "| {name} | {} | {} ({}) | {} | {} / {} ms | {} / {} ms |",
            get(f, "issued_per_sec"),
            get(f, "redeemed"),
            get(f, "failed"),
            get(f, "per_sec"),
            get(f, "p50_ms"),
            get(f, "p99_ms"),
            get(f, "admission_p50_ms"),
            get(f, "admission_p99_ms"),
        )?;
    }
    writeln!(r)?;
    let opened = num(idle, "opened").unwrap_or(0.0);
    let per_session = num(idle, "rss_per_session_kib");
    let redis_per = match (num(idle, "redis_peak_b"), num(idle, "redis_before_b")) {
        (Some(p), Some(b)) if opened > 0.0 => format!("{:.0} B", (p - b) / opened),
        _ => "?".into(),
    };
    writeln!(r, "Idle sessions, two instances sharing Redis behind HAProxy (`--danger-no-auth`: admission is not what is measured), held {HOLD_SECS} s:")?;
    writeln!(r)?;
    writeln!(r, "| figure | value |")?;
    writeln!(r, "|---|---|")?;
    writeln!(
        r,
        "| sessions asked for / opened / failed / still open after the hold | {} / {} / {} / {} (goal {GOAL_SESSIONS}; descriptor limit here {}) |",
        get(idle, "sessions"),
        get(idle, "opened"),
        get(idle, "failed"),
        get(idle, "still_open"),
        get(idle, "nofile")
    )?;
    writeln!(r, "| time to open them | {} s |", get(idle, "setup_s"))?;
    writeln!(
        r,
        "| both instances' RSS before / with the sessions | {} / {} KiB |",
        get(idle, "rss_before_kib"),
        get(idle, "rss_after_kib")
    )?;
    writeln!(
        r,
        "| memory per session on its instance (RSS) | {} KiB (goal ≤ {GOAL_KIB_PER_SESSION} KiB) — {} |",
        get(idle, "rss_per_session_kib"),
        if per_session.is_some_and(|k| k <= GOAL_KIB_PER_SESSION) { "yes" } else { "**no**" }
    )?;
    writeln!(
        r,
        "| sessions in the Redis registry at the peak | {} |",
        get(idle, "registered_peak")
    )?;
    writeln!(
        r,
        "| Redis used_memory before / at the peak | {} / {} B |",
        get(idle, "redis_before_b"),
        get(idle, "redis_peak_b")
    )?;
    writeln!(r, "| Redis memory per live session | {redis_per} |")?;
    Ok(r)
}
