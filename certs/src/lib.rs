//! `certs` owns certificates: generating them (feature `generate`), parsing PEM, and the
//! SHA-256 fingerprint people compare to check an identity.
//!
//! The portable part (PEM parsing, fingerprints) builds for wasm32 so the viewer shows the same
//! fingerprint the gateway prints.

#![forbid(unsafe_code)]

pub mod error;
pub mod fingerprint;
#[cfg(feature = "generate")]
pub mod generate;
pub mod pem;

pub use error::Error;
pub use fingerprint::Fingerprint;
