//! Reading certificates and CRLs with x509-parser into plain values: subject, SANs, validity,
//! serial, issuer, kind, fingerprint — what `vncgate certs info` prints and the viewer shows.
//!
//! Pure functions of the DER; the current time is a parameter where it matters.

use std::net::IpAddr;

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::{Catchphrase, Error, Fingerprint};

/// What a certificate is for, from its basic constraints and extended key usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A CA whose subject is its issuer (a trust anchor).
    RootCa,
    /// A CA signed by another CA.
    IntermediateCa,
    /// A TLS server (EKU serverAuth).
    Server,
    /// A TLS client (EKU clientAuth).
    Client,
    /// Both serverAuth and clientAuth.
    ServerAndClient,
    /// Neither a CA nor marked for TLS.
    Other,
}

impl Kind {
    pub fn is_ca(self) -> bool {
        matches!(self, Kind::RootCa | Kind::IntermediateCa)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::RootCa => "root CA",
            Kind::IntermediateCa => "intermediate CA",
            Kind::Server => "server",
            Kind::Client => "client",
            Kind::ServerAndClient => "server+client",
            Kind::Other => "other",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The algorithm and size of a certificate's public key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    Ec {
        bits: usize,
    },
    Rsa {
        bits: usize,
    },
    Ed25519,
    /// Another algorithm, by OID.
    Other(String),
}

impl std::fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyAlgorithm::Ec { bits: 256 } => f.write_str("EC P-256"),
            KeyAlgorithm::Ec { bits: 384 } => f.write_str("EC P-384"),
            KeyAlgorithm::Ec { bits } => write!(f, "EC {bits}-bit"),
            KeyAlgorithm::Rsa { bits } => write!(f, "RSA {bits}"),
            KeyAlgorithm::Ed25519 => f.write_str("Ed25519"),
            KeyAlgorithm::Other(oid) => write!(f, "key algorithm {oid}"),
        }
    }
}

/// The parts of a certificate people look at, plus the raw bits code compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub common_name: Option<String>,
    /// `DNS:name`, `IP:addr`, `email:addr`, `URI:uri`, in certificate order.
    pub sans: Vec<String>,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// The serial number's magnitude, big-endian, without leading zero bytes.
    pub serial: Vec<u8>,
    pub kind: Kind,
    /// Whether the issuer name equals the subject name (self-signed, or a root).
    pub self_issued: bool,
    /// The basic-constraints path length of a CA, if limited.
    pub path_len: Option<u32>,
    pub key: KeyAlgorithm,
    pub fingerprint: Fingerprint,
    /// DER of the subject and issuer names, for matching a certificate to its issuer.
    pub subject_der: Vec<u8>,
    pub issuer_der: Vec<u8>,
    /// The subjectPublicKey bits (for EC keys the point), for matching a certificate to a key.
    pub public_key: Vec<u8>,
}

impl CertInfo {
    /// Parses one DER certificate; `what` names it in errors (a file name, "CA data").
    pub fn parse(what: &str, der: &[u8]) -> Result<Self, Error> {
        let bad = |detail: String| Error::Certificate {
            what: what.to_owned(),
            detail,
        };
        let (rest, cert) = X509Certificate::from_der(der).map_err(|e| bad(e.to_string()))?;
        if !rest.is_empty() {
            return Err(bad(format!("{} bytes after the certificate", rest.len())));
        }
        let basic = cert.basic_constraints().map_err(|e| bad(e.to_string()))?;
        let is_ca = basic.as_ref().is_some_and(|b| b.value.ca);
        let path_len = basic.as_ref().and_then(|b| b.value.path_len_constraint);
        let self_issued = cert.subject().as_raw() == cert.issuer().as_raw();
        let eku = cert.extended_key_usage().map_err(|e| bad(e.to_string()))?;
        let (server, client) = eku
            .map(|e| {
                (
                    e.value.server_auth || e.value.any,
                    e.value.client_auth || e.value.any,
                )
            })
            .unwrap_or((false, false));
        let kind = match (is_ca, self_issued, server, client) {
            (true, true, _, _) => Kind::RootCa,
            (true, false, _, _) => Kind::IntermediateCa,
            (false, _, true, true) => Kind::ServerAndClient,
            (false, _, true, false) => Kind::Server,
            (false, _, false, true) => Kind::Client,
            (false, _, false, false) => Kind::Other,
        };
        let sans = match cert
            .subject_alternative_name()
            .map_err(|e| bad(e.to_string()))?
        {
            Some(ext) => ext.value.general_names.iter().map(describe_name).collect(),
            None => Vec::new(),
        };
        let common_name = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_owned);
        Ok(Self {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            common_name,
            sans,
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            serial: strip_leading_zeros(cert.raw_serial()),
            kind,
            self_issued,
            path_len,
            key: describe_key(&cert),
            fingerprint: Fingerprint::of_der(der),
            subject_der: cert.subject().as_raw().to_vec(),
            issuer_der: cert.issuer().as_raw().to_vec(),
            public_key: cert.public_key().subject_public_key.data.to_vec(),
        })
    }

    pub fn catchphrase(&self) -> Catchphrase {
        self.fingerprint.catchphrase()
    }

    /// The serial as colon-separated lower-case hex, as `openssl` prints it.
    pub fn serial_hex(&self) -> String {
        serial_hex(&self.serial)
    }

    /// Whether `now` (Unix seconds) is within the validity period.
    pub fn is_valid_at(&self, now: i64) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

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

/// A big-endian number (a CRL number) in decimal, or in hex if it does not fit 128 bits.
pub fn number_text(n: &[u8]) -> String {
    let n = strip_leading_zeros(n);
    if n.len() > 16 {
        return serial_hex(&n);
    }
    let value = n.iter().fold(0u128, |acc, &b| (acc << 8) | u128::from(b));
    value.to_string()
}

/// The RFC 5280 §5.3.1 name of a CRLReason code.
pub fn reason_name(code: u8) -> &'static str {
    match code {
        0 => "unspecified",
        1 => "key-compromise",
        2 => "ca-compromise",
        3 => "affiliation-changed",
        4 => "superseded",
        5 => "cessation-of-operation",
        6 => "certificate-hold",
        8 => "remove-from-crl",
        9 => "privilege-withdrawn",
        10 => "aa-compromise",
        _ => "unknown reason",
    }
}

/// `0a:1b:…` for a big-endian serial.
pub fn serial_hex(serial: &[u8]) -> String {
    let parts: Vec<String> = serial.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(":")
}

/// `YYYY-MM-DD HH:MM:SS UTC` for Unix seconds (proleptic Gregorian calendar).
pub fn format_utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Year, month, day of the day `days` after 1970-01-01 (the well-known era-based algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn strip_leading_zeros(bytes: &[u8]) -> Vec<u8> {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    match bytes.get(first..) {
        Some(rest) if !rest.is_empty() => rest.to_vec(),
        _ => vec![0],
    }
}

fn describe_name(name: &GeneralName<'_>) -> String {
    match name {
        GeneralName::DNSName(n) => format!("DNS:{n}"),
        GeneralName::RFC822Name(e) => format!("email:{e}"),
        GeneralName::URI(u) => format!("URI:{u}"),
        GeneralName::IPAddress(raw) => match ip_from_bytes(raw) {
            Some(ip) => format!("IP:{ip}"),
            None => format!("IP:<{} bytes>", raw.len()),
        },
        GeneralName::DirectoryName(n) => format!("DirName:{n}"),
        other => format!("{other:?}").chars().take(80).collect(),
    }
}

fn ip_from_bytes(raw: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(raw) {
        return Some(IpAddr::from(v4));
    }
    <[u8; 16]>::try_from(raw).ok().map(IpAddr::from)
}

fn describe_key(cert: &X509Certificate<'_>) -> KeyAlgorithm {
    match cert.public_key().parsed() {
        Ok(PublicKey::EC(point)) => KeyAlgorithm::Ec {
            bits: point.key_size(),
        },
        Ok(PublicKey::RSA(rsa)) => KeyAlgorithm::Rsa {
            bits: rsa.key_size(),
        },
        _ if cert.public_key().algorithm.algorithm
            == x509_parser::oid_registry::OID_SIG_ED25519 =>
        {
            KeyAlgorithm::Ed25519
        }
        _ => KeyAlgorithm::Other(cert.public_key().algorithm.algorithm.to_id_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CertInfo {
        let der = crate::ca_data::tests::sample_der();
        CertInfo::parse("sample-ca.pem", &der).expect("parse")
    }

    #[test]
    fn reads_a_ca_certificate() {
        let info = sample();
        assert_eq!(info.kind, Kind::RootCa);
        assert!(info.self_issued);
        assert_eq!(info.common_name.as_deref(), Some("vncgate sample CA"));
        assert_eq!(info.key.to_string(), "EC P-256");
        assert!(info.not_after > info.not_before);
        assert!(info.serial.first().is_some_and(|&b| b != 0));
        assert_eq!(info.serial_hex().len(), info.serial.len() * 3 - 1);
    }

    #[test]
    fn garbage_and_trailing_bytes_are_errors_naming_the_input() {
        let e = CertInfo::parse("x.crt", b"\x30\x03\x02\x01\x00").expect_err("garbage");
        assert!(e.to_string().starts_with("x.crt: not a valid X.509"), "{e}");
        let mut der = crate::ca_data::tests::sample_der();
        der.push(0);
        let e = CertInfo::parse("y.crt", &der).expect_err("trailing");
        assert!(e.to_string().contains("1 bytes after"), "{e}");
        let e = CrlInfo::parse("crl.pem", b"").expect_err("empty");
        assert!(
            e.to_string()
                .starts_with("crl.pem: not a valid certificate revocation"),
            "{e}"
        );
    }

    #[test]
    fn every_prefix_of_a_certificate_is_an_error_not_a_panic() {
        let der = crate::ca_data::tests::sample_der();
        for end in 0..der.len() {
            assert!(CertInfo::parse("prefix", &der[..end]).is_err());
        }
    }

    #[test]
    fn formats_utc_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(1_767_225_599), "2025-12-31 23:59:59 UTC");
        assert_eq!(format_utc(-1), "1969-12-31 23:59:59 UTC");
    }

    #[test]
    fn serials_compare_without_leading_zeros() {
        assert_eq!(strip_leading_zeros(&[0, 0x80, 1]), vec![0x80, 1]);
        assert_eq!(strip_leading_zeros(&[0, 0]), vec![0]);
        assert_eq!(serial_hex(&[0x0a, 0xff]), "0a:ff");
        assert_eq!(number_text(&[0, 1, 0]), "256");
        assert_eq!(number_text(&[0xff; 17]).len(), 17 * 3 - 1);
        assert_eq!(reason_name(1), "key-compromise");
    }
}
