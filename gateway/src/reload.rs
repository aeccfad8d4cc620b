//! Live reload (SIGHUP, `systemctl reload`): the configuration read again replaces the
//! running one without dropping a connection.
//!
//! What changes live: targets and the gateway's logins to them, the access list, groups,
//! admins and the admin token, limits that apply to each new connection, the audit log (opened
//! again, also when its path is the same: log rotation), allowed origins, `/metrics` and PROXY
//! protocol addresses, native VNC targets, `--danger-no-auth`. What needs a restart keeps its
//! running value and is named in the log ([`RESTART_ONLY`]): the listening address, the state
//! directory, the certificate source, ACME, the client CA, the store, the instance name, the
//! web root and public URL, and the limits read once at start.
//!
//! A new configuration that cannot be used (a file that does not parse, an audit log that
//! cannot be opened, a token file that cannot be read) is refused whole: the old one keeps
//! serving. Sessions in progress go on under the rule that admitted them unless the new rules
//! no longer admit them ([`crate::admission::recheck`]): those end with the reason.

use std::sync::Arc;

use crate::admission::gate::{Gate, Rules, RulesError};
use crate::admission::Revoked;
use crate::config::Config;
use crate::sessions::SessionInfo;

/// The settings a reload does not change, as the log names them.
pub const RESTART_ONLY: &[&str] = &[
    "listen",
    "state_dir",
    "the certificate (cert, key, key_passphrase_file, names)",
    "acme",
    "client_ca and crl",
    "store",
    "instance",
    "web_root",
    "public_url",
    "limits max_connections_per_address, cert_poll_interval_secs, session_heartbeat_secs, lockout_*",
];

/// `new` with every restart-only setting of `running` put back, and which of them differed.
pub fn merge(running: &Config, mut new: Config) -> (Config, Vec<&'static str>) {
    let mut kept = Vec::new();
    let mut keep = |differs: bool, what: &'static str| {
        if differs {
            kept.push(what);
        }
    };
    keep(new.listen != running.listen, RESTART_ONLY[0]);
    new.listen = running.listen;
    keep(new.state_dir != running.state_dir, RESTART_ONLY[1]);
    new.state_dir = running.state_dir.clone();
    keep(new.tls != running.tls, RESTART_ONLY[2]);
    new.tls = running.tls.clone();
    // AcmeConfig has no equality of its own; its Debug form names every setting.
    keep(
        format!("{:?}", new.acme) != format!("{:?}", running.acme),
        RESTART_ONLY[3],
    );
    new.acme = running.acme.clone();
    keep(
        new.access.client_ca != running.access.client_ca,
        RESTART_ONLY[4],
    );
    if new.access.client_ca != running.access.client_ca {
        // What native viewers are offered was judged against the new file's client CA; the
        // running one stays, and so does the offer made for it.
        new.native_vnc.vencrypt = running.native_vnc.vencrypt.clone();
    }
    new.access.client_ca = running.access.client_ca.clone();
    keep(new.store != running.store, RESTART_ONLY[5]);
    new.store = running.store.clone();
    keep(new.instance != running.instance, RESTART_ONLY[6]);
    new.instance = running.instance.clone();
    keep(new.web_root != running.web_root, RESTART_ONLY[7]);
    new.web_root = running.web_root.clone();
    keep(
        new.web.public_url != running.web.public_url,
        RESTART_ONLY[8],
    );
    new.web.public_url = running.web.public_url.clone();
    let (l, r) = (&mut new.limits, &running.limits);
    keep(
        l.max_connections_per_address != r.max_connections_per_address
            || l.cert_poll_interval != r.cert_poll_interval
            || l.session_heartbeat != r.session_heartbeat
            || l.lockout_failures != r.lockout_failures
            || l.lockout_block != r.lockout_block
            || l.lockout_max_block != r.lockout_max_block,
        RESTART_ONLY[9],
    );
    l.max_connections_per_address = r.max_connections_per_address;
    l.cert_poll_interval = r.cert_poll_interval;
    l.session_heartbeat = r.session_heartbeat;
    l.lockout_failures = r.lockout_failures;
    l.lockout_block = r.lockout_block;
    l.lockout_max_block = r.lockout_max_block;
    (new, kept)
}

/// What a reload changed.
#[derive(Debug, Default)]
pub struct Report {
    pub targets_added: Vec<String>,
    pub targets_removed: Vec<String>,
    /// Targets whose address or login changed (sessions to them stay where they are).
    pub targets_changed: Vec<String>,
    /// Restart-only settings that differ in the new configuration (not applied).
    pub needs_restart: Vec<&'static str>,
    /// Sessions the new rules no longer admit: ended, with why.
    pub ended: Vec<(SessionInfo, Revoked)>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.join(", ")
            }
        };
        write!(
            f,
            "targets added: {}; removed: {}; changed: {}; sessions ended: {}",
            list(&self.targets_added),
            list(&self.targets_removed),
            list(&self.targets_changed),
            self.ended.len()
        )
    }
}

/// Puts `new` in force on `gate` (restart-only settings aside) and ends the sessions it no
/// longer admits. On an error nothing changed.
pub fn apply(gate: &Gate, new: Config) -> Result<Report, RulesError> {
    let running = gate.rules();
    let (config, needs_restart) = merge(&running.config, new);
    let mut rules = Rules::open(config)?;
    rules.generation = running.generation + 1;
    let (old, new) = (&running.config, &rules.config);
    let mut report = Report {
        needs_restart,
        ..Report::default()
    };
    for name in new.targets.names() {
        match old.targets.get(name) {
            None => report.targets_added.push(name.to_owned()),
            Some(addr) if Some(addr) != new.targets.get(name) => {
                report.targets_changed.push(name.to_owned())
            }
            Some(_) if old.logins.get(name) != new.logins.get(name) => {
                report.targets_changed.push(name.to_owned())
            }
            Some(_) => {}
        }
    }
    report.targets_removed = old
        .targets
        .names()
        .filter(|n| new.targets.get(n).is_none())
        .map(str::to_owned)
        .collect();
    let rules = Arc::new(rules);
    gate.replace_rules(rules.clone());
    // Judged after the swap. A session admitted under the old rules that registers only
    // after this loop is judged when it registers (`Gate::register_session`).
    let c = &rules.config;
    report.ended = gate.sessions.recheck(|route, client, via| {
        crate::admission::recheck(c.auth, &c.access, &c.targets, route, client, via)
    });
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config() -> Config {
        let mut c = Config::new(
            "127.0.0.1:8443".parse().expect("addr"),
            "/var/lib/vncgate".into(),
        );
        c.targets.insert(
            "desk".into(),
            crate::config::targets::parse_target_addr("127.0.0.1:5900").expect("target"),
        );
        c
    }

    #[test]
    fn the_native_offer_stays_with_the_client_ca_in_force() {
        use crate::auth::client_ca::{ClientAuth, ClientCaFiles};
        use crate::config::NativeAuth;
        let running = config();
        let mut new = config();
        new.access.client_ca = Some(ClientCaFiles {
            ca: "/etc/vncgate/ca.pem".into(),
            crls: vec![],
            mode: ClientAuth::Optional,
        });
        new.native_vnc.vencrypt = vec![NativeAuth::Certificate, NativeAuth::OneTimeKey];
        let (merged, kept) = merge(&running, new);
        assert_eq!(kept, vec![RESTART_ONLY[4]]);
        assert_eq!(merged.access.client_ca, None);
        assert_eq!(merged.native_vnc.vencrypt, running.native_vnc.vencrypt);
    }

    /// A session admitted under rules that a reload replaced before it registered is judged
    /// when it registers, and ended if the new rules no longer admit it.
    #[tokio::test]
    async fn a_session_registering_after_a_reload_is_judged_then() {
        use crate::admission::{Basis, Principal, Route, Via};
        use crate::auth::Mode;
        let dir = std::env::temp_dir().join(format!("vncgate-reload-race-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let mut running = config();
        running.state_dir = dir.clone();
        let store = crate::store::Store::open(
            &running.store,
            &dir,
            crate::admission::gate::lockout_policy(&running),
        )
        .await
        .expect("store");
        let gate = Gate::new(
            Rules::open(running.clone()).expect("rules"),
            store,
            Arc::new(crate::metrics::Metrics::default()),
            crate::sessions::LiveSessions::new("t".into()),
        );
        let route = Route {
            name: "desk".into(),
            addr: running.targets.get("desk").expect("desk").clone(),
            mode: Mode::Full,
            who: Principal::default(),
            basis: Basis::Key(crate::otk::Grant {
                key_id: "k".into(),
                target: "desk".into(),
                mode: Mode::Full,
            }),
            generation: gate.rules().generation,
        };
        let client = "192.0.2.1:1".parse().expect("addr");
        // Admitted; then desk is removed before the session registers.
        let mut without = running.clone();
        without.targets = crate::config::Targets::default();
        let report = apply(&gate, without).expect("reloaded");
        assert!(report.ended.is_empty(), "nothing registered yet");
        let live = gate.register_session(&route, client, Via::WebSocket);
        let mut watch = live.watch();
        let why = tokio::time::timeout(Duration::from_secs(1), watch.killed())
            .await
            .expect("ended at once");
        assert!(
            matches!(&why, crate::sessions::Ending::Revoked(r) if r.reason.contains("target 'desk' was removed")),
            "{why:?}"
        );
        // Under the rules in force, registering judges nothing again.
        let current = Route {
            generation: gate.rules().generation,
            ..route
        };
        let fine = gate.register_session(&current, client, Via::WebSocket);
        let mut w = fine.watch();
        assert!(
            tokio::time::timeout(Duration::from_millis(50), w.killed())
                .await
                .is_err(),
            "not ended"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_reload_changes_what_is_live_and_keeps_what_needs_a_restart() {
        let running = config();
        let mut new = config();
        new.targets.insert(
            "lab".into(),
            crate::config::targets::parse_target_addr("127.0.0.1:5901").expect("target"),
        );
        new.limits.max_connections = 7;
        new.audit_log = Some("/var/log/vncgate/audit.jsonl".into());
        let (merged, kept) = merge(&running, new.clone());
        assert!(kept.is_empty(), "{kept:?}");
        assert!(merged.targets.get("lab").is_some());
        assert_eq!(merged.limits.max_connections, 7);
        assert_eq!(merged.audit_log, new.audit_log);

        new.listen = "0.0.0.0:443".parse().expect("addr");
        new.state_dir = "/tmp/elsewhere".into();
        new.limits.session_heartbeat = Duration::from_secs(99);
        new.store = crate::config::store::StoreConfig::Redis {
            url: crate::config::store::RedisUrl::parse("redis://127.0.0.1:6379/0").expect("url"),
            ca: None,
        };
        let (merged, kept) = merge(&running, new);
        assert_eq!(
            kept,
            vec![
                RESTART_ONLY[0],
                RESTART_ONLY[1],
                RESTART_ONLY[5],
                RESTART_ONLY[9]
            ]
        );
        assert_eq!(merged.listen, running.listen);
        assert_eq!(merged.state_dir, running.state_dir);
        assert_eq!(merged.store, running.store);
        assert_eq!(
            merged.limits.session_heartbeat,
            running.limits.session_heartbeat
        );
        assert_eq!(merged.limits.max_connections, 7, "live limits still change");
    }
}
