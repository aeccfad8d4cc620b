//! ACME certificates: obtained from a CA (Let's Encrypt, or any RFC 8555 server), kept in the
//! state directory, renewed, and handed to the TLS listener without dropping a session.
//!
//! ```text
//! AcmeConfig ─► spawn ─► renewal loop (renew.rs): load acme/cert.pem, publish it, sleep until
//!                  │      two thirds of its lifetime (+ jitter), then obtain; on failure back off
//!                  ▼
//!              obtain (order.rs): account (acme/accounts/*.json, reused) ─► new order
//!                  ├─ dns-01 (dns01.rs): TXT via --dns-hook or RFC 2136 (dns/), wait until the
//!                  │   authoritative servers show it (dns/propagation.rs), validate, always clean up
//!                  └─ tls-alpn-01: a challenge certificate in [`AcmeResolver`], answered on the
//!                      gateway's own port to ClientHellos offering ALPN `acme-tls/1`
//!                  ▼
//!              finalize ─► acme/{cert,key}.pem + acme/status.json ─► watch channel ─► CertStore
//! ```
//!
//! Every failure is logged with what to check, written to `status.json` (shown by
//! `vncgate acme status`), and leaves the certificate that is serving in place.

pub mod config;
pub mod dns;
pub mod dns01;
pub mod error;
pub mod order;
pub mod renew;
pub mod settings;
pub mod status;
pub mod store;
pub mod tls_alpn;

pub use config::{AcmeConfig, AcmeConfigError, ChallengeConfig, Dns01Config, DomainName};
pub use error::AcmeError;
pub use order::{obtain, Issued};
pub use renew::{install, spawn, AcmeHandle};
pub use status::Status;
pub use store::AcmeStore;
pub use tls_alpn::{AcmeResolver, ACME_TLS_ALPN};

/// Let's Encrypt's production directory, the default of `--acme-directory`.
pub const LETS_ENCRYPT_PRODUCTION: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory (`--acme-staging`): untrusted certificates, high limits.
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// Seconds since the Unix epoch, from the wall clock.
///
/// Certificate validity is wall-clock time; waiting is done with `tokio::time` (see `renew`).
pub fn unix_now() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_secs()).unwrap_or(i64::MAX)
}
