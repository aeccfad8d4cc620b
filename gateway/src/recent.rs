//! What went wrong lately on this instance, for the operator's page (`GET /api/status`,
//! `/admin`): refused relays and client certificates, and lockouts. In memory, the newest
//! [`KEPT`] of each kind; the audit log and the metrics keep the full record.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;

/// How many events of each kind are kept.
pub const KEPT: usize = 50;

/// One refusal or lockout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// RFC 3339, UTC.
    pub at: String,
    /// The client's address (IP only).
    pub client: String,
    /// The target asked for, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Who, as the audit log names them.
    pub who: String,
    pub reason: String,
}

/// The newest refusals and lockouts, and the last reload.
#[derive(Debug, Default)]
pub struct Recent {
    refusals: Mutex<VecDeque<Event>>,
    lockouts: Mutex<VecDeque<Event>>,
    reload: Mutex<Option<Reload>>,
}

/// How the last reload of the configuration went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reload {
    /// RFC 3339, UTC.
    pub at: String,
    pub ok: bool,
    /// What changed, or why nothing did.
    pub summary: String,
}

fn push(list: &Mutex<VecDeque<Event>>, e: Event) {
    let mut l = list.lock().unwrap_or_else(|e| e.into_inner());
    if l.len() >= KEPT {
        l.pop_front();
    }
    l.push_back(e);
}

fn newest_first(list: &Mutex<VecDeque<Event>>) -> Vec<Event> {
    let l = list.lock().unwrap_or_else(|e| e.into_inner());
    l.iter().rev().cloned().collect()
}

impl Recent {
    /// A relay or client certificate refused.
    pub fn refused(&self, client: std::net::IpAddr, target: Option<&str>, who: &str, reason: &str) {
        push(&self.refusals, event(client, target, who, reason));
    }

    /// An address or a certificate locked out.
    pub fn locked_out(&self, client: std::net::IpAddr, who: &str, reason: &str) {
        push(&self.lockouts, event(client, None, who, reason));
    }

    /// A reload of the configuration, applied (`ok`) or refused.
    pub fn reloaded(&self, ok: bool, summary: &str) {
        let r = Reload {
            at: crate::audit::rfc3339(SystemTime::now()),
            ok,
            summary: summary.to_owned(),
        };
        *self.reload.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
    }

    pub fn last_reload(&self) -> Option<Reload> {
        self.reload
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The refusals, newest first.
    pub fn refusals(&self) -> Vec<Event> {
        newest_first(&self.refusals)
    }

    /// The lockouts, newest first.
    pub fn lockouts(&self) -> Vec<Event> {
        newest_first(&self.lockouts)
    }
}

fn event(client: std::net::IpAddr, target: Option<&str>, who: &str, reason: &str) -> Event {
    Event {
        at: crate::audit::rfc3339(SystemTime::now()),
        client: client.to_string(),
        target: target.map(str::to_owned),
        who: who.to_owned(),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_are_kept_newest_first() {
        let r = Recent::default();
        let ip = "192.0.2.1".parse().expect("ip");
        for i in 0..KEPT + 5 {
            r.refused(ip, Some("desk"), "anonymous", &format!("r{i}"));
        }
        r.locked_out(ip, "address 192.0.2.1", "blocked for 10 s");
        let list = r.refusals();
        assert_eq!(list.len(), KEPT);
        assert_eq!(list[0].reason, format!("r{}", KEPT + 4));
        assert_eq!(list[KEPT - 1].reason, "r5");
        assert_eq!(r.lockouts().len(), 1);
    }
}
