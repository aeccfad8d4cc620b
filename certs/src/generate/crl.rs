//! Certificate revocation lists: the next CRL of a CA, made from the previous one plus any newly
//! revoked serial, with a CRL number one higher.
//!
//! The CRL file itself is the record of what was revoked: nothing else is kept, so the entries
//! of the previous CRL (serial, date, reason) are carried over unchanged.

use std::time::{Duration, SystemTime};

use rcgen::{
    CertificateRevocationListParams, Issuer, KeyIdMethod, KeyPair, RevocationReason,
    RevokedCertParams, SerialNumber,
};
use rustls_pki_types::CertificateDer;

use crate::inspect::{CrlInfo, RevokedEntry};
use crate::Error;

/// Default time until the next CRL is due. Verifiers that enforce it (OpenSSL with
/// `-crl_check`, GnuTLS in QEMU) reject a CRL past its next update, so renew before then.
pub const DEFAULT_CRL_DAYS: u32 = 365;

/// Why a certificate is revoked (RFC 5280 §5.3.1), the subset that applies here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
}

impl Reason {
    pub const NAMES: [&'static str; 6] = [
        "unspecified",
        "key-compromise",
        "ca-compromise",
        "affiliation-changed",
        "superseded",
        "cessation-of-operation",
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "unspecified" => Reason::Unspecified,
            "key-compromise" => Reason::KeyCompromise,
            "ca-compromise" => Reason::CaCompromise,
            "affiliation-changed" => Reason::AffiliationChanged,
            "superseded" => Reason::Superseded,
            "cessation-of-operation" => Reason::CessationOfOperation,
            _ => return None,
        })
    }

    fn code(self) -> u8 {
        match self {
            Reason::Unspecified => 0,
            Reason::KeyCompromise => 1,
            Reason::CaCompromise => 2,
            Reason::AffiliationChanged => 3,
            Reason::Superseded => 4,
            Reason::CessationOfOperation => 5,
        }
    }
}

/// A certificate to add to the CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// Big-endian magnitude of the serial.
    pub serial: Vec<u8>,
    pub reason: Option<Reason>,
}

/// Signs the next CRL of the CA `ca_der`/`ca_key`: the entries of `previous` (if any) plus
/// `add`, numbered one above `previous`, issued `now`, next update in `days`.
/// Returns the DER.
pub fn next_crl(
    ca_der: &CertificateDer<'_>,
    ca_key: &KeyPair,
    previous: Option<&CrlInfo>,
    add: Option<&Revocation>,
    days: u32,
    now: SystemTime,
) -> Result<Vec<u8>, Error> {
    crate::generate::profile::check_days(days)?;
    let issuer =
        Issuer::from_ca_cert_der(ca_der, ca_key).map_err(Error::generate("the CRL issuer"))?;
    let mut revoked: Vec<RevokedCertParams> = previous
        .map(|p| p.revoked.iter().map(carry_over).collect())
        .unwrap_or_default();
    if let Some(add) = add {
        revoked.push(RevokedCertParams {
            serial_number: SerialNumber::from_slice(&add.serial),
            revocation_time: now.into(),
            reason_code: add.reason.map(|r| reason_from_code(r.code())),
            invalidity_date: None,
        });
    }
    let number = match previous.and_then(|p| p.number.as_deref()) {
        Some(n) => increment(n),
        None => vec![1],
    };
    let params = CertificateRevocationListParams {
        this_update: now.into(),
        next_update: (now + Duration::from_secs(86_400 * u64::from(days))).into(),
        crl_number: SerialNumber::from_slice(&number),
        issuing_distribution_point: None,
        revoked_certs: revoked,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    let crl = params
        .signed_by(&issuer)
        .map_err(Error::generate("a CRL"))?;
    Ok(crl.der().to_vec())
}

fn carry_over(entry: &RevokedEntry) -> RevokedCertParams {
    let at = u64::try_from(entry.revoked_at).unwrap_or(0);
    RevokedCertParams {
        serial_number: SerialNumber::from_slice(&entry.serial),
        revocation_time: (SystemTime::UNIX_EPOCH + Duration::from_secs(at)).into(),
        reason_code: entry.reason.map(reason_from_code),
        invalidity_date: None,
    }
}

fn reason_from_code(code: u8) -> RevocationReason {
    match code {
        1 => RevocationReason::KeyCompromise,
        2 => RevocationReason::CaCompromise,
        3 => RevocationReason::AffiliationChanged,
        4 => RevocationReason::Superseded,
        5 => RevocationReason::CessationOfOperation,
        6 => RevocationReason::CertificateHold,
        8 => RevocationReason::RemoveFromCrl,
        9 => RevocationReason::PrivilegeWithdrawn,
        10 => RevocationReason::AaCompromise,
        _ => RevocationReason::Unspecified,
    }
}

/// `n + 1` for a big-endian magnitude.
fn increment(n: &[u8]) -> Vec<u8> {
    let mut out = n.to_vec();
    for byte in out.iter_mut().rev() {
        let (v, carry) = byte.overflowing_add(1);
        *byte = v;
        if !carry {
            return out;
        }
    }
    out.insert(0, 1);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::profile::Profile;

    #[test]
    fn numbers_increase_and_entries_carry_over() {
        let now = SystemTime::now();
        let key = crate::generate::key::generate().expect("key");
        let params = Profile::RootCa {
            common_name: "CRL test".into(),
            path_len: None,
        }
        .params(10, now)
        .expect("params");
        let ca = params.self_signed(&key).expect("ca");
        let first = next_crl(ca.der(), &key, None, None, 30, now).expect("first");
        let first = CrlInfo::parse("crl", &first).expect("parse");
        assert_eq!(first.number, Some(vec![1]));
        assert!(first.revoked.is_empty());
        let add = Revocation {
            serial: vec![0x80, 0x01],
            reason: Some(Reason::KeyCompromise),
        };
        let second = next_crl(ca.der(), &key, Some(&first), Some(&add), 30, now).expect("second");
        let second = CrlInfo::parse("crl", &second).expect("parse");
        assert_eq!(second.number, Some(vec![2]));
        assert!(second.is_revoked(&[0x80, 0x01]));
        assert_eq!(second.revoked[0].reason, Some(1));
        let third = next_crl(ca.der(), &key, Some(&second), None, 30, now).expect("third");
        let third = CrlInfo::parse("crl", &third).expect("parse");
        assert_eq!(third.number, Some(vec![3]));
        assert_eq!(third.revoked, second.revoked);
    }

    #[test]
    fn increments_big_endian() {
        assert_eq!(increment(&[1]), vec![2]);
        assert_eq!(increment(&[0xff]), vec![1, 0]);
        assert_eq!(increment(&[1, 0xff, 0xff]), vec![2, 0, 0]);
        assert_eq!(Reason::parse("superseded"), Some(Reason::Superseded));
        assert!(Reason::NAMES.iter().all(|n| Reason::parse(n).is_some()));
    }
}
