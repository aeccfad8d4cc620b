//! TLS for VeNCrypt X509 subtypes, behind one interface, [`TlsEngine`]: the client core feeds
//! it ciphertext and plaintext and never sees the TLS library. The server certificate is
//! verified against CA data from the caller, or against a pinned SHA-256 fingerprint of the
//! leaf — never added to any trust store.
//!
//! Where the engine comes from ([`TlsSource`]):
//! - built in (feature `tls`, the default): [`RustlsEngine`], rustls on ring, which is itself
//!   sans-io and runs inside the core;
//! - from the application: the client pauses at the switch to TLS with
//!   [`crate::Event::TlsEngineNeeded`] and goes on when given one
//!   ([`crate::Client::provide_tls_engine`]). The browser viewer ships without rustls and
//!   fetches a second wasm module holding it only when a server asks for TLS; [`bridge`] is
//!   the byte format the two modules exchange.
//!
//! Time is an input: certificate validity is checked against the time the shell last gave
//! [`crate::Client::set_time`], passed on with [`TlsEngine::set_time`].

use sha2::{Digest, Sha256};

use crate::error::Error;

pub mod bridge;
#[cfg(feature = "tls")]
mod rustls_engine;
#[cfg(feature = "tls")]
pub use rustls_engine::RustlsEngine;

/// One TLS client connection as the core drives it: ciphertext in and out, plaintext in and
/// out. Errors are final and already in words a user can act on ([`Error::Tls`],
/// [`Error::CertificateRejected`], [`Error::ClientCertificateRequired`],
/// [`Error::ClientCertificateRefused`]).
pub trait TlsEngine {
    /// Ciphertext from the server; what it decrypts to is appended to `plaintext`. Bytes after
    /// the server's close_notify are dropped.
    fn receive(&mut self, ciphertext: &[u8], plaintext: &mut Vec<u8>) -> Result<(), Error>;
    /// Plaintext for the server (buffered until [`TlsEngine::transmit`]).
    fn send(&mut self, plaintext: &[u8]);
    /// Appends the ciphertext ready for the wire to `wire`.
    fn transmit(&mut self, wire: &mut Vec<u8>);
    /// The handshake finished: the server's certificate was accepted.
    fn handshake_complete(&self) -> bool;
    /// The certificate chain the server presented, leaf first (DER); empty before it did.
    fn peer_chain(&self) -> Vec<Vec<u8>>;
    /// Queues a close_notify.
    fn close(&mut self);
    /// The current time, seconds since the Unix epoch (certificate validity).
    fn set_time(&mut self, unix_seconds: u64);
}

/// An engine as the client holds it: `Send` where clients move between threads (the gateway's
/// tasks); in the browser, where an engine in another wasm module is a JavaScript object,
/// nothing is.
#[cfg(not(target_arch = "wasm32"))]
pub type BoxedEngine = Box<dyn TlsEngine + Send>;
/// An engine as the client holds it (in the browser nothing is `Send`).
#[cfg(target_arch = "wasm32")]
pub type BoxedEngine = Box<dyn TlsEngine>;

/// Where the client's TLS engine comes from. The same in every build: a build without
/// feature `tls` that is asked for the built-in engine says so when TLS starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsSource {
    /// `RustlsEngine`, built in with feature `tls`.
    #[default]
    BuiltIn,
    /// The application gives one when asked ([`crate::Event::TlsEngineNeeded`]).
    Application,
}

/// How the server's certificate is trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsTrust {
    /// Verify the chain against these CA certificates (DER). When `server_name` is set the
    /// leaf must also be valid for it; otherwise any name is accepted, because behind a gateway
    /// the viewer does not know the name the server's certificate was made for.
    Ca {
        roots: Vec<Vec<u8>>,
        server_name: Option<String>,
    },
    /// Accept exactly the leaf certificate with this SHA-256 fingerprint.
    Pinned([u8; 32]),
    /// Trust on first use, in one connection: whatever certificate the server presents
    /// completes the TLS handshake (its signature over the handshake is still checked), then
    /// the client pauses — nothing goes into TLS and nothing the server sends is acted on —
    /// until the application has shown the certificate to the person and called
    /// [`crate::Client::trust_certificate`] or [`crate::Client::refuse_certificate`]
    /// ([`crate::Event::CertificateDecision`]). X509 subtypes are chosen with it only when the
    /// server offers nothing else this client can complete. A configured client certificate
    /// (`tls_identity`) would be presented during that handshake, before anyone vouched for
    /// the server: give one only with CA data or a pin.
    AskFirst,
}

impl TlsTrust {
    /// Whether this trust decides only after asking ([`TlsTrust::AskFirst`]).
    pub fn asks_first(&self) -> bool {
        matches!(self, Self::AskFirst)
    }
}

/// A client certificate chain (leaf first, DER) and its private key, presented to servers
/// that verify clients (x11vnc `-sslverify`, QEMU `verify-peer=yes`). `Debug` never shows
/// the key.
pub struct TlsIdentity {
    pub chain: Vec<Vec<u8>>,
    pub key: rustls_pki_types::PrivateKeyDer<'static>,
}

impl Clone for TlsIdentity {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("chain", &self.chain.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Why a certificate was refused, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertRejection {
    /// The chain does not lead to the configured CA.
    UnknownIssuer,
    Expired,
    NotYetValid,
    WrongName {
        expected: String,
    },
    Revoked,
    /// The leaf's fingerprint differs from the pinned one.
    PinMismatch {
        pinned: String,
    },
    Other(String),
}

impl std::fmt::Display for CertRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownIssuer => f.write_str(
                "it was not issued by the CA this link trusts — ask for a link with the right CA, or check that you reached the right server",
            ),
            Self::Expired => f.write_str("it has expired — renew the server's certificate"),
            Self::NotYetValid => f.write_str("it is not valid yet — check the clocks of this computer and the server"),
            Self::WrongName { expected } => write!(f, "it is not valid for the name {expected}"),
            Self::Revoked => f.write_str("it has been revoked"),
            Self::PinMismatch { pinned } => write!(
                f,
                "its fingerprint differs from the pinned {pinned}: the server's certificate changed, or this is not the same server"
            ),
            Self::Other(s) => f.write_str(s),
        }
    }
}

pub fn hex_colon(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn sha256(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}
