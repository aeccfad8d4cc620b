//! What an attacker tried against the gateway, each as a test that failed before its fix:
//! revoked certificates through TLS resumption and in open sessions, stale CRLs, stalled
//! clients, keys burned by HTTP/1.0 upgrades, anonymous audit lines, target enumeration,
//! NAT lockout of certificate holders, links from `Host`, oversized heads inside TLS, and
//! ended keys that were never forgotten.

use std::time::{Duration, SystemTime};

use futures_util::{SinkExt, StreamExt};
use gateway::auth::client_ca::{ClientAuth, ClientCaFiles};
use gateway::otk::OtkStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use crate::pki::{client_config, tls_as, tls_with, Pki};
use crate::support::{
    close_reason, closes_within, echo_backend, get, http, read_binary, TempDir, TestGateway,
    RFB_VERSION,
};

fn target(c: &mut gateway::Config, name: &str, addr: std::net::SocketAddr) {
    let (n, a) = gateway::config::parse_target(&format!("{name}={addr}")).expect("target");
    c.targets.insert(n, a);
}

fn client_ca(c: &mut gateway::Config, pki: &Pki) {
    c.access.client_ca = Some(ClientCaFiles {
        ca: pki.ca(),
        crls: vec![pki.crl()],
        mode: ClientAuth::Optional,
    });
    c.limits.cert_poll_interval = Duration::from_millis(200);
}

fn metric(text: &str, line_start: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(line_start)
                .map(|v| v.trim().parse().unwrap_or(u64::MAX))
        })
        .unwrap_or_else(|| panic!("no metric {line_start} in\n{text}"))
}

/// Opens a relay to `/ws/desk` over `tls` and reads the RFB version: `Err` with the close
/// reason (or what happened) when it does not relay.
async fn relays<S>(gw: &TestGateway, tls: S, path: &str) -> Result<(), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut ws = gw
        .websocket_over(tls, path)
        .await
        .map_err(|e| format!("ws: {e}"))?;
    match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        Ok(Some(Ok(Message::Binary(b)))) if b.as_ref() == RFB_VERSION => Ok(()),
        Ok(Some(Ok(Message::Close(f)))) => Err(f.map(|f| f.reason.to_string()).unwrap_or_default()),
        other => Err(format!("{other:?}")),
    }
}

/// Waits until a fresh (full) handshake as `name` is refused: the new CRL is in force.
async fn until_refused(gw: &TestGateway, pki: &Pki, name: &str) {
    for _ in 0..100 {
        let fresh = client_config(Some(pki.identity(name)), &[b"http/1.1"]);
        let refused = match tls_with(gw.addr, fresh).await {
            Err(_) => true,
            Ok(s) => relays(gw, s, "/ws/desk").await.is_err(),
        };
        if refused {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the new CRL was not picked up");
}

fn audit_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

#[tokio::test]
async fn a_revoked_certificate_gets_nothing_through_tls_resumption() {
    let t = TempDir::new("resume");
    let pki = Pki::new(&t.0.join("pki"), "Clients CA");
    pki.client("bob", None);
    let backend = echo_backend().await;
    let gw = TestGateway::start(|c| {
        target(c, "desk", backend);
        client_ca(c, &pki);
    })
    .await;
    // One client configuration: it keeps whatever tickets or session ids the server gives.
    let bob = client_config(Some(pki.identity("bob")), &[b"http/1.1"]);
    for _ in 0..2 {
        let s = tls_with(gw.addr, bob.clone()).await.expect("tls");
        relays(&gw, s, "/ws/desk").await.expect("bob relays");
    }
    pki.revoke("bob");
    until_refused(&gw, &pki, "bob").await;
    for attempt in 0..3 {
        let outcome = match tls_with(gw.addr, bob.clone()).await {
            Err(e) => Err(format!("tls: {e}")),
            Ok(s) => relays(&gw, s, "/ws/desk").await,
        };
        assert!(
            outcome.is_err(),
            "attempt {attempt}: a session of the revoked certificate was resumed and relayed"
        );
    }
}

#[tokio::test]
async fn revoking_a_certificate_ends_its_open_sessions_and_connections() {
    let t = TempDir::new("live-revoke");
    let pki = Pki::new(&t.0.join("pki"), "Clients CA");
    pki.client("bob", None);
    pki.client("carol", None);
    let backend = echo_backend().await;
    let audit = t.0.join("audit.jsonl");
    let audit2 = audit.clone();
    let gw = TestGateway::start(|c| {
        target(c, "desk", backend);
        client_ca(c, &pki);
        c.audit_log = Some(audit2);
    })
    .await;
    let s = tls_as(gw.addr, Some(pki.identity("bob")), &[b"http/1.1"])
        .await
        .expect("tls");
    let mut ws = gw.websocket_over(s, "/ws/desk").await.expect("ws");
    assert_eq!(read_binary(&mut ws, 12).await, RFB_VERSION);
    let mut keep_alive = tls_as(gw.addr, Some(pki.identity("bob")), &[b"http/1.1"])
        .await
        .expect("tls");
    assert_eq!(
        http(&mut keep_alive, &get(gw.addr, "/healthz", ""))
            .await
            .status,
        200
    );
    let s = tls_as(gw.addr, Some(pki.identity("carol")), &[b"http/1.1"])
        .await
        .expect("tls");
    let mut carol = gw.websocket_over(s, "/ws/desk").await.expect("ws");
    assert_eq!(read_binary(&mut carol, 12).await, RFB_VERSION);

    pki.revoke("bob");
    let why = tokio::time::timeout(Duration::from_secs(20), close_reason(&mut ws))
        .await
        .expect("the session ends after the CRL reload")
        .unwrap_or_default();
    assert!(why.contains("revoked"), "{why}");
    assert!(
        closes_within(&mut keep_alive, Duration::from_secs(20)).await,
        "the keep-alive connection of the revoked certificate is closed"
    );
    // Carol's session goes on.
    carol
        .send(Message::Binary(b"still here".to_vec().into()))
        .await
        .expect("send");
    assert_eq!(read_binary(&mut carol, 10).await, b"still here");
    drop(carol);
    let mut ended = None;
    for _ in 0..50 {
        ended = audit_lines(&audit)
            .into_iter()
            .find(|l| l["subject"] == "CN=bob" && l["outcome"] == "ended");
        if ended.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ended = ended.expect("an audit line for bob's session");
    assert!(
        ended["reason"]
            .as_str()
            .is_some_and(|r| r.contains("revoked")),
        "{ended}"
    );
}

#[tokio::test]
async fn an_expired_crl_refuses_its_certificates_and_says_why() {
    let t = TempDir::new("stale-crl");
    let pki = Pki::new(&t.0.join("pki"), "Clients CA");
    pki.client("bob", None);
    pki.client("mallory", None);
    // A CRL made ten days ago, due for an update nine days ago.
    pki.revoke_at(
        "mallory",
        1,
        SystemTime::now() - Duration::from_secs(10 * 86_400),
    );
    let backend = echo_backend().await;
    let gw = TestGateway::start(|c| {
        target(c, "desk", backend);
        client_ca(c, &pki);
    })
    .await;
    let outcome = match tls_as(gw.addr, Some(pki.identity("bob")), &[b"http/1.1"]).await {
        Err(e) => Err(e.to_string()),
        Ok(s) => relays(&gw, s, "/ws/desk").await,
    };
    assert!(outcome.is_err(), "stale revocation data must not admit");
    let m = gw.metrics().await;
    assert_eq!(
        metric(
            &m,
            "vncgate_client_certificates_refused_total{reason=\"crl_expired\"}"
        ),
        1
    );
    assert_eq!(metric(&m, "vncgate_lockout_blocked_addresses"), 0);
}

#[tokio::test]
async fn a_client_that_reads_nothing_loses_its_connection() {
    let t = TempDir::new("stall");
    let web = t.0.join("web");
    std::fs::create_dir_all(&web).expect("web root");
    std::fs::write(web.join("big.bin"), vec![0x5a; 4 << 20]).expect("big file");
    let gw = TestGateway::start(|c| {
        c.web_root = Some(web);
        c.limits.write_timeout = Duration::from_secs(1);
    })
    .await;
    let mut s = gw.tls().await;
    let mut pipelined = String::new();
    for _ in 0..32 {
        pipelined.push_str(&get(gw.addr, "/big.bin", ""));
    }
    s.write_all(pipelined.as_bytes()).await.expect("send");
    // 128 MiB asked for, nothing read: the gateway must give up on this connection.
    let mut open = u64::MAX;
    for _ in 0..150 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        open = metric(&gw.metrics().await, "vncgate_connections_open");
        if open == 1 {
            break;
        }
    }
    assert_eq!(open, 1, "only the metrics request's own connection is open");
    drop(s);
}

#[tokio::test]
async fn an_http_1_0_upgrade_burns_no_key() {
    let t = TempDir::new("http10");
    let backend = echo_backend().await;
    let dir = t.0.clone();
    let gw = TestGateway::start(move |c| {
        target(c, "desk", backend);
        crate::auth::with_token(c, &dir);
    })
    .await;
    let (_, v) = crate::auth::issue_by_api(&gw, r#"{"target":"desk"}"#).await;
    let key = v["key"].as_str().expect("key").to_owned();
    let mut s = gw.tls().await;
    let r = http(
        &mut s,
        &format!(
            "GET /ws/desk?otk={key} HTTP/1.0\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            gw.addr
        ),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(String::from_utf8_lossy(&r.body).contains("HTTP/1.1"));
    let mut ws = gw
        .websocket(&format!("/ws/desk?otk={key}"), None)
        .await
        .expect("ws");
    assert_eq!(
        read_binary(&mut ws, 12).await,
        RFB_VERSION,
        "the key still works"
    );
}

#[tokio::test]
async fn refused_attempts_are_audited_with_the_certificate_and_key_presented() {
    let t = TempDir::new("audit-refused");
    let pki = Pki::new(&t.0.join("pki"), "Clients CA");
    pki.client("alice", None);
    let backend = echo_backend().await;
    let dir = t.0.clone();
    let audit = t.0.join("audit.jsonl");
    let audit2 = audit.clone();
    let gw = TestGateway::start(move |c| {
        target(c, "desk", backend);
        client_ca(c, &pki_clone(&dir));
        crate::auth::with_token(c, &dir);
        c.audit_log = Some(audit2);
    })
    .await;
    let (_, v) = crate::auth::issue_by_api(&gw, r#"{"target":"desk"}"#).await;
    let (key, id) = (
        v["key"].as_str().expect("key").to_owned(),
        v["id"].as_str().expect("id").to_owned(),
    );
    let mut ws = gw
        .websocket(&format!("/ws/desk?otk={key}"), None)
        .await
        .expect("ws");
    assert_eq!(read_binary(&mut ws, 12).await, RFB_VERSION);
    drop(ws);
    let s = tls_as(gw.addr, Some(pki.identity("alice")), &[b"http/1.1"])
        .await
        .expect("tls");
    let refused = relays(&gw, s, &format!("/ws/desk?otk={key}")).await;
    assert!(refused.is_err_and(|why| why.contains("already used")));
    let line = audit_lines(&audit)
        .into_iter()
        .find(|l| l["outcome"] == "refused")
        .expect("a refused line");
    assert_eq!(line["subject"], "CN=alice", "{line}");
    assert_eq!(line["key_id"], id.as_str(), "{line}");
    assert_ne!(line["who"], "anonymous", "{line}");
}

/// The same CA files, read by the gateway's closure (the `Pki` itself stays in the test).
fn pki_clone(dir: &std::path::Path) -> Pki {
    Pki {
        store: certs::generate::store::Store::new(dir.join("pki")),
    }
}

#[tokio::test]
async fn target_names_cannot_be_enumerated_without_credentials() {
    let backend = echo_backend().await;
    let gw = TestGateway::start(|c| {
        target(c, "desk", backend);
        c.limits.lockout_failures = 2;
    })
    .await;
    let mut reasons = Vec::new();
    for path in ["/ws/desk", "/ws/no-such-desk"] {
        let mut ws = gw.websocket(path, None).await.expect("ws");
        reasons.push(close_reason(&mut ws).await.unwrap_or_default());
    }
    assert_eq!(reasons[0], reasons[1], "known and unknown look the same");
    assert!(!reasons[1].contains("no-such-desk"), "{}", reasons[1]);
    // Junk keys on unknown names count towards the lockout like any others.
    for _ in 0..2 {
        let mut ws = gw
            .websocket("/ws/no-such-desk?otk=junk", None)
            .await
            .expect("ws");
        let why = close_reason(&mut ws).await.unwrap_or_default();
        assert!(why.contains("not valid"), "{why}");
    }
    let mut ws = gw.websocket("/ws/desk?otk=junk", None).await.expect("ws");
    let why = close_reason(&mut ws).await.unwrap_or_default();
    assert!(why.contains("too many failed attempts"), "{why}");
}

#[tokio::test]
async fn an_attacker_behind_the_same_address_cannot_lock_out_certificate_or_token_holders() {
    let t = TempDir::new("nat");
    let pki = Pki::new(&t.0.join("pki"), "Clients CA");
    pki.client("bob", None);
    let backend = echo_backend().await;
    let dir = t.0.clone();
    let gw = TestGateway::start(move |c| {
        target(c, "desk", backend);
        client_ca(c, &pki_clone(&dir));
        crate::auth::with_token(c, &dir);
        c.limits.lockout_failures = 3;
        c.limits.lockout_block = Duration::from_secs(600);
    })
    .await;
    for _ in 0..5 {
        let mut ws = gw.websocket("/ws/desk?otk=junk", None).await.expect("ws");
        close_reason(&mut ws).await;
    }
    let mut ws = gw.websocket("/ws/desk", None).await.expect("ws");
    let why = close_reason(&mut ws).await.unwrap_or_default();
    assert!(
        why.contains("too many failed attempts"),
        "the address is blocked: {why}"
    );
    let s = tls_as(gw.addr, Some(pki.identity("bob")), &[b"http/1.1"])
        .await
        .expect("tls");
    relays(&gw, s, "/ws/desk")
        .await
        .expect("bob's certificate is judged on its own");
    let (status, v) = crate::auth::issue_by_api(&gw, r#"{"target":"desk"}"#).await;
    assert_eq!(status, 201, "the admin token still works: {v}");
}

#[tokio::test]
async fn links_come_from_the_configured_url_never_from_host() {
    let t = TempDir::new("link-host");
    let backend = echo_backend().await;
    let dir = t.0.clone();
    let gw = TestGateway::start(move |c| {
        target(c, "desk", backend);
        crate::auth::with_token(c, &dir);
        c.web.public_url =
            Some(gateway::config::PublicUrl::parse("https://vnc.example.org:8443").expect("url"));
    })
    .await;
    let mut s = gw.tls().await;
    let body = r#"{"target":"desk"}"#;
    let r = http(
        &mut s,
        &format!(
            "POST /api/otk HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            crate::auth::TOKEN,
            body.len()
        ),
    )
    .await;
    assert_eq!(r.status, 201);
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    let link = v["link"].as_str().expect("link");
    assert!(
        link.starts_with("https://vnc.example.org:8443/#otk="),
        "{link}"
    );
}

#[tokio::test]
async fn request_heads_inside_tls_are_held_to_the_limit() {
    let gw = TestGateway::start(|_| {}).await;
    let mut s = gw.tls().await;
    let big = format!("X-Padding: {}\r\n", "a".repeat(100 * 1024));
    s.write_all(get(gw.addr, "/healthz", &big).as_bytes())
        .await
        .expect("send");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    let head = String::from_utf8_lossy(&buf);
    assert!(
        head.starts_with("HTTP/1.1 431"),
        "a 100 KiB head is refused: {head:?}"
    );
}

#[tokio::test]
async fn ended_keys_are_purged_by_the_running_gateway() {
    let t = TempDir::new("purge");
    let state = t.0.join("state");
    let now = gateway::otk::unix_now();
    {
        let store = gateway::otk::sqlite::SqliteStore::open_in(&state).expect("store");
        for (i, used_days_ago) in [(1u8, Some(30)), (2, None)] {
            let issued = gateway::otk::issue(
                &gateway::otk::KeyRequest {
                    target: "desk".into(),
                    ttl_secs: 86_400,
                    mode: gateway::auth::Mode::Full,
                    for_identity: None,
                    created_by: format!("test {i}"),
                },
                now - 40 * 86_400 * i64::from(used_days_ago.is_some()),
            )
            .expect("issue");
            let mut r = issued.record;
            r.used_at = used_days_ago.map(|d: i64| now - d * 86_400);
            store.insert(&r).expect("insert");
        }
        assert_eq!(store.list().expect("list").len(), 2);
    }
    let state2 = state.clone();
    let _gw = TestGateway::start(move |c| c.state_dir = state2).await;
    let store = gateway::otk::sqlite::SqliteStore::open_in(&state).expect("store");
    let mut left = Vec::new();
    for _ in 0..100 {
        left = store.list().expect("list");
        if left.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left.len(), 1, "the key used 30 days ago is forgotten");
    assert_eq!(left[0].created_by, "test 2", "the pending key stays");
}
