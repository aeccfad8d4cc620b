//! Who may use the one-time-key API (`POST /api/otk`, `DELETE /api/otk/ID`): holders of a
//! client certificate named in `[auth] admins`, or whoever presents the bearer token read from
//! `--admin-token-file`. The token lives in a redacting newtype and is compared in constant
//! time.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The shortest token accepted.
pub const MIN_TOKEN_CHARS: usize = 16;

/// The admin token. `Debug` never shows it.
pub struct AdminToken {
    digest: [u8; 32],
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// Why the token file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AdminTokenError {
    #[error("cannot read the admin token file {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("the admin token in {path} is shorter than {MIN_TOKEN_CHARS} characters; make one with `head -c 32 /dev/urandom | base64 > FILE`")]
    TooShort { path: PathBuf },
}

impl AdminToken {
    /// The first line of `path`, without surrounding white space.
    pub fn from_file(path: &Path) -> Result<Self, AdminTokenError> {
        let text = std::fs::read_to_string(path).map_err(|error| AdminTokenError::Read {
            path: path.to_owned(),
            error,
        })?;
        let token = text.lines().next().unwrap_or_default().trim();
        if token.chars().count() < MIN_TOKEN_CHARS {
            return Err(AdminTokenError::TooShort {
                path: path.to_owned(),
            });
        }
        Ok(Self::new(token))
    }

    pub fn new(token: &str) -> Self {
        Self {
            digest: Sha256::digest(token.as_bytes()).into(),
        }
    }

    /// Whether `presented` is the token (comparing digests in constant time).
    pub fn matches(&self, presented: &str) -> bool {
        let other: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.digest
            .iter()
            .zip(other.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

/// The token of an `Authorization: Bearer TOKEN` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_exactly_and_never_print() {
        let t = AdminToken::new("correct horse battery staple");
        assert!(t.matches("correct horse battery staple"));
        assert!(!t.matches("correct horse battery stapl"));
        assert!(!format!("{t:?}").contains("horse"));
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        let dir = std::env::temp_dir().join(format!("vncgate-admin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("short"), "abc\n").expect("write");
        assert!(matches!(
            AdminToken::from_file(&dir.join("short")),
            Err(AdminTokenError::TooShort { .. })
        ));
        std::fs::write(dir.join("ok"), "0123456789abcdef0123\n").expect("write");
        let t = AdminToken::from_file(&dir.join("ok")).expect("ok");
        assert!(t.matches("0123456789abcdef0123"));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
