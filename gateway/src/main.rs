//! The `vncgate` command line: flags are parsed into one validated [`gateway::Config`], then
//! the chosen command runs.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gateway::config::{AuthMode, Config, Limits, Targets};

#[derive(Parser, Debug)]
#[command(
    name = "vncgate",
    version,
    about = "A single-port gateway from the browser to VNC desktops",
    long_about = "vncgate listens on one TCP port, serves a WebAssembly VNC viewer over https, \
                  and relays its WebSocket to the VNC servers named in its configuration — never to any other address."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the gateway.
    Serve(ServeArgs),
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8443", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// A VNC server users may reach, as NAME=HOST:PORT (repeatable). Only these are ever dialled.
    #[arg(long = "target", value_name = "NAME=HOST:PORT")]
    targets: Vec<String>,
    /// Where the certificate and other state are kept [default: $VNCGATE_STATE_DIR, else
    /// $XDG_STATE_HOME/vncgate, else ~/.local/state/vncgate].
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// An extra DNS name or IP address for the self-signed certificate (repeatable).
    #[arg(long = "name", value_name = "NAME")]
    names: Vec<String>,
    /// Serve the viewer's files from DIR instead of the ones built into the binary.
    #[arg(long, value_name = "DIR")]
    web_root: Option<PathBuf>,
    /// DANGER: relay for anyone who can reach the port, without authentication.
    #[arg(long)]
    danger_no_auth: bool,
}

impl ServeArgs {
    fn into_config(self) -> anyhow::Result<Config> {
        let targets = Targets::from_specs(self.targets.iter().map(String::as_str))?;
        Ok(Config {
            listen: self.listen,
            targets,
            state_dir: gateway::state_dir::resolve(self.state_dir),
            names: self.names,
            web_root: self.web_root,
            auth: if self.danger_no_auth {
                AuthMode::DangerNone
            } else {
                AuthMode::Unconfigured
            },
            limits: Limits::default(),
        })
    }
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => args.into_config().and_then(serve),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vncgate: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let names = gateway::tls::default_names(&config.names);
        let identity = gateway::tls::load_or_create_self_signed(&config.state_dir, &names)?;
        let tls = gateway::tls::server_config(&identity, &config.state_dir)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {}; is another program using it?",
                    config.listen
                )
            })?;
        let local = listener.local_addr()?;
        print_banner(&config, &identity, local);
        gateway::serve(listener, config, tls, shutdown_signal()).await?;
        Ok(())
    })
}

fn print_banner(config: &Config, identity: &gateway::tls::Identity, local: SocketAddr) {
    let fp = identity
        .fingerprint()
        .map(|f| f.to_string())
        .unwrap_or_default();
    let how = if identity.created {
        "created"
    } else {
        "loaded"
    };
    tracing::info!(state_dir = %config.state_dir.display(), "self-signed certificate {how}");
    eprintln!("vncgate listening on https://{local}/");
    eprintln!("  certificate SHA-256 fingerprint: {fp}");
    if config.targets.is_empty() {
        eprintln!("  no --target given: there is nothing to relay to");
    }
    for name in config.targets.names() {
        eprintln!("  target {name}: https://{local}/#target={name}");
    }
    match config.auth {
        AuthMode::DangerNone => {
            tracing::warn!("--danger-no-auth: ANYONE who can reach {local} can use every target");
        }
        AuthMode::Unconfigured => {
            tracing::warn!("no authentication is configured, so no session will be relayed; pass --danger-no-auth to relay without it");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutdown requested");
}
