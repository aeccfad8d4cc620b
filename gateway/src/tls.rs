//! The gateway's TLS identity: a self-signed certificate made on first start, kept in the
//! state directory and reused; and the rustls server configuration built from it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use certs::Fingerprint;
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::state_dir::write_atomic;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}; check that the state directory is writable")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{0}; fix or remove the file (removing the self-signed pair makes a new one, with a new fingerprint)"
    )]
    Certificate(#[source] certs::Error),
    #[error("the certificate and key in {dir} do not match or are not usable: {source}")]
    Rustls {
        dir: PathBuf,
        #[source]
        source: rustls::Error,
    },
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
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        self.chain.first().map(|c| Fingerprint::of_der(c))
    }
}

/// The default SANs: this host's name, localhost, 127.0.0.1, ::1, then `extra`.
pub fn default_names(extra: &[String]) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let h = h.trim();
        if !h.is_empty() {
            names.push(h.to_owned());
        }
    }
    names.extend(["localhost", "127.0.0.1", "::1"].map(String::from));
    names.extend(extra.iter().cloned());
    names.dedup();
    names
}

/// Loads `tls/self-signed.{crt,key}` from `state_dir`, or creates them (key mode 0600).
/// A file that exists but cannot be parsed is an error: it is never overwritten.
pub fn load_or_create_self_signed(
    state_dir: &Path,
    names: &[String],
) -> Result<Identity, TlsError> {
    let dir = state_dir.join("tls");
    let cert_path = dir.join("self-signed.crt");
    let key_path = dir.join("self-signed.key");
    if cert_path.exists() || key_path.exists() {
        return load_pair(&cert_path, &key_path).map(|(chain, key)| Identity {
            chain,
            key,
            created: false,
        });
    }
    let issued = certs::generate::self_signed_server("vncgate self-signed", names, 825)
        .map_err(TlsError::Certificate)?;
    write_atomic(&key_path, issued.key_pem.as_bytes(), 0o600).map_err(|source| {
        TlsError::Write {
            path: key_path.clone(),
            source,
        }
    })?;
    write_atomic(&cert_path, issued.cert_pem.as_bytes(), 0o644).map_err(|source| {
        TlsError::Write {
            path: cert_path.clone(),
            source,
        }
    })?;
    let (chain, key) = load_pair(&cert_path, &key_path)?;
    Ok(Identity {
        chain,
        key,
        created: true,
    })
}

/// Reads a PEM certificate chain and a PEM private key.
pub fn load_pair(
    cert_path: &Path,
    key_path: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| TlsError::Read {
            path: p.to_owned(),
            source,
        })
    };
    let chain = certs::pem::certificates(&cert_path.display().to_string(), &read(cert_path)?)
        .map_err(TlsError::Certificate)?;
    let key = certs::pem::private_key(&key_path.display().to_string(), &read(key_path)?)
        .map_err(TlsError::Certificate)?;
    Ok((chain, key))
}

/// rustls server configuration: TLS 1.2 and 1.3 (rustls defaults), ALPN http/1.1.
pub fn server_config(identity: &Identity, dir: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Rustls {
            dir: dir.to_owned(),
            source,
        })?
        .with_no_client_auth()
        .with_single_cert(identity.chain.clone(), identity.key.clone_key())
        .map_err(|source| TlsError::Rustls {
            dir: dir.to_owned(),
            source,
        })?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
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
        server_config(&second, &dir).expect("usable by rustls");
        std::fs::write(dir.join("tls/self-signed.crt"), b"garbage").expect("corrupt");
        let err = load_or_create_self_signed(&dir, &names).expect_err("corrupt file");
        assert!(err.to_string().contains("self-signed.crt"), "{err}");
        assert_eq!(
            std::fs::read(dir.join("tls/self-signed.crt")).expect("kept"),
            b"garbage"
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
