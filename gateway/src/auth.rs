//! Who is asking, and what they may do: identities from verified client certificates
//! ([`identity`]), the access list ([`acl`]), the client-certificate verifier with CRLs that
//! reload when they change ([`client_ca`]), and the lockout of addresses that keep failing
//! ([`lockout`]: a single instance's; a fleet counts in Redis, [`crate::store`]). One-time
//! keys are in [`crate::otk`]; the decision itself is [`crate::admission::decide`].
//!
//! ```text
//! TLS handshake ─► client_ca (CA bundle + CRLs) ─► leaf ─► identity::CertIdentity
//!                        │ refused: revoked / expired / unknown CA / missing ─► lockout
//! /ws/NAME?otk=KEY ─► store: lockout? ─► store.redeem ─► admission::decide(acl, identity, key) ─► Route
//! ```

pub mod acl;
pub mod admin;
pub mod client_ca;
pub mod identity;
pub mod live_certs;
pub mod lockout;
#[cfg(test)]
pub(crate) mod test_pki;

pub use acl::Acl;
pub use identity::{CertIdentity, Pattern};

/// What a session may do on its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mode {
    /// See the desktop; keyboard, pointer, clipboard and resize requests are dropped.
    ViewOnly,
    /// Full control.
    Full,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ViewOnly => "view-only",
            Self::Full => "full",
        }
    }

    /// Parses `full` or `view-only` (also `view_only`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "full" => Some(Self::Full),
            "view-only" | "view_only" => Some(Self::ViewOnly),
            _ => None,
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
