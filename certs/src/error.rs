//! Errors of the certificate toolkit, each naming the file or input it is about and what is
//! wrong with it.
//!
//! Messages are written for the person at the terminal: what happened, then (where there is
//! one) what to do. Session files have their own error type, [`crate::session_file::Error`],
//! because they carry a line number.

#[cfg(feature = "generate")]
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{what}: no PEM block of type {expected} found")]
    PemMissing {
        what: String,
        expected: &'static str,
    },
    #[error("{what}: the PEM data is malformed ({detail})")]
    PemMalformed { what: String, detail: String },
    #[error("{what}: {got} bytes is more than the limit of {max} bytes")]
    TooLarge {
        what: String,
        got: usize,
        max: usize,
    },
    #[error("{what}: not a valid X.509 certificate ({detail})")]
    Certificate { what: String, detail: String },
    #[error("{what}: not a valid certificate revocation list ({detail})")]
    Crl { what: String, detail: String },
    #[error("CA data: {problem}")]
    CaData { problem: CaDataProblem },
    #[error("fingerprint {input:?}: expected 32 bytes as hex (64 digits, colons allowed)")]
    FingerprintSyntax { input: String },

    #[cfg(feature = "generate")]
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[cfg(feature = "generate")]
    #[error("{path} already exists; pass --force to replace it")]
    Exists { path: PathBuf },
    #[cfg(feature = "generate")]
    #[error("{path} does not exist{hint}")]
    NotFound { path: PathBuf, hint: &'static str },
    #[cfg(feature = "generate")]
    #[error("{name:?} is not a usable name: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[cfg(feature = "generate")]
    #[error("{what} {value:?} is not usable: {reason}")]
    InvalidValue {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[cfg(feature = "generate")]
    #[error("passphrase file {path}: {problem}")]
    Passphrase {
        path: PathBuf,
        problem: &'static str,
    },
    #[cfg(feature = "generate")]
    #[error("{path} is encrypted; give its passphrase with --passphrase-file FILE")]
    KeyEncrypted { path: PathBuf },
    #[cfg(feature = "generate")]
    #[error("{path}: the passphrase is wrong, or the key is damaged")]
    WrongPassphrase { path: PathBuf },
    #[cfg(feature = "generate")]
    #[error("{path}: {detail}")]
    KeyFormat { path: PathBuf, detail: String },
    #[cfg(feature = "generate")]
    #[error("{path} is already {state}")]
    KeyState { path: PathBuf, state: &'static str },
    #[cfg(feature = "generate")]
    #[error("{cert}: the certificate is for a different key than {key}")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[cfg(feature = "generate")]
    #[error("{path}: {problem}")]
    Chain { path: PathBuf, problem: String },
    #[cfg(feature = "generate")]
    #[error("{path} is not a CA certificate, so it cannot sign certificates or CRLs")]
    NotCa { path: PathBuf },
    #[cfg(feature = "generate")]
    #[error(
        "{path} allows no further intermediate CAs below it (path length {path_len}); \
         sign the new intermediate with a CA higher up (--ca)"
    )]
    PathLength { path: PathBuf, path_len: u32 },
    #[cfg(feature = "generate")]
    #[error(
        "{days} days would outlast the signing CA {path}, which expires {expires}; \
         use --days {max_days} or less"
    )]
    OutlivesCa {
        path: PathBuf,
        days: u32,
        expires: String,
        max_days: i64,
    },
    #[cfg(feature = "generate")]
    #[error("{path} cannot be revoked: {reason}")]
    NotRevocable { path: PathBuf, reason: String },
    #[cfg(feature = "generate")]
    #[error("{path} (serial {serial}) is already revoked in {crl}")]
    AlreadyRevoked {
        path: PathBuf,
        serial: String,
        crl: PathBuf,
    },
    #[cfg(feature = "generate")]
    #[error("{path}: {problem}")]
    Export { path: PathBuf, problem: String },
    #[cfg(feature = "generate")]
    #[error("could not make {what}: {detail}")]
    Encode { what: &'static str, detail: String },
    #[cfg(feature = "generate")]
    #[error("could not generate {what}: {source}")]
    Generate {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
    #[cfg(feature = "generate")]
    #[error("the operating system's random number generator failed: {detail}")]
    Random { detail: String },
}

/// What is wrong with a piece of CA data (`base64:…` or hex).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaDataProblem {
    #[error("empty")]
    Empty,
    #[error("{got} characters is more than the limit of {max}")]
    TooLong { got: usize, max: usize },
    #[error("not valid base64 after the `base64:` prefix ({detail})")]
    Base64 { detail: String },
    #[error("not valid hex (character {position} is not a hex digit, or the length is odd)")]
    Hex { position: usize },
    #[error("does not hold a certificate ({detail})")]
    NotACertificate { detail: String },
}

#[cfg(feature = "generate")]
impl Error {
    /// An I/O failure while doing `action` ("read", "write", …) to `path`.
    pub(crate) fn io(
        action: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_owned();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }

    pub(crate) fn generate(what: &'static str) -> impl FnOnce(rcgen::Error) -> Self {
        move |source| Error::Generate { what, source }
    }
}
