//! Operations that make entries of a [`Store`]: create the root CA, issue certificates, make
//! requests for an external CA and import what it signed.
//!
//! Each operation computes everything in memory, checks that none of its output files exists
//! (unless replacing is allowed), then writes them: keys first, each atomically. A refusal or a
//! failure before writing leaves the store as it was.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rcgen::{Issuer, KeyPair};
use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate, X509CertificationRequest};

use super::{Name, Store, MAX_FILE_BYTES};
use crate::fs::{check_absent, write_file, Overwrite, MODE_PUBLIC, MODE_SECRET};
use crate::generate::crl;
use crate::generate::key::{self, KeyFile, KeyType, Passphrase};
use crate::generate::profile::Profile;
use crate::inspect::{format_utc, CertInfo};
use crate::Error;

/// The root CA to create.
#[derive(Debug)]
pub struct NewCa<'a> {
    pub common_name: String,
    pub days: u32,
    pub path_len: Option<u8>,
    pub key_type: KeyType,
    /// Encrypt the CA key with this.
    pub passphrase: Option<&'a Passphrase>,
    pub overwrite: Overwrite,
    pub now: SystemTime,
}

/// Who signs a new certificate.
#[derive(Debug)]
pub enum Signing<'a> {
    SelfSigned,
    /// A CA of the store, and the passphrase of its key if it is encrypted.
    Ca {
        name: Name,
        passphrase: Option<&'a Passphrase>,
    },
}

/// A certificate to issue.
#[derive(Debug)]
pub struct NewCert<'a> {
    pub name: Name,
    pub profile: Profile,
    pub days: u32,
    pub signing: Signing<'a>,
    pub key_type: KeyType,
    /// Encrypt the new key with this.
    pub key_passphrase: Option<&'a Passphrase>,
    pub overwrite: Overwrite,
    pub now: SystemTime,
}

/// What an operation wrote, and the certificate it is about.
#[derive(Debug)]
pub struct Written {
    pub files: Vec<PathBuf>,
    pub info: CertInfo,
}

/// A CA of the store, ready to sign.
pub(super) struct Signer {
    pub(super) name: Name,
    /// The CA's own certificate.
    pub(super) cert: CertificateDer<'static>,
    /// `NAME.crt`: the CA's certificate and the intermediates above it.
    pub(super) chain: Vec<CertificateDer<'static>>,
    pub(super) info: CertInfo,
    pub(super) key: KeyPair,
}

impl Store {
    /// Creates the root CA (`ca.crt`, `ca.key`) and its first, empty CRL (`crl.pem`).
    pub fn init_ca(&self, req: &NewCa<'_>) -> Result<Written, Error> {
        let root = Name::root();
        let (cert_path, key_path, crl_path) = (
            self.cert_path(&root),
            self.key_path(&root),
            self.crl_path(&root),
        );
        check_absent(&[&cert_path, &key_path, &crl_path], req.overwrite)?;
        let profile = Profile::RootCa {
            common_name: req.common_name.clone(),
            path_len: req.path_len,
        };
        let key = key::generate_of(req.key_type)?;
        let cert = profile
            .params(req.days, req.now)?
            .self_signed(&key)
            .map_err(Error::generate("the CA certificate"))?;
        let crl = crl::next_crl(cert.der(), &key, None, None, crl::DEFAULT_CRL_DAYS, req.now)?;
        let key_file = protect_if(KeyFile::from_key_pair(&key), &key_path, req.passphrase)?;
        let info = CertInfo::parse(&cert_path.display().to_string(), cert.der())?;
        self.create_dir()?;
        write_file(
            &key_path,
            key_file.to_pem().as_bytes(),
            MODE_SECRET,
            req.overwrite,
        )?;
        write_file(
            &cert_path,
            cert.pem().as_bytes(),
            MODE_PUBLIC,
            req.overwrite,
        )?;
        write_file(
            &crl_path,
            crate::pem::encode(crate::pem::X509_CRL, &crl).as_bytes(),
            MODE_PUBLIC,
            req.overwrite,
        )?;
        Ok(Written {
            files: vec![key_path, cert_path, crl_path],
            info,
        })
    }

    /// Issues `NAME.key` + `NAME.crt` (and `NAME.crl.pem` for an intermediate CA).
    pub fn issue(&self, req: &NewCert<'_>) -> Result<Written, Error> {
        if req.name.is_root() {
            return Err(Error::InvalidName {
                name: req.name.to_string(),
                reason: "it is the root CA's name; create the root with init-ca",
            });
        }
        if matches!(req.profile, Profile::RootCa { .. }) {
            return Err(Error::InvalidValue {
                what: "profile",
                value: "root CA".to_owned(),
                reason: "a root is made with init-ca".to_owned(),
            });
        }
        let (cert_path, key_path, crl_path) = (
            self.cert_path(&req.name),
            self.key_path(&req.name),
            self.crl_path(&req.name),
        );
        let is_ca = req.profile.is_ca();
        let mut outputs: Vec<&Path> = vec![&key_path, &cert_path];
        if is_ca {
            outputs.push(&crl_path);
        }
        check_absent(&outputs, req.overwrite)?;

        let key = key::generate_of(req.key_type)?;
        let mut params = req.profile.params(req.days, req.now)?;
        let (cert, chain_rest) = match &req.signing {
            Signing::SelfSigned => {
                let cert = params
                    .self_signed(&key)
                    .map_err(Error::generate("a self-signed certificate"))?;
                (cert, Vec::new())
            }
            Signing::Ca { name, passphrase } => {
                let signer = self.signer(name, *passphrase)?;
                if let Some(end) =
                    signer.check_can_sign(&self.cert_path(name), &req.profile, req.days, req.now)?
                {
                    params.not_after = end.into();
                }
                let issuer = Issuer::from_ca_cert_der(&signer.cert, &signer.key)
                    .map_err(Error::generate("the issuer"))?;
                let cert = params
                    .signed_by(&key, &issuer)
                    .map_err(Error::generate("a certificate"))?;
                // The chain stored with a certificate stops below the root.
                let rest: Vec<_> = if signer.info.self_issued {
                    Vec::new()
                } else {
                    signer.chain
                };
                (cert, rest)
            }
        };
        let mut chain_pem = cert.pem();
        for c in &chain_rest {
            chain_pem.push_str(&crate::pem::encode(crate::pem::CERTIFICATE, c));
        }
        let crl = if is_ca {
            Some(crl::next_crl(
                cert.der(),
                &key,
                None,
                None,
                crl::DEFAULT_CRL_DAYS,
                req.now,
            )?)
        } else {
            None
        };
        let key_file = protect_if(KeyFile::from_key_pair(&key), &key_path, req.key_passphrase)?;
        let info = CertInfo::parse(&cert_path.display().to_string(), cert.der())?;
        self.create_dir()?;
        write_file(
            &key_path,
            key_file.to_pem().as_bytes(),
            MODE_SECRET,
            req.overwrite,
        )?;
        write_file(&cert_path, chain_pem.as_bytes(), MODE_PUBLIC, req.overwrite)?;
        let mut files = vec![key_path, cert_path];
        if let Some(crl) = crl {
            write_file(
                &crl_path,
                crate::pem::encode(crate::pem::X509_CRL, &crl).as_bytes(),
                MODE_PUBLIC,
                req.overwrite,
            )?;
            files.push(crl_path);
        }
        Ok(Written { files, info })
    }

    /// Makes `NAME.key` and a request `NAME.csr` for an external CA to sign.
    pub fn request(
        &self,
        name: &Name,
        profile: &Profile,
        key_type: KeyType,
        key_passphrase: Option<&Passphrase>,
        overwrite: Overwrite,
        now: SystemTime,
    ) -> Result<Vec<PathBuf>, Error> {
        let (key_path, csr_path, cert_path) = (
            self.key_path(name),
            self.request_path(name),
            self.cert_path(name),
        );
        check_absent(&[&key_path, &csr_path, &cert_path], overwrite)?;
        let key = key::generate_of(key_type)?;
        let mut params = profile.params(crate::generate::profile::DEFAULT_LEAF_DAYS, now)?;
        // The external CA picks the serial and adds its own key identifier.
        params.serial_number = None;
        params.use_authority_key_identifier_extension = false;
        let csr = params
            .serialize_request(&key)
            .map_err(Error::generate("a certificate request"))?;
        let csr_pem = crate::pem::encode(crate::pem::CERTIFICATE_REQUEST, csr.der());
        let key_file = protect_if(KeyFile::from_key_pair(&key), &key_path, key_passphrase)?;
        self.create_dir()?;
        write_file(
            &key_path,
            key_file.to_pem().as_bytes(),
            MODE_SECRET,
            overwrite,
        )?;
        write_file(&csr_path, csr_pem.as_bytes(), MODE_PUBLIC, overwrite)?;
        Ok(vec![key_path, csr_path])
    }

    /// Stores the certificate (and chain) in `source` as `NAME.crt`, after checking that it is
    /// for `NAME.key` (or, if that key is encrypted and no passphrase is given, for the key of
    /// `NAME.csr`) and that each certificate is signed by the next.
    pub fn import(
        &self,
        name: &Name,
        source: &Path,
        passphrase: Option<&Passphrase>,
        overwrite: Overwrite,
    ) -> Result<Written, Error> {
        let cert_path = self.cert_path(name);
        check_absent(&[&cert_path], overwrite)?;
        let bytes = crate::fs::read_limited(source, MAX_FILE_BYTES, "")?;
        let chain = crate::pem::certificates(&source.display().to_string(), &bytes)?;
        let what = source.display().to_string();
        let infos = chain
            .iter()
            .map(|c| CertInfo::parse(&what, c))
            .collect::<Result<Vec<_>, _>>()?;
        let expected_key = self.public_key_of(name, passphrase)?;
        let leaf = infos.first().ok_or_else(|| Error::PemMissing {
            what: what.clone(),
            expected: crate::pem::CERTIFICATE,
        })?;
        if leaf.public_key != expected_key {
            return Err(Error::KeyMismatch {
                cert: source.to_owned(),
                key: self.key_path(name),
            });
        }
        for (i, pair) in chain.windows(2).enumerate() {
            if !signed_by(&pair[0], &pair[1]) {
                return Err(Error::Chain {
                    path: source.to_owned(),
                    problem: format!(
                        "certificate {} is not signed by certificate {}; put the certificate first, then the CA that signed it, and so on",
                        i + 1,
                        i + 2
                    ),
                });
            }
        }
        let mut pem = String::new();
        for c in &chain {
            pem.push_str(&crate::pem::encode(crate::pem::CERTIFICATE, c));
        }
        write_file(&cert_path, pem.as_bytes(), MODE_PUBLIC, overwrite)?;
        Ok(Written {
            files: vec![cert_path],
            info: leaf.clone(),
        })
    }

    /// The CA `name`, with its key, checked to be a CA.
    pub(super) fn signer(
        &self,
        name: &Name,
        passphrase: Option<&Passphrase>,
    ) -> Result<Signer, Error> {
        let chain = self.read_chain(name)?;
        let (cert, info) = self.read_info(name)?;
        if !info.kind.is_ca() {
            return Err(Error::NotCa {
                path: self.cert_path(name),
            });
        }
        let key_path = self.key_path(name);
        let key = self.read_key(name)?.key_pair(&key_path, passphrase)?;
        Ok(Signer {
            name: name.clone(),
            cert,
            chain,
            info,
            key,
        })
    }

    /// The public key `NAME.crt` must carry: from the key, or from the request when the key is
    /// encrypted and no passphrase was given.
    fn public_key_of(
        &self,
        name: &Name,
        passphrase: Option<&Passphrase>,
    ) -> Result<Vec<u8>, Error> {
        let key_path = self.key_path(name);
        let key_file = self.read_key(name)?;
        if key_file.is_encrypted() && passphrase.is_none() {
            let csr_path = self.request_path(name);
            if let Ok(bytes) = crate::fs::read_limited(&csr_path, MAX_FILE_BYTES, "") {
                let what = csr_path.display().to_string();
                let der =
                    crate::pem::blocks_labelled(&what, &bytes, crate::pem::CERTIFICATE_REQUEST)?;
                let bad = |detail: String| Error::KeyFormat {
                    path: csr_path.clone(),
                    detail,
                };
                let first = der.first().ok_or_else(|| bad("no request".to_owned()))?;
                let (_, csr) =
                    X509CertificationRequest::from_der(first).map_err(|e| bad(e.to_string()))?;
                return Ok(csr
                    .certification_request_info
                    .subject_pki
                    .subject_public_key
                    .data
                    .to_vec());
            }
        }
        let key = key_file.key_pair(&key_path, passphrase)?;
        Ok(key.public_key_raw().to_vec())
    }
}

impl Signer {
    /// Whether this CA may sign a certificate of `profile` valid for `days` from `now`.
    /// `Some(end)` when the certificate must end with the CA: `days` reaches past the CA's
    /// expiry by less than a day (issuing for as long as the CA lasts, give or take the
    /// seconds between the two commands). More than that is an error.
    fn check_can_sign(
        &self,
        path: &Path,
        profile: &Profile,
        days: u32,
        now: SystemTime,
    ) -> Result<Option<SystemTime>, Error> {
        if let Profile::IntermediateCa { path_len, .. } = profile {
            if let Some(limit) = self.info.path_len {
                if limit == 0 {
                    return Err(Error::PathLength {
                        path: path.to_owned(),
                        path_len: limit,
                    });
                }
                if u32::from(*path_len) >= limit {
                    return Err(Error::InvalidValue {
                        what: "--path-len",
                        value: path_len.to_string(),
                        reason: format!(
                            "the signing CA allows at most {} below the new intermediate",
                            limit - 1
                        ),
                    });
                }
            }
        }
        let now_secs = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let end = now_secs.saturating_add(86_400 * i64::from(days));
        let ca_end = self.info.not_after;
        if end <= ca_end {
            return Ok(None);
        }
        if end - ca_end < 86_400 {
            let ca_end = u64::try_from(ca_end).unwrap_or(0);
            return Ok(Some(
                SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(ca_end),
            ));
        }
        Err(Error::OutlivesCa {
            path: path.to_owned(),
            days,
            expires: format_utc(ca_end),
            max_days: (ca_end - now_secs).max(0) / 86_400,
        })
    }
}

/// Encrypts `key` when a passphrase is given.
fn protect_if(
    key: KeyFile,
    path: &Path,
    passphrase: Option<&Passphrase>,
) -> Result<KeyFile, Error> {
    match passphrase {
        Some(p) => key.encrypt(path, p),
        None => Ok(key),
    }
}

/// Whether `child`'s signature verifies with `parent`'s public key.
pub(super) fn signed_by(child: &[u8], parent: &[u8]) -> bool {
    let (Ok((_, child)), Ok((_, parent))) = (
        X509Certificate::from_der(child),
        X509Certificate::from_der(parent),
    ) else {
        return false;
    };
    child.issuer().as_raw() == parent.subject().as_raw()
        && child.verify_signature(Some(parent.public_key())).is_ok()
}
