//! Certificate profiles: what a root CA, an intermediate CA, a server and a client certificate
//! contain, turned into rcgen parameters.
//!
//! | profile | basic constraints | key usage | extended key usage | names |
//! |---|---|---|---|---|
//! | root CA | CA, path length as asked (default unlimited) | keyCertSign, cRLSign, digitalSignature | — | CN |
//! | intermediate CA | CA, path length (default 0: signs only leaves) | keyCertSign, cRLSign, digitalSignature | — | CN |
//! | server | not a CA | digitalSignature, keyEncipherment | serverAuth | CN, DNS/IP SANs |
//! | client | not a CA | digitalSignature, keyEncipherment | clientAuth | CN, emailAddress + rfc822Name SAN |
//!
//! keyEncipherment is meaningless for the P-256 keys made here, but QEMU (GnuTLS) refuses a
//! leaf certificate whose critical key usage lacks it; OpenSSL, rustls, NSS and browsers accept
//! it. Every certificate gets a random positive 127-bit serial, subject and authority key
//! identifiers, and a validity that starts one day in the past (clocks disagree).

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, DnValue, ExtendedKeyUsagePurpose, IsCa,
    KeyUsagePurpose, SanType, SerialNumber,
};

use crate::Error;

/// The longest validity accepted, in days (100 years).
pub const MAX_DAYS: u32 = 36_500;
pub const DEFAULT_ROOT_DAYS: u32 = 3650;
pub const DEFAULT_INTERMEDIATE_DAYS: u32 = 1825;
/// 397 days: the longest that every browser and Apple platform accepts for a TLS certificate.
pub const DEFAULT_LEAF_DAYS: u32 = 397;
/// How far `not_before` is set in the past.
pub const BACKDATE: Duration = Duration::from_secs(86_400);

const EMAIL_OID: [u64; 7] = [1, 2, 840, 113_549, 1, 9, 1];

/// What a certificate is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Profile {
    RootCa {
        common_name: String,
        /// How many intermediate CAs may follow; `None` = no limit.
        path_len: Option<u8>,
    },
    IntermediateCa {
        common_name: String,
        path_len: u8,
    },
    Server {
        common_name: String,
        sans: Vec<San>,
    },
    Client {
        common_name: String,
        email: Option<String>,
    },
}

/// A subject alternative name of a server: a DNS name (wildcards allowed in the first label)
/// or an IP address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum San {
    Dns(String),
    Ip(IpAddr),
}

impl San {
    /// Parses a DNS name or an IP address, as given to `--san`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(San::Ip(ip));
        }
        let s = s.strip_suffix('.').unwrap_or(s);
        let invalid = |reason: &str| Error::InvalidValue {
            what: "DNS name",
            value: s.to_owned(),
            reason: reason.to_owned(),
        };
        if s.is_empty() || s.len() > 253 {
            return Err(invalid("a DNS name has 1 to 253 characters"));
        }
        for (i, label) in s.split('.').enumerate() {
            let ok_chars = label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
            let wildcard = i == 0 && label == "*";
            if !(wildcard
                || (ok_chars
                    && (1..=63).contains(&label.len())
                    && !label.starts_with('-')
                    && !label.ends_with('-')))
            {
                return Err(invalid(
                    "use letters, digits and '-' in dot-separated labels (a leading '*.' is allowed), or an IP address",
                ));
            }
        }
        Ok(San::Dns(s.to_ascii_lowercase()))
    }

    fn to_rcgen(&self) -> Result<SanType, Error> {
        Ok(match self {
            San::Ip(ip) => SanType::IpAddress(*ip),
            San::Dns(d) => SanType::DnsName(
                d.clone()
                    .try_into()
                    .map_err(Error::generate("a DNS name"))?,
            ),
        })
    }
}

impl std::fmt::Display for San {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            San::Dns(d) => write!(f, "DNS:{d}"),
            San::Ip(ip) => write!(f, "IP:{ip}"),
        }
    }
}

/// Checks an e-mail address for a client certificate (ASCII, one `@`, no spaces).
pub fn check_email(email: &str) -> Result<(), Error> {
    let ok = email.len() <= 254
        && email.bytes().all(|b| b.is_ascii_graphic())
        && matches!(email.split_once('@'), Some((l, d)) if !l.is_empty() && !d.is_empty() && !d.contains('@'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidValue {
            what: "e-mail address",
            value: email.to_owned(),
            reason: "expected user@domain in ASCII".to_owned(),
        })
    }
}

/// Checks a validity period in days.
pub fn check_days(days: u32) -> Result<(), Error> {
    if (1..=MAX_DAYS).contains(&days) {
        Ok(())
    } else {
        Err(Error::InvalidValue {
            what: "--days",
            value: days.to_string(),
            reason: format!("give 1 to {MAX_DAYS} days"),
        })
    }
}

impl Profile {
    pub fn common_name(&self) -> &str {
        match self {
            Profile::RootCa { common_name, .. }
            | Profile::IntermediateCa { common_name, .. }
            | Profile::Server { common_name, .. }
            | Profile::Client { common_name, .. } => common_name,
        }
    }

    pub fn is_ca(&self) -> bool {
        matches!(
            self,
            Profile::RootCa { .. } | Profile::IntermediateCa { .. }
        )
    }

    /// rcgen parameters for this profile, valid from `now` − [`BACKDATE`] to `now` + `days`,
    /// with a fresh random serial. Also what a CSR is made from.
    pub fn params(&self, days: u32, now: SystemTime) -> Result<CertificateParams, Error> {
        check_days(days)?;
        let cn = self.common_name();
        if cn.is_empty() || cn.len() > 64 {
            return Err(Error::InvalidValue {
                what: "common name",
                value: cn.to_owned(),
                reason: "give 1 to 64 characters".to_owned(),
            });
        }
        let mut p = CertificateParams::default();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.not_before = (now - BACKDATE).into();
        p.not_after = (now + Duration::from_secs(86_400 * u64::from(days))).into();
        p.serial_number = Some(random_serial()?);
        p.use_authority_key_identifier_extension = true;
        let ca_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let leaf_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        match self {
            Profile::RootCa { path_len, .. } => {
                p.is_ca = IsCa::Ca(match path_len {
                    Some(n) => BasicConstraints::Constrained(*n),
                    None => BasicConstraints::Unconstrained,
                });
                p.key_usages = ca_usages;
            }
            Profile::IntermediateCa { path_len, .. } => {
                p.is_ca = IsCa::Ca(BasicConstraints::Constrained(*path_len));
                p.key_usages = ca_usages;
            }
            Profile::Server { sans, .. } => {
                p.is_ca = IsCa::ExplicitNoCa;
                p.key_usages = leaf_usages;
                p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
                for san in sans {
                    let san = san.to_rcgen()?;
                    if !p.subject_alt_names.contains(&san) {
                        p.subject_alt_names.push(san);
                    }
                }
            }
            Profile::Client { email, .. } => {
                p.is_ca = IsCa::ExplicitNoCa;
                p.key_usages = leaf_usages;
                p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
                if let Some(email) = email {
                    check_email(email)?;
                    let ia5 = |e: &str| {
                        rcgen::string::Ia5String::try_from(e)
                            .map_err(Error::generate("an e-mail address"))
                    };
                    p.distinguished_name.push(
                        DnType::CustomDnType(EMAIL_OID.to_vec()),
                        DnValue::Ia5String(ia5(email)?),
                    );
                    p.subject_alt_names.push(SanType::Rfc822Name(ia5(email)?));
                }
            }
        }
        Ok(p)
    }
}

/// A random positive serial of 16 bytes with the top bit clear (127 random bits, RFC 5280's
/// limit of 20 octets kept with room to spare).
pub fn random_serial() -> Result<SerialNumber, Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| Error::Random {
        detail: e.to_string(),
    })?;
    bytes[0] &= 0x7f;
    if bytes[0] == 0 {
        // Keep the length fixed so serials look alike; the lost entropy is under one bit.
        bytes[0] = 0x01;
    }
    Ok(SerialNumber::from_slice(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sans_parse_dns_and_ip_and_reject_junk() {
        assert_eq!(
            San::parse("Desk1.LAN.").ok(),
            Some(San::Dns("desk1.lan".into()))
        );
        assert_eq!(
            San::parse("*.example.net").ok(),
            Some(San::Dns("*.example.net".into()))
        );
        assert_eq!(
            San::parse("::1").ok(),
            Some(San::Ip("::1".parse().expect("ip")))
        );
        for bad in ["", "a..b", "-a.b", "a b", "ä.de", "a.*.b", &"x".repeat(64)] {
            let e = San::parse(bad).expect_err(bad);
            assert!(e.to_string().contains("is not usable"), "{e}");
        }
    }

    #[test]
    fn serials_are_positive_and_random() {
        let a = random_serial().expect("serial").to_bytes();
        let b = random_serial().expect("serial").to_bytes();
        assert_eq!(a.len(), 16);
        assert!(a[0] & 0x80 == 0 && a[0] != 0);
        assert_ne!(a, b);
    }

    #[test]
    fn limits_on_days_names_and_emails() {
        assert!(check_days(0).is_err());
        assert!(check_days(MAX_DAYS + 1).is_err());
        check_days(1).expect("one day");
        check_email("alice@example.com").expect("email");
        for bad in ["alice", "@x", "a@", "a@b@c", "a b@c"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
        let long = Profile::Client {
            common_name: "x".repeat(65),
            email: None,
        };
        assert!(long.params(1, SystemTime::now()).is_err());
    }

    #[test]
    fn profiles_set_constraints_and_usages() {
        let now = SystemTime::now();
        let root = Profile::RootCa {
            common_name: "Root".into(),
            path_len: None,
        };
        let p = root.params(10, now).expect("root");
        assert_eq!(p.is_ca, IsCa::Ca(BasicConstraints::Unconstrained));
        assert!(p.key_usages.contains(&KeyUsagePurpose::CrlSign));
        let server = Profile::Server {
            common_name: "s".into(),
            sans: vec![San::Dns("s".into()), San::Dns("s".into())],
        };
        let p = server.params(10, now).expect("server");
        assert_eq!(p.subject_alt_names.len(), 1, "duplicates dropped");
        assert_eq!(
            p.extended_key_usages,
            vec![ExtendedKeyUsagePurpose::ServerAuth]
        );
        assert!(SystemTime::from(p.not_before) < now && SystemTime::from(p.not_after) > now);
    }
}
