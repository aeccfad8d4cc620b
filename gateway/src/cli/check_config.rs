//! `vncgate check-config`: what `vncgate serve` with the same flags would load, loaded and
//! checked — certificate files, the client CA and CRLs, the admin token, the gateway's own
//! logins to targets, target names resolved to addresses, the audit log's folder — without
//! opening a socket (a shared store is not contacted), and what it would do, printed. The
//! exit status is 0 when serve would start with this configuration, 1 when not.

use std::fmt::Write as _;
use std::net::ToSocketAddrs;

use anyhow::bail;
use gateway::config::store::StoreConfig;
use gateway::config::{AuthMode, Config, TlsSource};

#[derive(clap::Args, Debug)]
#[command(
    about = "Check a configuration without starting the gateway",
    long_about = "Loads and checks everything `vncgate serve` with the same flags would: the \
                  config file, certificate files, the client CA and CRLs, the admin token, \
                  back-end logins, targets (resolved to addresses) and the audit log's folder. \
                  Opens no socket; a Redis store is not contacted. Prints what the gateway \
                  would do; exits 0 when it would start, 1 when not."
)]
pub struct CheckConfigArgs {
    #[command(flatten)]
    serve: crate::cli::serve::ServeArgs,
}

/// Findings: lines of what would happen, and problems.
#[derive(Default)]
struct Report {
    lines: String,
    problems: Vec<String>,
}

impl Report {
    fn say(&mut self, line: impl std::fmt::Display) {
        let _ = writeln!(self.lines, "  {line}");
    }

    fn problem(&mut self, what: impl std::fmt::Display) {
        self.problems.push(what.to_string());
    }
}

fn certificate(config: &Config, r: &mut Report) {
    if let Some(acme) = &config.acme {
        let domains: Vec<String> = acme.domains.iter().map(ToString::to_string).collect();
        r.say(format_args!(
            "certificate: from the ACME CA {} for {} (the self-signed one until then)",
            acme.directory,
            domains.join(", ")
        ));
    }
    let (files, what) = match &config.tls {
        TlsSource::SelfSigned { .. } => {
            let files = gateway::tls::self_signed_files(&config.state_dir);
            if !files.cert.exists() {
                r.say(format_args!(
                    "certificate: self-signed, made on first start in {}",
                    files.cert.display()
                ));
                return;
            }
            let what = format!("self-signed, {}", files.cert.display());
            (files, what)
        }
        TlsSource::Files {
            cert,
            key,
            key_passphrase_file,
        } => (
            gateway::tls::CertFiles {
                cert: cert.clone(),
                key: key.clone(),
                key_passphrase_file: key_passphrase_file.clone(),
            },
            format!("{} with key {}", cert.display(), key.display()),
        ),
    };
    // As serve does: the files parse, and the key belongs to the certificate.
    match files.load().and_then(|id| files.certify(&id).map(|_| id)) {
        Ok(id) => r.say(format_args!(
            "certificate: {what} (SHA-256 {})",
            id.fingerprint().map(|f| f.to_string()).unwrap_or_default()
        )),
        Err(e) => r.problem(e),
    }
}

fn access(config: &Config, r: &mut Report) {
    let a = &config.access;
    match (config.auth, &a.client_ca) {
        (AuthMode::DangerNone, _) => {
            r.say("authentication: NONE (--danger-no-auth): anyone who reaches the port")
        }
        (AuthMode::Required, None) => r.say("authentication: one-time keys only"),
        (AuthMode::Required, Some(files)) => {
            match gateway::auth::client_ca::ClientVerifier::load(files.clone()) {
                Ok(_) => r.say(format_args!(
                    "authentication: one-time keys and client certificates ({}) of {}, {} CRL file(s){}",
                    files.mode.as_str(),
                    files.ca.display(),
                    files.crls.len(),
                    if a.acl.is_some() { ", access list" } else { ", no access list" }
                )),
                Err(e) => r.problem(e),
            }
        }
    }
    if let Some(p) = &a.admin_token_file {
        match gateway::auth::admin::AdminToken::from_file(p) {
            Ok(_) => r.say(format_args!("admin token: {}", p.display())),
            Err(e) => r.problem(e),
        }
    }
    if let Err(e) = gateway::backend::Logins::load(config) {
        r.problem(e);
    }
}

fn targets(config: &Config, r: &mut Report) {
    if config.targets.is_empty() {
        r.say("targets: none (nothing to relay to)");
    }
    for (name, t) in config.targets.iter() {
        let login = if config.logins.contains_key(name) {
            ", the gateway logs in"
        } else {
            ""
        };
        match (t.host.as_str(), t.port).to_socket_addrs() {
            Ok(addrs) => {
                let addrs: Vec<String> = addrs.map(|a| a.ip().to_string()).collect();
                r.say(format_args!(
                    "target {name}: {}:{} ({}){login}",
                    t.host,
                    t.port,
                    addrs.join(", ")
                ));
            }
            Err(e) => r.problem(format_args!(
                "target {name}: {}:{} does not resolve to an address: {e}",
                t.host, t.port
            )),
        }
    }
}

fn state(config: &Config, r: &mut Report) {
    match &config.store {
        StoreConfig::Sqlite => r.say(format_args!(
            "store: SQLite in {} (one instance)",
            config.state_dir.display()
        )),
        StoreConfig::Redis { url, ca } => {
            r.say(format_args!(
                "store: {url}, shared by the fleet (not contacted now)"
            ));
            if let Some(ca) = ca {
                if let Err(e) = std::fs::read(ca) {
                    r.problem(format_args!("cannot read --store-ca {}: {e}", ca.display()));
                }
            }
        }
    }
    match &config.audit_log {
        None => r.say("audit log: into the log"),
        Some(p) => {
            let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
            match dir.map(std::fs::metadata) {
                Some(Err(e)) => r.problem(format_args!(
                    "the audit log's folder {} is not there: {e}",
                    dir.map(|d| d.display().to_string()).unwrap_or_default()
                )),
                _ => r.say(format_args!("audit log: {}", p.display())),
            }
        }
    }
}

pub fn run(args: CheckConfigArgs) -> anyhow::Result<()> {
    let config = args.serve.load()?;
    let mut r = Report::default();
    r.say(format_args!("listen on {}", config.listen));
    r.say(format_args!(
        "state directory: {}",
        config.state_dir.display()
    ));
    certificate(&config, &mut r);
    access(&config, &mut r);
    targets(&config, &mut r);
    state(&config, &mut r);
    println!("vncgate serve would:\n{}", r.lines.trim_end());
    if r.problems.is_empty() {
        println!("configuration OK");
        return Ok(());
    }
    for p in &r.problems {
        eprintln!("problem: {p}");
    }
    bail!(
        "{} problem(s) in this configuration: fix them before starting vncgate serve",
        r.problems.len()
    )
}
