//! Errors of the certificate toolkit, each naming what was being read or made.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: no PEM block of type {expected} found")]
    PemMissing {
        what: String,
        expected: &'static str,
    },
    #[error("{what}: the PEM data is malformed ({detail})")]
    PemMalformed { what: String, detail: String },
    #[cfg(feature = "generate")]
    #[error("could not generate {what}: {source}")]
    Generate {
        what: &'static str,
        #[source]
        source: rcgen::Error,
    },
}
