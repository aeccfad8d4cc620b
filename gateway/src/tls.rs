//! The gateway's TLS identity and rustls configuration: a self-signed certificate made on
//! first start and kept in the state directory, or the operator's PEM files (`files`); the
//! served certificate can be swapped while running (`reload`).

pub mod files;
pub mod reload;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use certs::Fingerprint;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::ResolvesServerCert;
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::state_dir::write_atomic;

pub use files::CertFiles;
pub use reload::{CertStore, Reloader};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot write {path}: {error}; check that the state directory is writable")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "{0}; fix or remove the file (removing the self-signed pair makes a new one, with a new fingerprint)"
    )]
    SelfSigned(certs::Error),
    #[error("{0}; check that the file holds PEM data")]
    Pem(certs::Error),
    #[error("{path} holds an encrypted private key: give its passphrase with --key-passphrase-file FILE")]
    KeyEncrypted { path: PathBuf },
    #[error("{path} uses the legacy OpenSSL key encryption (Proc-Type/DEK-Info), which is not supported: convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in OLD -out NEW`")]
    KeyLegacyEncryption { path: PathBuf },
    #[error("cannot decrypt {path} with the passphrase in {passphrase_file}: wrong passphrase (or a damaged key)")]
    KeyDecrypt {
        path: PathBuf,
        passphrase_file: PathBuf,
    },
    #[error("{path}: the key's encryption cannot be read ({detail}); re-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc -in OLD -out NEW`")]
    KeyEncryption { path: PathBuf, detail: String },
    #[error("{path} is empty: it should hold the key's passphrase")]
    EmptyPassphrase { path: PathBuf },
    #[error("{cert} and {key} cannot be used together: {error}; check that the key belongs to the first certificate in the chain (the server's own, before any intermediates)")]
    Unusable {
        cert: PathBuf,
        key: PathBuf,
        error: rustls::Error,
    },
    #[error("cannot set up TLS: {0}")]
    Rustls(rustls::Error),
}

/// A certificate chain and its key, ready for rustls.
#[derive(Debug)]
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// Whether it was created by this start (vs. loaded).
    pub created: bool,
}

impl Identity {
    /// The SHA-256 fingerprint of the server's own (first) certificate.
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        self.chain.first().map(|c| Fingerprint::of_der(c))
    }

    /// The chain and a signing key, after checking that the key matches the leaf.
    pub fn certified_key(&self) -> Result<CertifiedKey, rustls::Error> {
        CertifiedKey::from_der(self.chain.clone(), self.key.clone_key(), &provider())
    }
}

/// The one crypto provider of the workspace.
pub fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// The fingerprint of the certificate a resolver serves now.
pub fn fingerprint_of(key: &CertifiedKey) -> Option<Fingerprint> {
    key.cert.first().map(|c| Fingerprint::of_der(c))
}

/// The default SANs: this host's name, localhost, 127.0.0.1, ::1, then `extra`.
pub fn default_names(extra: &[String]) -> Vec<String> {
    let mut names = Vec::new();
    names.extend(crate::config::host_name());
    names.extend(["localhost", "127.0.0.1", "::1"].map(String::from));
    names.extend(extra.iter().cloned());
    names.dedup();
    names
}

/// The files of the self-signed pair in `state_dir`.
pub fn self_signed_files(state_dir: &Path) -> CertFiles {
    let dir = state_dir.join("tls");
    CertFiles {
        cert: dir.join("self-signed.crt"),
        key: dir.join("self-signed.key"),
        key_passphrase_file: None,
    }
}

/// Loads `tls/self-signed.{crt,key}` from `state_dir`, or creates them (key mode 0600).
/// A file that exists but cannot be parsed is an error: it is never overwritten.
pub fn load_or_create_self_signed(
    state_dir: &Path,
    names: &[String],
) -> Result<Identity, TlsError> {
    let files = self_signed_files(state_dir);
    if files.cert.exists() || files.key.exists() {
        return files.load().map_err(|e| match e {
            TlsError::Pem(inner) => TlsError::SelfSigned(inner),
            other => other,
        });
    }
    let issued = certs::generate::self_signed_server("vncgate self-signed", names, 825)
        .map_err(TlsError::SelfSigned)?;
    write_atomic(&files.key, issued.key_pem.as_bytes(), 0o600).map_err(|error| {
        TlsError::Write {
            path: files.key.clone(),
            error,
        }
    })?;
    write_atomic(&files.cert, issued.cert_pem.as_bytes(), 0o644).map_err(|error| {
        TlsError::Write {
            path: files.cert.clone(),
            error,
        }
    })?;
    let mut identity = files.load()?;
    identity.created = true;
    Ok(identity)
}

/// rustls server configuration: TLS 1.2 and 1.3 only (rustls's safe defaults), ALPN
/// http/1.1, the certificate chosen by `resolver` at each handshake, no client certificates.
pub fn server_config(resolver: Arc<dyn ResolvesServerCert>) -> Result<Arc<ServerConfig>, TlsError> {
    server_config_with_clients(resolver, None)
}

/// [`server_config`], asking clients for certificates that `clients` verifies (see
/// [`crate::auth::client_ca`]) when it is given. Then sessions are never resumed (no session
/// cache, no TLS 1.3 tickets): a resumed session would bring back a client certificate
/// without verifying it against the CRLs in force, so every connection of a certificate
/// holder makes a full handshake.
pub fn server_config_with_clients(
    resolver: Arc<dyn ResolvesServerCert>,
    clients: Option<Arc<dyn ClientCertVerifier>>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let builder = ServerConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Rustls)?;
    let with_clients = clients.is_some();
    let mut cfg = match clients {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    }
    .with_cert_resolver(resolver);
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    if with_clients {
        cfg.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        cfg.send_tls13_tickets = 0;
    }
    Ok(Arc::new(cfg))
}

/// What [`crate::serve`] needs of TLS: the rustls configuration and, with client
/// certificates, their verifier (whose live connections it registers for re-checks).
#[derive(Debug, Clone)]
pub struct TlsServer {
    pub config: Arc<ServerConfig>,
    /// The certificate `config` serves (for the operator's status).
    pub certificate: Arc<CertStore>,
    pub clients: Option<Arc<crate::auth::client_ca::ClientVerifier>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reused_and_corruption_is_reported() {
        let dir = std::env::temp_dir().join(format!("vncgate-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let names = default_names(&[]);
        let first = load_or_create_self_signed(&dir, &names).expect("create");
        assert!(first.created);
        let second = load_or_create_self_signed(&dir, &names).expect("load");
        assert!(!second.created);
        assert_eq!(first.fingerprint(), second.fingerprint());
        let key = second.certified_key().expect("usable by rustls");
        assert_eq!(fingerprint_of(&key), second.fingerprint());
        server_config(Arc::new(CertStore::new(key))).expect("config");
        std::fs::write(dir.join("tls/self-signed.crt"), b"garbage").expect("corrupt");
        let err = load_or_create_self_signed(&dir, &names).expect_err("corrupt file");
        assert!(err.to_string().contains("self-signed.crt"), "{err}");
        assert!(err.to_string().contains("remove"), "{err}");
        assert_eq!(
            std::fs::read(dir.join("tls/self-signed.crt")).expect("kept"),
            b"garbage"
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
