//! Session files (`.vncgate`): everything the viewer needs to open one desktop — gateway,
//! target, one-time key, CA to trust or fingerprint to pin, view options — in a small
//! versioned text file a person can read. The format is specified in `docs/session-file.md`.
//!
//! ```text
//! vncgate-session=1
//! # made by vncgate session
//! gateway=https://gw.example.net:8443/
//! target=desk1
//! otk=Zx81…
//! ca=base64:MIIBoDCC…
//! view_only=false
//! ```
//!
//! Parsing is a pure function of the bytes ([`parse`]): unknown keys become [`Warning`]s, so an
//! older viewer opens a newer file; a malformed value or a broken limit is an [`Error`] naming
//! the line. Secrets (the one-time key) are redacted in `Debug`.

mod value;

use rustls_pki_types::CertificateDer;

pub use value::{GatewayUrl, OneTimeKey, Quality, Scaling, TargetName};

use crate::Fingerprint;

/// The first line of every session file of this version.
pub const VERSION_LINE: &str = "vncgate-session=1";

/// Size limits checked before anything else is done with the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_lines: usize,
    pub max_line_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024,
            max_lines: 256,
            // Room for hex CA data of a 16 KiB certificate.
            max_line_bytes: 33 * 1024,
        }
    }
}

/// One session: where to connect and how to check who answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFile {
    pub gateway: Option<GatewayUrl>,
    pub target: TargetName,
    pub otk: Option<OneTimeKey>,
    /// A CA certificate (DER) to trust for the gateway's TLS certificate.
    pub ca: Option<CertificateDer<'static>>,
    /// The gateway certificate's SHA-256 fingerprint to pin.
    pub fingerprint: Option<Fingerprint>,
    pub view_only: Option<bool>,
    pub scaling: Option<Scaling>,
    pub quality: Option<Quality>,
}

/// A session file and what in it was ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub session: SessionFile,
    pub warnings: Vec<Warning>,
}

/// A line that was ignored: its key is not one this version knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub line: usize,
    pub key: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: unknown key {:?} ignored", self.line, self.key)
    }
}

/// Why a session file cannot be used; `line` is 1-based where one line is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{problem}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct Error {
    pub line: Option<usize>,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    #[error("the file is {got} bytes, more than the limit of {max}")]
    TooLarge { got: usize, max: usize },
    #[error("the file has more than {max} lines")]
    TooManyLines { max: usize },
    #[error("{got} bytes is longer than the limit of {max} for one line")]
    LineTooLong { got: usize, max: usize },
    #[error("the file is not UTF-8 text")]
    NotText,
    #[error("not a vncgate session file: the first line must be `{VERSION_LINE}`")]
    MissingVersion,
    #[error("session file version {got:?} is newer than this viewer understands (1); update it")]
    UnsupportedVersion { got: String },
    #[error("expected key=value")]
    NoEquals,
    #[error("{key} is given twice (first on line {first_line})")]
    Duplicate { key: String, first_line: usize },
    #[error("{key}={value:?} is not valid: expected {expected}")]
    BadValue {
        key: &'static str,
        value: String,
        expected: String,
    },
    #[error("the file names no target (add a line target=NAME)")]
    MissingTarget,
}

/// Parses a session file with the default [`Limits`].
pub fn parse(bytes: &[u8]) -> Result<Parsed, Error> {
    parse_with(bytes, Limits::default())
}

/// Parses a session file, checking `limits` before decoding anything.
pub fn parse_with(bytes: &[u8], limits: Limits) -> Result<Parsed, Error> {
    let whole = |problem| Error {
        line: None,
        problem,
    };
    if bytes.len() > limits.max_bytes {
        return Err(whole(Problem::TooLarge {
            got: bytes.len(),
            max: limits.max_bytes,
        }));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| whole(Problem::NotText))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));

    let (first_no, first) = lines.next().ok_or_else(|| whole(Problem::MissingVersion))?;
    check_length(first_no, first, limits)?;
    match first.trim().split_once('=') {
        Some(("vncgate-session", "1")) => {}
        Some(("vncgate-session", v)) => {
            return Err(Error {
                line: Some(first_no),
                problem: Problem::UnsupportedVersion {
                    got: v.chars().take(20).collect(),
                },
            })
        }
        _ => {
            return Err(Error {
                line: Some(first_no),
                problem: Problem::MissingVersion,
            })
        }
    }

    let mut builder = value::Builder::default();
    let mut warnings = Vec::new();
    for (no, raw) in lines {
        if no > limits.max_lines {
            return Err(whole(Problem::TooManyLines {
                max: limits.max_lines,
            }));
        }
        check_length(no, raw, limits)?;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |problem| Error {
            line: Some(no),
            problem,
        };
        let (key, val) = line.split_once('=').ok_or_else(|| at(Problem::NoEquals))?;
        let (key, val) = (key.trim(), val.trim());
        if !builder.set(no, key, val).map_err(at)? {
            warnings.push(Warning {
                line: no,
                key: key.chars().take(64).collect(),
            });
        }
    }
    Ok(Parsed {
        session: builder.finish().map_err(whole)?,
        warnings,
    })
}

fn check_length(no: usize, line: &str, limits: Limits) -> Result<(), Error> {
    if line.len() > limits.max_line_bytes {
        return Err(Error {
            line: Some(no),
            problem: Problem::LineTooLong {
                got: line.len(),
                max: limits.max_line_bytes,
            },
        });
    }
    Ok(())
}

impl SessionFile {
    /// A session for `target` with nothing else set.
    pub fn new(target: TargetName) -> Self {
        Self {
            gateway: None,
            target,
            otk: None,
            ca: None,
            fingerprint: None,
            view_only: None,
            scaling: None,
            quality: None,
        }
    }

    /// The file's text. It contains the one-time key in clear: write it with mode 0600.
    pub fn to_text(&self) -> String {
        let mut s = format!("{VERSION_LINE}\n# vncgate session file; see docs/session-file.md\n");
        let mut put = |k: &str, v: &str| s.push_str(&format!("{k}={v}\n"));
        if let Some(g) = &self.gateway {
            put("gateway", g.as_str());
        }
        put("target", self.target.as_str());
        if let Some(otk) = &self.otk {
            put("otk", otk.expose());
        }
        if let Some(ca) = &self.ca {
            put("ca", &crate::ca_data::encode_base64(ca.as_ref()));
        }
        if let Some(fp) = &self.fingerprint {
            put("fingerprint", &fp.to_string());
        }
        if let Some(v) = self.view_only {
            put("view_only", if v { "true" } else { "false" });
        }
        if let Some(sc) = self.scaling {
            put("scaling", sc.as_str());
        }
        if let Some(q) = self.quality {
            put("quality", &q.get().to_string());
        }
        s
    }
}

#[cfg(test)]
mod tests;
