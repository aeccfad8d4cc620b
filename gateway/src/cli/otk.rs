//! `vncgate otk`: one-time keys from the command line — `issue` prints a link (and can write a
//! session file), `list` shows keys (never the keys themselves: only hashes are kept),
//! `revoke ID` withdraws a pending one. They use the gateway's store — the SQLite file in the
//! state directory, or the fleet's Redis with `--store` (docs/auth.md, docs/fleet.md).

use std::path::PathBuf;

use anyhow::{bail, Context};
use certs::fs::Overwrite;
use certs::session_file::{GatewayUrl, SessionFile, TargetName};
use gateway::auth::{Mode, Pattern};
use gateway::config::Layer;
use gateway::otk::{self, KeyRequest, Revoked};

use crate::cli::store_args::StoreArgs;

#[derive(clap::Args, Debug)]
#[command(
    about = "Issue, list and revoke one-time keys (links that open one session)",
    long_about = "One-time keys admit one session to one target. `issue` prints a link \
                  https://HOST:PORT/#otk=KEY&target=NAME; the key is in the fragment, which browsers never send \
                  to a server, and only its SHA-256 is stored (in the state directory, shared with `vncgate serve`, or in \
                  the fleet's Redis with --store, where every instance accepts it)."
)]
pub struct OtkArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: OtkCommand,
}

#[derive(clap::Subcommand, Debug)]
enum OtkCommand {
    /// Make a key and print its link.
    Issue {
        /// The target it opens.
        #[arg(long, value_name = "NAME")]
        target: String,
        /// How long it may wait to be used: 90s, 10m, 2h, 1d (at most 30d).
        #[arg(long, default_value = "10m", value_name = "DURATION")]
        ttl: String,
        /// The session may only watch (keyboard, pointer and clipboard are dropped).
        #[arg(long)]
        view_only: bool,
        /// Only this certificate holder may use it: cn:NAME, email:ADDR, dns:NAME, sha256:FP or
        /// group:NAME (needs --client-auth optional or required on the gateway).
        #[arg(long = "for", value_name = "IDENTITY")]
        for_identity: Option<String>,
        /// The gateway's address in the link [default: from the config's listen address].
        #[arg(long, value_name = "URL")]
        gateway: Option<String>,
        /// Also write a session file (.vncgate, mode 0600) with the key.
        #[arg(long, value_name = "FILE")]
        session_file: Option<PathBuf>,
        /// How the viewer checks the VNC server's certificate, put in the link and the session
        /// file: with a single-use key there is no second try after trust on first use.
        #[command(flatten)]
        trust: crate::cli::server_trust::ServerTrustArgs,
    },
    /// List keys (ids, targets, states; never the keys).
    List,
    /// Revoke a pending key by its id.
    Revoke {
        #[arg(value_name = "ID")]
        id: String,
    },
}

/// `https://HOST:PORT` from the config's listen address (this host's name for 0.0.0.0/::).
fn default_gateway(layer: Option<&Layer>) -> String {
    if let Some(u) = layer.and_then(|l| l.public_url.as_ref()) {
        return u.as_str().to_owned();
    }
    gateway::config::url_of_listen(
        layer
            .and_then(|l| l.listen)
            .unwrap_or(gateway::config::DEFAULT_LISTEN),
    )
}

pub fn run(args: OtkArgs) -> anyhow::Result<()> {
    let ctx = args.store.context()?;
    let (rt, store) = ctx.open()?;
    let now = otk::unix_now();
    match args.command {
        OtkCommand::Issue {
            target,
            ttl,
            view_only,
            for_identity,
            gateway,
            session_file,
            trust,
        } => {
            if let Some(layer) = &ctx.layer {
                if !layer.targets.is_empty() && !layer.targets.iter().any(|(n, _, _)| *n == target)
                {
                    bail!(
                        "there is no target {target:?} in the config file; the targets are: {}",
                        layer
                            .targets
                            .iter()
                            .map(|(n, _, _)| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
            }
            let name = TargetName::parse(&target)
                .map_err(|e| anyhow::anyhow!("--target {target:?}: expected {e}"))?;
            let ttl_secs = otk::parse_ttl(&ttl).with_context(|| {
                format!("--ttl {ttl:?}: expected a duration like 90s, 10m, 2h or 1d, at most 30d")
            })?;
            let for_identity = match for_identity {
                None => None,
                Some(s) => Some(
                    s.parse::<Pattern>()
                        .map_err(|e| anyhow::anyhow!("--for {s:?}: {e}"))?,
                ),
            };
            let mode = if view_only {
                Mode::ViewOnly
            } else {
                Mode::Full
            };
            let issued = otk::issue(
                &KeyRequest {
                    target: target.clone(),
                    ttl_secs,
                    mode,
                    for_identity,
                    created_by: "cli".to_owned(),
                },
                now,
            )?;
            rt.block_on(store.insert_key(&issued.record))?;
            let gateway_url = gateway.unwrap_or_else(|| default_gateway(ctx.layer.as_ref()));
            let mut s = SessionFile::new(name);
            s.gateway = Some(
                GatewayUrl::parse(&gateway_url)
                    .map_err(|e| anyhow::anyhow!("--gateway {gateway_url:?}: expected {e}"))?,
            );
            trust.apply(&mut s, &ctx.state_dir)?;
            let link = otk::link(&gateway_url, &issued.key, &target, mode)
                + &crate::cli::server_trust::fragment(&s);
            if let Some(path) = session_file {
                s.otk = Some(issued.key.clone());
                s.view_only = view_only.then_some(true);
                certs::fs::write_file(&path, s.to_text().as_bytes(), 0o600, Overwrite::Refuse)?;
                eprintln!("session file written to {} (mode 0600)", path.display());
            }
            eprintln!(
                "key {} for target {target} ({mode}), valid until {} (used once)",
                issued.record.id,
                gateway::audit::rfc3339(
                    std::time::UNIX_EPOCH
                        + std::time::Duration::from_secs(
                            u64::try_from(issued.record.expires_at).unwrap_or(0)
                        )
                )
            );
            println!("{link}");
            eprintln!(
                "native viewers (VeNCrypt X509Plain, the gateway's certificate as CA): user name {target}, password {}",
                issued.key.expose()
            );
        }
        OtkCommand::List => {
            let all = rt.block_on(store.list_keys())?;
            if all.is_empty() {
                eprintln!("no keys");
            }
            for r in all {
                println!(
                    "{}  {:8}  {:9}  {:16}  expires {}  by {}{}",
                    r.id,
                    r.state(now),
                    r.mode.as_str(),
                    r.target,
                    gateway::audit::rfc3339(
                        std::time::UNIX_EPOCH
                            + std::time::Duration::from_secs(
                                u64::try_from(r.expires_at).unwrap_or(0)
                            )
                    ),
                    r.created_by,
                    r.for_identity
                        .map(|f| format!("  for {f}"))
                        .unwrap_or_default()
                );
            }
        }
        OtkCommand::Revoke { id } => match rt.block_on(store.revoke_key(&id, now))? {
            Revoked::Revoked => eprintln!("key {id} revoked"),
            Revoked::NotFound => bail!("there is no key {id} (see `vncgate otk list`)"),
            Revoked::NotPending => bail!("key {id} was used or revoked already"),
        },
    }
    Ok(())
}
