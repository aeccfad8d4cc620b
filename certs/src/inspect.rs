//! Certificates (and, with `generate`, CRLs) as plain values: subject, SANs, validity, serial,
//! issuer, kind, fingerprint — what `vncgate certs info` prints and the viewer shows.
//!
//! Certificates are read by the small DER walk in `x509` (the viewer carries no ASN.1
//! library); CRLs, which only the certificate store reads, by x509-parser. Pure functions of
//! the DER; the current time is a parameter where it matters.

mod x509;

#[cfg(feature = "generate")]
mod crl;
#[cfg(all(test, feature = "generate"))]
mod oracle_tests;
#[cfg(feature = "generate")]
pub use crl::{CrlInfo, RevokedEntry};

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
        let cert = x509::parse(der).map_err(|e| bad(e.to_string()))?;
        let self_issued = cert.subject.der == cert.issuer.der;
        let kind = match (cert.is_ca, self_issued, cert.server_auth, cert.client_auth) {
            (true, true, _, _) => Kind::RootCa,
            (true, false, _, _) => Kind::IntermediateCa,
            (false, _, true, true) => Kind::ServerAndClient,
            (false, _, true, false) => Kind::Server,
            (false, _, false, true) => Kind::Client,
            (false, _, false, false) => Kind::Other,
        };
        Ok(Self {
            subject: cert.subject.text,
            issuer: cert.issuer.text,
            common_name: cert.subject.common_name,
            sans: cert.sans,
            not_before: cert.not_before,
            not_after: cert.not_after,
            serial: strip_leading_zeros(cert.serial),
            kind,
            self_issued,
            path_len: cert.path_len,
            key: cert.key,
            fingerprint: Fingerprint::of_der(der),
            subject_der: cert.subject.der.to_vec(),
            issuer_der: cert.issuer.der.to_vec(),
            public_key: cert.public_key.to_vec(),
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

pub(crate) fn strip_leading_zeros(bytes: &[u8]) -> Vec<u8> {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    match bytes.get(first..) {
        Some(rest) if !rest.is_empty() => rest.to_vec(),
        _ => vec![0],
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
