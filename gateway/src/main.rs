//! The `vncgate` command line: each subcommand parses its flags into typed values in its own
//! module under `cli/`, then runs.

mod cli;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "vncgate",
    version,
    long_version = gateway::build_info::LONG_VERSION,
    about = "A single-port gateway from the browser to VNC desktops",
    long_about = "vncgate listens on one TCP port, serves a WebAssembly VNC viewer over https, \
                  and relays its WebSocket to the VNC servers named in its configuration — never to any other address."
)]
struct Cli {
    /// How log lines are written: text, or one JSON object per line (journald, Loki).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "VNCGATE_LOG_FORMAT"
    )]
    log_format: gateway::logging::LogFormat,
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start: the size of the largest variant (serve's flags) costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Run the gateway.
    Serve(cli::serve::ServeArgs),
    /// Check a configuration (the same flags as serve) without starting the gateway.
    CheckConfig(cli::check_config::CheckConfigArgs),
    /// Manage certificates: a CA, server and client certificates, CRLs, exports.
    Certs(cli::certs::CertsArgs),
    /// Write a session file (.vncgate) that opens one desktop in the viewer.
    Session(cli::session::SessionArgs),
    /// Connect to a VNC server and save its screen as PNG (like vncsnapshot).
    Snapshot(cli::snapshot::SnapshotArgs),
    /// Issue, list and revoke one-time keys (links that open one session).
    Otk(cli::otk::OtkArgs),
    /// List the live sessions (of every instance sharing --store) and end one.
    Sessions(cli::sessions::SessionsArgs),
    /// Replay session recordings (FBS 001.000) and take pictures from them.
    Recordings(cli::recordings::RecordingsArgs),
    Acme(cli::acme::AcmeCommandArgs),
    /// Write man pages and shell completions into a folder (for packages: `cargo xtask dist`).
    #[command(hide = true)]
    DistFiles {
        /// The folder (made if needed): man1/*.1, and completions/ for bash, zsh and fish.
        #[arg(long, value_name = "DIR")]
        out: std::path::PathBuf,
    },
}

/// Man pages (one for vncgate and one per subcommand, as `vncgate-serve(1)`) and completions.
fn dist_files(out: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    use clap::CommandFactory;
    let man = out.join("man1");
    std::fs::create_dir_all(&man).with_context(|| format!("cannot create {}", man.display()))?;
    let cmd = Cli::command();
    clap_mangen::generate_to(cmd.clone(), &man)
        .with_context(|| format!("cannot write man pages into {}", man.display()))?;
    let completions = out.join("completions");
    std::fs::create_dir_all(&completions)?;
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        clap_complete::generate_to(shell, &mut cmd.clone(), "vncgate", &completions)
            .with_context(|| format!("cannot write {shell} completions"))?;
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    gateway::logging::init(cli.log_format);
    let result = match cli.command {
        Command::Serve(args) => cli::serve::run(args),
        Command::CheckConfig(args) => cli::check_config::run(args),
        Command::Certs(args) => cli::certs::run(args),
        Command::Session(args) => cli::session::run(args),
        Command::Snapshot(args) => cli::snapshot::run(args),
        Command::Otk(args) => cli::otk::run(args),
        Command::Sessions(args) => cli::sessions::run(args),
        Command::Recordings(args) => cli::recordings::run(args),
        Command::Acme(args) => cli::acme::run(args),
        Command::DistFiles { out } => dist_files(&out),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vncgate: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
