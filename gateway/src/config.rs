//! The one validated configuration of `vncgate serve`: typed values only, no sockets opened.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A configuration value that could not be used, and why.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("--target {given:?}: expected NAME=HOST:PORT, for example desk=127.0.0.1:5901")]
    TargetSyntax { given: String },
    #[error("--target {given:?}: the name may use only letters, digits, '-', '_' and '.', at most 64 of them")]
    TargetName { given: String },
    #[error("--target {given:?}: the port must be a number from 1 to 65535")]
    TargetPort { given: String },
    #[error("--target {name:?} is given twice")]
    TargetDuplicate { name: String },
}

/// Where a named target lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetAddr {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for TargetAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Parses `NAME=HOST:PORT` (HOST may be `[v6]`).
pub fn parse_target(given: &str) -> Result<(String, TargetAddr), ConfigError> {
    let syntax = || ConfigError::TargetSyntax {
        given: given.to_owned(),
    };
    let (name, addr) = given.split_once('=').ok_or_else(syntax)?;
    let valid_name = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !valid_name {
        return Err(ConfigError::TargetName {
            given: given.to_owned(),
        });
    }
    let (host, port) = addr.rsplit_once(':').ok_or_else(syntax)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || host.contains(['/', ' ', '?', '#', '@']) {
        return Err(syntax());
    }
    let port: u16 = match port.parse() {
        Ok(p) if p > 0 => p,
        _ => {
            return Err(ConfigError::TargetPort {
                given: given.to_owned(),
            })
        }
    };
    Ok((
        name.to_owned(),
        TargetAddr {
            host: host.to_owned(),
            port,
        },
    ))
}

/// The VNC servers the gateway may relay to, by name. Nothing else is ever dialled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets(BTreeMap<String, TargetAddr>);

impl Targets {
    pub fn from_specs<'a>(specs: impl IntoIterator<Item = &'a str>) -> Result<Self, ConfigError> {
        let mut map = BTreeMap::new();
        for spec in specs {
            let (name, addr) = parse_target(spec)?;
            if map.insert(name.clone(), addr).is_some() {
                return Err(ConfigError::TargetDuplicate { name });
            }
        }
        Ok(Self(map))
    }

    pub fn get(&self, name: &str) -> Option<&TargetAddr> {
        self.0.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// How users are authenticated before a relay starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// No method configured: every relay is refused.
    Unconfigured,
    /// `--danger-no-auth`: anyone who reaches the port may use every target.
    DangerNone,
}

/// Timeouts and sizes, each with a safe default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// How long to wait for a client's first bytes before treating it as silent.
    pub detect_timeout: Duration,
    pub tls_handshake_timeout: Duration,
    pub http_header_timeout: Duration,
    pub backend_connect_timeout: Duration,
    /// Largest WebSocket message accepted from a browser.
    pub max_ws_message_bytes: usize,
    /// Connections open at once, over all clients.
    pub max_connections: usize,
    /// How long sessions may drain after SIGTERM/Ctrl-C before they are cut.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            detect_timeout: Duration::from_millis(1000),
            tls_handshake_timeout: Duration::from_secs(10),
            http_header_timeout: Duration::from_secs(10),
            backend_connect_timeout: Duration::from_secs(10),
            max_ws_message_bytes: 4 << 20,
            max_connections: 1024,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Everything `serve` needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub targets: Targets,
    pub state_dir: PathBuf,
    /// Extra DNS names or addresses for the self-signed certificate.
    pub names: Vec<String>,
    /// Serve assets from this folder instead of the embedded ones.
    pub web_root: Option<PathBuf>,
    pub auth: AuthMode,
    pub limits: Limits,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        let (n, a) = parse_target("desk=127.0.0.1:5901").expect("valid");
        assert_eq!(
            (n.as_str(), a.host.as_str(), a.port),
            ("desk", "127.0.0.1", 5901)
        );
        let (_, a) = parse_target("v6=[::1]:5900").expect("valid");
        assert_eq!(a.to_string(), "[::1]:5900");
    }

    #[test]
    fn rejects_bad_targets_with_the_reason() {
        assert!(matches!(
            parse_target("desk"),
            Err(ConfigError::TargetSyntax { .. })
        ));
        assert!(matches!(
            parse_target("de sk=h:1"),
            Err(ConfigError::TargetName { .. })
        ));
        assert!(matches!(
            parse_target("d=h:0"),
            Err(ConfigError::TargetPort { .. })
        ));
        assert!(matches!(
            parse_target("d=h:x"),
            Err(ConfigError::TargetPort { .. })
        ));
        assert!(matches!(
            parse_target("d=a/b:1"),
            Err(ConfigError::TargetSyntax { .. })
        ));
        assert_eq!(
            Targets::from_specs(["a=h:1", "a=h:2"]),
            Err(ConfigError::TargetDuplicate { name: "a".into() })
        );
    }
}
