//! `wsbench`: the backend and load generator of `cargo xtask bench gateway`
//! (xtask/src/bench_gateway.rs starts the processes and prints the table). It measures and
//! prints; it asserts nothing (timing is never a pass/fail test).
//!
//! ```text
//! scenario client ──tcp──────────────────────────────────► backend (stream | echo | idle)
//!                 ──tcp──► relay (plain TCP copy) ───────►
//!                 ──wss──► vncgate / websockify ─────────►
//! ```
//!
//! - `backend`: a VNC-like source on loopback ([`backend`]): `stream` sends N bytes on connect
//!   and closes, `rfb` does the same as Raw framebuffer updates after an RFB handshake (for
//!   the gateway's recording), `echo` echoes, `idle` sends the RFB greeting and waits; `stats`
//!   answers with the bytes sent so far. Prints its ports on one line.
//! - `relay`: a plain TCP relay with 64 KiB buffers (the baseline a gateway is held against).
//! - `exec`: raises `RLIMIT_NOFILE`, then becomes the given program (vncgate, websockify).
//! - `throughput`, `latency`, `idle`: the scenarios ([`scenarios`]), each printing one
//!   `result key=value …` line on stdout.
//! - `redeem`: one-time keys issued, then used as fast as the gateway admits them
//!   ([`redeem`]; `cargo xtask bench fleet`, with SQLite and with Redis).
//! - `soak`: minutes of sessions with one-time keys, client certificates and view-only
//!   through a gateway with real credentials ([`soak`]; `cargo xtask bench soak`).
//!
//! Everything is loopback only, and every loop is bounded in count and time.

mod backend;
mod client;
mod procfs;
mod redeem;
mod scenarios;
mod soak;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};

use client::Endpoint;

/// File descriptors each process may open: 10,000 sessions need two each in the gateway.
const NOFILE: u64 = 65_536;

#[derive(Debug, Parser)]
#[command(about = "backend and load generator for `cargo xtask bench gateway`")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where a scenario connects.
#[derive(Debug, clap::Args)]
struct Target {
    /// `tcp://127.0.0.1:PORT`, or `wss://127.0.0.1:PORT/PATH`.
    #[arg(long)]
    url: String,
    /// The server's certificate (PEM), the only one a wss connection accepts.
    #[arg(long)]
    cert: Option<PathBuf>,
}

impl Target {
    fn endpoint(&self) -> anyhow::Result<Endpoint> {
        Endpoint::parse(&self.url, self.cert.as_deref())
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the VNC-like source until stdin closes.
    Backend {
        /// Bytes each `stream` connection receives before the backend closes it.
        #[arg(long, default_value_t = 64 << 20)]
        stream_bytes: u64,
    },
    /// Relay plain TCP to each address, until stdin closes.
    Relay {
        #[arg(long = "to", required = true)]
        to: Vec<SocketAddr>,
    },
    /// Raise RLIMIT_NOFILE and print the limit reached (`nofile N`).
    Nofile,
    /// Raise RLIMIT_NOFILE, then run PROGRAM in this process.
    Exec {
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        program: Vec<String>,
    },
    /// Sessions that each drain one `stream` connection; rounds until `min_secs`.
    Throughput {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 1)]
        sessions: usize,
        /// Open each session with an RFB 3.8 handshake, security None (the `rfb` backend).
        #[arg(long)]
        rfb: bool,
        /// The backend's `stats` port.
        #[arg(long)]
        stats: SocketAddr,
        #[arg(long, default_value_t = 3.0)]
        min_secs: f64,
        #[arg(long, default_value_t = 10)]
        max_rounds: usize,
        /// The gateway's process, for its CPU time (with its children: `--tree`).
        #[arg(long)]
        pid: Option<u32>,
        #[arg(long)]
        tree: bool,
    },
    /// Round trips of small messages through one session to the `echo` backend.
    Latency {
        #[command(flatten)]
        target: Target,
        #[arg(long, default_value_t = 20_000)]
        count: usize,
        #[arg(long, default_value_t = 1_000)]
        warmup: usize,
        #[arg(long, default_value_t = 16)]
        message_bytes: usize,
        #[arg(long, default_value_t = 10.0)]
        max_secs: f64,
    },
    /// Many idle sessions to the `idle` backend, and the gateway's memory before and after.
    Idle {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        sessions: usize,
        /// The gateway's processes (repeatable: the instances of a fleet, summed).
        #[arg(long = "pid", required = true)]
        pids: Vec<u32>,
        /// Count the gateway's child processes too (websockify forks one per connection).
        #[arg(long)]
        tree: bool,
        #[arg(long, default_value_t = 5.0)]
        hold_secs: f64,
        /// Connections being set up at once.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Read the `burst` source's bytes after the greeting before falling quiet.
        #[arg(long)]
        after_burst: bool,
    },
    /// One-time keys issued through the API, then used as fast as the gateway admits them.
    Redeem {
        /// The gateway, `IP:PORT`.
        #[arg(long)]
        addr: SocketAddr,
        /// The gateway's certificate (PEM), the only one accepted.
        #[arg(long)]
        cert: PathBuf,
        /// A file whose first line is the admin token of `POST /api/otk`.
        #[arg(long)]
        admin_token_file: PathBuf,
        #[arg(long)]
        target: String,
        #[arg(long, default_value_t = 2000)]
        keys: usize,
        /// Redemptions under way at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        #[arg(long, default_value_t = 120.0)]
        max_secs: f64,
    },
    /// Sessions opening and closing for minutes, with keys, certificates and view-only.
    Soak {
        /// The gateway, `IP:PORT`.
        #[arg(long)]
        addr: SocketAddr,
        /// The gateway's certificate (PEM), the only one accepted.
        #[arg(long)]
        cert: PathBuf,
        /// The client certificate (PEM chain) and its key.
        #[arg(long)]
        client_cert: PathBuf,
        #[arg(long)]
        client_key: PathBuf,
        /// A file whose first line is the admin token of `POST /api/otk`.
        #[arg(long)]
        admin_token_file: PathBuf,
        /// Targets for full control and view-only keys (repeatable).
        #[arg(long = "target", required = true)]
        targets: Vec<String>,
        /// The target the certificate may only watch.
        #[arg(long)]
        view_target: String,
        /// Sessions kept going at once.
        #[arg(long, default_value_t = 2000)]
        workers: usize,
        #[arg(long, default_value_t = 600.0)]
        secs: f64,
        /// RSS is compared with the first sample after this.
        #[arg(long, default_value_t = 60.0)]
        warmup_secs: f64,
        /// How long each session stays open after its greeting.
        #[arg(long, default_value_t = 0.5)]
        hold_secs: f64,
        /// The gateway's process.
        #[arg(long)]
        pid: u32,
        /// The gateway's audit log.
        #[arg(long)]
        audit: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let nofile = raise_nofile();
    match &cli.command {
        Command::Exec { program } => return exec(program),
        Command::Nofile => {
            println!("nofile {nofile}");
            return Ok(());
        }
        _ => {}
    }
    // One round trip at a time is measured best without cross-thread wake-ups.
    let runtime = match &cli.command {
        Command::Latency { .. } => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    }
    .enable_all()
    .build()
    .context("tokio runtime")?;
    runtime.block_on(run(cli.command))
}

async fn run(command: Command) -> anyhow::Result<()> {
    let fields = match command {
        Command::Exec { .. } | Command::Nofile => bail!("handled before the runtime starts"),
        Command::Backend { stream_bytes } => return backend::serve(stream_bytes).await,
        Command::Relay { to } => return backend::relay(&to).await,
        Command::Throughput {
            target,
            sessions,
            rfb,
            stats,
            min_secs,
            max_rounds,
            pid,
            tree,
        } => {
            let plan = scenarios::ThroughputPlan {
                sessions,
                rfb,
                stats,
                min_time: Duration::from_secs_f64(min_secs),
                max_rounds,
                gateway: pid.map(|pid| procfs::Proc { pid, tree }),
            };
            scenarios::throughput(&target.endpoint()?, &plan).await?
        }
        Command::Latency {
            target,
            count,
            warmup,
            message_bytes,
            max_secs,
        } => {
            let plan = scenarios::LatencyPlan {
                count,
                warmup,
                message_bytes,
                max_time: Duration::from_secs_f64(max_secs),
            };
            scenarios::latency(&target.endpoint()?, &plan).await?
        }
        Command::Idle {
            target,
            sessions,
            pids,
            tree,
            hold_secs,
            concurrency,
            after_burst,
        } => {
            let plan = scenarios::IdlePlan {
                sessions,
                gateway: pids
                    .into_iter()
                    .map(|pid| procfs::Proc { pid, tree })
                    .collect(),
                hold: Duration::from_secs_f64(hold_secs),
                concurrency,
                expect_more: if after_burst { backend::BURST_BYTES } else { 0 },
            };
            scenarios::idle(&target.endpoint()?, &plan).await?
        }
        Command::Redeem {
            addr,
            cert,
            admin_token_file,
            target,
            keys,
            concurrency,
            max_secs,
        } => {
            let token = std::fs::read_to_string(&admin_token_file)
                .with_context(|| format!("cannot read {}", admin_token_file.display()))?;
            redeem::redeem(redeem::RedeemPlan {
                addr,
                tls: client::connector_with(&cert, None)?,
                admin_token: token.lines().next().unwrap_or_default().trim().to_owned(),
                target,
                keys,
                concurrency,
                max_time: Duration::from_secs_f64(max_secs),
            })
            .await?
        }
        Command::Soak {
            addr,
            cert,
            client_cert,
            client_key,
            admin_token_file,
            targets,
            view_target,
            workers,
            secs,
            warmup_secs,
            hold_secs,
            pid,
            audit,
        } => {
            let token = std::fs::read_to_string(&admin_token_file)
                .with_context(|| format!("cannot read {}", admin_token_file.display()))?;
            let plan = soak::SoakPlan {
                addr,
                anonymous: client::connector_with(&cert, None)?,
                with_cert: client::connector_with(&cert, Some((&client_cert, &client_key)))?,
                admin_token: token.lines().next().unwrap_or_default().trim().to_owned(),
                targets,
                view_target,
                workers,
                duration: Duration::from_secs_f64(secs),
                warmup: Duration::from_secs_f64(warmup_secs),
                hold: Duration::from_secs_f64(hold_secs),
                gateway: procfs::Proc { pid, tree: false },
                audit,
            };
            soak::soak(plan).await?
        }
    };
    let line: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("result {}", line.join(" "));
    Ok(())
}

/// Raises the soft and hard limit on open files to [`NOFILE`] (with CAP_SYS_RESOURCE), else
/// the soft limit to the hard one; returns the soft limit now in force.
fn raise_nofile() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let want = Rlimit {
        current: Some(NOFILE),
        maximum: Some(NOFILE),
    };
    if setrlimit(Resource::Nofile, want).is_err() {
        let now = getrlimit(Resource::Nofile);
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: now.maximum,
                maximum: now.maximum,
            },
        );
    }
    // `None`: unlimited.
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

fn exec(program: &[String]) -> anyhow::Result<()> {
    use std::os::unix::process::CommandExt;
    let (name, args) = program.split_first().context("exec: no program")?;
    let error = std::process::Command::new(name).args(args).exec();
    Err(error).with_context(|| format!("cannot run {name}"))
}
