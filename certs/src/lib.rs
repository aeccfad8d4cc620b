//! `certs` owns certificates for vncgate: a small certificate authority on disk (feature
//! `generate`), and the portable pieces both the gateway and the browser viewer use to show
//! and check an identity.
//!
//! Portable (built for wasm32 by the viewer, no I/O, no clock):
//! - [`pem`]: PEM blocks in and out;
//! - [`inspect`]: a certificate (or, with `generate`, a CRL) as plain values (subject, SANs,
//!   validity, kind…), read with the small DER reader [`der`];
//! - [`fingerprint`] and [`catchphrase`]: the SHA-256 fingerprint and the eight words a person
//!   reads aloud for it;
//! - [`ca_data`]: a CA certificate as one line (`base64:…` or hex) for a URL or a file;
//! - [`session_file`]: the `.vncgate` session file.
//!
//! With `generate` (the `vncgate certs` command):
//!
//! ```text
//! profile (root CA, intermediate, server, client) ─► rcgen params ─► signed by the store's CA
//!      │                                                                  │
//!      └─ key (P-256, PKCS#8, optionally encrypted: key) ──────────────► store: DIR/NAME.{key,crt}
//!                                                                         ├─ crl: DIR/crl.pem
//!                                                                         └─ export: PKCS#12, QEMU, x11vnc
//! ```
//!
//! Files are written atomically and never replaced unless asked (module `fs`).

#![forbid(unsafe_code)]

pub mod ca_data;
pub mod catchphrase;
pub mod der;
pub mod error;
pub mod fingerprint;
pub mod inspect;
pub mod pem;
pub mod session_file;

#[cfg(feature = "generate")]
pub mod fs;
#[cfg(feature = "generate")]
pub mod generate;

pub use catchphrase::Catchphrase;
pub use error::Error;
pub use fingerprint::Fingerprint;
pub use inspect::{CertInfo, Kind};
