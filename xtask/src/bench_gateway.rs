//! `cargo xtask bench gateway`: vncgate beside websockify and a plain TCP copy, on this
//! machine, on loopback, in one run; one table, written to `target/bench-gateway/table.md`
//! (`docs/benchmarks.md` keeps the figures). Never part of `cargo xtask test`: timing is not
//! a pass/fail test.
//!
//! The processes, all started here and ended when this returns (or fails):
//!
//! ```text
//! wsbench SCENARIO ─┬─ tcp ─────────────────────────────────────► wsbench backend
//!                   ├─ tcp ─► wsbench relay (plain TCP copy) ────►   stream: 128 MiB, then close
//!                   ├─ wss ─► vncgate (release, --danger-no-auth) ─►   echo
//!                   └─ wss ─► websockify (Debian, same certificate) ►   idle: RFB greeting, quiet
//!                                                                       rfb: RFB handshake, then
//!                                                                         128 MiB of Raw updates
//! ```
//!
//! The `rfb` source is reached through vncgate twice, as target `rfb` (relayed as it is) and
//! as `rfb-rec` (recorded: the gateway logs in itself and writes the stream to disk), for
//! what session recording costs the relay.
//!
//! The load generator and backend are `gateway/examples/wsbench`. Each scenario is one
//! `wsbench` run, bounded in count and time, that prints one `result key=value …` line.

pub(crate) mod procs;
mod results;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::{cargo, root, run_cmd};
use procs::{free_port, run_scenario, Procs};
use results::{merge, table, Results};

/// Bytes each `stream` connection carries.
const STREAM_BYTES: u64 = 128 << 20;
/// Idle wss sessions held open through vncgate (fewer if the descriptor limit is lower:
/// each holds two in vncgate).
const IDLE_VNCGATE: usize = 10_000;
/// websockify forks a Python process per connection: fewer sessions.
const IDLE_WEBSOCKIFY: usize = 200;
/// Round trips measured per latency run.
const ROUND_TRIPS: usize = 10_000;
/// Throughput and latency run this many times, interleaved (direct, relay, vncgate,
/// websockify, then again), so that a change in the machine's load falls on all alike.
const TRIALS: usize = 3;
/// Figures summed over trials; all others are the median of the trials.
const SUMMED: [&str; 5] = ["delivered", "sent", "errors", "rounds", "samples"];

/// Idle sessions held after a burst of the `burst` source (each reads 256 KiB first).
const IDLE_BURST_VNCGATE: usize = 2_000;

/// Targets (issue #16, which raised wave 1's: 32 KiB idle, and a 4× websockify and 1.5× plain
/// TCP that the profile showed were set by the kernel's loopback, not the relay).
const GOAL_VS_WEBSOCKIFY: f64 = 2.0;
/// vncgate's share of the plain TCP relay's throughput, 1 session.
const GOAL_OF_RELAY: f64 = 0.6;
const GOAL_CPU_S_PER_GB: f64 = 0.6;
const GOAL_ADDED_P99_US: f64 = 150.0;
const GOAL_IDLE_KIB: f64 = 16.0;

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
    build_release()?;
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

/// The release `vncgate` and `wsbench` (the gateway's examples).
pub(crate) fn build_release() -> anyhow::Result<()> {
    run_cmd(cargo().args([
        "build",
        "--release",
        "-p",
        "gateway",
        "--bins",
        "--examples",
    ]))
}

/// The running processes (ended when dropped, by [`Procs`]).
struct Bench {
    wsbench: PathBuf,
    cert: PathBuf,
    backend: Ports,
    relay: Ports,
    vncgate: (u16, u32),
    /// A second vncgate with the same certificate, untouched until the sessions after a
    /// burst (on the first, the heap freed by the 10,000 idle sessions would be reused).
    vncgate_fresh: (u16, u32),
    websockify: Option<(u16, u32)>,
    /// Where vncgate writes the recordings of target `rfb-rec`.
    recordings: PathBuf,
    /// Idle sessions to open through vncgate, and the descriptor limit that set it.
    idle_sessions: usize,
    nofile: u64,
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

        // What `wsbench exec` can raise RLIMIT_NOFILE to (the hard limit, unless privileged).
        let out = Command::new(&wsbench).arg("nofile").output()?;
        let nofile: u64 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .strip_prefix("nofile ")
            .and_then(|n| n.parse().ok())
            .context("wsbench nofile: no limit printed")?;
        let fit = usize::try_from(nofile.saturating_sub(200) / 2).unwrap_or(usize::MAX);
        let idle_sessions = IDLE_VNCGATE.min(fit);
        if idle_sessions < IDLE_VNCGATE {
            eprintln!(
                "note: RLIMIT_NOFILE is {nofile} and cannot be raised here: \
                 {idle_sessions} idle sessions instead of {IDLE_VNCGATE}"
            );
        }

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
        // Recording for `rfb-rec` only.
        let config = work.join("vncgate.toml");
        std::fs::write(
            &config,
            format!(
                "[recording]\ndir = \"{}\"\ntargets = [\"rfb-rec\"]\n",
                work.join("recordings").display()
            ),
        )?;
        let port = free_port()?;
        let mut cmd = Command::new(&wsbench);
        cmd.arg("exec")
            .arg(release.join("vncgate"))
            .args(["serve", "--config"])
            .arg(&config)
            .args(["--listen", &format!("{LOCALHOST}:{port}")])
            .args(["--danger-no-auth", "--state-dir"])
            .arg(&state);
        for name in ["stream", "echo", "idle", "rfb"] {
            cmd.args(["--target", &format!("{name}={}", addr(name)?)]);
        }
        cmd.args(["--target", &format!("rfb-rec={}", addr("rfb")?)]);
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
        let fresh_port = free_port()?;
        let mut cmd = Command::new(&wsbench);
        cmd.arg("exec")
            .arg(release.join("vncgate"))
            .args(["serve", "--listen", &format!("{LOCALHOST}:{fresh_port}")])
            .args(["--danger-no-auth", "--state-dir"])
            .arg(work.join("state-fresh"))
            .arg("--cert")
            .arg(&cert)
            .arg("--key")
            .arg(&key)
            .args(["--target", &format!("burst={}", addr("burst")?)]);
        for limit in ["max_connections", "max_connections_per_address"] {
            cmd.args(["--limit", &format!("{limit}={}", 3 * IDLE_BURST_VNCGATE)]);
        }
        cmd.env("RUST_LOG", "warn");
        procs.start_logged(cmd, &work.join("vncgate-fresh.log"))?;
        let vncgate_fresh = (fresh_port, procs.last_pid());
        procs.wait_listening(fresh_port, &work.join("vncgate-fresh.log"))?;

        // websockify with the same certificate, one token per backend port.
        let websockify = match which("websockify") {
            None => {
                eprintln!("note: no websockify (apt-get install websockify): no comparison");
                None
            }
            Some(program) => {
                let tokens = work.join("websockify-tokens.cfg");
                let text: String = ["stream", "echo", "idle", "burst"]
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
            vncgate_fresh,
            websockify,
            recordings: work.join("recordings"),
            idle_sessions,
            nofile,
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
            Via::Vncgate => {
                // The sessions after a burst go to the fresh instance.
                let (port, pid) = if name == "burst" {
                    self.vncgate_fresh
                } else {
                    self.vncgate
                };
                Some((
                    format!("wss://{LOCALHOST}:{port}/ws/{name}"),
                    Some((pid, false)),
                ))
            }
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
        let wants_pid = matches!(
            args.first().map(String::as_str),
            Some("throughput" | "idle")
        );
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
        if self.idle_sessions < IDLE_VNCGATE {
            r.notes.push(format!(
                "Idle sessions: {} instead of {IDLE_VNCGATE}: RLIMIT_NOFILE is {} here and \
                 cannot be raised (no CAP_SYS_RESOURCE), and each session holds two \
                 descriptors in vncgate (browser and VNC server).",
                self.idle_sessions, self.nofile
            ));
        }
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
        let vg = self.scenario(Via::Vncgate, "idle", &idle(self.idle_sessions, 64), limit);
        r.put("idle", Via::Vncgate, vg);
        let ws = self.scenario(Via::Websockify, "idle", &idle(IDLE_WEBSOCKIFY, 16), limit);
        r.put("idle", Via::Websockify, ws);
        // The same after each session carried a burst, on a vncgate that served nothing
        // before: what a quiet session holds once it was busy (buffers grown for the burst
        // and kept would show here).
        eprintln!("idle sessions after a burst (memory)");
        let after_burst = |n: usize, concurrency: usize| {
            let mut a = idle(n, concurrency);
            a.push("--after-burst".to_owned());
            a
        };
        let vg = self.scenario(
            Via::Vncgate,
            "burst",
            &after_burst(IDLE_BURST_VNCGATE.min(self.idle_sessions), 64),
            limit,
        );
        r.put("idle_burst", Via::Vncgate, vg);
        let ws = self.scenario(
            Via::Websockify,
            "burst",
            &after_burst(IDLE_WEBSOCKIFY, 16),
            limit,
        );
        r.put("idle_burst", Via::Websockify, ws);
        // Let the closed sessions drain out of the gateways before the timed runs.
        std::thread::sleep(Duration::from_secs(3));

        let throughput = |sessions: usize| {
            s(&[
                "throughput",
                "--sessions",
                &sessions.to_string(),
                "--stats",
                &stats,
                "--min-secs",
                "1.5",
                "--max-rounds",
                "30",
            ])
        };
        let latency = s(&[
            "latency",
            "--count",
            &ROUND_TRIPS.to_string(),
            "--warmup",
            "1000",
            "--max-secs",
            "8",
        ]);
        let mut trials: BTreeMap<(&'static str, Via), Vec<Figures>> = BTreeMap::new();
        for trial in 1..=TRIALS {
            for (key, sessions) in [("throughput1", 1), ("throughput8", 8)] {
                eprintln!("trial {trial}/{TRIALS}: throughput, {sessions} session(s)");
                for via in Via::ALL {
                    let f = self.scenario(
                        via,
                        "stream",
                        &throughput(sessions),
                        Duration::from_secs(150),
                    );
                    trials.entry((key, via)).or_default().extend(f);
                }
            }
            eprintln!("trial {trial}/{TRIALS}: an RFB stream through vncgate, recorded and not");
            for (key, target) in [("record_off", "rfb"), ("record_on", "rfb-rec")] {
                let mut args = throughput(1);
                args.push("--rfb".to_owned());
                let f = self.scenario(Via::Vncgate, target, &args, Duration::from_secs(150));
                trials.entry((key, Via::Vncgate)).or_default().extend(f);
                // Each round leaves a 128 MiB recording: not kept, once its writer has
                // finished (fsync) so that it does not run into the next scenario.
                std::thread::sleep(Duration::from_secs(2));
                let _ = std::fs::remove_dir_all(&self.recordings);
            }
            eprintln!("trial {trial}/{TRIALS}: round trips of 16-byte messages");
            for via in Via::ALL {
                let f = self.scenario(via, "echo", &latency, Duration::from_secs(60));
                trials.entry(("latency", via)).or_default().extend(f);
            }
        }
        for ((key, via), figures) in trials {
            r.put(key, via, merge(&figures));
        }
        r
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

pub(crate) fn uptime() -> String {
    Command::new("uptime")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|_| "?".to_owned())
}

pub(crate) fn machine() -> String {
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
