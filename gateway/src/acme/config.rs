//! The validated ACME configuration: which names, which CA, which challenge, how DNS records are
//! published and checked. Built once from the `--acme-*` flags; reading it opens no socket.

use std::path::PathBuf;
use std::time::Duration;

use super::dns::tsig::{TsigKey, TsigKeyError};

/// Everything the ACME client needs.
#[derive(Debug, Clone)]
pub struct AcmeConfig {
    /// The certificate's names, in the order given; wildcards allowed with dns-01.
    pub domains: Vec<DomainName>,
    /// Contact address for the CA's expiry and policy mails.
    pub email: Option<String>,
    /// The CA's directory URL.
    pub directory: String,
    /// A PEM root to trust for the CA's own HTTPS (a private CA, pebble); else the system's.
    pub ca_root: Option<PathBuf>,
    pub challenge: ChallengeConfig,
    /// Renew when this much validity is left; `None`: at two thirds of the lifetime.
    pub renew_before: Option<Duration>,
    pub timing: Timing,
}

/// How the CA checks that we control the names.
#[derive(Debug, Clone)]
pub enum ChallengeConfig {
    /// A TXT record `_acme-challenge.NAME`: works for hosts the internet cannot reach, and for
    /// wildcards.
    Dns01(Dns01Config),
    /// A certificate shown on port 443 to a ClientHello offering ALPN `acme-tls/1`.
    TlsAlpn01,
}

impl ChallengeConfig {
    /// The RFC 8555 / RFC 8737 name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Dns01(_) => "dns-01",
            Self::TlsAlpn01 => "tls-alpn-01",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Dns01Config {
    pub provider: DnsProvider,
    pub check: PropagationCheck,
    /// How long to wait for the TXT record to show at the checked servers.
    pub propagation_timeout: Duration,
    /// Time between two checks.
    pub poll_interval: Duration,
    /// TTL of the TXT records.
    pub ttl_secs: u32,
}

/// Who publishes the TXT records.
#[derive(Debug, Clone)]
pub enum DnsProvider {
    /// lego's exec convention: `SCRIPT present|cleanup FQDN VALUE TTL`.
    Hook { script: PathBuf },
    /// RFC 2136 dynamic update signed with TSIG, sent to `server`.
    Rfc2136 { server: HostPort, key: TsigKey },
}

/// Where "the record is visible" is checked before the CA is asked to look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropagationCheck {
    /// At every authoritative server of the zone (found through the system resolver).
    Authoritative,
    /// At this one server (`--dns-resolver`), e.g. a split-horizon or test server.
    At(HostPort),
}

/// Timeouts and retry intervals; the defaults suit a public CA, tests shorten them.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Longest wait for the CA to validate, and again for it to issue.
    pub order_timeout: Duration,
    /// First wait after a failed attempt; doubled per failure up to `retry_max`.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// The shortest time between two successful issuances, whatever `renew_before` says.
    pub min_renewal_interval: Duration,
    /// Longest run of a `--dns-hook` invocation.
    pub hook_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            order_timeout: Duration::from_secs(120),
            retry_initial: Duration::from_secs(60),
            retry_max: Duration::from_secs(6 * 3600),
            min_renewal_interval: Duration::from_secs(3600),
            hook_timeout: Duration::from_secs(120),
        }
    }
}

/// `HOST[:PORT]` of a DNS server; the name is resolved when it is used, not when parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl HostPort {
    /// Parses `host`, `host:port`, `1.2.3.4:53`, `[::1]:53` or `::1`; `default_port` otherwise.
    pub fn parse(s: &str, default_port: u16) -> Result<Self, &'static str> {
        let bad = "expected HOST or HOST:PORT (IPv6 in brackets with a port: [::1]:53)";
        if s.is_empty() {
            return Err(bad);
        }
        if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
            return Ok(Self {
                host: sa.ip().to_string(),
                port: sa.port(),
            });
        }
        if let Ok(ip) = s.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
            return Ok(Self {
                host: ip.to_string(),
                port: default_port,
            });
        }
        let (host, port) = match s.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad)?),
            None => (s, default_port),
        };
        if host.is_empty() || host.contains([':', '/', ' ', '[', ']']) || port == 0 {
            return Err(bad);
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }

    /// The addresses of the server (a DNS lookup for a host name).
    pub async fn resolve(&self) -> std::io::Result<Vec<std::net::SocketAddr>> {
        Ok(tokio::net::lookup_host((self.host.as_str(), self.port))
            .await?
            .collect())
    }
}

impl std::fmt::Display for HostPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A DNS name for the certificate: lower case, without trailing dot, optionally `*.` + name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DomainName(String);

impl DomainName {
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let name = s.trim_end_matches('.').to_ascii_lowercase();
        if name.parse::<std::net::IpAddr>().is_ok() {
            return Err("an IP address: ACME certificates here are for DNS names");
        }
        let base = name.strip_prefix("*.").unwrap_or(&name);
        if base.len() > 253 || base.is_empty() {
            return Err("a DNS name has 1 to 253 characters");
        }
        let labels: Vec<&str> = base.split('.').collect();
        if labels.len() < 2 {
            return Err("a single label: the CA needs a name inside a domain (host.example.org)");
        }
        for label in labels {
            if label.is_empty() || label.len() > 63 {
                return Err("each label (between dots) has 1 to 63 characters");
            }
            if label.contains('*') {
                return Err("a wildcard is only allowed as the whole first label (*.example.org)");
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                || label.starts_with('-')
                || label.ends_with('-')
            {
                return Err("labels are letters, digits and inner hyphens (write IDNs as xn--…)");
            }
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_wildcard(&self) -> bool {
        self.0.starts_with("*.")
    }

    /// The name without `*.`: the owner of the `_acme-challenge` record of a wildcard.
    pub fn base(&self) -> &str {
        self.0.strip_prefix("*.").unwrap_or(&self.0)
    }
}

impl std::fmt::Display for DomainName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A flag combination or value that cannot be used; the message names the flag.
#[derive(Debug, thiserror::Error)]
pub enum AcmeConfigError {
    #[error("{flag} needs at least one --acme-domain NAME")]
    NoDomains { flag: &'static str },
    #[error("--acme-domain {given:?}: {problem}")]
    Domain {
        given: String,
        problem: &'static str,
    },
    #[error("--acme-domain {domain}: a wildcard certificate can only be obtained with --acme-challenge dns-01 (with --dns-hook or --dns-rfc2136)")]
    WildcardNeedsDns01 { domain: DomainName },
    #[error("--acme-challenge dns-01 needs a way to publish TXT records: --dns-hook SCRIPT, or --dns-rfc2136 SERVER with --tsig-key FILE")]
    NoDnsProvider,
    #[error("{flag} only applies to --acme-challenge dns-01")]
    DnsFlagWithoutDns01 { flag: &'static str },
    #[error("--acme-email {given:?} is not an e-mail address")]
    Email { given: String },
    #[error("{flag} {given:?}: {problem}")]
    Invalid {
        flag: &'static str,
        given: String,
        problem: &'static str,
    },
    #[error(transparent)]
    TsigKey(#[from] TsigKeyError),
}

/// Checks an `--acme-email` value (a plain address; `mailto:` is added when it is sent).
pub fn parse_email(s: &str) -> Result<String, AcmeConfigError> {
    let s = s.strip_prefix("mailto:").unwrap_or(s);
    match s.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && domain.contains('.')
                && !s.contains(|c: char| c.is_whitespace() || c == ',') =>
        {
            Ok(s.to_owned())
        }
        _ => Err(AcmeConfigError::Email {
            given: s.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names_are_normalised_and_checked() {
        let d = DomainName::parse("VNC.Example.org.").expect("valid");
        assert_eq!(d.as_str(), "vnc.example.org");
        let w = DomainName::parse("*.example.org").expect("wildcard");
        assert!(w.is_wildcard());
        assert_eq!(w.base(), "example.org");
        for bad in [
            "",
            "localhost",
            "a.*.example.org",
            "*example.org",
            "-a.example.org",
            "a..b",
            "10.0.0.1",
            "ex ample.org",
            "ü.example.org",
        ] {
            assert!(DomainName::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}.org", "a".repeat(64));
        assert!(DomainName::parse(&long).is_err());
    }

    #[test]
    fn host_port_forms() {
        let hp = |s| HostPort::parse(s, 53);
        assert_eq!(hp("ns1.example.org").expect("host").port, 53);
        assert_eq!(
            hp("127.0.0.1:5354").expect("v4").to_string(),
            "127.0.0.1:5354"
        );
        assert_eq!(hp("[::1]:5354").expect("v6").to_string(), "[::1]:5354");
        assert_eq!(hp("::1").expect("bare v6").to_string(), "[::1]:53");
        assert_eq!(hp("ns1:99").expect("host port").host, "ns1");
        for bad in ["", "ns1:x", "ns1:0", ":53", "a/b:53"] {
            assert!(hp(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn emails() {
        assert_eq!(parse_email("mailto:a@b.org").expect("ok"), "a@b.org");
        assert!(parse_email("nobody").is_err());
        assert!(parse_email("a@b").is_err());
        assert!(parse_email("a b@c.org").is_err());
    }
}
