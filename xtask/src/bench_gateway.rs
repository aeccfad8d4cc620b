//! `cargo xtask bench gateway`: vncgate beside websockify and a plain TCP copy, on this
//! machine, on loopback, in one run; one table, written to `target/bench-gateway/table.md`
//! (`docs/benchmarks.md` keeps the figures). Never part of `cargo xtask test`: timing is not
//! a pass/fail test.
//!
//! The processes, all started here and ended when this returns (or fails):
//!
//! ```text
//! wsbench SCENARIO ─┬─ tcp ─────────────────────────────────────► wsbench backend
//!                   ├─ tcp ─► wsbench relay (plain TCP copy) ────►   stream: 64 MiB, then close
//!                   ├─ wss ─► vncgate (release, --danger-no-auth) ─►   echo
//!                   └─ wss ─► websockify (Debian, same certificate) ►   idle: RFB greeting, quiet
//! ```
//!
//! The load generator and backend are `gateway/examples/wsbench`. Each scenario is one
//! `wsbench` run, bounded in count and time, that prints one `result key=value …` line.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::{cargo, describe, root, run_cmd};

/// Bytes each `stream` connection carries.
const STREAM_BYTES: u64 = 64 << 20;
/// Idle wss sessions held open through vncgate.
const IDLE_VNCGATE: usize = 10_000;
/// websockify forks a Python process per connection: fewer sessions.
const IDLE_WEBSOCKIFY: usize = 200;
/// Round trips measured per latency row.
const ROUND_TRIPS: usize = 20_000;

/// Targets (see the issue: "Performance, in benchmarks").
const GOAL_VS_WEBSOCKIFY: f64 = 4.0;
const GOAL_VS_TCP: f64 = 1.5;
const GOAL_ADDED_P99_US: f64 = 150.0;
const GOAL_IDLE_KIB: f64 = 32.0;

const LOCALHOST: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// The ways a scenario reaches the backend, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Via {
    Direct,
    Relay,
    Vncgate,
    Websockify,
}

impl Via {
    const ALL: [Via; 4] = [Via::Direct, Via::Relay, Via::Vncgate, Via::Websockify];
}

type Figures = BTreeMap<String, String>;

pub fn run() -> anyhow::Result<()> {
    let out = target_dir().join("bench-gateway");
    let work = out.join("run");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    run_cmd(cargo().args([
        "build",
        "--release",
        "-p",
        "gateway",
        "--bins",
        "--examples",
    ]))?;
    let load_before = uptime();
    let bench = Bench::start(&work)?;
    let results = bench.scenarios();
    let load_after = uptime();
    bench.end();

    let mut report = String::new();
    writeln!(report, "- machine: {}", machine())?;
    writeln!(report, "- load before: {load_before}")?;
    writeln!(report, "- load after: {load_after}")?;
    writeln!(report, "- command: `cargo xtask bench gateway`")?;
    writeln!(report)?;
    report.push_str(&table(&results));
    std::fs::write(out.join("table.md"), &report)?;
    let raw: String = results
        .rows
        .iter()
        .map(|(k, v)| format!("{k:?}: {v:?}\n"))
        .collect();
    std::fs::write(out.join("results.txt"), raw)?;
    println!("\n{report}");
    eprintln!("(also in {})", out.join("table.md").display());
    Ok(())
}

/// The running processes (ended when dropped, by [`Procs`]).
struct Bench {
    wsbench: PathBuf,
    cert: PathBuf,
    backend: Ports,
    relay: Ports,
    vncgate: (u16, u32),
    websockify: Option<(u16, u32)>,
    procs: Procs,
}

#[derive(Debug, Default)]
struct Ports {
    by_name: BTreeMap<String, u16>,
    pid: u32,
}

impl Ports {
    fn port(&self, name: &str) -> anyhow::Result<u16> {
        self.by_name
            .get(name)
            .copied()
            .with_context(|| format!("no port {name:?}"))
    }
}

impl Bench {
    fn start(work: &Path) -> anyhow::Result<Self> {
        let release = target_dir().join("release");
        let wsbench = release.join("examples/wsbench");
        let mut procs = Procs::default();

        let mut cmd = Command::new(&wsbench);
        cmd.args(["backend", "--stream-bytes", &STREAM_BYTES.to_string()]);
        let line = procs.start_and_read_line(cmd)?;
        let backend = Ports {
            by_name: line
                .split_whitespace()
                .skip(1)
                .filter_map(|kv| kv.split_once('='))
                .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
                .collect(),
            pid: procs.last_pid(),
        };
        let addr = |name: &str| -> anyhow::Result<String> {
            Ok(format!("{LOCALHOST}:{}", backend.port(name)?))
        };

        let mut cmd = Command::new(&wsbench);
        cmd.args(["relay", "--to", &addr("stream")?, "--to", &addr("echo")?]);
        let line = procs.start_and_read_line(cmd)?;
        let relay_ports: Vec<u16> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|p| p.parse().ok())
            .collect();
        let [stream, echo] = relay_ports[..] else {
            bail!("relay: unexpected {line:?}");
        };
        let relay = Ports {
            by_name: [("stream".to_owned(), stream), ("echo".to_owned(), echo)].into(),
            pid: procs.last_pid(),
        };

        // vncgate, through `wsbench exec` for RLIMIT_NOFILE (10,000 sessions: 20,000 sockets).
        let state = work.join("state");
        let port = free_port()?;
        let mut cmd = Command::new(&wsbench);
        cmd.arg("exec")
            .arg(release.join("vncgate"))
            .args(["serve", "--listen", &format!("{LOCALHOST}:{port}")])
            .args(["--danger-no-auth", "--state-dir"])
            .arg(&state);
        for name in ["stream", "echo", "idle"] {
            cmd.args(["--target", &format!("{name}={}", addr(name)?)]);
        }
        for limit in ["max_connections", "max_connections_per_address"] {
            cmd.args(["--limit", &format!("{limit}={}", 3 * IDLE_VNCGATE)]);
        }
        cmd.env("RUST_LOG", "warn");
        procs.start_logged(cmd, &work.join("vncgate.log"))?;
        let vncgate = (port, procs.last_pid());
        procs.wait_listening(port, &work.join("vncgate.log"))?;
        let cert = state.join("tls/self-signed.crt");
        let key = state.join("tls/self-signed.key");
        if !cert.exists() {
            bail!("vncgate made no certificate at {}", cert.display());
        }

        // websockify with the same certificate, one token per backend port.
        let websockify = match which("websockify") {
            None => {
                eprintln!("note: no websockify (apt-get install websockify): no comparison");
                None
            }
            Some(program) => {
                let tokens = work.join("websockify-tokens.cfg");
                let text: String = ["stream", "echo", "idle"]
                    .iter()
                    .map(|n| Ok(format!("{n}: {}\n", addr(n)?)))
                    .collect::<anyhow::Result<_>>()?;
                std::fs::write(&tokens, text)?;
                let port = free_port()?;
                let mut cmd = Command::new(&wsbench);
                cmd.arg("exec")
                    .arg(program)
                    .arg("--cert")
                    .arg(&cert)
                    .arg("--key")
                    .arg(&key)
                    .args(["--token-plugin", "TokenFile", "--token-source"])
                    .arg(&tokens)
                    .arg(format!("{LOCALHOST}:{port}"));
                procs.start_logged(cmd, &work.join("websockify.log"))?;
                let pid = procs.last_pid();
                procs.wait_listening(port, &work.join("websockify.log"))?;
                Some((port, pid))
            }
        };
        Ok(Self {
            wsbench,
            cert,
            backend,
            relay,
            vncgate,
            websockify,
            procs,
        })
    }

    /// Ends the processes (also done if this is dropped on an error).
    fn end(mut self) {
        self.procs.end_all();
    }

    /// The URL a scenario uses to reach backend `name` through `via`, and the gateway's pid
    /// (with `true`: count its children too).
    fn url(&self, via: Via, name: &str) -> Option<(String, Option<(u32, bool)>)> {
        let tcp = |port: u16| format!("tcp://{LOCALHOST}:{port}");
        match via {
            Via::Direct => Some((tcp(self.backend.port(name).ok()?), None)),
            Via::Relay => Some((
                tcp(self.relay.port(name).ok()?),
                Some((self.relay.pid, false)),
            )),
            Via::Vncgate => Some((
                format!("wss://{LOCALHOST}:{}/ws/{name}", self.vncgate.0),
                Some((self.vncgate.1, false)),
            )),
            Via::Websockify => self.websockify.map(|(port, pid)| {
                (
                    format!("wss://{LOCALHOST}:{port}/websockify?token={name}"),
                    Some((pid, true)),
                )
            }),
        }
    }

    /// Runs one `wsbench` scenario against `via`; `None` (and a note) when it fails.
    fn scenario(
        &self,
        via: Via,
        backend: &str,
        args: &[String],
        limit: Duration,
    ) -> Option<Figures> {
        let (url, gateway) = self.url(via, backend)?;
        let mut cmd = Command::new(&self.wsbench);
        cmd.args(args)
            .args(["--url", &url])
            .arg("--cert")
            .arg(&self.cert);
        let wants_pid = matches!(args.first().map(String::as_str), Some("throughput" | "idle"));
        if let (true, Some((pid, tree))) = (wants_pid, gateway) {
            cmd.args(["--pid", &pid.to_string()]);
            if tree {
                cmd.arg("--tree");
            }
        }
        match run_scenario(cmd, limit) {
            Ok(figures) => {
                eprintln!("  {via:?}: {figures:?}");
                Some(figures)
            }
            Err(e) => {
                eprintln!("  {via:?}: failed: {e:#}");
                None
            }
        }
    }

    fn scenarios(&self) -> Results {
        let mut r = Results::default();
        let stats = format!("{LOCALHOST}:{}", self.backend.port("stats").unwrap_or(0));
        let s = |v: &[&str]| -> Vec<String> { v.iter().map(|s| (*s).to_owned()).collect() };

        // Memory first, on freshly started gateways.
        eprintln!("idle sessions (memory)");
        let idle = |n: usize, concurrency: usize| {
            s(&[
                "idle",
                "--sessions",
                &n.to_string(),
                "--concurrency",
                &concurrency.to_string(),
                "--hold-secs",
                "5",
            ])
        };
        let limit = Duration::from_secs(240);
        r.put("idle", Via::Vncgate, self.scenario(Via::Vncgate, "idle", &idle(IDLE_VNCGATE, 64), limit));
        r.put(
            "idle",
            Via::Websockify,
            self.scenario(Via::Websockify, "idle", &idle(IDLE_WEBSOCKIFY, 16), limit),
        );
        // Let the closed sessions drain out of the gateways before the timed runs.
        std::thread::sleep(Duration::from_secs(3));

        for (key, sessions) in [("throughput1", 1), ("throughput8", 8)] {
            eprintln!("throughput, {sessions} session(s)");
            let args = s(&[
                "throughput",
                "--sessions",
                &sessions.to_string(),
                "--stats",
                &stats,
                "--min-secs",
                "2",
                "--max-rounds",
                "30",
            ]);
            for via in Via::ALL {
                let f = self.scenario(via, "stream", &args, Duration::from_secs(150));
                r.put(key, via, f);
            }
        }

        eprintln!("round trips of 16-byte messages");
        let args = s(&[
            "latency",
            "--count",
            &ROUND_TRIPS.to_string(),
            "--warmup",
            "1000",
            "--max-secs",
            "10",
        ]);
        for via in Via::ALL {
            let f = self.scenario(via, "echo", &args, Duration::from_secs(60));
            r.put("latency", via, f);
        }
        r
    }
}

/// Figures by scenario and way through.
#[derive(Debug, Default)]
struct Results {
    rows: BTreeMap<(&'static str, Via), Figures>,
}

impl Results {
    fn put(&mut self, scenario: &'static str, via: Via, figures: Option<Figures>) {
        if let Some(f) = figures {
            self.rows.insert((scenario, via), f);
        }
    }

    fn num(&self, scenario: &'static str, via: Via, key: &str) -> Option<f64> {
        self.rows.get(&(scenario, via))?.get(key)?.parse().ok()
    }

    fn text(&self, scenario: &'static str, via: Via, key: &str) -> Option<&str> {
        self.rows
            .get(&(scenario, via))?
            .get(key)
            .map(String::as_str)
    }
}

fn table(r: &Results) -> String {
    let n0 = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.0}"));
    let n1 = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.1}"));
    let mut s = String::new();
    let row = |s: &mut String, name: &str, cells: [String; 4]| {
        let _ = writeln!(s, "| {name} | {} |", cells.join(" | "));
    };
    row(
       &mut s,
        "figure",
        ["plain TCP, direct", "plain TCP relay", "vncgate (wss)", "websockify (wss)"].map(String::from),
    );
    s.push_str("|---|---:|---:|---:|---:|\n");
    let each = |f: &dyn Fn(Via) -> String| Via::ALL.map(f);
    for (key, what) in [("throughput1", "1 session"), ("throughput8", "8 sessions")] {
        row(
            &mut s,
            &format!("throughput, {what} (MB/s, median of rounds)"),
            each(&|v| n0(r.num(key, v, "mb_per_s"))),
        );
    }
    row(
        &mut s,
        "8 sessions: bytes delivered / sent",
        each(&|v| {
            match (r.text("throughput8", v, "delivered"), r.text("throughput8", v, "sent")) {
                (Some(d), Some(s)) => format!("{d} / {s}"),
                _ => "–".to_owned(),
            }
        }),
    );
    row(
        &mut s,
        "relay CPU per GB, 1 session (s)",
        each(&|v| n1(r.num("throughput1", v, "gateway_cpu_s_per_gb"))),
    );
    for (key, what) in [("p50_us", "p50"), ("p99_us", "p99")] {
        row(
            &mut s,
            &format!("round trip {what}, 16 B (µs)"),
            each(&|v| n0(r.num("latency", v, key))),
        );
        row(
            &mut s,
            &format!("added {what} vs direct TCP (µs)"),
            each(&|v| {
                let added = r
                    .num("latency", v, key)
                    .zip(r.num("latency", Via::Direct, key))
                    .map(|(a, d)| a - d);
                if v == Via::Direct {
                    "–".to_owned()
                } else {
                    n0(added)
                }
            }),
        );
    }
    row(
        &mut s,
        "idle sessions: opened / still open after the hold",
        each(&|v| {
            match (r.text("idle", v, "opened"), r.text("idle", v, "still_open"), r.text("idle", v, "sessions")) {
                (Some(o), Some(open), Some(n)) => format!("{o} of {n} / {open}"),
                _ => "–".to_owned(),
            }
        }),
    );
    row(
        &mut s,
        "memory per idle session, RSS (KiB)",
        each(&|v| n1(r.num("idle", v, "rss_per_session_kib"))),
    );
    row(
        &mut s,
        "memory per idle session, PSS (KiB)",
        each(&|v| n1(r.num("idle", v, "pss_per_session_kib"))),
    );
    s.push('\n');
    if r.rows.contains_key(&("idle", Via::Websockify)) {
        let _ = writeln!(
            s,
            "websockify memory: {IDLE_WEBSOCKIFY} sessions (it forks a process per connection), \
             summed over its {} processes; RSS counts pages shared between them once per \
             process, PSS divides them among their sharers.\n",
            r.text("idle", Via::Websockify, "processes_after").unwrap_or("?")
        );
    }

    // Targets.
    let goal = |ok: Option<bool>| match ok {
        Some(true) => "met",
        Some(false) => "**not met**",
        None => "not measured",
    };
    let t1 = |v| r.num("throughput1", v, "mb_per_s");
    let vs_ws = t1(Via::Vncgate).zip(t1(Via::Websockify)).map(|(g, w)| g / w);
    let vs_relay = t1(Via::Relay).zip(t1(Via::Vncgate)).map(|(t, g)| t / g);
    let vs_direct = t1(Via::Direct).zip(t1(Via::Vncgate)).map(|(t, g)| t / g);
    let x = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.2}×"));
    let _ = writeln!(
        s,
        "- 1 session, vncgate ≥ {GOAL_VS_WEBSOCKIFY}× websockify: {} — {}",
        x(vs_ws),
        goal(vs_ws.map(|v| v >= GOAL_VS_WEBSOCKIFY))
    );
    let _ = writeln!(
        s,
        "- 1 session, plain TCP copy ≤ {GOAL_VS_TCP}× vncgate: relay {} — {}; direct {} — {}",
        x(vs_relay),
        goal(vs_relay.map(|v| v <= GOAL_VS_TCP)),
        x(vs_direct),
        goal(vs_direct.map(|v| v <= GOAL_VS_TCP)),
    );
    for via in [Via::Vncgate, Via::Websockify] {
        let d = r.num("throughput8", via, "delivered");
        let sent = r.num("throughput8", via, "sent");
        let _ = writeln!(
            s,
            "- 8 sessions, {via:?}: delivered = sent: {}",
            goal(d.zip(sent).map(|(d, s)| d == s && d > 0.0))
        );
    }
    let added = r
        .num("latency", Via::Vncgate, "p99_us")
        .zip(r.num("latency", Via::Direct, "p99_us"))
        .map(|(a, d)| a - d);
    let _ = writeln!(
        s,
        "- added p99 ≤ {GOAL_ADDED_P99_US} µs (vncgate): {} µs — {}",
        n0(added),
        goal(added.map(|a| a <= GOAL_ADDED_P99_US))
    );
    let kib = r.num("idle", Via::Vncgate, "rss_per_session_kib");
    let all_open = r
        .num("idle", Via::Vncgate, "still_open")
        .zip(r.num("idle", Via::Vncgate, "sessions"))
        .map(|(o, n)| o == n);
    let _ = writeln!(
        s,
        "- {IDLE_VNCGATE} idle sessions ≤ {GOAL_IDLE_KIB} KiB each (vncgate RSS): {} KiB — {}; all stayed open: {}",
        n1(kib),
        goal(kib.map(|k| k <= GOAL_IDLE_KIB)),
        goal(all_open)
    );
    s
}

/// Runs `cmd` with a time limit; its `result key=value …` line.
fn run_scenario(mut cmd: Command, limit: Duration) -> anyhow::Result<Figures> {
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
struct Procs {
    children: Vec<(Child, Option<ChildStdin>)>,
}

impl Procs {
    fn last_pid(&self) -> u32 {
        self.children.last().map_or(0, |(c, _)| c.id())
    }

    /// Starts `cmd` and returns its first stdout line (its ports).
    fn start_and_read_line(&mut self, mut cmd: Command) -> anyhow::Result<String> {
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

    fn start_logged(&mut self, mut cmd: Command, log: &Path) -> anyhow::Result<()> {
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
    fn wait_listening(&mut self, port: u16, log: &Path) -> anyhow::Result<()> {
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
    fn end_all(&mut self) {
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
            let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
            Some((p, ppid))
        })
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while let Some(&parent) = found.get(i) {
        found.extend(parents.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
        i += 1;
    }
    found.split_off(1)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind((LOCALHOST, 0))?.local_addr()?.port())
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

fn uptime() -> String {
    Command::new("uptime")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|_| "?".to_owned())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|(_, m)| m.trim().to_owned())
            })
        })
        .unwrap_or_else(|| "?".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_owned())
        .unwrap_or_default();
    let websockify = Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", "websockify"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "?".to_owned());
    format!("{cpu}, nproc {cores}, Linux {kernel}; websockify {websockify} (Debian)")
}
