//! Logging in to a VNC server on the viewer's behalf. A target with a login in the
//! configuration (password, TLS to the server, client certificate), and every view-only
//! session, is reached this way:
//!
//! ```text
//! dial ─► rfb::Client (pass-through: security, ClientInit, ServerInit — then stop)
//!      ─► rfb::server::Server to the viewer (relay/greet): RFB 3.8, security None,
//!         SecurityResult OK, the server's own ServerInit
//!      ─► relay: the two streams unchanged (through the login's TLS when it has one);
//!         view-only sessions lose their input on the way (rfb::input_filter::InputFilter)
//! ```
//!
//! Secrets are read once, when the gateway starts ([`Logins::load`]), into `rfb::Password`
//! and `rfb::TlsIdentity`, which never print them.

pub mod stream;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rfb::{Client, ClientConfig, Password, TlsIdentity, TlsTrust};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::{BackendLogin, BackendTrust, Config, Secret};
pub use stream::BackendStream;

/// A login, ready to use.
#[derive(Debug)]
pub struct LoadedLogin {
    config: ClientConfig,
    tls_wrapped: bool,
}

impl LoadedLogin {
    /// No credentials: for view-only sessions to servers that need none.
    pub fn anonymous() -> Self {
        Self {
            config: ClientConfig::default(),
            tls_wrapped: false,
        }
    }
}

/// A login's files or variables cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LoginConfigError {
    #[error("target {target}: cannot read {path}: {error}")]
    Read {
        target: String,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("target {target}: the environment variable {var} is not set (or not UTF-8)")]
    Env { target: String, var: String },
    #[error("target {target}: the password in {source_name} is empty")]
    EmptyPassword { target: String, source_name: String },
    #[error("target {target}: {error}")]
    Pem { target: String, error: certs::Error },
}

/// The logins of all targets that have one.
#[derive(Debug, Default)]
pub struct Logins(BTreeMap<String, Arc<LoadedLogin>>);

fn read(target: &str, path: &Path) -> Result<Vec<u8>, LoginConfigError> {
    std::fs::read(path).map_err(|error| LoginConfigError::Read {
        target: target.to_owned(),
        path: path.to_owned(),
        error,
    })
}

fn load(target: &str, l: &BackendLogin) -> Result<LoadedLogin, LoginConfigError> {
    let pem_err = |error| LoginConfigError::Pem {
        target: target.to_owned(),
        error,
    };
    let mut config = ClientConfig::default();
    if let Some(secret) = &l.password {
        let (text, source_name) = match secret {
            Secret::File(p) => (
                String::from_utf8_lossy(&read(target, p)?).into_owned(),
                p.display().to_string(),
            ),
            Secret::Env(var) => (
                std::env::var(var).map_err(|_| LoginConfigError::Env {
                    target: target.to_owned(),
                    var: var.clone(),
                })?,
                format!("${var}"),
            ),
        };
        let pw = text.lines().next().unwrap_or_default().to_owned();
        if pw.is_empty() {
            return Err(LoginConfigError::EmptyPassword {
                target: target.to_owned(),
                source_name,
            });
        }
        config.password = Some(Password::new(pw));
    }
    config.username = l.username.clone();
    config.tls_trust = match &l.trust {
        None => None,
        Some(BackendTrust::Pin(fp)) => Some(TlsTrust::Pinned(fp.0)),
        Some(BackendTrust::Ca { file, server_name }) => {
            let roots = certs::pem::certificates(&file.display().to_string(), &read(target, file)?)
                .map_err(pem_err)?
                .into_iter()
                .map(|c| c.to_vec())
                .collect();
            Some(TlsTrust::Ca {
                roots,
                server_name: server_name.clone(),
            })
        }
    };
    if let Some((cert, key)) = &l.client_cert {
        let chain = certs::pem::certificates(&cert.display().to_string(), &read(target, cert)?)
            .map_err(pem_err)?
            .into_iter()
            .map(|c| c.to_vec())
            .collect();
        let key = certs::pem::private_key(&key.display().to_string(), &read(target, key)?)
            .map_err(pem_err)?;
        config.tls_identity = Some(TlsIdentity { chain, key });
    }
    Ok(LoadedLogin {
        config,
        tls_wrapped: l.tls_wrapped,
    })
}

impl Logins {
    /// Reads every target's password, CA and client certificate.
    pub fn load(config: &Config) -> Result<Self, LoginConfigError> {
        config
            .logins
            .iter()
            .map(|(name, l)| Ok((name.clone(), Arc::new(load(name, l)?))))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn get(&self, target: &str) -> Option<Arc<LoadedLogin>> {
        self.0.get(target).cloned()
    }
}

/// The gateway's login to a server failed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the connection failed during the login: {0}")]
    Io(std::io::Error),
    #[error("the server closed the connection during the login")]
    Closed,
    #[error("{0}")]
    Protocol(rfb::Error),
    #[error("the login did not finish within {} s", .0.as_secs())]
    Timeout(Duration),
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Logs in on `tcp` and stops at ServerInit; returns the stream to relay and the ServerInit.
pub async fn login(
    mut tcp: TcpStream,
    login: &LoadedLogin,
    within: Duration,
) -> Result<(BackendStream, Vec<u8>), LoginError> {
    let mut client = if login.tls_wrapped {
        Client::new_tls_wrapped_pass_through(login.config.clone()).map_err(LoginError::Protocol)?
    } else {
        Client::new_pass_through(login.config.clone())
    };
    client.set_time(unix_now());
    let run = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            while let Some(bytes) = client.poll_transmit() {
                tcp.write_all(&bytes).await.map_err(LoginError::Io)?;
            }
            if client.is_held() {
                return Ok(());
            }
            let n = tcp.read(&mut buf).await.map_err(LoginError::Io)?;
            if n == 0 {
                return Err(LoginError::Closed);
            }
            client.set_time(unix_now());
            client
                .receive(buf.get(..n).unwrap_or_default())
                .map_err(LoginError::Protocol)?;
        }
    };
    tokio::time::timeout(within, run)
        .await
        .map_err(|_| LoginError::Timeout(within))??;
    let pt = client
        .into_passthrough()
        .map_err(|_| LoginError::Protocol(rfb::Error::Closed))?;
    let server_init = pt.server_init().to_vec();
    Ok((BackendStream::new(tcp, pt), server_init))
}
