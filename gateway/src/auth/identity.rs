//! Who a verified client certificate names — its subject, common name, e-mail addresses
//! (subject `emailAddress` and SAN `rfc822Name`) and DNS names (SAN) — and the patterns the
//! configuration uses to name people: `cn:`, `email:`, `dns:`, `sha256:`, `group:` and `*`.

use std::collections::BTreeMap;

use certs::Fingerprint;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// What a client certificate that the client CA verified says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertIdentity {
    /// The subject as one line (`CN=alice, Email=alice@example.com`), for logs and audit.
    pub subject: String,
    pub common_name: Option<String>,
    /// Subject `emailAddress` attributes, then SAN e-mail addresses; lower-case.
    pub emails: Vec<String>,
    /// SAN DNS names, lower-case.
    pub dns_names: Vec<String>,
    /// SHA-256 of the certificate's DER.
    pub fingerprint: Fingerprint,
}

impl CertIdentity {
    /// Reads the identity of a (verified) leaf certificate. `None` if x509-parser cannot read
    /// it — then it names no one and matches only `sha256:` patterns... which cannot be
    /// checked either, so the caller treats the connection as having no identity.
    pub fn from_der(der: &[u8]) -> Option<Self> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let subject = cert.subject();
        let common_name = subject
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_owned);
        let mut emails: Vec<String> = subject
            .iter_email()
            .filter_map(|a| a.as_str().ok())
            .map(str::to_ascii_lowercase)
            .collect();
        let mut dns_names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::RFC822Name(e) => emails.push(e.to_ascii_lowercase()),
                    GeneralName::DNSName(d) => dns_names.push(d.to_ascii_lowercase()),
                    _ => {}
                }
            }
        }
        emails.dedup();
        Some(Self {
            subject: subject.to_string(),
            common_name,
            emails,
            dns_names,
            fingerprint: Fingerprint::of_der(der),
        })
    }

    /// The shortest useful name: the first e-mail address, else the CN, else the subject.
    pub fn short_name(&self) -> &str {
        self.emails
            .first()
            .or(self.common_name.as_ref())
            .map_or(self.subject.as_str(), String::as_str)
    }
}

/// What is wrong with a pattern naming people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternProblem {
    #[error("expected cn:NAME, email:ADDRESS, dns:NAME, sha256:FINGERPRINT, group:NAME or *")]
    Syntax,
    #[error("a group may not contain another group; list its members instead")]
    NestedGroup,
    #[error("there is no group {0:?}; define it under [acl.groups]")]
    UnknownGroup(String),
}

/// One way of naming certificate holders in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// Any certificate the client CA verified.
    AnyCertificate,
    CommonName(String),
    /// Compared without regard to case.
    Email(String),
    /// Compared without regard to case.
    Dns(String),
    Fingerprint(Fingerprint),
    /// The members of a group under `[acl.groups]`.
    Group(String),
}

impl std::str::FromStr for Pattern {
    type Err = PatternProblem;

    fn from_str(s: &str) -> Result<Self, PatternProblem> {
        let s = s.trim();
        if s == "*" {
            return Ok(Self::AnyCertificate);
        }
        let (kind, value) = s.split_once(':').ok_or(PatternProblem::Syntax)?;
        let value = value.trim();
        if value.is_empty() {
            return Err(PatternProblem::Syntax);
        }
        Ok(match kind.trim().to_ascii_lowercase().as_str() {
            "cn" => Self::CommonName(value.to_owned()),
            "email" => Self::Email(value.to_ascii_lowercase()),
            "dns" => Self::Dns(value.to_ascii_lowercase()),
            "sha256" => Self::Fingerprint(value.parse().map_err(|_| PatternProblem::Syntax)?),
            "group" => Self::Group(value.to_owned()),
            _ => return Err(PatternProblem::Syntax),
        })
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AnyCertificate => f.write_str("*"),
            Self::CommonName(v) => write!(f, "cn:{v}"),
            Self::Email(v) => write!(f, "email:{v}"),
            Self::Dns(v) => write!(f, "dns:{v}"),
            Self::Fingerprint(fp) => write!(f, "sha256:{}", fp.to_hex()),
            Self::Group(g) => write!(f, "group:{g}"),
        }
    }
}

/// Named lists of patterns (`[acl.groups]`); members are never groups themselves.
pub type Groups = BTreeMap<String, Vec<Pattern>>;

impl Pattern {
    /// Whether `id` is named by this pattern; `group:` looks its members up in `groups`.
    pub fn matches(&self, id: &CertIdentity, groups: &Groups) -> bool {
        match self {
            Self::AnyCertificate => true,
            Self::CommonName(cn) => id.common_name.as_deref() == Some(cn.as_str()),
            Self::Email(e) => id.emails.iter().any(|x| x == e),
            Self::Dns(d) => id.dns_names.iter().any(|x| x == d),
            Self::Fingerprint(fp) => id.fingerprint == *fp,
            Self::Group(g) => groups
                .get(g)
                .is_some_and(|members| members.iter().any(|m| m.matches(id, &Groups::new()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn alice() -> CertIdentity {
        CertIdentity {
            subject: "CN=alice, Email=alice@example.com".into(),
            common_name: Some("alice".into()),
            emails: vec!["alice@example.com".into()],
            dns_names: vec!["alice-laptop.example.com".into()],
            fingerprint: Fingerprint([7; 32]),
        }
    }

    #[test]
    fn patterns_parse_print_and_match() {
        let id = alice();
        let mut groups = Groups::new();
        groups.insert("ops".into(), vec!["cn:alice".parse().expect("valid")]);
        for (text, matches) in [
            ("*", true),
            ("cn:alice", true),
            ("cn:Alice", false),
            ("email:ALICE@example.com", true),
            ("dns:alice-laptop.example.com", true),
            ("dns:other.example.com", false),
            ("group:ops", true),
            ("group:nobody", false),
            (&format!("sha256:{}", "07".repeat(32)), true),
        ] {
            let p: Pattern = text.parse().expect(text);
            assert_eq!(p.matches(&id, &groups), matches, "{text}");
            let again: Pattern = p.to_string().parse().expect("round trip");
            assert_eq!(again, p);
        }
        for bad in ["alice", "cn:", "uid:alice", "sha256:abc", ""] {
            assert_eq!(bad.parse::<Pattern>(), Err(PatternProblem::Syntax), "{bad}");
        }
    }

    #[test]
    fn reads_a_client_certificate_made_by_the_toolkit() {
        let dir = std::env::temp_dir().join(format!("vncgate-id-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = certs::generate::store::Store::new(dir.clone());
        let issued = crate::auth::test_pki::client(&store, "alice", Some("Alice@Example.com"));
        let id = CertIdentity::from_der(&issued).expect("parses");
        assert_eq!(id.common_name.as_deref(), Some("alice"));
        assert_eq!(id.emails, vec!["alice@example.com".to_owned()]);
        assert!(id.subject.contains("alice"), "{}", id.subject);
        assert_eq!(id.short_name(), "alice@example.com");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
