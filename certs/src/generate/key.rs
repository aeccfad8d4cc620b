//! Private keys: made (ECDSA P-256 by default; RSA where a program reads nothing else, such as
//! `x11vnc -ssl`), stored as PKCS#8 PEM, and optionally encrypted with a passphrase (PKCS#8
//! `ENCRYPTED PRIVATE KEY`, PBES2: PBKDF2-HMAC-SHA256 + AES-256-CBC — the scheme
//! `openssl pkey`, OpenSSL-based servers such as x11vnc, and GnuTLS all read).
//!
//! ring signs with every key here but cannot make RSA keys, so those come from the `rsa` crate
//! and are handed to ring as PKCS#8. Key material and passphrases live in types whose `Debug`
//! shows no secret.

use std::path::Path;

use pkcs8::pkcs5::{self, pbes2};
use pkcs8::{EncryptedPrivateKeyInfoRef, PrivateKeyInfoRef};
use rcgen::KeyPair;

use crate::pem::{self, ENCRYPTED_PRIVATE_KEY, PRIVATE_KEY};
use crate::Error;

/// PBKDF2 iterations when encrypting (the current OWASP figure for PBKDF2-HMAC-SHA256).
pub const PBKDF2_ITERATIONS: u32 = 600_000;
/// The most PBKDF2 iterations accepted when decrypting, so a crafted key file cannot make a
/// command run for hours.
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// The most memory scrypt may ask for when decrypting (OpenSSL's own default limit).
pub const MAX_SCRYPT_BYTES: u64 = 32 * 1024 * 1024;

/// A passphrase: the first line of a file, without its line ending. Redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Passphrase(String);

impl Passphrase {
    pub const MAX_BYTES: usize = 1024;

    /// Reads the first line of `path`, as `openssl … -passin file:PATH` does.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let bytes = crate::fs::read_limited(path, Self::MAX_BYTES, "")?;
        let problem = |problem| Error::Passphrase {
            path: path.to_owned(),
            problem,
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| problem("not UTF-8 text"))?;
        let line = text.lines().next().unwrap_or_default();
        Self::new(line).map_err(problem)
    }

    /// A passphrase from a string (1–1024 bytes).
    pub fn new(s: &str) -> Result<Self, &'static str> {
        if s.is_empty() {
            return Err("the first line is empty; put the passphrase on it");
        }
        if s.len() > Self::MAX_BYTES {
            return Err("longer than 1024 bytes");
        }
        Ok(Self(s.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// The contents of a key file.
#[derive(Clone)]
pub enum KeyFile {
    /// PKCS#8 DER, in clear.
    Plain(Vec<u8>),
    /// PKCS#8 `EncryptedPrivateKeyInfo` DER.
    Encrypted(Vec<u8>),
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyFile::Plain(_) => "KeyFile::Plain(<redacted>)",
            KeyFile::Encrypted(_) => "KeyFile::Encrypted(..)",
        })
    }
}

/// The kind of key to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyType {
    /// ECDSA on P-256: small and fast; what browsers, rustls and QEMU all take.
    #[default]
    EcdsaP256,
    /// RSA 2048-bit, for programs that read only RSA keys (x11vnc).
    Rsa2048,
    Rsa3072,
}

impl KeyType {
    pub const NAMES: [&'static str; 3] = ["ec-p256", "rsa-2048", "rsa-3072"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ec-p256" => Some(Self::EcdsaP256),
            "rsa-2048" => Some(Self::Rsa2048),
            "rsa-3072" => Some(Self::Rsa3072),
            _ => None,
        }
    }
}

/// A new ECDSA P-256 key.
pub fn generate() -> Result<KeyPair, Error> {
    generate_of(KeyType::EcdsaP256)
}

/// A new key of `kind`.
pub fn generate_of(kind: KeyType) -> Result<KeyPair, Error> {
    let bits = match kind {
        KeyType::EcdsaP256 => return KeyPair::generate().map_err(Error::generate("a private key")),
        KeyType::Rsa2048 => 2048,
        KeyType::Rsa3072 => 3072,
    };
    use rsa::pkcs8::EncodePrivateKey;
    let mut rng = pkcs8::rand_core::UnwrapErr(getrandom::SysRng);
    let encode = |detail: String| Error::Encode {
        what: "an RSA key",
        detail,
    };
    let key = rsa::PrivateKey::new(&mut rng, bits).map_err(|e| encode(e.to_string()))?;
    let der = key.to_pkcs8_der().map_err(|e| encode(e.to_string()))?;
    KeyPair::try_from(der.as_bytes()).map_err(Error::generate("an RSA key pair"))
}

impl KeyFile {
    /// The key of a freshly made pair, in clear.
    pub fn from_key_pair(key: &KeyPair) -> Self {
        KeyFile::Plain(key.serialize_der())
    }

    /// Parses a PEM key file; `path` names it in errors.
    pub fn parse(path: &Path, text: &[u8]) -> Result<Self, Error> {
        let what = path.display().to_string();
        let blocks = pem::blocks(&what, text)?;
        for b in blocks {
            match b.label.as_str() {
                PRIVATE_KEY => return Ok(KeyFile::Plain(b.der)),
                ENCRYPTED_PRIVATE_KEY => {
                    EncryptedPrivateKeyInfoRef::try_from(b.der.as_slice()).map_err(|e| {
                        Error::KeyFormat {
                            path: path.to_owned(),
                            detail: format!("malformed encrypted key: {e}"),
                        }
                    })?;
                    return Ok(KeyFile::Encrypted(b.der));
                }
                "EC PRIVATE KEY" | "RSA PRIVATE KEY" => {
                    return Err(Error::KeyFormat {
                        path: path.to_owned(),
                        detail: format!(
                            "a {} in the old format; convert it to PKCS#8 with \
                             `openssl pkcs8 -topk8 -nocrypt -in {what} -out NEW.key`",
                            b.label
                        ),
                    })
                }
                _ => {}
            }
        }
        Err(Error::PemMissing {
            what,
            expected: PRIVATE_KEY,
        })
    }

    pub fn is_encrypted(&self) -> bool {
        matches!(self, KeyFile::Encrypted(_))
    }

    /// The file's PEM text.
    pub fn to_pem(&self) -> String {
        match self {
            KeyFile::Plain(der) => pem::encode(PRIVATE_KEY, der),
            KeyFile::Encrypted(der) => pem::encode(ENCRYPTED_PRIVATE_KEY, der),
        }
    }

    /// The clear PKCS#8 DER, decrypting with `passphrase` if needed.
    pub fn pkcs8_der(
        &self,
        path: &Path,
        passphrase: Option<&Passphrase>,
    ) -> Result<Vec<u8>, Error> {
        match (self, passphrase) {
            (KeyFile::Plain(der), _) => Ok(der.clone()),
            (KeyFile::Encrypted(_), None) => Err(Error::KeyEncrypted {
                path: path.to_owned(),
            }),
            (KeyFile::Encrypted(der), Some(pass)) => decrypt(path, der, pass),
        }
    }

    /// The key pair, for signing.
    pub fn key_pair(&self, path: &Path, passphrase: Option<&Passphrase>) -> Result<KeyPair, Error> {
        let der = self.pkcs8_der(path, passphrase)?;
        KeyPair::try_from(der.as_slice()).map_err(|e| Error::KeyFormat {
            path: path.to_owned(),
            detail: format!("not a usable key (ECDSA P-256/P-384, Ed25519 or RSA in PKCS#8): {e}"),
        })
    }

    /// This key encrypted with `passphrase`.
    pub fn encrypt(&self, path: &Path, passphrase: &Passphrase) -> Result<Self, Error> {
        let KeyFile::Plain(der) = self else {
            return Err(Error::KeyState {
                path: path.to_owned(),
                state: "encrypted",
            });
        };
        let format = |detail: String| Error::KeyFormat {
            path: path.to_owned(),
            detail,
        };
        let info =
            PrivateKeyInfoRef::try_from(der.as_slice()).map_err(|e| format(e.to_string()))?;
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        for buf in [&mut salt, &mut iv] {
            getrandom::fill(buf).map_err(|e| Error::Random {
                detail: e.to_string(),
            })?;
        }
        let params =
            pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(PBKDF2_ITERATIONS, &salt, iv)
                .map_err(|e| format(e.to_string()))?;
        let doc = info
            .encrypt_with_params(params, passphrase.expose())
            .map_err(|e| format(format!("encryption failed: {e}")))?;
        Ok(KeyFile::Encrypted(doc.as_bytes().to_vec()))
    }

    /// This key in clear.
    pub fn decrypt(&self, path: &Path, passphrase: &Passphrase) -> Result<Self, Error> {
        match self {
            KeyFile::Plain(_) => Err(Error::KeyState {
                path: path.to_owned(),
                state: "not encrypted",
            }),
            KeyFile::Encrypted(der) => decrypt(path, der, passphrase).map(KeyFile::Plain),
        }
    }
}

fn decrypt(path: &Path, der: &[u8], passphrase: &Passphrase) -> Result<Vec<u8>, Error> {
    let format = |detail: String| Error::KeyFormat {
        path: path.to_owned(),
        detail,
    };
    let info = EncryptedPrivateKeyInfoRef::try_from(der)
        .map_err(|e| format(format!("malformed encrypted key: {e}")))?;
    check_cost(&info.encryption_algorithm).map_err(format)?;
    match info.decrypt(passphrase.expose()) {
        Ok(doc) => Ok(doc.as_bytes().to_vec()),
        Err(pkcs8::Error::EncryptedPrivateKey(
            e @ (pkcs5::Error::UnsupportedAlgorithm { .. } | pkcs5::Error::NoPbes1CryptSupport),
        )) => Err(format(format!(
            "encrypted with a scheme this tool does not read ({e}); re-encrypt it with \
             `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
        ))),
        // A wrong passphrase shows up as bad padding or as garbage that does not parse.
        Err(_) => Err(Error::WrongPassphrase {
            path: path.to_owned(),
        }),
    }
}

/// Refuses key-derivation parameters that would take unreasonable time or memory.
fn check_cost(scheme: &pkcs5::EncryptionScheme) -> Result<(), String> {
    let pkcs5::EncryptionScheme::Pbes2(params) = scheme else {
        return Ok(()); // PBES1: refused later as unsupported.
    };
    match &params.kdf {
        pbes2::Kdf::Pbkdf2(p) if p.iteration_count > MAX_PBKDF2_ITERATIONS => Err(format!(
            "asks for {} PBKDF2 iterations, more than the limit of {MAX_PBKDF2_ITERATIONS}",
            p.iteration_count
        )),
        pbes2::Kdf::Scrypt(s) => {
            let bytes = 128u64
                .saturating_mul(u64::from(s.block_size))
                .saturating_mul(s.cost_parameter)
                .saturating_mul(u64::from(s.parallelization.max(1)));
            if bytes > MAX_SCRYPT_BYTES {
                Err(format!(
                    "asks scrypt for {bytes} bytes of memory, more than the limit of {MAX_SCRYPT_BYTES}"
                ))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(s: &str) -> Passphrase {
        Passphrase::new(s).expect("passphrase")
    }

    #[test]
    fn encrypt_decrypt_round_trip_and_wrong_passphrase() {
        let path = Path::new("k.key");
        let key = generate().expect("key");
        let plain = KeyFile::from_key_pair(&key);
        let enc = plain
            .encrypt(path, &pass("correct horse"))
            .expect("encrypt");
        assert!(enc.is_encrypted());
        assert!(enc
            .to_pem()
            .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
        let reparsed = KeyFile::parse(path, enc.to_pem().as_bytes()).expect("parse");
        let back = reparsed
            .key_pair(path, Some(&pass("correct horse")))
            .expect("decrypt");
        assert_eq!(back.public_key_raw(), key.public_key_raw());
        let e = reparsed
            .key_pair(path, Some(&pass("wrong")))
            .expect_err("wrong");
        assert_eq!(
            e.to_string(),
            "k.key: the passphrase is wrong, or the key is damaged"
        );
        let e = reparsed.key_pair(path, None).expect_err("none");
        assert!(e.to_string().contains("--passphrase-file"), "{e}");
        assert!(matches!(
            enc.encrypt(path, &pass("x")),
            Err(Error::KeyState { .. })
        ));
        assert!(matches!(
            plain.decrypt(path, &pass("x")),
            Err(Error::KeyState { .. })
        ));
    }

    #[test]
    fn rsa_keys_sign_and_encrypt() {
        let path = Path::new("rsa.key");
        let key = generate_of(KeyType::Rsa2048).expect("rsa");
        let cert = crate::generate::profile::Profile::Server {
            common_name: "x".into(),
            sans: vec![],
        }
        .params(1, std::time::SystemTime::now())
        .expect("params")
        .self_signed(&key)
        .expect("signed with ring");
        let info = crate::CertInfo::parse("rsa", cert.der()).expect("parse");
        assert_eq!(info.key, crate::inspect::KeyAlgorithm::Rsa { bits: 2048 });
        let enc = KeyFile::from_key_pair(&key)
            .encrypt(path, &pass("p"))
            .expect("encrypt");
        let back = enc.key_pair(path, Some(&pass("p"))).expect("decrypt");
        assert_eq!(back.public_key_raw(), key.public_key_raw());
        assert!(KeyType::NAMES.iter().all(|n| KeyType::parse(n).is_some()));
    }

    #[test]
    fn secrets_are_not_in_debug() {
        let p = pass("hunter2");
        assert!(!format!("{p:?}").contains("hunter2"));
        let key = KeyFile::from_key_pair(&generate().expect("key"));
        assert_eq!(format!("{key:?}"), "KeyFile::Plain(<redacted>)");
    }

    #[test]
    fn old_formats_and_empty_files_get_advice() {
        let path = Path::new("old.key");
        let sec1 = pem::encode("EC PRIVATE KEY", b"\x30\x00");
        let e = KeyFile::parse(path, sec1.as_bytes()).expect_err("sec1");
        assert!(e.to_string().contains("openssl pkcs8 -topk8"), "{e}");
        assert!(matches!(
            KeyFile::parse(path, b""),
            Err(Error::PemMissing { .. })
        ));
        let junk = pem::encode(ENCRYPTED_PRIVATE_KEY, b"\x30\x00");
        assert!(KeyFile::parse(path, junk.as_bytes()).is_err());
    }

    #[test]
    fn passphrase_lines() {
        assert!(Passphrase::new("").is_err());
        assert!(Passphrase::new(&"x".repeat(1025)).is_err());
        let dir = std::env::temp_dir().join(format!("certs-pass-{}", std::process::id()));
        let f = dir.join("p");
        crate::fs::write_atomic(&f, b"secret words\r\nsecond line\n", 0o600).expect("write");
        assert_eq!(
            Passphrase::from_file(&f).expect("read").expose(),
            "secret words"
        );
        crate::fs::write_atomic(&f, b"\nx\n", 0o600).expect("write");
        let e = Passphrase::from_file(&f).expect_err("empty first line");
        assert!(e.to_string().contains("first line is empty"), "{e}");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
