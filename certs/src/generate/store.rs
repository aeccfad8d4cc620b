//! The certificate store: one directory holding a root CA, optional intermediate CAs, and the
//! server and client certificates they signed, as plain PEM files any tool can read.
//!
//! ```text
//! DIR/ca.crt          the root CA certificate — the file to distribute and trust
//! DIR/ca.key          its private key (0600, optionally encrypted)
//! DIR/crl.pem         the root CA's CRL
//! DIR/NAME.crt        NAME's certificate chain: NAME first, then the intermediates above it
//!                     (never the root)
//! DIR/NAME.key        NAME's private key (PKCS#8 PEM, 0600, optionally encrypted)
//! DIR/NAME.csr        a certificate request for an external CA (`request`)
//! DIR/NAME.crl.pem    the CRL of intermediate CA NAME
//! ```
//!
//! The root is the entry named `ca`. Nothing else is kept: what a certificate is, who signed
//! it and whether it is revoked are read from the certificates and CRLs themselves. Operations
//! are in [`authority`] (init, issue, request, import), [`revocation`] and [`export`]; keys are
//! encrypted and decrypted in place by [`Store::protect`] and [`Store::unprotect`].

pub mod authority;
pub mod export;
pub mod revocation;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;

use crate::fs::{write_file, Overwrite, MODE_SECRET};
use crate::generate::key::{KeyFile, Passphrase};
use crate::inspect::{CertInfo, CrlInfo};
use crate::Error;

/// The name of the root CA's entry.
pub const ROOT: &str = "ca";
/// The largest certificate, CRL or request file read.
pub const MAX_FILE_BYTES: usize = 256 * 1024;

/// The name of an entry: 1–64 of ASCII letters, digits, `.`, `-`, `_`, starting with a letter
/// or digit, so that `NAME.crt` is a plain file name in the store directory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

impl Name {
    pub fn parse(s: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidName {
            name: s.chars().take(80).collect(),
            reason,
        };
        if s.is_empty() || s.len() > 64 {
            return Err(invalid("use 1 to 64 characters"));
        }
        if !s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric()) {
            return Err(invalid("start with a letter or digit"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(invalid("use only letters, digits, '.', '-' and '_'"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn root() -> Self {
        Self(ROOT.to_owned())
    }

    pub fn is_root(&self) -> bool {
        self.0 == ROOT
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a key file stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Missing,
    Plain,
    Encrypted,
    Unreadable,
}

/// One entry of the store as `list` and `info` show it.
#[derive(Debug)]
pub struct Entry {
    pub name: Name,
    /// The chain in `NAME.crt` (leaf first), parsed; `Err` holds why it could not be read.
    pub chain: Result<Vec<CertInfo>, String>,
    pub key: KeyState,
    pub has_request: bool,
    /// Listed in a CRL of this store.
    pub revoked: bool,
}

/// A store directory. Creating the value touches no file.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn cert_path(&self, name: &Name) -> PathBuf {
        self.dir.join(format!("{name}.crt"))
    }

    pub fn key_path(&self, name: &Name) -> PathBuf {
        self.dir.join(format!("{name}.key"))
    }

    pub fn request_path(&self, name: &Name) -> PathBuf {
        self.dir.join(format!("{name}.csr"))
    }

    /// `crl.pem` for the root, `NAME.crl.pem` for an intermediate CA.
    pub fn crl_path(&self, ca: &Name) -> PathBuf {
        if ca.is_root() {
            self.dir.join("crl.pem")
        } else {
            self.dir.join(format!("{ca}.crl.pem"))
        }
    }

    /// Creates the directory (mode 0700: it holds private keys) if it does not exist.
    pub fn create_dir(&self) -> Result<(), Error> {
        use std::os::unix::fs::DirBuilderExt;
        if self.dir.is_dir() {
            return Ok(());
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(Error::io("create the directory", &self.dir))
    }

    /// The certificates in `NAME.crt`, leaf first.
    pub fn read_chain(&self, name: &Name) -> Result<Vec<CertificateDer<'static>>, Error> {
        let path = self.cert_path(name);
        let hint = if name.is_root() {
            "; create the CA with `vncgate certs init-ca`"
        } else {
            "; see `vncgate certs list`"
        };
        let bytes = crate::fs::read_limited(&path, MAX_FILE_BYTES, hint)?;
        crate::pem::certificates(&path.display().to_string(), &bytes)
    }

    /// The first certificate of `NAME.crt`, parsed.
    pub fn read_info(&self, name: &Name) -> Result<(CertificateDer<'static>, CertInfo), Error> {
        let chain = self.read_chain(name)?;
        let path = self.cert_path(name);
        let leaf = chain.into_iter().next().ok_or_else(|| Error::PemMissing {
            what: path.display().to_string(),
            expected: crate::pem::CERTIFICATE,
        })?;
        let info = CertInfo::parse(&path.display().to_string(), &leaf)?;
        Ok((leaf, info))
    }

    pub fn read_key(&self, name: &Name) -> Result<KeyFile, Error> {
        let path = self.key_path(name);
        let bytes = crate::fs::read_limited(
            &path,
            64 * 1024,
            "; only entries made here or with `request` have a key",
        )?;
        KeyFile::parse(&path, &bytes)
    }

    /// The CA's current CRL, if it has one.
    pub fn read_crl(&self, ca: &Name) -> Result<Option<(Vec<u8>, CrlInfo)>, Error> {
        let path = self.crl_path(ca);
        if !path.exists() {
            return Ok(None);
        }
        let what = path.display().to_string();
        let bytes = crate::fs::read_limited(&path, MAX_FILE_BYTES, "")?;
        let der = crate::pem::blocks_labelled(&what, &bytes, crate::pem::X509_CRL)?
            .into_iter()
            .next()
            .unwrap_or_default();
        let info = CrlInfo::parse(&what, &der)?;
        Ok(Some((der, info)))
    }

    /// Every entry name with a certificate, key or request file, sorted.
    pub fn names(&self) -> Result<Vec<Name>, Error> {
        let list = std::fs::read_dir(&self.dir).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotFound {
                    path: self.dir.clone(),
                    hint: "; create a CA there with `vncgate certs init-ca`",
                }
            } else {
                Error::io("list", &self.dir)(e)
            }
        })?;
        let mut names = BTreeSet::new();
        for item in list {
            let item = item.map_err(Error::io("list", &self.dir))?;
            let file = item.file_name();
            let Some(file) = file.to_str() else { continue };
            let stem = [".crt", ".key", ".csr"]
                .iter()
                .find_map(|ext| file.strip_suffix(ext));
            if let Some(name) = stem.and_then(|s| Name::parse(s).ok()) {
                names.insert(name);
            }
        }
        Ok(names.into_iter().collect())
    }

    /// All CRLs in the store (root and intermediates).
    pub fn crls(&self) -> Result<Vec<(Name, Vec<u8>, CrlInfo)>, Error> {
        let mut out = Vec::new();
        for name in std::iter::once(Name::root()).chain(self.names()?) {
            if out.iter().any(|(n, _, _)| *n == name) {
                continue;
            }
            if let Some((der, info)) = self.read_crl(&name)? {
                out.push((name, der, info));
            }
        }
        Ok(out)
    }

    /// Encrypts `NAME.key` with `passphrase`.
    pub fn protect(&self, name: &Name, passphrase: &Passphrase) -> Result<PathBuf, Error> {
        let path = self.key_path(name);
        let encrypted = self.read_key(name)?.encrypt(&path, passphrase)?;
        write_file(
            &path,
            encrypted.to_pem().as_bytes(),
            MODE_SECRET,
            Overwrite::Replace,
        )?;
        Ok(path)
    }

    /// Decrypts `NAME.key` (which must be encrypted with `passphrase`).
    pub fn unprotect(&self, name: &Name, passphrase: &Passphrase) -> Result<PathBuf, Error> {
        let path = self.key_path(name);
        let plain = self.read_key(name)?.decrypt(&path, passphrase)?;
        write_file(
            &path,
            plain.to_pem().as_bytes(),
            MODE_SECRET,
            Overwrite::Replace,
        )?;
        Ok(path)
    }

    /// What the store knows about `name`. Problems with one file are reported in the entry,
    /// not as an error, so `list` shows every entry.
    pub fn entry(&self, name: &Name, crls: &[(Name, Vec<u8>, CrlInfo)]) -> Entry {
        let chain: Result<Vec<CertInfo>, String> = self
            .read_chain(name)
            .and_then(|chain| {
                let what = self.cert_path(name).display().to_string();
                chain.iter().map(|c| CertInfo::parse(&what, c)).collect()
            })
            .map_err(|e| match e {
                Error::NotFound { .. } => "no certificate".to_owned(),
                other => other.to_string(),
            });
        let key = match self.read_key(name) {
            Ok(k) if k.is_encrypted() => KeyState::Encrypted,
            Ok(_) => KeyState::Plain,
            Err(Error::NotFound { .. }) => KeyState::Missing,
            Err(_) => KeyState::Unreadable,
        };
        let revoked = match chain.as_ref().ok().and_then(|c| c.first()) {
            Some(leaf) => crls.iter().any(|(_, _, crl)| {
                crl.issuer_der == leaf.issuer_der && crl.is_revoked(&leaf.serial)
            }),
            None => false,
        };
        Entry {
            name: name.clone(),
            chain,
            key,
            has_request: self.request_path(name).exists(),
            revoked,
        }
    }
}

#[cfg(test)]
mod flow_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_file_names() {
        for good in ["ca", "desk1.lan", "alice_2", "0day", "A-b"] {
            Name::parse(good).expect(good);
        }
        for bad in [
            "",
            ".hidden",
            "-x",
            "a/b",
            "..",
            "a b",
            "ä",
            &"x".repeat(65),
        ] {
            let e = Name::parse(bad).expect_err(bad);
            assert!(e.to_string().contains("is not a usable name"), "{e}");
        }
        assert!(Name::root().is_root());
    }

    #[test]
    fn paths_follow_the_layout() {
        let s = Store::new("/d");
        let n = Name::parse("web").expect("name");
        assert_eq!(s.cert_path(&n), Path::new("/d/web.crt"));
        assert_eq!(s.key_path(&n), Path::new("/d/web.key"));
        assert_eq!(s.request_path(&n), Path::new("/d/web.csr"));
        assert_eq!(s.crl_path(&n), Path::new("/d/web.crl.pem"));
        assert_eq!(s.crl_path(&Name::root()), Path::new("/d/crl.pem"));
    }

    #[test]
    fn a_missing_directory_says_how_to_start() {
        let s = Store::new("/nonexistent/vncgate-certs");
        let e = s.names().expect_err("missing");
        assert!(e.to_string().contains("init-ca"), "{e}");
        let e = s.read_chain(&Name::root()).expect_err("missing");
        assert!(e.to_string().contains("init-ca"), "{e}");
    }
}
