//! The ACME files in the state directory:
//!
//! ```text
//! STATE/acme/accounts/<hash of the directory URL>.json   account key + URL      0600
//! STATE/acme/key.pem                                      certificate key        0600
//! STATE/acme/cert.pem                                     chain, leaf first      0644
//! STATE/acme/status.json                                  for `vncgate acme status`
//! ```
//!
//! Every file is written atomically (temporary file, fsync, rename). The key is written before
//! the chain; a crash between the two leaves a pair that does not match, which loads as "no
//! certificate" and is replaced by the next issuance.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use certs::fs::{write_atomic, MODE_PUBLIC, MODE_SECRET};
use certs::CertInfo;
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};

use super::error::AcmeError;
use super::status::Status;

/// Largest stored file read back (a chain is a few KiB).
const MAX_FILE_BYTES: usize = 1024 * 1024;

/// A certificate with its key, ready to serve, and what it says.
#[derive(Debug, Clone)]
pub struct StoredCertificate {
    pub key: Arc<CertifiedKey>,
    /// The leaf's subject, issuer, names and validity.
    pub info: CertInfo,
}

/// The `acme/` folder of a state directory.
#[derive(Debug, Clone)]
pub struct AcmeStore {
    dir: PathBuf,
}

impl AcmeStore {
    pub fn new(state_dir: &Path) -> Self {
        Self {
            dir: state_dir.join("acme"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }

    pub fn key_path(&self) -> PathBuf {
        self.dir.join("key.pem")
    }

    pub fn status_path(&self) -> PathBuf {
        self.dir.join("status.json")
    }

    /// The account file for one CA: accounts differ per directory URL.
    pub fn account_path(&self, directory: &str) -> PathBuf {
        let digest = Sha256::digest(directory.as_bytes());
        let name: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        self.dir.join("accounts").join(format!("{name}.json"))
    }

    /// The stored account for `directory`, if one was registered.
    pub fn load_account(
        &self,
        directory: &str,
    ) -> Result<Option<instant_acme::AccountCredentials>, AcmeError> {
        let path = self.account_path(directory);
        let Some(bytes) = read_optional(&path)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| AcmeError::Stored {
                path,
                detail: e.to_string(),
            })
    }

    pub fn save_account(
        &self,
        directory: &str,
        credentials: &instant_acme::AccountCredentials,
    ) -> Result<(), AcmeError> {
        let path = self.account_path(directory);
        let json = serde_json::to_vec_pretty(credentials).map_err(|e| AcmeError::Stored {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        write(&path, &json, MODE_SECRET)
    }

    /// The stored certificate, if there is a usable pair.
    pub fn load_certificate(&self) -> Result<Option<StoredCertificate>, AcmeError> {
        let (cert_path, key_path) = (self.cert_path(), self.key_path());
        let (Some(chain_pem), Some(key_pem)) =
            (read_optional(&cert_path)?, read_optional(&key_path)?)
        else {
            return Ok(None);
        };
        parse_pair(&chain_pem, &key_pem)
            .map(Some)
            .map_err(|detail| AcmeError::Stored {
                path: cert_path,
                detail,
            })
    }

    /// Stores a new pair (key first) and returns it parsed.
    pub fn save_certificate(
        &self,
        chain_pem: &str,
        key_pem: &str,
    ) -> Result<StoredCertificate, AcmeError> {
        let stored = parse_pair(chain_pem.as_bytes(), key_pem.as_bytes())
            .map_err(|detail| AcmeError::Unusable { detail })?;
        write(&self.key_path(), key_pem.as_bytes(), MODE_SECRET)?;
        write(&self.cert_path(), chain_pem.as_bytes(), MODE_PUBLIC)?;
        Ok(stored)
    }

    /// The status file, or an empty status if there is none (or it cannot be read: it is
    /// only informational, and is rewritten after the next attempt).
    pub fn load_status(&self) -> Status {
        match read_optional(&self.status_path()) {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_default(),
            _ => Status::default(),
        }
    }

    pub fn save_status(&self, status: &Status) -> Result<(), AcmeError> {
        let path = self.status_path();
        let json = serde_json::to_vec_pretty(status).map_err(|e| AcmeError::Stored {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        write(&path, &json, MODE_PUBLIC)
    }
}

/// A chain and a key → what rustls serves, after checking the key belongs to the leaf.
pub fn parse_pair(chain_pem: &[u8], key_pem: &[u8]) -> Result<StoredCertificate, String> {
    let chain = certs::pem::certificates("the chain", chain_pem).map_err(|e| e.to_string())?;
    let key = certs::pem::private_key("the key", key_pem).map_err(|e| e.to_string())?;
    let leaf = chain.first().ok_or("the chain is empty")?;
    let info = CertInfo::parse("the certificate", leaf).map_err(|e| e.to_string())?;
    let certified = CertifiedKey::from_der(chain, key, &crate::tls::provider())
        .map_err(|e| format!("the key does not belong to the certificate ({e})"))?;
    Ok(StoredCertificate {
        key: Arc::new(certified),
        info,
    })
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, AcmeError> {
    match certs::fs::read_limited(path, MAX_FILE_BYTES, "") {
        Ok(bytes) => Ok(Some(bytes)),
        Err(certs::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(AcmeError::Stored {
            path: path.to_owned(),
            detail: e.to_string(),
        }),
    }
}

fn write(path: &Path, contents: &[u8], mode: u32) -> Result<(), AcmeError> {
    write_atomic(path, contents, mode).map_err(|error| AcmeError::Write {
        path: path.to_owned(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn pairs_are_checked_and_keys_are_private() {
        let dir = std::env::temp_dir().join(format!("vncgate-acme-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = AcmeStore::new(&dir);
        assert!(store.load_certificate().expect("empty").is_none());
        let a = certs::generate::self_signed_server("a", &["a.example.org".into()], 3).expect("a");
        let b = certs::generate::self_signed_server("b", &["b.example.org".into()], 3).expect("b");
        let e = store
            .save_certificate(&a.cert_pem, &b.key_pem)
            .expect_err("mismatch");
        assert!(e.to_string().contains("does not belong"), "{e}");
        assert!(!store.cert_path().exists(), "nothing written");
        let saved = store
            .save_certificate(&a.cert_pem, &a.key_pem)
            .expect("save");
        assert_eq!(saved.info.sans, ["DNS:a.example.org"]);
        let mode = |p: PathBuf| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(store.key_path()), 0o600);
        assert_eq!(mode(store.cert_path()), 0o644);
        let loaded = store.load_certificate().expect("load").expect("some");
        assert_eq!(loaded.info.fingerprint, saved.info.fingerprint);
        assert_ne!(
            store.account_path("https://a/dir"),
            store.account_path("https://b/dir")
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
