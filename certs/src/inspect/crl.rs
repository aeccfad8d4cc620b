//! A CRL as plain values, read with x509-parser: what the certificate store needs to extend
//! one and to say what it revokes.

use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::strip_leading_zeros;
use crate::Error;

/// One revoked certificate in a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    /// Magnitude, big-endian, without leading zero bytes.
    pub serial: Vec<u8>,
    /// Unix seconds.
    pub revoked_at: i64,
    /// The CRLReason code (RFC 5280 §5.3.1), if given.
    pub reason: Option<u8>,
}

/// The parts of a CRL the store needs to extend it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlInfo {
    pub issuer: String,
    pub issuer_der: Vec<u8>,
    /// The CRL number (big-endian magnitude); absent in CRLs not made here.
    pub number: Option<Vec<u8>>,
    pub this_update: i64,
    pub next_update: Option<i64>,
    pub revoked: Vec<RevokedEntry>,
}

impl CrlInfo {
    pub fn parse(what: &str, der: &[u8]) -> Result<Self, Error> {
        let bad = |detail: String| Error::Crl {
            what: what.to_owned(),
            detail,
        };
        let (rest, crl) =
            CertificateRevocationList::from_der(der).map_err(|e| bad(e.to_string()))?;
        if !rest.is_empty() {
            return Err(bad(format!("{} bytes after the CRL", rest.len())));
        }
        Ok(Self {
            issuer: crl.issuer().to_string(),
            issuer_der: crl.issuer().as_raw().to_vec(),
            number: crl.crl_number().map(|n| n.to_bytes_be()),
            this_update: crl.last_update().timestamp(),
            next_update: crl.next_update().map(|t| t.timestamp()),
            revoked: crl
                .iter_revoked_certificates()
                .map(|r| RevokedEntry {
                    serial: strip_leading_zeros(r.raw_serial()),
                    revoked_at: r.revocation_date.timestamp(),
                    reason: r.reason_code().map(|(_, code)| code.0),
                })
                .collect(),
        })
    }

    pub fn is_revoked(&self, serial: &[u8]) -> bool {
        let serial = strip_leading_zeros(serial);
        self.revoked.iter().any(|r| r.serial == serial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_naming_the_input() {
        let e = CrlInfo::parse("crl.pem", b"").expect_err("empty");
        assert!(
            e.to_string()
                .starts_with("crl.pem: not a valid certificate revocation"),
            "{e}"
        );
    }
}
