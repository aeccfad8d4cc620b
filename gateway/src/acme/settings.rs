//! The ACME settings as given — the `--acme-*` and `--dns-*` flags of `vncgate serve`, and the
//! `[acme]` table of its config file (keys named after the flags) — merged (flags win) and
//! turned into one validated [`AcmeConfig`], or `None` when no domain is given. Reads the TSIG
//! key file; opens no socket.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::config::{
    parse_email, AcmeConfigError, ChallengeConfig, Dns01Config, DnsProvider, DomainName, HostPort,
    PropagationCheck, Timing,
};
use super::dns::tsig::TsigKey;
use super::AcmeConfig;

/// How long to wait for TXT records to become visible when nothing else is said.
const DEFAULT_PROPAGATION_TIMEOUT_SECS: u64 = 120;

#[derive(clap::ValueEnum, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeArg {
    #[value(name = "dns-01")]
    #[serde(rename = "dns-01")]
    Dns01,
    #[value(name = "tls-alpn-01")]
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
}

/// The settings as given; [`AcmeArgs::into_config`] checks them.
///
/// In the config file: `[acme]` with `domains = [..]`, `email`, `directory`, `staging`,
/// `ca_root`, `challenge`, `dns_hook`, `dns_rfc2136`, `tsig_key`, `dns_resolver`,
/// `dns_propagation_timeout` (seconds) and `renew_before` (`"30d"`).
#[derive(clap::Args, Deserialize, Debug, Default, Clone)]
#[command(next_help_heading = "ACME certificates (docs/acme.md)")]
#[serde(deny_unknown_fields)]
pub struct AcmeArgs {
    /// Obtain and renew a certificate for NAME from an ACME CA such as Let's Encrypt
    /// (repeatable; `*.NAME` for a wildcard, which needs dns-01).
    #[arg(long = "acme-domain", value_name = "NAME")]
    #[serde(rename = "domains", default)]
    pub acme_domains: Vec<String>,
    /// Contact address the CA may send expiry and policy notices to.
    #[arg(long, value_name = "ADDR")]
    #[serde(rename = "email")]
    pub acme_email: Option<String>,
    /// The CA's ACME directory URL [default: Let's Encrypt production].
    #[arg(long, value_name = "URL", conflicts_with = "acme_staging")]
    #[serde(rename = "directory")]
    pub acme_directory: Option<String>,
    /// Use Let's Encrypt's staging CA (untrusted certificates, for trying things out).
    #[arg(long)]
    #[serde(rename = "staging", default)]
    pub acme_staging: bool,
    /// Trust this PEM root for the CA's own HTTPS (a private CA; pebble in tests).
    #[arg(long, value_name = "FILE")]
    #[serde(rename = "ca_root")]
    pub acme_ca_root: Option<PathBuf>,
    /// How the CA checks the names: dns-01 (a TXT record; for hosts the internet cannot reach,
    /// and wildcards) or tls-alpn-01 (on this port, which must be reachable as NAME:443)
    /// [default: dns-01 with --dns-hook or --dns-rfc2136, else tls-alpn-01].
    #[arg(long, value_name = "TYPE", value_enum)]
    #[serde(rename = "challenge")]
    pub acme_challenge: Option<ChallengeArg>,
    /// Publish dns-01 TXT records with SCRIPT, run as `SCRIPT present|cleanup FQDN VALUE TTL`
    /// (lego's exec convention); a non-zero exit aborts the attempt.
    #[arg(long, value_name = "SCRIPT", conflicts_with = "dns_rfc2136")]
    pub dns_hook: Option<PathBuf>,
    /// Publish dns-01 TXT records by RFC 2136 dynamic update to this server (BIND, Knot,
    /// PowerDNS), signed with --tsig-key.
    #[arg(long, value_name = "SERVER[:PORT]", requires = "tsig_key")]
    pub dns_rfc2136: Option<String>,
    /// The TSIG key for --dns-rfc2136, as `tsig-keygen -a hmac-sha256 NAME` writes it.
    #[arg(long, value_name = "FILE", requires = "dns_rfc2136")]
    pub tsig_key: Option<PathBuf>,
    /// Check that TXT records are visible at this server instead of at the zone's
    /// authoritative servers (split-horizon DNS, tests).
    #[arg(long, value_name = "ADDR:PORT")]
    pub dns_resolver: Option<String>,
    /// How long to wait for TXT records to become visible, in seconds [default: 120].
    #[arg(long, value_name = "SECS")]
    pub dns_propagation_timeout: Option<u64>,
    /// Renew when this much validity is left (e.g. 30d, 12h, 90s) [default: at two thirds of
    /// the certificate's lifetime].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    #[serde(rename = "renew_before", default, deserialize_with = "duration_text")]
    pub acme_renew_before: Option<Duration>,
}

/// `renew_before = "30d"` in the file, read as `--acme-renew-before` reads it.
fn duration_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

impl AcmeArgs {
    /// `self` (the file's `[acme]`) with what `over` (the flags) gives taking precedence;
    /// domains given as flags replace the file's list.
    pub fn overridden_by(self, over: AcmeArgs) -> AcmeArgs {
        // A directory choice from the flags (URL or staging) replaces the file's.
        let flags_choose_directory = over.acme_directory.is_some() || over.acme_staging;
        // So does a DNS provider.
        let flags_choose_provider = over.dns_hook.is_some() || over.dns_rfc2136.is_some();
        AcmeArgs {
            acme_domains: if over.acme_domains.is_empty() {
                self.acme_domains
            } else {
                over.acme_domains
            },
            acme_email: over.acme_email.or(self.acme_email),
            acme_directory: if flags_choose_directory {
                over.acme_directory
            } else {
                self.acme_directory
            },
            acme_staging: if flags_choose_directory {
                over.acme_staging
            } else {
                self.acme_staging
            },
            acme_ca_root: over.acme_ca_root.or(self.acme_ca_root),
            acme_challenge: over.acme_challenge.or(self.acme_challenge),
            dns_hook: if flags_choose_provider {
                over.dns_hook
            } else {
                self.dns_hook
            },
            dns_rfc2136: if flags_choose_provider {
                over.dns_rfc2136
            } else {
                self.dns_rfc2136
            },
            tsig_key: if flags_choose_provider {
                over.tsig_key
            } else {
                self.tsig_key
            },
            dns_resolver: over.dns_resolver.or(self.dns_resolver),
            dns_propagation_timeout: over
                .dns_propagation_timeout
                .or(self.dns_propagation_timeout),
            acme_renew_before: over.acme_renew_before.or(self.acme_renew_before),
        }
    }

    /// Paths made relative to `base` (the config file's folder) where they are relative.
    pub fn relative_to(self, base: &Path) -> AcmeArgs {
        let rel = |p: Option<PathBuf>| p.map(|p| if p.is_relative() { base.join(p) } else { p });
        AcmeArgs {
            acme_ca_root: rel(self.acme_ca_root),
            dns_hook: rel(self.dns_hook),
            tsig_key: rel(self.tsig_key),
            ..self
        }
    }

    /// The validated configuration, or `None` without `--acme-domain`.
    pub fn into_config(self) -> Result<Option<AcmeConfig>, AcmeConfigError> {
        if self.acme_domains.is_empty() {
            return match self.first_flag_given() {
                Some(flag) => Err(AcmeConfigError::NoDomains { flag }),
                None => Ok(None),
            };
        }
        let mut domains: Vec<DomainName> = Vec::new();
        for given in &self.acme_domains {
            let d = DomainName::parse(given).map_err(|problem| AcmeConfigError::Domain {
                given: given.clone(),
                problem,
            })?;
            if !domains.contains(&d) {
                domains.push(d);
            }
        }
        let email = self.acme_email.as_deref().map(parse_email).transpose()?;
        let directory = match (&self.acme_directory, self.acme_staging) {
            (Some(url), _) => url.clone(),
            (None, true) => super::LETS_ENCRYPT_STAGING.to_owned(),
            (None, false) => super::LETS_ENCRYPT_PRODUCTION.to_owned(),
        };
        if !directory.starts_with("https://") {
            return Err(AcmeConfigError::Invalid {
                flag: "--acme-directory",
                given: directory,
                problem: "ACME directories are https:// URLs",
            });
        }
        let has_dns_provider = self.dns_hook.is_some() || self.dns_rfc2136.is_some();
        let kind = self.acme_challenge.unwrap_or(if has_dns_provider {
            ChallengeArg::Dns01
        } else {
            ChallengeArg::TlsAlpn01
        });
        let challenge = match kind {
            ChallengeArg::TlsAlpn01 => {
                if let Some(flag) = self.dns_flag_given() {
                    return Err(AcmeConfigError::DnsFlagWithoutDns01 { flag });
                }
                if let Some(w) = domains.iter().find(|d| d.is_wildcard()) {
                    return Err(AcmeConfigError::WildcardNeedsDns01 { domain: w.clone() });
                }
                ChallengeConfig::TlsAlpn01
            }
            ChallengeArg::Dns01 => ChallengeConfig::Dns01(self.dns01()?),
        };
        Ok(Some(AcmeConfig {
            domains,
            email,
            directory,
            ca_root: self.acme_ca_root,
            challenge,
            renew_before: self.acme_renew_before,
            timing: Timing::default(),
        }))
    }

    fn dns01(&self) -> Result<Dns01Config, AcmeConfigError> {
        let provider = match (&self.dns_hook, &self.dns_rfc2136, &self.tsig_key) {
            (Some(script), _, _) => DnsProvider::Hook {
                script: script.clone(),
            },
            (None, Some(server), Some(key)) => DnsProvider::Rfc2136 {
                server: HostPort::parse(server, 53).map_err(|problem| {
                    AcmeConfigError::Invalid {
                        flag: "--dns-rfc2136",
                        given: server.clone(),
                        problem,
                    }
                })?,
                key: TsigKey::load(key)?,
            },
            _ => return Err(AcmeConfigError::NoDnsProvider),
        };
        let check = match &self.dns_resolver {
            Some(s) => PropagationCheck::At(HostPort::parse(s, 53).map_err(|problem| {
                AcmeConfigError::Invalid {
                    flag: "--dns-resolver",
                    given: s.clone(),
                    problem,
                }
            })?),
            None => PropagationCheck::Authoritative,
        };
        Ok(Dns01Config {
            provider,
            check,
            propagation_timeout: Duration::from_secs(
                self.dns_propagation_timeout
                    .unwrap_or(DEFAULT_PROPAGATION_TIMEOUT_SECS),
            ),
            poll_interval: Duration::from_secs(2),
            ttl_secs: 60,
        })
    }

    fn dns_flag_given(&self) -> Option<&'static str> {
        [
            (self.dns_hook.is_some(), "--dns-hook"),
            (self.dns_rfc2136.is_some(), "--dns-rfc2136"),
            (self.tsig_key.is_some(), "--tsig-key"),
            (self.dns_resolver.is_some(), "--dns-resolver"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }

    fn first_flag_given(&self) -> Option<&'static str> {
        [
            (self.acme_email.is_some(), "--acme-email"),
            (self.acme_directory.is_some(), "--acme-directory"),
            (self.acme_staging, "--acme-staging"),
            (self.acme_ca_root.is_some(), "--acme-ca-root"),
            (self.acme_challenge.is_some(), "--acme-challenge"),
            (self.acme_renew_before.is_some(), "--acme-renew-before"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
        .or_else(|| self.dns_flag_given())
    }
}

/// `90`, `90s`, `45m`, `12h`, `30d`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let (number, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?}: expected a number with s, m, h or d (e.g. 30d)"))?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{s:?}: the unit is s, m, h or d (e.g. 30d)")),
    };
    n.checked_mul(unit_secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        acme: AcmeArgs,
    }

    fn parse(args: &[&str]) -> Result<Option<AcmeConfig>, AcmeConfigError> {
        Cmd::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))
            .expect("clap accepts")
            .acme
            .into_config()
    }

    #[test]
    fn no_domain_means_no_acme_unless_other_flags_say_otherwise() {
        assert!(parse(&[]).expect("ok").is_none());
        let e = parse(&["--acme-email", "a@b.org"]).expect_err("no domain");
        assert_eq!(
            e.to_string(),
            "--acme-email needs at least one --acme-domain NAME"
        );
    }

    #[test]
    fn tls_alpn_is_the_default_without_dns_and_refuses_wildcards() {
        let c = parse(&["--acme-domain", "VNC.example.org", "--acme-staging"])
            .expect("ok")
            .expect("some");
        assert!(matches!(c.challenge, ChallengeConfig::TlsAlpn01));
        assert_eq!(c.directory, crate::acme::LETS_ENCRYPT_STAGING);
        assert_eq!(c.domains[0].as_str(), "vnc.example.org");
        let e = parse(&["--acme-domain", "*.example.org"]).expect_err("wildcard");
        assert!(e.to_string().contains("dns-01"), "{e}");
        let e = parse(&[
            "--acme-domain",
            "a.example.org",
            "--acme-challenge",
            "tls-alpn-01",
            "--dns-resolver",
            "1.1.1.1",
        ])
        .expect_err("dns flag");
        assert_eq!(
            e.to_string(),
            "--dns-resolver only applies to --acme-challenge dns-01"
        );
    }

    #[test]
    fn dns_01_with_hook_or_rfc2136() {
        let c = parse(&[
            "--acme-domain",
            "example.org",
            "--acme-domain",
            "*.example.org",
            "--dns-hook",
            "/usr/local/bin/dns-hook",
            "--dns-resolver",
            "127.0.0.1:5353",
            "--acme-renew-before",
            "30d",
        ])
        .expect("ok")
        .expect("some");
        let ChallengeConfig::Dns01(dns) = &c.challenge else {
            panic!("dns-01 expected")
        };
        assert_eq!(
            dns.check,
            PropagationCheck::At(HostPort {
                host: "127.0.0.1".into(),
                port: 5353
            })
        );
        assert_eq!(c.renew_before, Some(Duration::from_secs(30 * 86_400)));
        let e = parse(&[
            "--acme-domain",
            "a.example.org",
            "--acme-challenge",
            "dns-01",
        ])
        .expect_err("provider");
        assert!(e.to_string().contains("--dns-hook SCRIPT"), "{e}");
        let e = parse(&[
            "--acme-domain",
            "a.example.org",
            "--dns-rfc2136",
            "ns1",
            "--tsig-key",
            "/nonexistent/k",
        ])
        .expect_err("key file");
        assert!(
            e.to_string()
                .starts_with("--tsig-key /nonexistent/k: cannot read it"),
            "{e}"
        );
        let e = parse(&[
            "--acme-domain",
            "a.example.org",
            "--acme-directory",
            "http://ca/dir",
        ])
        .expect_err("http");
        assert!(e.to_string().contains("https://"), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(43_200)));
        assert!(parse_duration("3w").is_err());
        assert!(parse_duration("d").is_err());
    }
}
