//! Where the gateway keeps its short-lived security state (one-time keys, the lockout, the
//! live-session registry): `--store` / `store`. Without one, the embedded SQLite store in the
//! state directory (one instance); with `redis://[user:pass@]HOST:PORT/DB` or `rediss://…`
//! (TLS), a Redis shared by every instance of a fleet (docs/fleet.md).
//!
//! The URL's password never reaches a log line or an error: [`RedisUrl`] shows itself with the
//! password replaced by `***`.

use std::path::PathBuf;

/// The store, as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StoreConfig {
    /// `otk.sqlite3` and `sessions.sqlite3` in the state directory.
    #[default]
    Sqlite,
    Redis {
        url: RedisUrl,
        /// PEM roots that verify a `rediss://` server (else the system's roots).
        ca: Option<PathBuf>,
    },
}

/// A checked `redis://` or `rediss://` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    full: String,
    shown: String,
    tls: bool,
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisUrl({})", self.shown)
    }
}

impl std::fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

/// What is wrong with a store URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreProblem {
    #[error("expected redis://[USER:PASSWORD@]HOST:PORT/DB or rediss://… (TLS)")]
    Syntax,
    #[error("the port must be a number from 1 to 65535")]
    Port,
    #[error("the Redis client cannot read this URL: percent-encode special characters in the user name and password (%40 for @, %2F for /, %3A for :, %23 for #)")]
    Encoding,
    #[error("the database (after the last /) must be a number from 0 to 15, for example /0")]
    Database,
    #[error("a store CA (--store-ca, store_ca) verifies a Redis over TLS: give the store as rediss://HOST:PORT/DB")]
    CaWithoutTls,
}

/// `given` with the password of a `scheme://user:password@…` URL replaced by `***`, for error
/// messages about a URL that may not even parse.
pub fn redacted(given: &str) -> String {
    let Some((scheme, rest)) = given.split_once("://") else {
        return given.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}")
            } else {
                format!("{scheme}://***@{host}")
            }
        }
        None => given.to_owned(),
    }
}

impl RedisUrl {
    pub fn parse(given: &str) -> Result<Self, StoreProblem> {
        let given = given.trim();
        let (tls, rest) = if let Some(r) = given.strip_prefix("rediss://") {
            (true, r)
        } else if let Some(r) = given.strip_prefix("redis://") {
            (false, r)
        } else {
            return Err(StoreProblem::Syntax);
        };
        // The host holds no '@'; a password with '@', '/', ':' or '#' must be percent-encoded
        // (%40, %2F, …), as the Redis client reads the URL.
        let (userinfo, after) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (hostport, db) = match after.split_once('/') {
            Some((a, db)) => (a, Some(db)),
            None => (after, None),
        };
        if let Some(db) = db.filter(|d| !d.is_empty()) {
            if !db.parse::<u8>().is_ok_and(|n| n <= 15) {
                return Err(StoreProblem::Database);
            }
        }
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, rest) = v6.split_once(']').ok_or(StoreProblem::Syntax)?;
            (h, rest.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
            return Err(StoreProblem::Syntax);
        }
        if let Some(p) = port {
            if !p.parse::<u16>().is_ok_and(|n| n > 0) {
                return Err(StoreProblem::Port);
            }
        }
        if redis::IntoConnectionInfo::into_connection_info(given).is_err() {
            return Err(StoreProblem::Encoding);
        }
        let shown = match userinfo {
            Some(u) => {
                let user = u.split_once(':').map_or("", |(user, _)| user);
                let scheme = if tls { "rediss" } else { "redis" };
                format!("{scheme}://{user}:***@{after}")
            }
            None => given.to_owned(),
        };
        Ok(Self {
            full: given.to_owned(),
            shown,
            tls,
        })
    }

    /// The URL with its password, for the Redis client only.
    pub fn expose(&self) -> &str {
        &self.full
    }

    pub fn is_tls(&self) -> bool {
        self.tls
    }
}

impl StoreConfig {
    /// `--store URL` (and `--store-ca`), checked.
    pub fn from_url(url: &str, ca: Option<PathBuf>) -> Result<Self, StoreProblem> {
        let url = RedisUrl::parse(url)?;
        if ca.is_some() && !url.is_tls() {
            return Err(StoreProblem::CaWithoutTls);
        }
        Ok(Self::Redis { url, ca })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_passwords_never_shown() {
        let u = RedisUrl::parse("redis://vncgate:s3cret@10.0.0.5:6379/2").expect("valid");
        assert_eq!(u.to_string(), "redis://vncgate:***@10.0.0.5:6379/2");
        assert!(!format!("{u:?}").contains("s3cret"));
        assert_eq!(u.expose(), "redis://vncgate:s3cret@10.0.0.5:6379/2");
        let u = RedisUrl::parse("rediss://:p%40s%2Fs@redis.example:6380/0").expect("valid");
        assert!(u.is_tls());
        assert_eq!(u.to_string(), "rediss://:***@redis.example:6380/0");
        assert_eq!(
            RedisUrl::parse("redis://:pa/ss@h:1/0"),
            Err(StoreProblem::Encoding),
            "an unencoded / ends the host part"
        );
        assert_eq!(
            redacted("redis://u:s3cret@h:99999/0"),
            "redis://u:***@h:99999/0"
        );
        assert_eq!(redacted("redis://s3cret@h/0"), "redis://***@h/0");
        assert_eq!(redacted("redis://h:1/0"), "redis://h:1/0");
        assert!(RedisUrl::parse("redis://[::1]:6379").is_ok());
        assert!(RedisUrl::parse("redis://127.0.0.1").is_ok());
        assert_eq!(
            RedisUrl::parse("http://127.0.0.1:6379"),
            Err(StoreProblem::Syntax)
        );
        assert_eq!(
            RedisUrl::parse("redis://127.0.0.1:99999/0"),
            Err(StoreProblem::Port)
        );
        assert_eq!(
            RedisUrl::parse("redis://127.0.0.1:6379/x"),
            Err(StoreProblem::Database)
        );
        assert_eq!(
            RedisUrl::parse("redis://:6379/0"),
            Err(StoreProblem::Syntax)
        );
        assert_eq!(
            StoreConfig::from_url("redis://h:1/0", Some("ca.pem".into())),
            Err(StoreProblem::CaWithoutTls)
        );
    }
}
