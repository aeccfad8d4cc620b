//! `acme/status.json`: what the renewal loop last did, for `vncgate acme status` and for
//! monitoring — the configured names, the certificate, the last attempt and its error, and
//! when the next attempt is due. Times are Unix seconds.

use serde::{Deserialize, Serialize};

use super::store::StoredCertificate;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub domains: Vec<String>,
    pub directory: String,
    pub challenge: String,
    pub certificate: Option<CertificateStatus>,
    pub last_attempt: Option<Attempt>,
    /// Failures since the last success.
    #[serde(default)]
    pub consecutive_failures: u32,
    pub next_attempt: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateStatus {
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    pub not_before: i64,
    pub not_after: i64,
    pub fingerprint: String,
    /// The directory URL of the CA that issued it.
    pub directory: String,
}

impl CertificateStatus {
    pub fn of(cert: &StoredCertificate, directory: &str) -> Self {
        Self {
            subject: cert.info.subject.clone(),
            issuer: cert.info.issuer.clone(),
            sans: cert.info.sans.clone(),
            not_before: cert.info.not_before,
            not_after: cert.info.not_after,
            fingerprint: cert.info.fingerprint.to_string(),
            directory: directory.to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub started: i64,
    pub finished: i64,
    /// `None`: it succeeded.
    pub error: Option<String>,
}

impl Status {
    /// The report `vncgate acme status` prints, as of `now`.
    pub fn render(&self, now: i64) -> String {
        use std::fmt::Write;
        let when = |t: i64| format!("{} ({})", certs::inspect::format_utc(t), relative(t - now));
        let mut out = String::new();
        let none = || "(none)".to_owned();
        let _ = writeln!(
            out,
            "domains:       {}",
            if self.domains.is_empty() {
                none()
            } else {
                self.domains.join(", ")
            }
        );
        let _ = writeln!(out, "CA directory:  {}", self.directory);
        let _ = writeln!(out, "challenge:     {}", self.challenge);
        match &self.certificate {
            Some(c) => {
                let state = if c.not_after <= now {
                    "EXPIRED"
                } else {
                    "valid"
                };
                let _ = writeln!(out, "certificate:   {state} until {}", when(c.not_after));
                let _ = writeln!(out, "  issuer:      {}", c.issuer);
                let _ = writeln!(out, "  names:       {}", c.sans.join(", "));
                let _ = writeln!(out, "  fingerprint: {}", c.fingerprint);
            }
            None => {
                let _ = writeln!(
                    out,
                    "certificate:   none yet (the self-signed certificate is served)"
                );
            }
        }
        match &self.last_attempt {
            Some(a) => {
                let result = match &a.error {
                    None => "succeeded".to_owned(),
                    Some(e) => format!("FAILED: {e}"),
                };
                let _ = writeln!(out, "last attempt:  {}: {result}", when(a.finished));
            }
            None => {
                let _ = writeln!(out, "last attempt:  {}", none());
            }
        }
        if self.consecutive_failures > 1 {
            let _ = writeln!(
                out,
                "               ({} failures in a row)",
                self.consecutive_failures
            );
        }
        if let Some(t) = self.next_attempt {
            let _ = writeln!(out, "next attempt:  {}", when(t));
        }
        out
    }
}

/// "in 3 days", "5 hours ago", "now".
fn relative(delta_secs: i64) -> String {
    let abs = delta_secs.unsigned_abs();
    let (n, unit) = match abs {
        0..=59 => return "now".to_owned(),
        60..=3599 => (abs / 60, "minute"),
        3600..=86_399 => (abs / 3600, "hour"),
        _ => (abs / 86_400, "day"),
    };
    let plural = if n == 1 { "" } else { "s" };
    if delta_secs > 0 {
        format!("in {n} {unit}{plural}")
    } else {
        format!("{n} {unit}{plural} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_certificate_and_failure() {
        let now = 1_750_000_000;
        let status = Status {
            domains: vec!["vnc.example.org".into(), "*.example.org".into()],
            directory: "https://ca/dir".into(),
            challenge: "dns-01".into(),
            certificate: Some(CertificateStatus {
                subject: "".into(),
                issuer: "CN=Test CA".into(),
                sans: vec!["DNS:vnc.example.org".into()],
                not_before: now - 86_400,
                not_after: now + 3 * 86_400 + 10,
                fingerprint: "ab:cd".into(),
                directory: "https://ca/dir".into(),
            }),
            last_attempt: Some(Attempt {
                started: now - 7200,
                finished: now - 7100,
                error: Some("hook failed".into()),
            }),
            consecutive_failures: 2,
            next_attempt: Some(now + 120),
        };
        let text = status.render(now);
        assert!(
            text.contains("domains:       vnc.example.org, *.example.org"),
            "{text}"
        );
        assert!(text.contains("valid until "), "{text}");
        assert!(text.contains("(in 3 days)"), "{text}");
        assert!(text.contains("issuer:      CN=Test CA"), "{text}");
        assert!(text.contains("ago): FAILED: hook failed"), "{text}");
        assert!(text.contains("(2 failures in a row)"), "{text}");
        assert!(
            text.contains("next attempt:") && text.contains("(in 2 minutes)"),
            "{text}"
        );
        let json = serde_json::to_string(&status).expect("json");
        assert_eq!(serde_json::from_str::<Status>(&json).expect("back"), status);
    }
}
