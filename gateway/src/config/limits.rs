//! Timeouts and sizes, each with a safe default, settable under `[limits]` in the config file
//! or with `--limit KEY=VALUE` (the same keys).

use std::time::Duration;

use serde::Deserialize;

/// Timeouts and sizes in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// How long to wait for a client's first bytes before treating it as a silent (native VNC)
    /// client; also used for the first bytes inside TLS.
    pub detect_timeout: Duration,
    /// How long a trusted proxy has to send its complete PROXY header.
    pub proxy_header_timeout: Duration,
    pub tls_handshake_timeout: Duration,
    /// Total time for a request's headers (slowloris defence), in TLS and in clear.
    pub http_header_timeout: Duration,
    /// From the 101 response to a usable WebSocket.
    pub websocket_upgrade_timeout: Duration,
    pub backend_connect_timeout: Duration,
    /// Ping an open WebSocket this often; a browser that answers nothing for two intervals is
    /// gone. `None`: no pings.
    pub websocket_ping_interval: Option<Duration>,
    /// Largest WebSocket message (and frame) accepted from a browser.
    pub max_websocket_message_bytes: usize,
    /// Largest request head read from a plain-HTTP client before it is redirected.
    pub max_http_header_bytes: usize,
    /// Connections open at once, over all clients.
    pub max_connections: usize,
    /// Connections open at once from one client address (IPv6: one /64).
    pub max_connections_per_address: usize,
    /// How long sessions may drain after SIGTERM/Ctrl-C before they are closed.
    pub shutdown_grace: Duration,
    /// How often the certificate files are checked for changes.
    pub cert_poll_interval: Duration,
    /// Failed authentications from one address before it is blocked.
    pub lockout_failures: u32,
    /// The first block; each further failure doubles it.
    pub lockout_block: Duration,
    /// The longest block.
    pub lockout_max_block: Duration,
    /// How long a write to a client may stall (it reads nothing) before the connection is
    /// closed — at every stage: TLS, HTTP responses, relays.
    pub write_timeout: Duration,
    /// How long an HTTP connection may sit between requests (keep-alive) or in a request body
    /// without a byte from the client. Not applied once a connection relays.
    pub http_idle_timeout: Duration,
    /// How often the session registry is published again; an entry not refreshed for three
    /// heartbeats disappears (an instance that died).
    pub session_heartbeat: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            detect_timeout: Duration::from_millis(1000),
            proxy_header_timeout: Duration::from_secs(5),
            tls_handshake_timeout: Duration::from_secs(10),
            http_header_timeout: Duration::from_secs(10),
            websocket_upgrade_timeout: Duration::from_secs(10),
            backend_connect_timeout: Duration::from_secs(10),
            websocket_ping_interval: Some(Duration::from_secs(30)),
            max_websocket_message_bytes: 4 << 20,
            max_http_header_bytes: 8 << 10,
            max_connections: 1024,
            max_connections_per_address: 64,
            shutdown_grace: Duration::from_secs(5),
            cert_poll_interval: Duration::from_secs(5),
            lockout_failures: 5,
            lockout_block: Duration::from_secs(10),
            lockout_max_block: Duration::from_secs(3600),
            write_timeout: Duration::from_secs(30),
            http_idle_timeout: Duration::from_secs(60),
            session_heartbeat: Duration::from_secs(10),
        }
    }
}

/// `[limits]` as written: every key optional, unknown keys refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsLayer {
    pub detect_timeout_ms: Option<u64>,
    pub proxy_header_timeout_secs: Option<u64>,
    pub tls_handshake_timeout_secs: Option<u64>,
    pub http_header_timeout_secs: Option<u64>,
    pub websocket_upgrade_timeout_secs: Option<u64>,
    pub backend_connect_timeout_secs: Option<u64>,
    pub websocket_ping_interval_secs: Option<u64>,
    pub max_websocket_message_bytes: Option<u64>,
    pub max_http_header_bytes: Option<u64>,
    pub max_connections: Option<u64>,
    pub max_connections_per_address: Option<u64>,
    pub shutdown_grace_secs: Option<u64>,
    pub cert_poll_interval_secs: Option<u64>,
    pub lockout_failures: Option<u64>,
    pub lockout_block_secs: Option<u64>,
    pub lockout_max_block_secs: Option<u64>,
    pub write_timeout_secs: Option<u64>,
    pub http_idle_timeout_secs: Option<u64>,
    pub session_heartbeat_secs: Option<u64>,
}

/// The keys, as listed in error messages and `--help`.
pub const KEYS: &[&str] = &[
    "detect_timeout_ms",
    "proxy_header_timeout_secs",
    "tls_handshake_timeout_secs",
    "http_header_timeout_secs",
    "websocket_upgrade_timeout_secs",
    "backend_connect_timeout_secs",
    "websocket_ping_interval_secs",
    "max_websocket_message_bytes",
    "max_http_header_bytes",
    "max_connections",
    "max_connections_per_address",
    "shutdown_grace_secs",
    "cert_poll_interval_secs",
    "lockout_failures",
    "lockout_block_secs",
    "lockout_max_block_secs",
    "write_timeout_secs",
    "http_idle_timeout_secs",
    "session_heartbeat_secs",
];

/// A limit that is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} = {value}: must be from {min} to {max}")]
pub struct LimitRange {
    pub key: &'static str,
    pub value: u64,
    pub min: u64,
    pub max: u64,
}

/// Why a `--limit KEY=VALUE` could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitFlagProblem {
    #[error("expected KEY=NUMBER, for example max_connections=512")]
    Syntax,
    #[error("unknown key {key:?}; the keys are: {}", KEYS.join(", "))]
    UnknownKey { key: String },
}

impl LimitsLayer {
    /// Parses one `KEY=NUMBER`, through the same serde definition as the file so the keys
    /// cannot drift apart.
    pub fn parse_flag(given: &str) -> Result<Self, LimitFlagProblem> {
        let (key, value) = given
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .ok_or(LimitFlagProblem::Syntax)?;
        if !KEYS.contains(&key) {
            return Err(LimitFlagProblem::UnknownKey {
                key: key.to_owned(),
            });
        }
        let value = value.replace('_', "");
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(LimitFlagProblem::Syntax);
        }
        toml::from_str(&format!("{key} = {value}")).map_err(|_| LimitFlagProblem::Syntax)
    }

    /// `self`, with every key set in `over` replaced.
    pub fn overridden_by(self, over: &Self) -> Self {
        macro_rules! pick {
            ($($f:ident),*) => { Self { $($f: over.$f.or(self.$f)),* } };
        }
        pick!(
            detect_timeout_ms,
            proxy_header_timeout_secs,
            tls_handshake_timeout_secs,
            http_header_timeout_secs,
            websocket_upgrade_timeout_secs,
            backend_connect_timeout_secs,
            websocket_ping_interval_secs,
            max_websocket_message_bytes,
            max_http_header_bytes,
            max_connections,
            max_connections_per_address,
            shutdown_grace_secs,
            cert_poll_interval_secs,
            lockout_failures,
            lockout_block_secs,
            lockout_max_block_secs,
            write_timeout_secs,
            http_idle_timeout_secs,
            session_heartbeat_secs
        )
    }

    /// The limits in force: defaults, with each set key checked against its range.
    pub fn resolve(&self) -> Result<Limits, LimitRange> {
        let d = Limits::default();
        let get = |key: &'static str, v: Option<u64>, min: u64, max: u64| match v {
            None => Ok(None),
            Some(value) if (min..=max).contains(&value) => Ok(Some(value)),
            Some(value) => Err(LimitRange {
                key,
                value,
                min,
                max,
            }),
        };
        const DAY_S: u64 = 86_400;
        let secs = |key, v, min| get(key, v, min, DAY_S).map(|o| o.map(Duration::from_secs));
        let size = |key, v, min, max| -> Result<Option<usize>, LimitRange> {
            Ok(get(key, v, min, max)?.and_then(|n| usize::try_from(n).ok()))
        };
        Ok(Limits {
            detect_timeout: get("detect_timeout_ms", self.detect_timeout_ms, 10, 60_000)?
                .map_or(d.detect_timeout, Duration::from_millis),
            proxy_header_timeout: secs(
                "proxy_header_timeout_secs",
                self.proxy_header_timeout_secs,
                1,
            )?
            .unwrap_or(d.proxy_header_timeout),
            tls_handshake_timeout: secs(
                "tls_handshake_timeout_secs",
                self.tls_handshake_timeout_secs,
                1,
            )?
            .unwrap_or(d.tls_handshake_timeout),
            http_header_timeout: secs(
                "http_header_timeout_secs",
                self.http_header_timeout_secs,
                1,
            )?
            .unwrap_or(d.http_header_timeout),
            websocket_upgrade_timeout: secs(
                "websocket_upgrade_timeout_secs",
                self.websocket_upgrade_timeout_secs,
                1,
            )?
            .unwrap_or(d.websocket_upgrade_timeout),
            backend_connect_timeout: secs(
                "backend_connect_timeout_secs",
                self.backend_connect_timeout_secs,
                1,
            )?
            .unwrap_or(d.backend_connect_timeout),
            websocket_ping_interval: match secs(
                "websocket_ping_interval_secs",
                self.websocket_ping_interval_secs,
                0,
            )? {
                None => d.websocket_ping_interval,
                Some(z) if z.is_zero() => None,
                Some(i) => Some(i),
            },
            max_websocket_message_bytes: size(
                "max_websocket_message_bytes",
                self.max_websocket_message_bytes,
                1 << 10,
                1 << 30,
            )?
            .unwrap_or(d.max_websocket_message_bytes),
            max_http_header_bytes: size(
                "max_http_header_bytes",
                self.max_http_header_bytes,
                256,
                1 << 20,
            )?
            .unwrap_or(d.max_http_header_bytes),
            max_connections: size("max_connections", self.max_connections, 1, 1 << 20)?
                .unwrap_or(d.max_connections),
            max_connections_per_address: size(
                "max_connections_per_address",
                self.max_connections_per_address,
                1,
                1 << 20,
            )?
            .unwrap_or(d.max_connections_per_address),
            shutdown_grace: secs("shutdown_grace_secs", self.shutdown_grace_secs, 0)?
                .unwrap_or(d.shutdown_grace),
            cert_poll_interval: secs("cert_poll_interval_secs", self.cert_poll_interval_secs, 1)?
                .unwrap_or(d.cert_poll_interval),
            lockout_failures: get("lockout_failures", self.lockout_failures, 1, 1000)?
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(d.lockout_failures),
            lockout_block: secs("lockout_block_secs", self.lockout_block_secs, 1)?
                .unwrap_or(d.lockout_block),
            lockout_max_block: secs("lockout_max_block_secs", self.lockout_max_block_secs, 1)?
                .unwrap_or(d.lockout_max_block),
            write_timeout: secs("write_timeout_secs", self.write_timeout_secs, 1)?
                .unwrap_or(d.write_timeout),
            http_idle_timeout: secs("http_idle_timeout_secs", self.http_idle_timeout_secs, 1)?
                .unwrap_or(d.http_idle_timeout),
            session_heartbeat: get(
                "session_heartbeat_secs",
                self.session_heartbeat_secs,
                1,
                300,
            )?
            .map_or(d.session_heartbeat, Duration::from_secs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_when_nothing_is_set() {
        assert_eq!(LimitsLayer::default().resolve(), Ok(Limits::default()));
    }

    #[test]
    fn flags_use_the_file_keys_and_override() {
        let file: LimitsLayer =
            toml::from_str("max_connections = 10\ndetect_timeout_ms = 300").expect("valid");
        let flag = LimitsLayer::parse_flag("max_connections=20").expect("valid");
        let l = file.overridden_by(&flag).resolve().expect("in range");
        assert_eq!(l.max_connections, 20);
        assert_eq!(l.detect_timeout, Duration::from_millis(300));
        let off = LimitsLayer::parse_flag("websocket_ping_interval_secs = 0").expect("valid");
        assert_eq!(off.resolve().expect("ok").websocket_ping_interval, None);
        assert_eq!(
            LimitsLayer::parse_flag("max_websocket_message_bytes=1_048_576")
                .expect("underscores")
                .max_websocket_message_bytes,
            Some(1 << 20)
        );
    }

    #[test]
    fn every_key_is_known_to_serde() {
        for key in KEYS {
            LimitsLayer::parse_flag(&format!("{key}=1")).expect(key);
        }
    }

    #[test]
    fn bad_flags_and_ranges_say_what_to_do() {
        assert_eq!(
            LimitsLayer::parse_flag("max_connections"),
            Err(LimitFlagProblem::Syntax)
        );
        assert_eq!(
            LimitsLayer::parse_flag("max_connections=-1"),
            Err(LimitFlagProblem::Syntax)
        );
        assert_eq!(
            LimitsLayer::parse_flag("max_connections=1\nx=2"),
            Err(LimitFlagProblem::Syntax)
        );
        let e = LimitsLayer::parse_flag("max_conns=1").expect_err("unknown");
        assert!(e.to_string().contains("max_connections_per_address"), "{e}");
        let zero = LimitsLayer::parse_flag("max_connections=0").expect("parses");
        let e = zero.resolve().expect_err("out of range");
        assert_eq!(
            e.to_string(),
            "max_connections = 0: must be from 1 to 1048576"
        );
        assert!(toml::from_str::<LimitsLayer>("max_connection = 1").is_err());
    }
}
