//! Revocation: adding a certificate to its CA's CRL, and renewing a CRL before its next update.
//!
//! Each CA of the store has its own CRL (`crl.pem` for the root, `NAME.crl.pem` for an
//! intermediate), because a verifier matches a CRL to the CA that issued the certificate.

use std::path::PathBuf;
use std::time::SystemTime;

use rustls_pki_types::CertificateDer;

use super::authority::signed_by;
use super::{Name, Store};
use crate::fs::{write_file, Overwrite, MODE_PUBLIC};
use crate::generate::crl::{self, Reason, Revocation};
use crate::generate::key::Passphrase;
use crate::inspect::{CertInfo, CrlInfo};
use crate::Error;

/// A revocation done.
#[derive(Debug)]
pub struct Revoked {
    pub crl: PathBuf,
    pub ca: Name,
    pub serial: String,
    pub crl_number: String,
}

impl Store {
    /// Adds `NAME`'s certificate to its CA's CRL and writes the CRL with the next number.
    pub fn revoke(
        &self,
        name: &Name,
        reason: Option<Reason>,
        ca_passphrase: Option<&Passphrase>,
        crl_days: u32,
        now: SystemTime,
    ) -> Result<Revoked, Error> {
        let path = self.cert_path(name);
        let (leaf, info) = self.read_info(name)?;
        let not_here = |reason: String| Error::NotRevocable {
            path: path.clone(),
            reason,
        };
        if name.is_root() {
            return Err(not_here(
                "it is the root CA; stop trusting ca.crt instead".to_owned(),
            ));
        }
        if info.self_issued {
            return Err(not_here(
                "it is self-signed; stop trusting it, or delete it".to_owned(),
            ));
        }
        let ca = self.find_issuer(&leaf, &info)?.ok_or_else(|| {
            not_here(format!(
                "its issuer ({}) is not a CA of this store",
                info.issuer
            ))
        })?;
        let previous = self.read_crl(&ca)?;
        if let Some((_, crl)) = &previous {
            if crl.is_revoked(&info.serial) {
                return Err(Error::AlreadyRevoked {
                    path,
                    serial: info.serial_hex(),
                    crl: self.crl_path(&ca),
                });
            }
        }
        let add = Revocation {
            serial: info.serial.clone(),
            reason,
        };
        let crl = self.write_crl(
            &ca,
            previous.as_ref().map(|(_, c)| c),
            Some(&add),
            ca_passphrase,
            crl_days,
            now,
        )?;
        Ok(Revoked {
            ca,
            serial: info.serial_hex(),
            ..crl
        })
    }

    /// Re-signs CA `ca`'s CRL with the same entries, the next number and a new next-update.
    pub fn renew_crl(
        &self,
        ca: &Name,
        passphrase: Option<&Passphrase>,
        days: u32,
        now: SystemTime,
    ) -> Result<Revoked, Error> {
        let previous = self.read_crl(ca)?;
        self.write_crl(
            ca,
            previous.as_ref().map(|(_, c)| c),
            None,
            passphrase,
            days,
            now,
        )
    }

    fn write_crl(
        &self,
        ca: &Name,
        previous: Option<&CrlInfo>,
        add: Option<&Revocation>,
        passphrase: Option<&Passphrase>,
        days: u32,
        now: SystemTime,
    ) -> Result<Revoked, Error> {
        let signer = self.signer(ca, passphrase)?;
        let der = crl::next_crl(&signer.cert, &signer.key, previous, add, days, now)?;
        let crl_path = self.crl_path(ca);
        let parsed = CrlInfo::parse(&crl_path.display().to_string(), &der)?;
        write_file(
            &crl_path,
            crate::pem::encode(crate::pem::X509_CRL, &der).as_bytes(),
            MODE_PUBLIC,
            Overwrite::Replace,
        )?;
        Ok(Revoked {
            crl: crl_path,
            ca: signer.name,
            serial: String::new(),
            crl_number: parsed
                .number
                .map(|n| crate::inspect::number_text(&n))
                .unwrap_or_default(),
        })
    }

    /// The store CA that signed `leaf`, if any.
    fn find_issuer(
        &self,
        leaf: &CertificateDer<'_>,
        info: &CertInfo,
    ) -> Result<Option<Name>, Error> {
        for name in self.names()? {
            let Ok((ca_der, ca)) = self.read_info(&name) else {
                continue;
            };
            if ca.kind.is_ca() && ca.subject_der == info.issuer_der && signed_by(leaf, &ca_der) {
                return Ok(Some(name));
            }
        }
        Ok(None)
    }
}
