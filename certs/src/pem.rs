//! PEM parsing of certificates and private keys.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::Error;

/// All certificates in `pem`, in order (leaf first for a chain file).
pub fn certificates(what: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::PemMalformed {
            what: what.to_owned(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(Error::PemMissing {
            what: what.to_owned(),
            expected: "CERTIFICATE",
        });
    }
    Ok(certs)
}

/// The first private key in `pem` (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(what: &str, pem: &[u8]) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => Error::PemMissing {
            what: what.to_owned(),
            expected: "PRIVATE KEY",
        },
        other => Error::PemMalformed {
            what: what.to_owned(),
            detail: other.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_input_names_what_is_missing() {
        let e = certificates("server.crt", b"").expect_err("no certs");
        assert_eq!(
            e.to_string(),
            "server.crt: no PEM block of type CERTIFICATE found"
        );
        let e = private_key("server.key", b"hello").expect_err("no key");
        assert!(e.to_string().starts_with("server.key: no PEM block"), "{e}");
    }
}
