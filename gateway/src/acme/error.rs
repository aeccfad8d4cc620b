//! What can go wrong while obtaining a certificate, each with what to check. The CA's RFC 8555
//! problem documents keep their type and detail; the type picks the advice.

use std::path::PathBuf;
use std::time::Duration;

use super::dns::DnsError;

/// The part of the ACME exchange that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Account,
    NewOrder,
    Authorization,
    Challenge,
    Validation,
    Finalize,
    Download,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Account => "account request",
            Self::NewOrder => "new order",
            Self::Authorization => "authorization request",
            Self::Challenge => "challenge response",
            Self::Validation => "validation",
            Self::Finalize => "finalization (certificate request)",
            Self::Download => "certificate download",
        })
    }
}

/// An RFC 8555 problem document, as the CA sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The type without `urn:ietf:params:acme:error:` (`caa`, `rateLimited`, `dns`…).
    pub kind: String,
    pub detail: String,
    pub subproblems: Vec<Subproblem>,
}

/// The part of a problem about one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subproblem {
    pub name: String,
    pub kind: String,
    pub detail: String,
}

fn short_type(t: &Option<String>) -> String {
    t.as_deref()
        .map(|t| {
            t.trim_start_matches("urn:ietf:params:acme:error:")
                .to_owned()
        })
        .unwrap_or_default()
}

impl Problem {
    pub fn from_acme(p: &instant_acme::Problem) -> Self {
        Self {
            kind: short_type(&p.r#type),
            detail: p.detail.clone().unwrap_or_default(),
            subproblems: p
                .subproblems
                .iter()
                .map(|s| Subproblem {
                    name: match &s.identifier {
                        Some(id) => id.authorized(false).to_string(),
                        None => "?".to_owned(),
                    },
                    kind: short_type(&s.r#type),
                    detail: s.detail.clone().unwrap_or_default(),
                })
                .collect(),
        }
    }

    /// What to check: the advice for the problem's type, or for its first subproblem's when
    /// the type itself is generic (a CAA refusal arrives as `rejectedIdentifier` + `caa`).
    pub fn hint(&self) -> &'static str {
        let own = hint_for(&self.kind);
        let generic = matches!(
            self.kind.as_str(),
            "" | "malformed" | "rejectedIdentifier" | "compound"
        );
        match self.subproblems.first() {
            Some(sub) if generic && hint_for(&sub.kind) != hint_for("") => hint_for(&sub.kind),
            _ => own,
        }
    }

    /// Whether this is a rate limit (also as a subproblem).
    pub fn is_rate_limit(&self) -> bool {
        self.kind == "rateLimited" || self.subproblems.iter().any(|s| s.kind == "rateLimited")
    }
}

fn hint_for(kind: &str) -> &'static str {
    match kind {
        "caa" => "the domain's CAA records do not allow this CA: add a CAA record that names it (for Let's Encrypt `0 issue \"letsencrypt.org\"`) or remove the restriction",
        "rateLimited" => "the CA's rate limit was reached: the gateway waits and tries again with growing intervals; test with --acme-staging, whose limits are higher",
        "dns" => "the CA's DNS lookup failed: check that the name exists in public DNS and that the zone's servers answer",
        "unauthorized" | "incorrectResponse" => "the CA found no or a different answer: for dns-01 check that the TXT record reaches the servers the CA asks (all secondaries); for tls-alpn-01 that the name resolves to this gateway and port 443 reaches it",
        "connection" => "the CA could not connect: for tls-alpn-01 the name must resolve to this gateway and TCP port 443 must reach it from the internet (use dns-01 for hosts it cannot reach)",
        "tls" => "the CA's TLS connection for tls-alpn-01 failed: port 443 must reach vncgate itself, not a proxy that terminates TLS",
        "rejectedIdentifier" => "the CA will not issue for this name (its policy): check the spelling, or use another name",
        "unsupportedIdentifier" => "the CA does not issue for this kind of name",
        "externalAccountRequired" => "this CA needs an external account binding, which vncgate does not support",
        "userActionRequired" => "the CA wants the account holder to act (for example, to agree to new terms): see its message",
        "invalidContact" | "unsupportedContact" => "the CA does not accept the --acme-email address",
        "badNonce" | "serverInternal" => "a temporary problem at the CA: the gateway tries again later",
        "accountDoesNotExist" => "the stored account is unknown to the CA: delete the account file in the state directory's acme/accounts/ to register a new one",
        _ => "see the CA's message",
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.detail.is_empty(), self.kind.is_empty()) {
            (false, false) => write!(f, "{} [{}]", self.detail, self.kind)?,
            (false, true) => f.write_str(&self.detail)?,
            (true, _) => write!(f, "[{}]", self.kind)?,
        }
        for s in &self.subproblems {
            write!(f, "; {}: {} [{}]", s.name, s.detail, s.kind)?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error("--acme-ca-root {path}: {detail}; it must be the PEM certificate of the root that signed the ACME server's HTTPS certificate")]
    CaRoot { path: PathBuf, detail: String },
    #[error("cannot reach the ACME server {directory} ({step}): {detail}; check --acme-directory, the network (DNS, proxy, firewall) and, for a private CA, --acme-ca-root")]
    Unreachable {
        directory: String,
        step: Step,
        detail: String,
    },
    #[error("the ACME server {directory} sent an answer to the {step} that cannot be used: {detail}; check that --acme-directory is an ACME directory URL")]
    Protocol {
        directory: String,
        step: Step,
        detail: String,
    },
    #[error("the ACME server {directory} refused the {step}: {problem}; {}", .problem.hint())]
    Refused {
        directory: String,
        step: Step,
        problem: Problem,
    },
    #[error("{domain}: the CA could not validate the {challenge} challenge: {problem}; {}", .problem.hint())]
    Validation {
        domain: String,
        challenge: &'static str,
        problem: Problem,
    },
    #[error("{domain}: the CA reports the authorization as {status}; the gateway starts a new order next time")]
    Authorization { domain: String, status: String },
    #[error("{domain}: the CA offers no {wanted} challenge (it offers: {offered}); choose another --acme-challenge")]
    NoChallenge {
        domain: String,
        wanted: &'static str,
        offered: String,
    },
    #[error("the ACME server did not finish the {step} within {}s; the gateway tries again later", .waited.as_secs())]
    Timeout { step: Step, waited: Duration },
    #[error("tls-alpn-01 needs the gateway's TLS resolver (AcmeResolver), and none was given")]
    NoResolver,
    #[error("cannot make the tls-alpn-01 certificate for {domain}: {detail}")]
    ChallengeCertificate { domain: String, detail: String },
    /// Boxed: DNS errors are large, and every `Result` here carries the enum.
    #[error(transparent)]
    Dns(Box<DnsError>),
    #[error("the certificate the CA issued cannot be used: {detail}")]
    Unusable { detail: String },
    #[error("cannot write {path}: {error}; check that the state directory is writable")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot use {path}: {detail}; remove it to start over (a new account, or a new certificate)")]
    Stored { path: PathBuf, detail: String },
}

impl From<DnsError> for AcmeError {
    fn from(e: DnsError) -> Self {
        Self::Dns(Box::new(e))
    }
}

impl AcmeError {
    /// Maps an instant-acme error at `step` of talking to `directory`.
    pub fn from_acme(error: instant_acme::Error, step: Step, directory: &str) -> Self {
        use instant_acme::Error as E;
        let directory = directory.to_owned();
        match error {
            E::Api(p) => Self::Refused {
                directory,
                step,
                problem: Problem::from_acme(&p),
            },
            // The caller knows how long it waited: see `order::poll_error`.
            E::Timeout(_) => Self::Timeout {
                step,
                waited: Duration::ZERO,
            },
            e @ (E::Hyper(_) | E::Http(_) | E::InvalidUri(_) | E::Other(_)) => Self::Unreachable {
                directory,
                step,
                detail: chain(&e),
            },
            e => Self::Protocol {
                directory,
                step,
                detail: chain(&e),
            },
        }
    }

    /// A rate limit at the CA (back off longer).
    pub fn is_rate_limit(&self) -> bool {
        matches!(self, Self::Refused { problem, .. } | Self::Validation { problem, .. } if problem.is_rate_limit())
    }
}

/// An error and its sources, `outer: inner: innermost` (hyper's own text is often just
/// "client error (Connect)").
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_keep_type_detail_and_subproblems_and_pick_advice() {
        let p: instant_acme::Problem = serde_json::from_str(
            r#"{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"Error creating new order","status":400,
                "subproblems":[{"type":"urn:ietf:params:acme:error:caa","detail":"CAA record forbids issuance","identifier":{"type":"dns","value":"vnc.example.org"}}]}"#,
        )
        .expect("problem json");
        let e = AcmeError::from_acme(
            instant_acme::Error::Api(p),
            Step::NewOrder,
            "https://ca/dir",
        );
        assert_eq!(
            e.to_string(),
            "the ACME server https://ca/dir refused the new order: Error creating new order [rejectedIdentifier]; \
             vnc.example.org: CAA record forbids issuance [caa]; the domain's CAA records do not allow this CA: \
             add a CAA record that names it (for Let's Encrypt `0 issue \"letsencrypt.org\"`) or remove the restriction"
        );
        let limited = Problem {
            kind: "rateLimited".into(),
            detail: "too many certificates".into(),
            subproblems: vec![],
        };
        assert!(limited.hint().contains("--acme-staging"));
        assert!(limited.is_rate_limit());
    }
}
