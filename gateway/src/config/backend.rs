//! How the gateway logs in to a target itself (a table under `[targets]`): a VNC or VeNCrypt
//! Plain password from a file or an environment variable (never on the command line, so never
//! in `--help`, `ps` or a log), TLS to the server verified with a CA file or a fingerprint pin
//! (VeNCrypt X509, or TLS from the first byte with `tls_wrapped`), and a client certificate to
//! present. Only paths and names are kept here; the files are read when the gateway starts.

use std::path::PathBuf;

use certs::Fingerprint;
use serde::Deserialize;

/// Where a secret is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    /// The first line of a file.
    File(PathBuf),
    /// An environment variable of the gateway's process.
    Env(String),
}

/// How the target's TLS certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendTrust {
    /// Issued by a CA in this PEM file; the name is checked only when given.
    Ca {
        file: PathBuf,
        server_name: Option<String>,
    },
    /// Exactly this certificate.
    Pin(Fingerprint),
}

/// The gateway's login to one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendLogin {
    /// VNC authentication, or VeNCrypt (X509)Plain with `username`.
    pub password: Option<Secret>,
    pub username: Option<String>,
    /// TLS to the target (VeNCrypt X509*, or wrapped when `tls_wrapped`).
    pub trust: Option<BackendTrust>,
    /// TLS from the first byte (x11vnc `-ssl`, stunnel in front of a server).
    pub tls_wrapped: bool,
    /// A client certificate and key (PEM) for servers that verify clients.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// A table under `[targets]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetTable {
    pub address: String,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
    pub username: Option<String>,
    pub ca: Option<PathBuf>,
    pub server_name: Option<String>,
    pub fingerprint: Option<String>,
    pub tls_wrapped: Option<bool>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

/// What is wrong with a target's login settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BackendProblem {
    #[error("give the password in one place: password_file or password_env")]
    TwoPasswords,
    #[error("username needs a password (password_file or password_env)")]
    UserWithoutPassword,
    #[error("check the server's certificate in one way: ca or fingerprint")]
    TwoTrusts,
    #[error("server_name is checked against a CA: add ca")]
    NameWithoutCa,
    #[error("tls_wrapped needs ca or fingerprint to check the server's certificate")]
    WrappedWithoutTrust,
    #[error("client_cert and client_key go together")]
    CertKeyPair,
    #[error("a client certificate is presented inside TLS: add ca or fingerprint")]
    CertWithoutTrust,
    #[error("fingerprint: expected 64 hex digits (colons allowed)")]
    Fingerprint,
    #[error("password_env: expected the name of an environment variable")]
    EnvName,
}

impl TargetTable {
    /// The login, or `None` when the table sets nothing but the address.
    pub fn login(
        &self,
        rel: impl Fn(PathBuf) -> PathBuf,
    ) -> Result<Option<BackendLogin>, BackendProblem> {
        let password = match (&self.password_file, &self.password_env) {
            (Some(_), Some(_)) => return Err(BackendProblem::TwoPasswords),
            (Some(f), None) => Some(Secret::File(rel(f.clone()))),
            (None, Some(e)) => {
                if e.is_empty() || !e.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return Err(BackendProblem::EnvName);
                }
                Some(Secret::Env(e.clone()))
            }
            (None, None) => None,
        };
        if self.username.is_some() && password.is_none() {
            return Err(BackendProblem::UserWithoutPassword);
        }
        let trust = match (&self.ca, &self.fingerprint) {
            (Some(_), Some(_)) => return Err(BackendProblem::TwoTrusts),
            (Some(ca), None) => Some(BackendTrust::Ca {
                file: rel(ca.clone()),
                server_name: self.server_name.clone(),
            }),
            (None, Some(fp)) => Some(BackendTrust::Pin(
                fp.parse().map_err(|_| BackendProblem::Fingerprint)?,
            )),
            (None, None) => None,
        };
        if self.server_name.is_some() && self.ca.is_none() {
            return Err(BackendProblem::NameWithoutCa);
        }
        let tls_wrapped = self.tls_wrapped.unwrap_or(false);
        if tls_wrapped && trust.is_none() {
            return Err(BackendProblem::WrappedWithoutTrust);
        }
        let client_cert = match (&self.client_cert, &self.client_key) {
            (Some(c), Some(k)) => Some((rel(c.clone()), rel(k.clone()))),
            (None, None) => None,
            _ => return Err(BackendProblem::CertKeyPair),
        };
        if client_cert.is_some() && trust.is_none() {
            return Err(BackendProblem::CertWithoutTrust);
        }
        if password.is_none() && trust.is_none() {
            return Ok(None);
        }
        Ok(Some(BackendLogin {
            password,
            username: self.username.clone(),
            trust,
            tls_wrapped,
            client_cert,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(extra: &str) -> TargetTable {
        toml::from_str(&format!("address = \"127.0.0.1:5900\"\n{extra}")).expect("toml")
    }

    #[test]
    fn logins_are_checked() {
        let rel = |p: PathBuf| PathBuf::from("/etc/vncgate").join(p);
        assert_eq!(table("").login(rel), Ok(None));
        let l = table("password_file = \"pw\"")
            .login(rel)
            .expect("ok")
            .expect("login");
        assert_eq!(l.password, Some(Secret::File("/etc/vncgate/pw".into())));
        let l = table(&format!(
            "fingerprint = \"{}\"\nclient_cert = \"c.pem\"\nclient_key = \"k.pem\"",
            "ab".repeat(32)
        ))
        .login(rel)
        .expect("ok")
        .expect("login");
        assert!(matches!(l.trust, Some(BackendTrust::Pin(_))));
        assert_eq!(
            l.client_cert,
            Some(("/etc/vncgate/c.pem".into(), "/etc/vncgate/k.pem".into()))
        );
        for (bad, want) in [
            (
                "password_file = \"a\"\npassword_env = \"B\"",
                BackendProblem::TwoPasswords,
            ),
            ("username = \"u\"", BackendProblem::UserWithoutPassword),
            ("ca = \"a\"\nfingerprint = \"b\"", BackendProblem::TwoTrusts),
            (
                "server_name = \"x\"\npassword_env = \"P\"",
                BackendProblem::NameWithoutCa,
            ),
            ("tls_wrapped = true", BackendProblem::WrappedWithoutTrust),
            (
                "ca = \"a\"\nclient_cert = \"c\"",
                BackendProblem::CertKeyPair,
            ),
            (
                "client_cert = \"c\"\nclient_key = \"k\"",
                BackendProblem::CertWithoutTrust,
            ),
            ("fingerprint = \"zz\"", BackendProblem::Fingerprint),
            ("password_env = \"A-B\"", BackendProblem::EnvName),
        ] {
            assert_eq!(table(bad).login(rel), Err(want), "{bad}");
        }
        assert!(
            toml::from_str::<TargetTable>("address = \"a:1\"\npassword = \"x\"").is_err(),
            "no passwords inline"
        );
    }
}
