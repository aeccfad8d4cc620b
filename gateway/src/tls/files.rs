//! The operator's certificate files: a PEM chain (server certificate first, then
//! intermediates) and a PEM key — plain (PKCS#8, PKCS#1, SEC1) or a passphrase-protected
//! PKCS#8 `ENCRYPTED PRIVATE KEY`, decrypted in memory with the passphrase from a file.

use std::path::{Path, PathBuf};

use pkcs8::EncryptedPrivateKeyInfoRef;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::{Identity, TlsError};

/// A key's passphrase; never printed.
pub struct Passphrase(Vec<u8>);

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

impl Drop for Passphrase {
    fn drop(&mut self) {
        self.0.iter_mut().for_each(|b| *b = 0);
    }
}

impl Passphrase {
    /// The file's contents without one trailing line end (as `echo` writes it).
    pub fn from_file_contents(mut bytes: Vec<u8>) -> Self {
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
        }
        Self(bytes)
    }
}

/// Where a certificate and its key are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub key_passphrase_file: Option<PathBuf>,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Read {
        path: path.to_owned(),
        error,
    })
}

const ENCRYPTED_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_END: &str = "-----END ENCRYPTED PRIVATE KEY-----";

/// Why an encrypted key could not be decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecryptProblem {
    /// The block is not a PKCS#8 EncryptedPrivateKeyInfo we can read, or uses an algorithm
    /// that is not supported.
    Unsupported(String),
    /// Decryption failed or gave no key: the passphrase is wrong (or the key damaged).
    WrongPassphrase,
}

/// Decrypts the `ENCRYPTED PRIVATE KEY` block in `pem` into a plain PKCS#8 DER key.
/// `Ok(None)`: the PEM holds no encrypted block.
pub fn decrypt_pkcs8(
    pem: &str,
    passphrase: &Passphrase,
) -> Result<Option<PrivateKeyDer<'static>>, DecryptProblem> {
    let Some(start) = pem.find(ENCRYPTED_BEGIN) else {
        return Ok(None);
    };
    let end = pem[start..]
        .find(ENCRYPTED_END)
        .map(|e| start + e + ENCRYPTED_END.len())
        .ok_or_else(|| DecryptProblem::Unsupported("the block has no END line".into()))?;
    let unsupported = |e: &dyn std::fmt::Display| DecryptProblem::Unsupported(e.to_string());
    let (_label, der) =
        pkcs8::der::pem::decode_vec(&pem.as_bytes()[start..end]).map_err(|e| unsupported(&e))?;
    let info = EncryptedPrivateKeyInfoRef::try_from(der.as_slice()).map_err(|e| unsupported(&e))?;
    let plain = info.decrypt(&passphrase.0).map_err(|e| match e {
        pkcs8::Error::EncryptedPrivateKey(
            e @ (pkcs8::pkcs5::Error::UnsupportedAlgorithm { .. }
            | pkcs8::pkcs5::Error::AlgorithmParametersInvalid { .. }
            | pkcs8::pkcs5::Error::NoPbes1CryptSupport),
        ) => unsupported(&e),
        _ => DecryptProblem::WrongPassphrase,
    })?;
    Ok(Some(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        plain.as_bytes().to_vec(),
    ))))
}

impl CertFiles {
    /// Reads the chain and the key (decrypting it if needed).
    pub fn load(&self) -> Result<Identity, TlsError> {
        let chain = certs::pem::certificates(&self.cert.display().to_string(), &read(&self.cert)?)
            .map_err(TlsError::Pem)?;
        let key_pem = read(&self.key)?;
        let key = self.key(&key_pem)?;
        Ok(Identity {
            chain,
            key,
            created: false,
        })
    }

    /// Reads the files and checks that the key belongs to the certificate.
    pub fn load_certified(&self) -> Result<(Identity, CertifiedKey), TlsError> {
        let identity = self.load()?;
        let certified = self.certify(&identity)?;
        Ok((identity, certified))
    }

    /// `identity` as rustls serves it, with errors naming these files.
    pub fn certify(&self, identity: &Identity) -> Result<CertifiedKey, TlsError> {
        identity
            .certified_key()
            .map_err(|error| TlsError::Unusable {
                cert: self.cert.clone(),
                key: self.key.clone(),
                error,
            })
    }

    fn key(&self, key_pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
        let text = String::from_utf8_lossy(key_pem);
        if text.contains("Proc-Type: 4,ENCRYPTED") {
            return Err(TlsError::KeyLegacyEncryption {
                path: self.key.clone(),
            });
        }
        if !text.contains(ENCRYPTED_BEGIN) {
            if self.key_passphrase_file.is_some() {
                tracing::debug!(key = %self.key.display(), "the key is not encrypted; its passphrase file is not needed");
            }
            return certs::pem::private_key(&self.key.display().to_string(), key_pem)
                .map_err(TlsError::Pem);
        }
        let Some(pass_path) = &self.key_passphrase_file else {
            return Err(TlsError::KeyEncrypted {
                path: self.key.clone(),
            });
        };
        let passphrase = Passphrase::from_file_contents(read(pass_path)?);
        if passphrase.0.is_empty() {
            return Err(TlsError::EmptyPassphrase {
                path: pass_path.clone(),
            });
        }
        let problem = |p| match p {
            DecryptProblem::WrongPassphrase => TlsError::KeyDecrypt {
                path: self.key.clone(),
                passphrase_file: pass_path.clone(),
            },
            DecryptProblem::Unsupported(detail) => TlsError::KeyEncryption {
                path: self.key.clone(),
                detail,
            },
        };
        decrypt_pkcs8(&text, &passphrase)
            .map_err(problem)?
            .ok_or_else(|| {
                problem(DecryptProblem::Unsupported(
                    "no ENCRYPTED PRIVATE KEY block".into(),
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pkcs8::pkcs5::pbes2;
    use pkcs8::{LineEnding, PrivateKeyInfoRef};
    use rustls_pki_types::pem::PemObject;

    /// A fresh certificate and its key, encrypted with `pass` as OpenSSL 3 does by default
    /// (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC).
    fn encrypted_pair(pass: &str) -> (String, String, String) {
        let issued =
            certs::generate::self_signed_server("t", &["localhost".into()], 2).expect("generate");
        let der = PrivatePkcs8KeyDer::from_pem_slice(issued.key_pem.as_bytes()).expect("pkcs8");
        let info = PrivateKeyInfoRef::try_from(der.secret_pkcs8_der()).expect("parse");
        let params =
            pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(2048, b"saltsalt", [7; 16])
                .expect("params");
        let doc = info.encrypt_with_params(params, pass).expect("encrypt");
        let pem = doc
            .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
            .expect("pem")
            .to_string();
        (issued.cert_pem, pem, issued.key_pem)
    }

    fn write(dir: &Path, name: &str, data: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, data).expect("write");
        p
    }

    #[test]
    fn encrypted_keys_need_the_right_passphrase() {
        let dir = std::env::temp_dir().join(format!("vncgate-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let (cert, enc_key, plain_key) = encrypted_pair("correct horse");
        let files = CertFiles {
            cert: write(&dir, "c.pem", &cert),
            key: write(&dir, "k.pem", &enc_key),
            key_passphrase_file: None,
        };
        let e = files.load().expect_err("no passphrase");
        assert!(matches!(e, TlsError::KeyEncrypted { .. }), "{e}");
        assert!(e.to_string().contains("--key-passphrase-file"), "{e}");

        let wrong = CertFiles {
            key_passphrase_file: Some(write(&dir, "wrong", "battery staple\n")),
            ..files.clone()
        };
        let e = wrong.load().expect_err("wrong passphrase");
        assert!(matches!(e, TlsError::KeyDecrypt { .. }), "{e}");
        assert!(e.to_string().contains("wrong passphrase"), "{e}");

        let right = CertFiles {
            key_passphrase_file: Some(write(&dir, "right", "correct horse\n")),
            ..files.clone()
        };
        let (identity, _) = right.load_certified().expect("decrypts and matches");
        let plain = PrivatePkcs8KeyDer::from_pem_slice(plain_key.as_bytes()).expect("pkcs8");
        assert_eq!(identity.key.secret_der(), plain.secret_pkcs8_der());

        let empty = CertFiles {
            key_passphrase_file: Some(write(&dir, "empty", "\n")),
            ..files.clone()
        };
        assert!(matches!(
            empty.load(),
            Err(TlsError::EmptyPassphrase { .. })
        ));

        let other = encrypted_pair("x").0;
        let mismatched = CertFiles {
            cert: write(&dir, "other.pem", &other),
            ..right.clone()
        };
        let e = mismatched
            .load_certified()
            .expect_err("key of another cert");
        assert!(
            e.to_string().contains("belongs to the first certificate"),
            "{e}"
        );

        let legacy = CertFiles {
            key: write(&dir, "legacy.pem", "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n"),
            ..right
        };
        assert!(matches!(
            legacy.load(),
            Err(TlsError::KeyLegacyEncryption { .. })
        ));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn passphrase_never_prints() {
        let p = Passphrase::from_file_contents(b"hunter2\r\n".to_vec());
        assert_eq!(p.0, b"hunter2");
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
