//! `GET /api/status`: what an operator checks on one instance — version and uptime, the store,
//! the certificate served (and ACME's last attempt), the client CA's CRLs, the targets, the
//! latest refusals and lockouts, the last reload. The live sessions are `GET /api/sessions`.
//! Admins only; the operator's page `/admin` reads both.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::{json, Value};

use crate::acme::store::AcmeStore;
use crate::admission::gate::Gate;
use crate::audit::rfc3339;
use crate::auth::client_ca::{self, ClientVerifier};
use crate::config::store::StoreConfig;
use crate::config::TlsSource;
use crate::tls::CertStore;

/// What the status is read from besides the gate.
#[derive(Debug)]
pub struct Sources {
    /// The certificate served to new handshakes.
    pub certificate: Arc<CertStore>,
    pub clients: Option<Arc<ClientVerifier>>,
    pub started: SystemTime,
}

fn unix_now() -> i64 {
    crate::otk::unix_now()
}

fn at(unix: i64) -> String {
    let t = u64::try_from(unix).map_or(SystemTime::UNIX_EPOCH, |s| {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s)
    });
    rfc3339(t)
}

/// Whole days from `now` to `then` (negative once past).
fn days_left(then: i64, now: i64) -> i64 {
    (then - now).div_euclid(86_400)
}

/// The status document. Reads files (CRLs, ACME's status): call it off the async threads.
pub fn document(gate: &Gate, sources: &Sources) -> Value {
    let rules = gate.rules();
    let config = &rules.config;
    let now = unix_now();
    let uptime = SystemTime::now()
        .duration_since(sources.started)
        .map_or(0, |d| d.as_secs());
    json!({
        "instance": gate.sessions.instance(),
        "version": crate::build_info::VERSION,
        "commit": crate::build_info::COMMIT,
        "started": rfc3339(sources.started),
        "uptime_secs": uptime,
        "store": match &config.store {
            StoreConfig::Sqlite => "sqlite (this instance only)".to_owned(),
            StoreConfig::Redis { url, .. } => url.to_string(),
        },
        "sessions_here": gate.sessions.len(),
        "targets": config.targets.names().collect::<Vec<_>>(),
        "certificate": certificate(&config.tls, config.acme.is_some(), &sources.certificate, now),
        "acme": if config.acme.is_some() { acme(&config.state_dir, now) } else { Value::Null },
        "client_ca": sources.clients.as_deref().map_or(Value::Null, |c| client_ca(c, now)),
        "refusals": gate.recent.refusals(),
        "lockouts": gate.recent.lockouts(),
        "reload": gate.recent.last_reload(),
    })
}

fn certificate(tls: &TlsSource, acme: bool, store: &CertStore, now: i64) -> Value {
    let source = match (acme, tls) {
        (true, _) => "acme",
        (false, TlsSource::SelfSigned { .. }) => "self-signed",
        (false, TlsSource::Files { .. }) => "files",
    };
    let Some(info) = store.info() else {
        return json!({ "source": source, "problem": "the served certificate cannot be read" });
    };
    json!({
        "source": source,
        "subject": info.subject,
        "issuer": info.issuer,
        "names": info.sans,
        "not_after": at(info.not_after),
        "days_left": days_left(info.not_after, now),
        "fingerprint": info.fingerprint.to_string(),
        "catchphrase": info.catchphrase().to_string(),
    })
}

fn acme(state_dir: &Path, now: i64) -> Value {
    let s = AcmeStore::new(state_dir).load_status();
    let last = s.last_attempt.as_ref();
    json!({
        "domains": s.domains,
        "directory": s.directory,
        "challenge": s.challenge,
        "last_attempt": last.map(|a| at(a.finished)),
        "last_error": last.and_then(|a| a.error.clone()),
        "consecutive_failures": s.consecutive_failures,
        "next_attempt": s.next_attempt.map(at),
        "certificate_days_left": s.certificate.as_ref().map(|c| days_left(c.not_after, now)),
    })
}

fn client_ca(c: &ClientVerifier, now: i64) -> Value {
    let files = c.files();
    let crls: Vec<Value> = files
        .crls
        .iter()
        .map(|p| {
            let next = client_ca::load_crls(p).ok().and_then(|crls| {
                crls.iter()
                    .filter_map(|d| client_ca::crl_next_update(d.as_ref()))
                    .min()
            });
            json!({
                "file": p.display().to_string(),
                "next_update": next.map(at),
                "expired": next.is_some_and(|n| n <= now),
            })
        })
        .collect();
    json!({
        "ca": files.ca.display().to_string(),
        "mode": files.mode.as_str(),
        "crls": crls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_left_counts_whole_days_and_goes_negative() {
        assert_eq!(days_left(86_400 * 30 + 5, 0), 30);
        assert_eq!(days_left(86_399, 0), 0);
        assert_eq!(days_left(0, 1), -1);
    }
}
