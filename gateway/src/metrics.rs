//! Counters and gauges, kept in atomics and rendered in the Prometheus text format at
//! `/metrics`. Each labelled family is a closed set of label values (an enum), so the output
//! has a fixed shape and no client can grow it.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// A closed set of label values.
pub trait Label: Copy + 'static {
    /// The label's name (`reason`, `side`, …).
    const KEY: &'static str;
    const ALL: &'static [Self];
    fn value(self) -> &'static str;
    fn index(self) -> usize;
}

macro_rules! label_enum {
    ($(#[$m:meta])* $name:ident, $key:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($variant),+ }
        impl Label for $name {
            const KEY: &'static str = $key;
            const ALL: &'static [Self] = &[$(Self::$variant),+];
            fn value(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
            fn index(self) -> usize { self as usize }
        }
    };
}

label_enum!(
    /// What the first bytes of a connection (or of its TLS stream) turned out to be.
    Detected, "result" {
        Tls => "tls",
        PlainHttp => "plain_http",
        ProxyUntrusted => "proxy_header_untrusted",
        SilentPlain => "silent_plain",
        Unknown => "unknown",
        Closed => "closed",
        TlsHttp => "tls_http",
        TlsSilent => "tls_silent",
        TlsUnknown => "tls_unknown",
    }
);

label_enum!(
    /// Why a connection was closed before any protocol ran.
    Refused, "reason" {
        MaxConnections => "max_connections",
        MaxPerAddress => "max_connections_per_address",
        ProxyHeaderInvalid => "proxy_header_invalid",
        ProxyHeaderTimeout => "proxy_header_timeout",
        ProxyHeaderUntrusted => "proxy_header_untrusted",
        PlainVncDisabled => "plain_vnc_disabled",
        NativeTlsDisabled => "native_vnc_tls_disabled",
    }
);

label_enum!(
    /// Why a TLS handshake failed.
    HandshakeFailure, "reason" {
        Timeout => "timeout",
        Closed => "closed",
        Incompatible => "incompatible",
        BadMessage => "bad_message",
        AlertReceived => "alert_received",
        Other => "other",
    }
);

label_enum!(
    /// Which side of a relay failed.
    Side, "side" {
        Client => "client",
        Target => "target",
    }
);

label_enum!(
    /// Why a relay was refused before it started.
    RelayRefused, "reason" {
        UnknownTarget => "unknown_target",
        NoAuthConfigured => "no_auth_configured",
        CredentialsMissing => "credentials_missing",
        NotAllowed => "not_allowed",
        KeyUnknown => "key_unknown",
        KeyUsed => "key_used",
        KeyExpired => "key_expired",
        KeyRevoked => "key_revoked",
        KeyWrongTarget => "key_wrong_target",
        KeyWrongIdentity => "key_wrong_identity",
        KeyStoreUnavailable => "key_store_unavailable",
        LockedOut => "locked_out",
        NoDefaultTarget => "no_default_target",
        TargetUnreachable => "target_unreachable",
        TargetTimeout => "target_timeout",
        BackendLoginFailed => "backend_login_failed",
        UpgradeFailed => "upgrade_failed",
    }
);

label_enum!(
    /// Why a client certificate was refused in the TLS handshake.
    CertRefused, "reason" {
        Missing => "missing",
        Revoked => "revoked",
        Expired => "expired",
        NotYetValid => "not_yet_valid",
        UnknownCa => "unknown_ca",
        UnknownRevocationStatus => "unknown_revocation_status",
        CrlExpired => "crl_expired",
        Invalid => "invalid",
    }
);

label_enum!(
    /// Which kind of credential failed (each failure counts towards the address's lockout).
    AuthFailure, "credential" {
        OneTimeKey => "one_time_key",
        ClientCertificate => "client_certificate",
        AdminToken => "admin_token",
    }
);

label_enum!(
    /// What happened to one-time keys.
    KeyEvent, "event" {
        Issued => "issued",
        Used => "used",
        Refused => "refused",
        Revoked => "revoked",
    }
);

/// One counter per label value.
#[derive(Debug)]
pub struct Family<L: Label> {
    values: Vec<AtomicU64>,
    _label: std::marker::PhantomData<L>,
}

impl<L: Label> Default for Family<L> {
    fn default() -> Self {
        Self {
            values: L::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
            _label: std::marker::PhantomData,
        }
    }
}

impl<L: Label> Family<L> {
    pub fn inc(&self, l: L) {
        if let Some(v) = self.values.get(l.index()) {
            v.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn get(&self, l: L) -> u64 {
        self.values
            .get(l.index())
            .map_or(0, |v| v.load(Ordering::Relaxed))
    }
}

/// Every metric of the gateway.
#[derive(Debug, Default)]
pub struct Metrics {
    pub connections_total: AtomicU64,
    pub connections_open: AtomicI64,
    pub connections_refused: Family<Refused>,
    pub detected: Family<Detected>,
    pub tls_handshake_failures: Family<HandshakeFailure>,
    pub relays_total: AtomicU64,
    pub relays_open: AtomicI64,
    pub relays_refused: Family<RelayRefused>,
    pub relay_errors: Family<Side>,
    pub client_certs_refused: Family<CertRefused>,
    pub auth_failures: Family<AuthFailure>,
    pub one_time_keys: Family<KeyEvent>,
    /// Sessions through the gateway's own back-end login, and view-only input dropped.
    pub backend_logins: AtomicU64,
    pub view_only_dropped: AtomicU64,
    /// The desktop's clipboard messages dropped on their way to view-only viewers.
    pub view_only_clipboard_dropped: AtomicU64,
    pub bytes_to_target: AtomicU64,
    pub bytes_to_client: AtomicU64,
    pub plain_http_redirects: AtomicU64,
}

/// Decrements a gauge when dropped, so early returns cannot leak it.
#[derive(Debug)]
pub struct GaugeGuard<'a>(&'a AtomicI64);

impl<'a> GaugeGuard<'a> {
    pub fn new(gauge: &'a AtomicI64) -> Self {
        gauge.fetch_add(1, Ordering::Relaxed);
        Self(gauge)
    }
}

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One counter or gauge in the text format (also for values kept outside [`Metrics`]).
pub fn scalar(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

fn family<L: Label>(out: &mut String, name: &str, help: &str, f: &Family<L>) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for &l in L::ALL {
        let _ = writeln!(out, "{name}{{{}=\"{}\"}} {}", L::KEY, l.value(), f.get(l));
    }
}

impl Metrics {
    /// The Prometheus text exposition format, version 0.0.4.
    pub fn render(&self) -> String {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let g = |a: &AtomicI64| a.load(Ordering::Relaxed);
        let mut out = String::with_capacity(4096);
        scalar(
            &mut out,
            "vncgate_connections_total",
            "counter",
            "TCP connections accepted.",
            r(&self.connections_total),
        );
        scalar(
            &mut out,
            "vncgate_connections_open",
            "gauge",
            "TCP connections open now.",
            g(&self.connections_open),
        );
        family(
            &mut out,
            "vncgate_connections_refused_total",
            "Connections closed by a limit or policy before any protocol ran.",
            &self.connections_refused,
        );
        family(&mut out, "vncgate_detected_total", "What connections turned out to be, by their first bytes (tls_* for the bytes inside TLS).", &self.detected);
        family(
            &mut out,
            "vncgate_tls_handshake_failures_total",
            "TLS handshakes that failed, by reason.",
            &self.tls_handshake_failures,
        );
        scalar(
            &mut out,
            "vncgate_plain_http_redirects_total",
            "counter",
            "Plain HTTP requests answered with a redirect to https.",
            r(&self.plain_http_redirects),
        );
        scalar(
            &mut out,
            "vncgate_relays_total",
            "counter",
            "Relays started (WebSocket or native VNC to a target).",
            r(&self.relays_total),
        );
        scalar(
            &mut out,
            "vncgate_relays_open",
            "gauge",
            "Relays open now.",
            g(&self.relays_open),
        );
        family(
            &mut out,
            "vncgate_relays_refused_total",
            "Relays refused before they started, by reason.",
            &self.relays_refused,
        );
        family(
            &mut out,
            "vncgate_client_certificates_refused_total",
            "Client certificates refused in the TLS handshake, by reason.",
            &self.client_certs_refused,
        );
        family(
            &mut out,
            "vncgate_auth_failures_total",
            "Failed authentications (each counts towards the address's lockout), by credential.",
            &self.auth_failures,
        );
        family(
            &mut out,
            "vncgate_one_time_keys_total",
            "One-time keys issued, used, refused and revoked.",
            &self.one_time_keys,
        );
        scalar(
            &mut out,
            "vncgate_backend_logins_total",
            "counter",
            "Sessions for which the gateway logged in to the VNC server itself.",
            r(&self.backend_logins),
        );
        scalar(
            &mut out,
            "vncgate_view_only_input_dropped_total",
            "counter",
            "Input messages (keys, pointer, clipboard, resize) dropped from view-only sessions.",
            r(&self.view_only_dropped),
        );
        scalar(
            &mut out,
            "vncgate_view_only_clipboard_dropped_total",
            "counter",
            "Clipboard messages from the desktop dropped on their way to view-only viewers.",
            r(&self.view_only_clipboard_dropped),
        );
        family(
            &mut out,
            "vncgate_relay_errors_total",
            "Relays that ended with an error, by the side that failed.",
            &self.relay_errors,
        );
        let _ = writeln!(
            out,
            "# HELP vncgate_relay_bytes_total Payload bytes relayed, by direction.\n# TYPE vncgate_relay_bytes_total counter\n\
             vncgate_relay_bytes_total{{direction=\"to_target\"}} {}\nvncgate_relay_bytes_total{{direction=\"to_client\"}} {}",
            r(&self.bytes_to_target),
            r(&self.bytes_to_client)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_help_and_type() {
        let m = Metrics::default();
        m.connections_total.fetch_add(3, Ordering::Relaxed);
        m.tls_handshake_failures.inc(HandshakeFailure::Timeout);
        m.relay_errors.inc(Side::Target);
        {
            let _open = GaugeGuard::new(&m.connections_open);
            assert!(m.render().contains("vncgate_connections_open 1\n"));
        }
        let text = m.render();
        assert!(text.contains("vncgate_connections_total 3\n"), "{text}");
        assert!(text.contains("vncgate_connections_open 0\n"), "{text}");
        assert!(text.contains("vncgate_tls_handshake_failures_total{reason=\"timeout\"} 1\n"));
        assert!(text.contains("vncgate_relay_errors_total{side=\"target\"} 1\n"));
        assert!(text.contains("vncgate_relay_errors_total{side=\"client\"} 0\n"));
        assert!(text.contains("vncgate_relay_bytes_total{direction=\"to_client\"} 0\n"));
        // Every sample line belongs to a family announced with HELP and TYPE.
        let mut announced = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                announced.push(rest.split(' ').next().unwrap_or_default().to_owned());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap_or_default();
                assert!(announced.iter().any(|a| a == name), "{line}");
            }
        }
    }
}
