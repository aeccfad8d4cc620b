//! `vncgate sessions`: the live sessions of the gateway — or of every instance of a fleet
//! sharing `--store` — and ending one of them wherever it runs (docs/fleet.md).

use std::time::{Duration, Instant};

use anyhow::bail;
use gateway::store::KillSent;

use crate::cli::store_args::StoreArgs;

/// How long `kill` waits to see the session leave the list.
const KILL_WAIT: Duration = Duration::from_secs(10);

#[derive(clap::Args, Debug)]
#[command(
    about = "List live sessions and end one",
    long_about = "Lists the sessions the gateway relays now — every instance's, with a shared \
                  --store — and ends one by its id: its viewer is told \"ended by an \
                  administrator\" and the audit log names who ended it."
)]
pub struct SessionsArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: SessionsCommand,
}

#[derive(clap::Subcommand, Debug)]
enum SessionsCommand {
    /// List live sessions (id, instance, target, mode, client, since, bytes, who).
    List {
        /// One JSON object per line instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// End a live session by its id (from `list`), on whichever instance runs it.
    Kill {
        #[arg(value_name = "ID")]
        id: String,
    },
}

fn since(started_ms: u64) -> String {
    gateway::audit::rfc3339(std::time::UNIX_EPOCH + Duration::from_millis(started_ms))
}

/// This process's real uid, from /proc (what `$USER` claims is not evidence).
fn uid() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().next().map(str::to_owned))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

pub fn run(args: SessionsArgs) -> anyhow::Result<()> {
    let ctx = args.store.context()?;
    let (rt, store) = ctx.open()?;
    match args.command {
        SessionsCommand::List { json } => {
            let all = rt.block_on(store.list_sessions())?;
            if json {
                for s in &all {
                    println!("{}", serde_json::to_string(s)?);
                }
                return Ok(());
            }
            if all.is_empty() {
                eprintln!("no live sessions ({})", store.describe());
                return Ok(());
            }
            println!(
                "{:16}  {:20}  {:12}  {:9}  {:22}  {:24}  {:>12}  {:>10}  WHO",
                "ID", "INSTANCE", "TARGET", "MODE", "CLIENT", "SINCE", "TO CLIENT", "TO TARGET"
            );
            for s in all {
                println!(
                    "{:16}  {:20}  {:12}  {:9}  {:22}  {:24}  {:>12}  {:>10}  {}",
                    s.id,
                    s.instance,
                    s.target,
                    s.mode,
                    s.client,
                    since(s.started_ms),
                    s.bytes_to_client,
                    s.bytes_to_target,
                    gateway::admission::Escaped(&s.who)
                );
            }
        }
        SessionsCommand::Kill { id } => {
            let by = format!("command line (uid {})", uid());
            match rt.block_on(store.request_kill(&id, &by))? {
                KillSent::NotFound => {
                    bail!("there is no live session {id} (see `vncgate sessions list`)")
                }
                KillSent::InstanceSilent { instance } => bail!(
                    "instance {instance} does not answer (it stopped?): its sessions ended with it and leave the list within three heartbeats"
                ),
                KillSent::Sent { instance } => {
                    let start = Instant::now();
                    loop {
                        let gone = rt
                            .block_on(store.list_sessions())?
                            .iter()
                            .all(|s| s.id != id);
                        if gone {
                            eprintln!("session {id} on {instance} ended");
                            break;
                        }
                        if start.elapsed() > KILL_WAIT {
                            bail!(
                                "instance {instance} was asked to end session {id}, but it is still listed after {} s",
                                KILL_WAIT.as_secs()
                            );
                        }
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
            }
        }
    }
    Ok(())
}
