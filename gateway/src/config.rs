//! The one validated configuration of `vncgate serve`: flags and the TOML file are each parsed
//! into a [`Layer`] (typed, every value remembering where it came from), the flag layer is laid
//! over the file layer, and [`Layer::into_config`] checks how the values fit together.
//! Nothing here opens a socket.

pub mod auth;
pub mod backend;
pub mod cidr;
pub mod file;
pub mod layer;
pub mod limits;
pub mod recording;
pub mod store;
pub mod targets;
pub mod web;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

pub use auth::{Access, AclProblem, AclSection};
pub use backend::{BackendLogin, BackendProblem, BackendTrust, Secret};
pub use cidr::{Cidr, CidrError, CidrSet};
pub use layer::Layer;
pub use limits::{Limits, LimitsLayer};
pub use targets::{parse_target, TargetAddr, TargetProblem, Targets};
pub use web::{PublicUrl, Web, WebOrigin, WebProblem};

/// The default listening address.
pub const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 8443);

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Flag(&'static str),
    File { path: PathBuf, key: String },
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Flag(flag) => f.write_str(flag),
            Self::File { path, key } => write!(f, "{}: key {key}", path.display()),
        }
    }
}

/// What is wrong with one value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error(transparent)]
    Target(#[from] TargetProblem),
    #[error(transparent)]
    Cidr(#[from] CidrError),
    #[error(transparent)]
    Limit(#[from] limits::LimitFlagProblem),
    #[error("expected ADDR:PORT, for example 0.0.0.0:8443 or [::]:443")]
    ListenSyntax,
    #[error("expected \"required\" or \"optional\"")]
    ClientAuth,
    #[error(transparent)]
    Backend(#[from] BackendProblem),
    #[error(transparent)]
    Web(#[from] WebProblem),
    #[error(transparent)]
    Store(#[from] store::StoreProblem),
    #[error("an instance name is 1 to 64 letters, digits and . _ : - (it names the instance in the session list)")]
    Instance,
    #[error("expected one-time-key, certificate or off (a list: one-time-key,certificate)")]
    NativeAuth,
    #[error(transparent)]
    Recording(#[from] recording::RecordingProblem),
}

/// A configuration that cannot be used, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{origin}: {given:?}: {problem}")]
    Invalid {
        origin: Origin,
        given: String,
        problem: Problem,
    },
    #[error("{origin}: {error}")]
    LimitRange {
        origin: Origin,
        error: limits::LimitRange,
    },
    #[error("cannot read the config file {path}: {error}")]
    FileRead {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {detail}\n(the keys are described in docs/gateway.md)")]
    FileSyntax { path: PathBuf, detail: String },
    #[error("{origin}: target {name:?} is given twice; give each name once")]
    TargetDuplicate { origin: Origin, name: String },
    #[error("{origin}: there is no target named {name:?}; define it with --target {name}=HOST:PORT or under [targets]")]
    UnknownTarget { origin: Origin, name: String },
    #[error(
        "{given} is given without {missing}: give both, or neither for the self-signed certificate"
    )]
    CertPair {
        given: &'static str,
        missing: &'static str,
    },
    #[error("--key-passphrase-file applies to --key: give --cert and --key too")]
    PassphraseWithoutKey,
    #[error("--name adds names to the self-signed certificate only; with --cert, put the names into your certificate")]
    NamesWithCert,
    #[error("{0} (in the config file: the same settings under [acme], see docs/acme.md)")]
    Acme(#[from] crate::acme::AcmeConfigError),
    #[error("--web-root-csp applies to files served from --web-root: give --web-root too (the built-in viewer keeps its own policy)")]
    CspWithoutWebRoot,
    #[error("--acme-domain and --cert/--key both name the certificate to serve: use one of them")]
    AcmeWithCert,
    #[error("{origin}: a plain (non-TLS) VNC client cannot authenticate to the gateway, so this also needs --danger-no-auth")]
    PlainVncNeedsNoAuth { origin: Origin },
    #[error("{origin}: {problem}")]
    Acl { origin: Origin, problem: AclProblem },
    #[error("{origin} applies to client certificates: give the CA that issues them with --client-ca FILE (or client_ca under [auth])")]
    NeedsClientCa { origin: Origin },
}

/// Whether relays need authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Every relay needs a one-time key or a client certificate the client CA verified (the
    /// default; without `--client-ca`, only one-time keys).
    Required,
    /// `--danger-no-auth`: anyone who reaches the port may use every target.
    DangerNone,
}

/// Where the TLS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// Made on first start and kept in the state directory; `names` are extra SANs.
    SelfSigned { names: Vec<String> },
    /// The operator's PEM files: chain (leaf first, then intermediates) and key.
    Files {
        cert: PathBuf,
        key: PathBuf,
        key_passphrase_file: Option<PathBuf>,
    },
}

/// Native VNC clients (which wait for the server to speak first) and where they may go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NativeVnc {
    /// Inside TLS (stunnel, `ss_vncviewer`, `vncviewer` with an SSL wrapper): this target.
    pub in_tls: Option<String>,
    /// In clear: this target. Dangerous: nothing on the wire is protected.
    pub danger_plain: Option<String>,
    /// How a native viewer on the plain port authenticates inside VeNCrypt, in the order
    /// offered; empty: VeNCrypt is off (silent clients are refused).
    pub vencrypt: Vec<NativeAuth>,
}

/// A way for a native viewer to authenticate inside the gateway's VeNCrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeAuth {
    /// X509None: a client certificate the client CA verifies.
    Certificate,
    /// X509Plain: user name = the target, password = a one-time key.
    OneTimeKey,
}

/// Parses `--native-vnc-auth` / `native_vnc_auth`: `one-time-key`, `certificate`, or `off`
/// (alone) — certificates first, as they are offered.
pub fn parse_native_auth(items: &[String]) -> Result<Vec<NativeAuth>, Problem> {
    let mut out = Vec::new();
    for item in items {
        match item.trim() {
            "off" if items.len() == 1 => return Ok(Vec::new()),
            "certificate" => out.push(NativeAuth::Certificate),
            "one-time-key" => out.push(NativeAuth::OneTimeKey),
            _ => return Err(Problem::NativeAuth),
        }
    }
    if out.is_empty() {
        return Err(Problem::NativeAuth);
    }
    out.sort_by_key(|a| *a != NativeAuth::Certificate);
    out.dedup();
    Ok(out)
}

/// Everything `serve` needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub targets: Targets,
    /// Targets the gateway logs in to itself, by name.
    pub logins: std::collections::BTreeMap<String, BackendLogin>,
    pub state_dir: PathBuf,
    pub tls: TlsSource,
    /// Serve assets from this folder instead of the embedded ones.
    pub web_root: Option<PathBuf>,
    pub auth: AuthMode,
    /// Client certificates, access list, admins.
    pub access: Access,
    /// Where one JSON line per session goes; `None`: into the log.
    pub audit_log: Option<PathBuf>,
    pub native_vnc: NativeVnc,
    /// Peers that must start with a PROXY protocol header (and only they may).
    pub proxy_protocol_from: CidrSet,
    /// Client addresses that may read `/metrics`.
    pub metrics_from: CidrSet,
    pub limits: Limits,
    /// Certificates from an ACME CA instead of the self-signed one.
    pub acme: Option<crate::acme::AcmeConfig>,
    /// The public URL, origins allowed to embed, the policy for `--web-root` content.
    pub web: Web,
    /// Where keys, the lockout and the session registry are kept (`--store`).
    pub store: store::StoreConfig,
    /// This instance's name in the session registry; `None`: HOSTNAME:PORT.
    pub instance: Option<String>,
    /// Session recordings (`--record-dir`, `[recording]`).
    pub recording: Option<recording::Recording>,
}

impl Config {
    /// A configuration for tests and embedding: listen on `listen`, no targets, self-signed
    /// certificate in `state_dir`, default limits, no client CA (one-time keys only).
    pub fn new(listen: SocketAddr, state_dir: PathBuf) -> Self {
        Self {
            listen,
            targets: Targets::default(),
            logins: Default::default(),
            state_dir,
            tls: TlsSource::SelfSigned { names: Vec::new() },
            web_root: None,
            auth: AuthMode::Required,
            access: Access::default(),
            audit_log: None,
            native_vnc: NativeVnc::default(),
            proxy_protocol_from: CidrSet::default(),
            metrics_from: CidrSet::loopback(),
            limits: Limits::default(),
            acme: None,
            web: Web::default(),
            store: store::StoreConfig::Sqlite,
            instance: None,
            recording: None,
        }
    }
}

/// This machine's host name, if it has one.
pub fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

/// `https://HOST:PORT` for a listening address (the host's name for 0.0.0.0 and ::).
pub fn url_of_listen(listen: SocketAddr) -> String {
    let host = if listen.ip().is_unspecified() {
        host_name().unwrap_or_else(|| "localhost".to_owned())
    } else if listen.is_ipv6() {
        format!("[{}]", listen.ip())
    } else {
        listen.ip().to_string()
    };
    format!("https://{host}:{}", listen.port())
}

/// Checks an instance name (`--instance`).
pub fn parse_instance(s: &str) -> Result<String, Problem> {
    let ok = (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(Problem::Instance)
    }
}
