//! Whether and where a connection may go: the one decision every relay consumes.
//!
//! Each relay (WebSocket from a browser, native VNC inside TLS, native VNC in clear) asks
//! [`decide`] with what it knows about the client — how it came, which target it asked for,
//! the identity the TLS layer verified, and what its one-time key turned out to be — and gets
//! an [`Admission`]: a [`Route`] to dial (with the session's [`Mode`] and who it is for), or a
//! [`Refusal`] to show. The relay never dials anything that is not in a `Route`.
//!
//! The order of the rules:
//! 1. `--danger-no-auth`: everyone, full control, to any configured target;
//! 2. a presented one-time key decides alone (it was checked against this target and, if it
//!    names one, the certificate) — a bad key is refused even if a certificate would do;
//! 3. a verified client certificate: the access list's mode, or full control without one;
//! 4. nothing presented: refused.
//!
//! Only configured targets exist, but whether a name is one is said only to a client that
//! authenticated (a valid key or a verified certificate): anyone else gets the same refusal
//! for an unknown target as for a known one, so target names cannot be enumerated.

pub mod gate;

use std::net::SocketAddr;

use crate::auth::{CertIdentity, Mode};
use crate::config::{Access, AuthMode, NativeVnc, TargetAddr, Targets};
use crate::otk::{Grant, KeyProblem};

/// How the client reached the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A WebSocket inside TLS (the browser viewer, or a websockify-compatible client).
    WebSocket,
    /// A native VNC client inside TLS.
    NativeTls,
    /// A native VNC client in clear.
    NativePlain,
    /// A native VNC client that negotiated VeNCrypt TLS with the gateway (TigerVNC, gtk-vnc,
    /// Remmina on the plain port).
    NativeVeNCrypt,
}

impl Via {
    pub fn label(self) -> &'static str {
        match self {
            Self::WebSocket => "websocket",
            Self::NativeTls => "native_tls",
            Self::NativePlain => "native_plain",
            Self::NativeVeNCrypt => "native_vencrypt",
        }
    }
}

/// What the TLS layer established about the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The client certificate, when one was presented and the client CA verified it.
    pub client_cert: Option<CertIdentity>,
}

/// What the client's one-time key turned out to be (see [`crate::otk::redeem`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyCheck {
    NotPresented,
    /// Valid, and now used up.
    Valid(Grant),
    /// Refused; the key's id when the store knows the key.
    Refused {
        problem: KeyProblem,
        key_id: Option<String>,
    },
}

/// One request to relay.
#[derive(Debug, Clone)]
pub struct AdmissionRequest<'a> {
    /// The client's address (from the PROXY header when a trusted proxy sent one).
    pub client: SocketAddr,
    pub via: Via,
    /// The target name the client asked for.
    pub target: &'a str,
    pub identity: &'a PeerIdentity,
    pub key: &'a KeyCheck,
}

/// Who a session is for, as the audit log names them (never the key itself).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principal {
    /// The client certificate's subject.
    pub subject: Option<String>,
    /// The id of the one-time key used.
    pub key_id: Option<String>,
}

/// `s` with control characters escaped, so a name from a certificate cannot start a new
/// log line.
pub struct Escaped<'a>(pub &'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                write!(f, "{}", c.escape_unicode())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.subject, &self.key_id) {
            (Some(s), Some(k)) => write!(f, "{} with key {k}", Escaped(s)),
            (Some(s), None) => write!(f, "{}", Escaped(s)),
            (None, Some(k)) => write!(f, "key {k}"),
            (None, None) => f.write_str("anonymous"),
        }
    }
}

/// Where an admitted connection goes, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub name: String,
    pub addr: TargetAddr,
    pub mode: Mode,
    pub who: Principal,
    /// What admitted it: judged again when the configuration is reloaded ([`recheck`]).
    pub basis: Basis,
    /// The generation of the rules that admitted it (see `gate::Rules::generation`).
    pub generation: u64,
}

/// What a route was granted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Basis {
    /// `--danger-no-auth`: nothing.
    NoAuth,
    /// A one-time key, now used up: its grant stands for the session.
    Key(Grant),
    /// A client certificate the client CA verified.
    Certificate(CertIdentity),
}

/// Why a connection may not be relayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    UnknownTarget {
        name: String,
    },
    /// Nothing presented, and no client CA configured: only one-time links work.
    NoAuthConfigured,
    /// Nothing presented; a certificate or a one-time link would do.
    CredentialsMissing,
    /// The access list does not give this certificate that target.
    NotAllowed {
        who: String,
        target: String,
    },
    Key(KeyProblem),
    /// Too many failed attempts from the client's address.
    LockedOut {
        retry_after_secs: u64,
    },
    /// A native VNC client whose certificate has no default target, with none configured.
    NoDefaultTarget,
}

impl Refusal {
    /// Shown to the person (WebSocket close reason, at most 123 bytes) and logged.
    pub fn reason(&self) -> String {
        match self {
            Self::UnknownTarget { name } => format!(
                "unknown target '{}': ask the administrator for a link",
                truncate(name, 40)
            ),
            Self::NoAuthConfigured => "this gateway has no authentication configured besides \
                                       one-time links: ask the administrator for a link"
                .to_owned(),
            Self::CredentialsMissing => "this gateway needs a client certificate or a one-time \
                                         link: ask the administrator for one"
                .to_owned(),
            Self::NotAllowed { who, target } => format!(
                "{} may not use target '{}'",
                truncate(who, 40),
                truncate(target, 40)
            ),
            Self::Key(p) => p.reason().to_owned(),
            Self::LockedOut { retry_after_secs } => format!(
                "too many failed attempts from your address: try again in {retry_after_secs} s"
            ),
            Self::NoDefaultTarget => {
                "this certificate has no default target for native VNC clients".to_owned()
            }
        }
    }

    /// For metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::UnknownTarget { .. } => "unknown_target",
            Self::NoAuthConfigured => "no_auth_configured",
            Self::CredentialsMissing => "credentials_missing",
            Self::NotAllowed { .. } => "not_allowed",
            Self::Key(p) => p.label(),
            Self::LockedOut { .. } => "locked_out",
            Self::NoDefaultTarget => "no_default_target",
        }
    }

    /// Whether this refusal is a failed authentication (counted towards the lockout).
    pub fn is_failed_authentication(&self) -> bool {
        matches!(self, Self::Key(p) if p.is_failure())
    }
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Allow(Route),
    /// Refused, and who asked as far as it is known (for the audit line).
    Refuse {
        refusal: Refusal,
        who: Principal,
    },
}

impl Admission {
    /// A refusal of someone the gateway knows nothing about.
    pub fn refuse_anonymous(refusal: Refusal) -> Self {
        Self::Refuse {
            refusal,
            who: Principal::default(),
        }
    }
}

/// Decides. Pure: the same configuration and request always give the same answer.
pub fn decide(
    auth: AuthMode,
    access: &Access,
    targets: &Targets,
    req: &AdmissionRequest<'_>,
) -> Admission {
    let who = Principal {
        subject: req.identity.client_cert.as_ref().map(|c| c.subject.clone()),
        key_id: match req.key {
            KeyCheck::Valid(g) => Some(g.key_id.clone()),
            KeyCheck::Refused { key_id, .. } => key_id.clone(),
            KeyCheck::NotPresented => None,
        },
    };
    let refuse = |refusal| Admission::Refuse {
        refusal,
        who: who.clone(),
    };
    // Only for a client that authenticated: whether the name is a target.
    let allow = |mode, basis| match targets.get(req.target) {
        Some(addr) => Admission::Allow(Route {
            name: req.target.to_owned(),
            addr: addr.clone(),
            mode,
            who: who.clone(),
            basis,
            generation: 0,
        }),
        None => refuse(Refusal::UnknownTarget {
            name: req.target.to_owned(),
        }),
    };
    if auth == AuthMode::DangerNone {
        return allow(Mode::Full, Basis::NoAuth);
    }
    match req.key {
        KeyCheck::Refused { problem, .. } => return refuse(Refusal::Key(*problem)),
        KeyCheck::Valid(grant) if grant.target == req.target => {
            return allow(grant.mode, Basis::Key(grant.clone()))
        }
        KeyCheck::Valid(_) => return refuse(Refusal::Key(KeyProblem::OtherTarget)),
        KeyCheck::NotPresented => {}
    }
    match (&req.identity.client_cert, &access.acl) {
        (Some(_), _) if access.client_ca.is_none() => {
            // A certificate no client CA verified names no one.
            refuse(Refusal::NoAuthConfigured)
        }
        (Some(id), None) => allow(Mode::Full, Basis::Certificate(id.clone())),
        (Some(id), Some(acl)) => {
            if targets.get(req.target).is_none() {
                return refuse(Refusal::UnknownTarget {
                    name: req.target.to_owned(),
                });
            }
            match acl.mode_for(id, req.target) {
                Some(mode) => allow(mode, Basis::Certificate(id.clone())),
                None => refuse(Refusal::NotAllowed {
                    who: id.short_name().to_owned(),
                    target: req.target.to_owned(),
                }),
            }
        }
        (None, _) if access.client_ca.is_some() => refuse(Refusal::CredentialsMissing),
        (None, _) => refuse(Refusal::NoAuthConfigured),
    }
}

/// Why a session ends after the configuration changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// Shown to the person (a WebSocket close reason: at most 123 bytes) and audited.
    pub reason: String,
}

/// Whether a session admitted on `route` for `client` may go on under a new configuration.
/// The same rules as [`decide`], asked again with what admitted it; the session goes on if
/// they still give it its target with at least its mode (a target now at another address
/// does not end it: it stays connected where it is).
pub fn recheck(
    auth: AuthMode,
    access: &Access,
    targets: &Targets,
    route: &Route,
    client: SocketAddr,
    via: Via,
) -> Option<Revoked> {
    let (identity, key) = match &route.basis {
        Basis::NoAuth => (PeerIdentity::default(), KeyCheck::NotPresented),
        Basis::Key(grant) => (PeerIdentity::default(), KeyCheck::Valid(grant.clone())),
        Basis::Certificate(id) => (
            PeerIdentity {
                client_cert: Some(id.clone()),
            },
            KeyCheck::NotPresented,
        ),
    };
    let request = AdmissionRequest {
        client,
        via,
        target: &route.name,
        identity: &identity,
        key: &key,
    };
    let why = match decide(auth, access, targets, &request) {
        Admission::Allow(now) if now.mode >= route.mode => return None,
        Admission::Allow(_) => format!(
            "access to '{}' is now view-only: connect again",
            truncate(&route.name, 40)
        ),
        Admission::Refuse { refusal, .. } => match refusal {
            Refusal::UnknownTarget { name } => {
                format!("target '{}' was removed", truncate(&name, 40))
            }
            Refusal::NotAllowed { who, target } => format!(
                "{} may no longer use '{}'",
                truncate(&who, 32),
                truncate(&target, 32)
            ),
            // A valid key or a certificate always authenticated before: what is refused
            // now is doing without (--danger-no-auth taken away).
            _ => "authentication is now required: use a one-time link or a client certificate"
                .to_owned(),
        },
    };
    // The prefix and the longest reason above stay within a close frame's 123 bytes.
    Some(Revoked {
        reason: format!("ended by a configuration change: {why}"),
    })
}

/// Where a native VNC client goes: its certificate's default target in the access list, else
/// the configured native target.
pub fn native_target(
    access: &Access,
    native: &NativeVnc,
    identity: &PeerIdentity,
) -> Option<String> {
    let from_acl = match (&identity.client_cert, &access.acl) {
        (Some(id), Some(acl)) => acl.default_target(id).map(str::to_owned),
        _ => None,
    };
    from_acl.or_else(|| native.in_tls.clone())
}

/// At most `max_bytes` of `s`, cut at a character boundary.
pub fn truncate(s: &str, max_bytes: usize) -> &str {
    let mut end = s.len().min(max_bytes);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests;
