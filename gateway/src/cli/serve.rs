//! `vncgate serve`: flags (and `--config FILE`) → one validated [`Config`] → the certificate
//! (with its reloader) → the running gateway (`serve/running.rs`).

mod running;

use std::net::SocketAddr;
use std::path::PathBuf;

use gateway::auth::client_ca::ClientAuth;
use gateway::config::{file, Cidr, Config, ConfigError, Layer, LimitsLayer, Origin, Problem};

const AFTER_HELP: &str = "\
Flags override the same settings in the --config file.

Limits (--limit KEY=NUMBER, or under [limits] in the file), with their defaults:
  detect_timeout_ms 1000           proxy_header_timeout_secs 5
  tls_handshake_timeout_secs 10    http_header_timeout_secs 10
  websocket_upgrade_timeout_secs 10  backend_connect_timeout_secs 10
  websocket_ping_interval_secs 30 (0: no pings)
  max_websocket_message_bytes 4194304  max_http_header_bytes 8192
  max_connections 1024             max_connections_per_address 64 (IPv6: per /64)
  shutdown_grace_secs 5            cert_poll_interval_secs 5
  lockout_failures 5               lockout_block_secs 10 (doubles with each further failure)
  lockout_max_block_secs 3600      write_timeout_secs 30 (a client that reads nothing)
  http_idle_timeout_secs 60 (between HTTP requests; not while relaying)
  session_heartbeat_secs 10 (the session registry; entries expire after three)

Authentication (docs/auth.md): one-time-key links (`vncgate otk issue`) always work; add client
certificates with --client-ca (the access list, admins and groups are in the config file). Without
either, only --danger-no-auth relays anything.

Fleets (docs/fleet.md): several instances behind a TCP load balancer share keys, the lockout and
the session list with --store redis://HOST:PORT/DB; give each one --proxy-protocol-from the
balancer's address.

Signals: SIGHUP (systemctl reload) reads the --config file again with the same flags over it:
targets, the access list, groups, admins, limits and the audit log change without a restart;
sessions the new rules no longer admit end with the reason, and a broken file is refused (the
running configuration stays). It also reloads the certificate files and the client CRLs (which
are checked every cert_poll_interval_secs too; a revoked certificate's open sessions end then).
SIGTERM or Ctrl-C stops accepting and lets sessions drain for shutdown_grace_secs. The
operator guide is docs/gateway.md.";

#[derive(clap::Args, Debug)]
#[command(after_help = AFTER_HELP)]
pub struct ServeArgs {
    #[command(flatten)]
    acme: gateway::acme::settings::AcmeArgs,
    /// Read settings from this TOML file (see docs/gateway.md); flags override it.
    #[arg(long, value_name = "FILE", env = "VNCGATE_CONFIG")]
    config: Option<PathBuf>,
    /// Address and port to listen on [default: 127.0.0.1:8443].
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// A VNC server users may reach, as NAME=HOST:PORT (repeatable). Only these are ever dialled.
    #[arg(long = "target", value_name = "NAME=HOST:PORT")]
    targets: Vec<String>,
    /// Where the self-signed certificate and other state are kept [default: $VNCGATE_STATE_DIR,
    /// else $XDG_STATE_HOME/vncgate, else ~/.local/state/vncgate].
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// An extra DNS name or IP address for the self-signed certificate (repeatable).
    #[arg(long = "name", value_name = "NAME")]
    names: Vec<String>,
    /// Serve this certificate chain (PEM: the server's certificate, then intermediates) instead
    /// of the self-signed one. Reloaded when the file changes and on SIGHUP.
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// The private key of --cert (PEM: PKCS#8, PKCS#1, SEC1, or encrypted PKCS#8).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// A file holding the passphrase of an encrypted --key (one line).
    #[arg(long, value_name = "FILE")]
    key_passphrase_file: Option<PathBuf>,
    /// Serve the viewer's files from DIR instead of the ones built into the binary.
    #[arg(long, value_name = "DIR")]
    web_root: Option<PathBuf>,
    /// The Content-Security-Policy sent with --web-root files (for example noVNC's pages, which
    /// use inline script) [default: the built-in viewer's strict policy].
    #[arg(long, value_name = "POLICY")]
    web_root_csp: Option<String>,
    /// Let pages from ORIGIN (https://HOST[:PORT], repeatable) open WebSockets to the gateway:
    /// a portal that hosts noVNC or the viewer. The gateway's own origin is always allowed.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,
    /// The URL people use to reach the gateway (https://HOST[:PORT][/PATH]); links made by
    /// POST /api/otk start with it [default: https://LISTEN-ADDRESS].
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Relay native VNC clients that connect inside TLS (stunnel, ss_vncviewer) to target NAME.
    #[arg(long, value_name = "NAME")]
    native_vnc_target: Option<String>,
    /// How native VNC viewers that connect without TLS (TigerVNC, gtk-vnc, Remmina) may log in
    /// inside the gateway's VeNCrypt: one-time-key (X509Plain: user name = target, password =
    /// key), certificate (X509None: a client certificate), or off [default: both with
    /// --client-ca, else one-time-key].
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    native_vnc_auth: Vec<String>,
    /// Trusted proxies (address or CIDR, repeatable): connections from them must start with a
    /// PROXY protocol v1/v2 header, which gives the client's address. Others may not send one.
    #[arg(long, value_name = "CIDR")]
    proxy_protocol_from: Vec<String>,
    /// Who may read /metrics (address or CIDR, repeatable) [default: 127.0.0.0/8 and ::1].
    #[arg(long, value_name = "CIDR")]
    metrics_from: Vec<String>,
    /// Set a limit, KEY=NUMBER (repeatable; keys below).
    #[arg(long = "limit", value_name = "KEY=NUMBER")]
    limits: Vec<String>,
    /// Ask TLS clients for certificates issued by the CAs in FILE (PEM: roots and intermediates);
    /// a verified certificate authenticates its holder (see the access list in docs/auth.md).
    #[arg(long, value_name = "FILE")]
    client_ca: Option<PathBuf>,
    /// A CRL (PEM or DER) of a CA in --client-ca (repeatable); reloaded when the file changes and
    /// on SIGHUP. With CRLs, a certificate whose issuer has no CRL is refused.
    #[arg(long = "crl", value_name = "FILE")]
    crls: Vec<PathBuf>,
    /// `required`: no certificate, no connection; `optional`: people without one may still use a
    /// one-time-key link [default: required].
    #[arg(long, value_name = "MODE", value_parser = ["required", "optional"])]
    client_auth: Option<String>,
    /// A file holding the bearer token for the one-time-key API (POST /api/otk).
    #[arg(long, value_name = "FILE")]
    admin_token_file: Option<PathBuf>,
    /// Record every session the gateway can see in clear into DIR (FBS 001.000 recordings and
    /// their input events; docs/recording.md). `[recording]` in the config file chooses
    /// targets, retention and size.
    #[arg(long, value_name = "DIR")]
    record_dir: Option<PathBuf>,
    /// Append one JSON line per session to FILE (default: into the log).
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// Let anyone list the targets (GET /api/targets); by default only people who may use them.
    #[arg(long)]
    anonymous_target_list: bool,
    /// Keep one-time keys, the lockout and the live-session list in this Redis, shared by every
    /// instance of a fleet: redis://[USER:PASSWORD@]HOST:PORT/DB, or rediss://… for TLS
    /// [default: SQLite files in the state directory, for one instance].
    #[arg(long, value_name = "URL", env = "VNCGATE_STORE")]
    store: Option<String>,
    /// PEM roots that verify a rediss:// server's certificate [default: the system's roots].
    #[arg(long, value_name = "FILE")]
    store_ca: Option<PathBuf>,
    /// This instance's name in the session list [default: HOSTNAME:PORT].
    #[arg(long, value_name = "NAME")]
    instance: Option<String>,
    /// DANGER: relay for anyone who can reach the port, without authentication.
    #[arg(long)]
    danger_no_auth: bool,
    /// DANGER: relay native VNC clients without TLS to target NAME (in clear; needs
    /// --danger-no-auth, since such a client cannot authenticate to the gateway).
    #[arg(long, value_name = "NAME")]
    danger_allow_plain_vnc: Option<String>,
}

fn invalid(flag: &'static str, given: &str, problem: impl Into<Problem>) -> ConfigError {
    ConfigError::Invalid {
        origin: Origin::Flag(flag),
        given: given.to_owned(),
        problem: problem.into(),
    }
}

impl ServeArgs {
    /// The flags as a layer over the config file's.
    fn flag_layer(&self) -> Result<Layer, ConfigError> {
        let mut targets = Vec::new();
        for spec in &self.targets {
            let (name, addr) =
                gateway::config::parse_target(spec).map_err(|p| invalid("--target", spec, p))?;
            targets.push((name, addr, Origin::Flag("--target")));
        }
        let cidrs =
            |flag: &'static str, list: &[String]| -> Result<Option<Vec<Cidr>>, ConfigError> {
                if list.is_empty() {
                    return Ok(None);
                }
                list.iter()
                    .map(|s| s.parse::<Cidr>().map_err(|e| invalid(flag, s, e)))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some)
            };
        let mut limits = LimitsLayer::default();
        for spec in &self.limits {
            let one = LimitsLayer::parse_flag(spec).map_err(|p| invalid("--limit", spec, p))?;
            limits = limits.overridden_by(&one);
        }
        Ok(Layer {
            listen: self.listen,
            targets,
            logins: Vec::new(),
            state_dir: self.state_dir.clone(),
            names: self.names.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            key_passphrase_file: self.key_passphrase_file.clone(),
            web_root: self.web_root.clone(),
            danger_no_auth: self.danger_no_auth.then_some(true),
            native_vnc_target: self
                .native_vnc_target
                .clone()
                .map(|n| (n, Origin::Flag("--native-vnc-target"))),
            recording: self.record_dir.clone().map(|dir| {
                (
                    gateway::config::recording::RecordingSection {
                        dir: Some(dir),
                        ..Default::default()
                    },
                    Origin::Flag("--record-dir"),
                )
            }),
            native_vnc_auth: if self.native_vnc_auth.is_empty() {
                None
            } else {
                let given = self.native_vnc_auth.join(",");
                let list = gateway::config::parse_native_auth(&self.native_vnc_auth)
                    .map_err(|p| invalid("--native-vnc-auth", &given, p))?;
                Some((list, Origin::Flag("--native-vnc-auth")))
            },
            danger_allow_plain_vnc: self
                .danger_allow_plain_vnc
                .clone()
                .map(|n| (n, Origin::Flag("--danger-allow-plain-vnc"))),
            proxy_protocol_from: cidrs("--proxy-protocol-from", &self.proxy_protocol_from)?,
            metrics_from: cidrs("--metrics-from", &self.metrics_from)?,
            limits,
            limits_origin: Some(Origin::Flag("--limit")),
            client_ca: self
                .client_ca
                .clone()
                .map(|p| (p, Origin::Flag("--client-ca"))),
            crls: (!self.crls.is_empty()).then(|| (self.crls.clone(), Origin::Flag("--crl"))),
            client_auth: match self.client_auth.as_deref() {
                None => None,
                Some(m) => Some((
                    ClientAuth::parse(m)
                        .ok_or_else(|| invalid("--client-auth", m, Problem::ClientAuth))?,
                    Origin::Flag("--client-auth"),
                )),
            },
            acl: None,
            admins: None,
            admin_token_file: self.admin_token_file.clone(),
            anonymous_target_list: self.anonymous_target_list.then_some(true),
            audit_log: self.audit_log.clone(),
            acme: self.acme.clone(),
            public_url: match &self.public_url {
                None => None,
                Some(u) => Some(
                    gateway::config::PublicUrl::parse(u)
                        .map_err(|p| invalid("--public-url", u, p))?,
                ),
            },
            allow_origins: if self.allow_origins.is_empty() {
                None
            } else {
                Some(
                    self.allow_origins
                        .iter()
                        .map(|o| {
                            gateway::config::WebOrigin::parse(o)
                                .map_err(|p| invalid("--allow-origin", o, p))
                        })
                        .collect::<Result<_, _>>()?,
                )
            },
            store: match &self.store {
                None if self.store_ca.is_some() => {
                    let ca = self.store_ca.as_deref().unwrap_or(std::path::Path::new(""));
                    return Err(invalid(
                        "--store-ca",
                        &ca.display().to_string(),
                        gateway::config::store::StoreProblem::CaWithoutTls,
                    ));
                }
                None => None,
                Some(u) => Some(
                    gateway::config::store::StoreConfig::from_url(u, self.store_ca.clone())
                        .map_err(|p| invalid("--store", &gateway::config::store::redacted(u), p))?,
                ),
            },
            instance: match &self.instance {
                None => None,
                Some(i) => Some(
                    gateway::config::parse_instance(i).map_err(|p| invalid("--instance", i, p))?,
                ),
            },
            web_root_csp: match &self.web_root_csp {
                None => None,
                Some(c) => Some(
                    gateway::config::web::parse_csp(c)
                        .map_err(|p| invalid("--web-root-csp", c, p))?,
                ),
            },
        })
    }

    /// Reads the config file (if any) and the flags into one [`Config`]. Opens no socket.
    /// Called again on SIGHUP: the file is read anew, the flags still override it.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let flags = self.flag_layer()?;
        let base = match &self.config {
            Some(path) => file::load(path)?,
            None => Layer::default(),
        };
        let merged = base.overridden_by(flags);
        let default_state = gateway::state_dir::resolve(None);
        merged.into_config(default_state)
    }
}

/// Runs the gateway until SIGTERM or Ctrl-C.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.load()?;
    running::serve(config, Box::new(move || args.load()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        args: ServeArgs,
    }

    fn parse(args: &[&str]) -> ServeArgs {
        Cmd::parse_from(std::iter::once("serve").chain(args.iter().copied())).args
    }

    #[test]
    fn flags_are_laid_over_the_config_file() {
        let dir = std::env::temp_dir().join(format!("vncgate-serve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("vncgate.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9443\"\nnative_vnc_target = \"desk\"\n[targets]\ndesk = \"10.0.0.5:5900\"\n[limits]\nmax_connections = 5\nshutdown_grace_secs = 9\n",
        )
        .expect("write");
        let path = file.display().to_string();
        let c = parse(&[
            "--config",
            &path,
            "--target",
            "desk=127.0.0.1:5902",
            "--limit",
            "max_connections=7",
            "--proxy-protocol-from",
            "10.0.0.0/8",
            "--danger-no-auth",
        ])
        .load()
        .expect("valid");
        assert_eq!(c.listen.port(), 9443);
        assert_eq!(c.targets.get("desk").map(|t| t.port), Some(5902));
        assert_eq!(c.native_vnc.in_tls.as_deref(), Some("desk"));
        assert_eq!(c.limits.max_connections, 7);
        assert_eq!(c.limits.shutdown_grace, std::time::Duration::from_secs(9));
        assert_eq!(c.auth, gateway::config::AuthMode::DangerNone);
        assert!(c
            .proxy_protocol_from
            .contains("10.1.2.3".parse().expect("ip")));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn errors_name_the_flag() {
        let e = parse(&["--limit", "max_connections=x"])
            .load()
            .expect_err("bad");
        assert!(
            e.to_string().starts_with("--limit: \"max_connections=x\""),
            "{e}"
        );
        let e = parse(&["--metrics-from", "localhost"])
            .load()
            .expect_err("bad");
        assert!(e.to_string().contains("--metrics-from"), "{e}");
    }
}
