//! TSIG keys as `tsig-keygen` (BIND) writes them, for signing RFC 2136 updates:
//!
//! ```text
//! key "acme-key" {
//!         algorithm hmac-sha256;
//!         secret "base64…";
//! };
//! ```
//!
//! The secret lives in [`TsigSecret`], whose `Debug` never shows it.

use std::path::{Path, PathBuf};

use base64::Engine as _;

/// Largest key file read (a key file is a few hundred bytes).
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// The HMACs hickory can sign with; MD5, SHA-1 and SHA-224 keys are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsigAlgorithm {
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl TsigAlgorithm {
    fn parse(s: &str) -> Option<Self> {
        match s.trim_end_matches('.').to_ascii_lowercase().as_str() {
            "hmac-sha256" => Some(Self::HmacSha256),
            "hmac-sha384" => Some(Self::HmacSha384),
            "hmac-sha512" => Some(Self::HmacSha512),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::HmacSha256 => "hmac-sha256",
            Self::HmacSha384 => "hmac-sha384",
            Self::HmacSha512 => "hmac-sha512",
        }
    }
}

/// The shared secret of a TSIG key.
#[derive(Clone, PartialEq, Eq)]
pub struct TsigSecret(Vec<u8>);

impl TsigSecret {
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for TsigSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TsigSecret(<{} bytes, redacted>)", self.0.len())
    }
}

/// One TSIG key: its name (which the server knows it by), algorithm and secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsigKey {
    pub name: String,
    pub algorithm: TsigAlgorithm,
    pub secret: TsigSecret,
    /// The file it came from, for messages.
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TsigKeyError {
    #[error("--tsig-key {path}: cannot read it: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("--tsig-key {path}: {problem}; expected the format `tsig-keygen -a hmac-sha256 NAME` prints: key \"NAME\" {{ algorithm hmac-sha256; secret \"BASE64\"; }};")]
    Format { path: PathBuf, problem: String },
    #[error("--tsig-key {path}: algorithm {algorithm} is not supported; make a key with `tsig-keygen -a hmac-sha256 NAME` (hmac-sha384 and hmac-sha512 also work)")]
    Algorithm { path: PathBuf, algorithm: String },
}

impl TsigKey {
    /// Reads the first `key` statement of a `tsig-keygen` file.
    pub fn load(path: &Path) -> Result<Self, TsigKeyError> {
        use std::io::Read;
        let read_err = |error| TsigKeyError::Read {
            path: path.to_owned(),
            error,
        };
        let mut text = String::new();
        std::fs::File::open(path)
            .map_err(read_err)?
            .take(MAX_KEY_FILE_BYTES)
            .read_to_string(&mut text)
            .map_err(read_err)?;
        Self::parse(path, &text)
    }

    /// Parses the text of a key file; `path` is only used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Self, TsigKeyError> {
        let format = |problem: &str| TsigKeyError::Format {
            path: path.to_owned(),
            problem: problem.to_owned(),
        };
        let tokens = tokenize(text).map_err(format)?;
        let mut it = tokens.iter().map(String::as_str);
        if it.next() != Some("key") {
            return Err(format("it does not start with `key`"));
        }
        let name = it
            .next()
            .filter(|n| !n.is_empty() && *n != "{")
            .ok_or_else(|| format("the key has no name"))?
            .trim_end_matches('.')
            .to_owned();
        if it.next() != Some("{") {
            return Err(format("`{` expected after the key's name"));
        }
        let (mut algorithm, mut secret) = (None, None);
        loop {
            match it.next() {
                Some("}") => break,
                Some(word @ ("algorithm" | "secret")) => {
                    let value = it.next().ok_or_else(|| format("a value is missing"))?;
                    if it.next() != Some(";") {
                        return Err(format("`;` expected after a value"));
                    }
                    if word == "algorithm" {
                        algorithm = Some(value.to_owned());
                    } else {
                        secret = Some(value.to_owned());
                    }
                }
                Some(other) => {
                    return Err(format(&format!("unexpected `{other}` inside the key")));
                }
                None => return Err(format("the key's `}` is missing")),
            }
        }
        let algorithm = algorithm.ok_or_else(|| format("the key has no algorithm"))?;
        let algorithm = TsigAlgorithm::parse(&algorithm).ok_or(TsigKeyError::Algorithm {
            path: path.to_owned(),
            algorithm,
        })?;
        let secret = secret.ok_or_else(|| format("the key has no secret"))?;
        let secret = base64::engine::general_purpose::STANDARD
            .decode(secret.as_bytes())
            .map_err(|_| format("the secret is not base64"))?;
        if secret.is_empty() {
            return Err(format("the secret is empty"));
        }
        Ok(Self {
            name,
            algorithm,
            secret: TsigSecret(secret),
            path: path.to_owned(),
        })
    }
}

/// Words, quoted strings (without quotes) and `{`, `}`, `;`; comments (`#`, `//`, `/* */`)
/// are dropped.
fn tokenize(text: &str) -> Result<Vec<String>, &'static str> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '#' => skip_line(&mut chars),
            '/' if chars.peek() == Some(&'/') => skip_line(&mut chars),
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                loop {
                    match chars.next() {
                        Some('/') if prev == '*' => break,
                        Some(c) => prev = c,
                        None => return Err("a /* comment is not closed"),
                    }
                }
            }
            '{' | '}' | ';' => tokens.push(c.to_string()),
            '"' => {
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(c) => s.push(c),
                        None => return Err("a quoted string is not closed"),
                    }
                }
                tokens.push(s);
            }
            c => {
                let mut s = c.to_string();
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || matches!(n, '{' | '}' | ';' | '"') {
                        break;
                    }
                    s.push(n);
                    chars.next();
                }
                tokens.push(s);
            }
        }
    }
    Ok(tokens)
}

fn skip_line(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if c == '\n' {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYGEN: &str = "key \"acme-key\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0LXNlY3JldC1zZWNyZXQ=\";\n};\n";

    #[test]
    fn reads_tsig_keygen_output() {
        let k = TsigKey::parse(Path::new("k"), KEYGEN).expect("parse");
        assert_eq!(k.name, "acme-key");
        assert_eq!(k.algorithm, TsigAlgorithm::HmacSha256);
        assert_eq!(k.secret.bytes(), b"secret-secret-secret");
        let shown = format!("{k:?}");
        assert!(
            !shown.contains("c2Vj") && !shown.contains("secret-secret"),
            "{shown}"
        );
    }

    #[test]
    fn comments_and_other_algorithms() {
        let text =
            "# made by hand\nkey acme. { /* x */ algorithm HMAC-SHA512; // y\n secret \"AAAA\"; };";
        let k = TsigKey::parse(Path::new("k"), text).expect("parse");
        assert_eq!(
            (k.name.as_str(), k.algorithm),
            ("acme", TsigAlgorithm::HmacSha512)
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let md5 = KEYGEN.replace("hmac-sha256", "hmac-md5");
        let e = TsigKey::parse(Path::new("k"), &md5).expect_err("md5");
        assert!(e.to_string().contains("hmac-md5 is not supported"), "{e}");
        for (text, says) in [
            ("", "does not start with `key`"),
            ("key \"a\" { algorithm hmac-sha256; };", "no secret"),
            (
                "key \"a\" { secret \"!!\"; algorithm hmac-sha256; };",
                "not base64",
            ),
            ("key \"a\" { algorithm hmac-sha256 secret", "`;` expected"),
            ("key \"a\" { secret \"AAAA\";", "`}` is missing"),
            ("key \"a\" { secret \"AAAA", "not closed"),
        ] {
            let e = TsigKey::parse(Path::new("k"), text).expect_err(text);
            assert!(e.to_string().contains(says), "{text}: {e}");
        }
    }
}
