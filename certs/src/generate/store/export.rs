//! Exports of a store entry in the shapes other programs read:
//!
//! - PKCS#12 for browsers and operating systems ([`Store::export_p12`]);
//! - QEMU's `tls-creds-x509` directory ([`Store::export_qemu`]): `ca-cert.pem` (the root and
//!   the intermediates above the certificate), `server-cert.pem` + `server-key.pem` or
//!   `client-cert.pem` + `client-key.pem`, and `ca-crl.pem` with those CAs' CRLs;
//! - one PEM with key, certificate and chain, as `x11vnc -ssl FILE` (OpenSSL's
//!   `SSL_CTX_use_certificate_chain_file` + `SSL_CTX_use_PrivateKey_file` on the same file)
//!   reads it ([`Store::export_x11vnc`]);
//! - the CA certificate's DER for CA data ([`Store::ca_der`]).

use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;

use super::{Name, Store};
use crate::fs::{check_absent, write_file, Overwrite, MODE_PUBLIC, MODE_SECRET};
use crate::generate::key::Passphrase;
use crate::generate::pkcs12::{self, P12Encryption};
use crate::inspect::{CertInfo, KeyAlgorithm, Kind};
use crate::Error;

/// What `export_qemu` wrote.
#[derive(Debug)]
pub struct QemuExport {
    pub files: Vec<PathBuf>,
    /// `server`/`client`: the `endpoint` QEMU's object must have.
    pub endpoint: &'static str,
    /// The key was copied still encrypted: QEMU needs its passphrase (`passwordid=`).
    pub key_encrypted: bool,
}

impl Store {
    /// The DER of the first certificate of `NAME.crt` (for CA data: usually `ca`).
    pub fn ca_der(&self, name: &Name) -> Result<CertificateDer<'static>, Error> {
        self.read_info(name).map(|(der, _)| der)
    }

    /// Writes `out`: `NAME`'s key and chain as PKCS#12 under `passphrase`. An encrypted key is
    /// decrypted with `key_passphrase`, or else with `passphrase`.
    pub fn export_p12(
        &self,
        name: &Name,
        out: &Path,
        passphrase: &Passphrase,
        key_passphrase: Option<&Passphrase>,
        encryption: P12Encryption,
        overwrite: Overwrite,
    ) -> Result<PathBuf, Error> {
        check_absent(&[out], overwrite)?;
        let chain = self.read_chain(name)?;
        let key_path = self.key_path(name);
        let key = self
            .read_key(name)?
            .pkcs8_der(&key_path, Some(key_passphrase.unwrap_or(passphrase)))?;
        let der = pkcs12::build(name.as_str(), &key, &chain, passphrase, encryption)?;
        write_file(out, &der, MODE_SECRET, overwrite)?;
        Ok(out.to_owned())
    }

    /// Writes QEMU's `tls-creds-x509` files for `NAME` into `dir`. With `key_passphrase` an
    /// encrypted key is written decrypted; without, it is copied as it is.
    pub fn export_qemu(
        &self,
        name: &Name,
        dir: &Path,
        key_passphrase: Option<&Passphrase>,
        overwrite: Overwrite,
    ) -> Result<QemuExport, Error> {
        let cert_path = self.cert_path(name);
        let chain = self.read_chain(name)?;
        let what = cert_path.display().to_string();
        let infos = chain
            .iter()
            .map(|c| CertInfo::parse(&what, c))
            .collect::<Result<Vec<_>, _>>()?;
        let problem = |problem: String| Error::Export {
            path: cert_path.clone(),
            problem,
        };
        let leaf = infos
            .first()
            .ok_or_else(|| problem("no certificate".to_owned()))?;
        let endpoint = match leaf.kind {
            Kind::Server | Kind::ServerAndClient => "server",
            Kind::Client => "client",
            other => {
                return Err(problem(format!(
                    "a {other} certificate; QEMU needs a server or a client certificate"
                )))
            }
        };
        if leaf.self_issued {
            return Err(problem(
                "self-signed; QEMU checks certificates against a CA, so issue one signed by the CA"
                    .to_owned(),
            ));
        }
        let ca_der = self.anchor_for(&chain, &infos).ok_or_else(|| {
            problem(
                "cannot find the CA certificate it chains to (neither in the file nor ca.crt)"
                    .to_owned(),
            )
        })?;
        let key_file = self.read_key(name)?;
        let key_path = self.key_path(name);
        let key_file = match (key_file.is_encrypted(), key_passphrase) {
            (true, Some(p)) => key_file.decrypt(&key_path, p)?,
            _ => key_file,
        };
        // QEMU checks its own certificate against ca-cert.pem alone (7.2 ignores the rest of
        // server-cert.pem there), so the intermediates go into ca-cert.pem after the root.
        let mut ca_pem = crate::pem::encode(crate::pem::CERTIFICATE, &ca_der);
        let mut ca_subjects = vec![CertInfo::parse("ca-cert.pem", &ca_der)?.subject_der];
        for (c, info) in chain
            .iter()
            .zip(&infos)
            .skip(1)
            .filter(|(_, i)| !i.self_issued)
        {
            ca_pem.push_str(&crate::pem::encode(crate::pem::CERTIFICATE, c));
            ca_subjects.push(info.subject_der.clone());
        }
        // The CRLs of those CAs (GnuTLS accepts a CRL only from a CA in ca-cert.pem).
        let mut crl_pem = String::new();
        for (_, der, crl) in self.crls()? {
            if ca_subjects.contains(&crl.issuer_der) {
                crl_pem.push_str(&crate::pem::encode(crate::pem::X509_CRL, &der));
            }
        }

        let ca_out = dir.join("ca-cert.pem");
        let cert_out = dir.join(format!("{endpoint}-cert.pem"));
        let key_out = dir.join(format!("{endpoint}-key.pem"));
        let crl_out = dir.join("ca-crl.pem");
        let mut outputs: Vec<&Path> = vec![&ca_out, &cert_out, &key_out];
        if !crl_pem.is_empty() {
            outputs.push(&crl_out);
        }
        check_absent(&outputs, overwrite)?;
        let mut chain_pem = String::new();
        for c in &chain {
            chain_pem.push_str(&crate::pem::encode(crate::pem::CERTIFICATE, c));
        }
        write_file(
            &key_out,
            key_file.to_pem().as_bytes(),
            MODE_SECRET,
            overwrite,
        )?;
        write_file(&cert_out, chain_pem.as_bytes(), MODE_PUBLIC, overwrite)?;
        write_file(&ca_out, ca_pem.as_bytes(), MODE_PUBLIC, overwrite)?;
        let mut files = vec![ca_out, cert_out, key_out];
        if !crl_pem.is_empty() {
            write_file(&crl_out, crl_pem.as_bytes(), MODE_PUBLIC, overwrite)?;
            files.push(crl_out);
        }
        Ok(QemuExport {
            files,
            endpoint,
            key_encrypted: key_file.is_encrypted(),
        })
    }

    /// Writes `file`: `NAME`'s key (as stored; OpenSSL asks for the passphrase of an encrypted
    /// one), then its certificate and chain — the order `x11vnc -ssl FILE` expects. The key must
    /// be RSA: x11vnc loads it with `SSL_CTX_use_RSAPrivateKey_file`.
    pub fn export_x11vnc(
        &self,
        name: &Name,
        file: &Path,
        overwrite: Overwrite,
    ) -> Result<PathBuf, Error> {
        check_absent(&[file], overwrite)?;
        let (_, info) = self.read_info(name)?;
        if !matches!(info.key, KeyAlgorithm::Rsa { .. }) {
            return Err(Error::Export {
                path: self.cert_path(name),
                problem: format!(
                    "its key is {}, but x11vnc -ssl reads only RSA keys; issue a certificate for x11vnc with --key rsa-2048",
                    info.key
                ),
            });
        }
        let key = self.read_key(name)?;
        let mut pem = key.to_pem();
        for c in self.read_chain(name)? {
            pem.push_str(&crate::pem::encode(crate::pem::CERTIFICATE, &c));
        }
        write_file(file, pem.as_bytes(), MODE_SECRET, overwrite)?;
        Ok(file.to_owned())
    }

    /// The trust anchor of `chain`: its last certificate if self-issued, else the store's root
    /// if that signed the last certificate.
    fn anchor_for(
        &self,
        chain: &[CertificateDer<'static>],
        infos: &[CertInfo],
    ) -> Option<CertificateDer<'static>> {
        let (last, last_info) = (chain.last()?, infos.last()?);
        if last_info.self_issued {
            return Some(last.clone());
        }
        let (root_der, root) = self.read_info(&Name::root()).ok()?;
        (root.subject_der == last_info.issuer_der).then_some(root_der)
    }
}
