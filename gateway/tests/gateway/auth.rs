//! Authentication in-process: client certificates (verified, revoked, expired, foreign,
//! missing; the access list; native clients to their default target; CRL reload), one-time
//! keys (once only, wrong target, the API), the lockout, and the audit log.

use std::time::Duration;

use futures_util::SinkExt;
use gateway::auth::client_ca::{ClientAuth, ClientCaFiles};
use gateway::config::{AclSection, Origin};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use crate::pki::{tls_as, Pki};
use crate::support::{
    close_reason, echo_backend, get, http, read_binary, TempDir, TestGateway, RFB_VERSION,
};

fn target(c: &mut gateway::Config, name: &str, addr: std::net::SocketAddr) {
    let (n, a) = gateway::config::parse_target(&format!("{name}={addr}")).expect("target");
    c.targets.insert(n, a);
}

fn client_ca(c: &mut gateway::Config, pki: &Pki, mode: ClientAuth) {
    c.access.client_ca = Some(ClientCaFiles {
        ca: pki.ca(),
        crls: vec![pki.crl()],
        mode,
    });
    c.limits.cert_poll_interval = Duration::from_millis(200);
}

fn acl(c: &mut gateway::Config, toml_text: &str) {
    let section: AclSection = toml::from_str(toml_text).expect("acl toml");
    let origin = Origin::Flag("test");
    c.access.acl =
        Some(gateway::config::auth::acl(section, &c.targets, &origin).expect("valid acl"));
}

/// Whether a TLS connection as `name` can open a relay to `path` and get the RFB version.
async fn relays_as(
    gw: &TestGateway,
    pki: &Pki,
    name: Option<&str>,
    path: &str,
) -> Result<(), String> {
    let s = tls_as(gw.addr, name.map(|n| pki.identity(n)), &[b"http/1.1"])
        .await
        .map_err(|e| format!("tls: {e}"))?;
    let mut ws = gw
        .websocket_over(s, path)
        .await
        .map_err(|e| format!("ws: {e}"))?;
    match tokio::time::timeout(
        Duration::from_secs(10),
        futures_util::StreamExt::next(&mut ws),
    )
    .await
    {
        Ok(Some(Ok(Message::Binary(b)))) if b.as_ref() == RFB_VERSION => Ok(()),
        Ok(Some(Ok(Message::Close(f)))) => Err(f.map(|f| f.reason.to_string()).unwrap_or_default()),
        other => Err(format!("{other:?}")),
    }
}

fn metric(text: &str, line_start: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(line_start)
                .map(|v| v.trim().parse().unwrap_or(u64::MAX))
        })
        .unwrap_or_else(|| panic!("no metric {line_start} in\n{text}"))
}

#[tokio::test]
async fn client_certificates_are_verified_and_each_refusal_is_counted() {
    let t = TempDir::new("mtls");
    let pki = Pki::new(&t.0.join("pki"), "Clients CA");
    let foreign = Pki::new(&t.0.join("foreign"), "Stranger CA");
    pki.client("alice", Some("alice@example.com"));
    pki.client("mallory", None);
    pki.revoke("mallory");
    pki.expired_client("old");
    foreign.client("eve", None);
    let backend = echo_backend().await;
    let gw = TestGateway::start(|c| {
        target(c, "desk", backend);
        client_ca(c, &pki, ClientAuth::Optional);
    })
    .await;
    relays_as(&gw, &pki, Some("alice"), "/ws/desk")
        .await
        .expect("alice is let in");
    assert!(
        relays_as(&gw, &pki, Some("mallory"), "/ws/desk")
            .await
            .is_err(),
        "revoked"
    );
    assert!(
        relays_as(&gw, &pki, Some("old"), "/ws/desk").await.is_err(),
        "expired"
    );
    assert!(
        relays_as(&gw, &foreign, Some("eve"), "/ws/desk")
            .await
            .is_err(),
        "foreign CA"
    );
    let why = relays_as(&gw, &pki, None, "/ws/desk")
        .await
        .expect_err("no credentials");
    assert!(why.contains("client certificate or a one-time"), "{why}");
    let m = gw.metrics().await;
    let refused = "vncgate_client_certificates_refused_total{reason=";
    assert_eq!(metric(&m, &format!("{refused}\"revoked\"}}")), 1);
    assert_eq!(metric(&m, &format!("{refused}\"expired\"}}")), 1);
    assert_eq!(metric(&m, &format!("{refused}\"unknown_ca\"}}")), 1);
    assert_eq!(
        metric(
            &m,
            "vncgate_auth_failures_total{credential=\"client_certificate\"}"
        ),
        3
    );
    assert_eq!(
        metric(
            &m,
            "vncgate_relays_refused_total{reason=\"credentials_missing\"}"
        ),
        1
    );

    // Required: without a certificate there is no TLS connection at all.
    let strict = TestGateway::start(|c| {
        target(c, "desk", backend);
        client_ca(c, &pki, ClientAuth::Required);
    })
    .await;
    assert!(relays_as(&strict, &pki, None, "/ws/desk").await.is_err());
    relays_as(&strict, &pki, Some("alice"), "/ws/desk")
        .await
        .expect("alice");
    let m = strict.metrics_as(&pki, "alice").await;
    assert_eq!(
        metric(
            &m,
            "vncgate_client_certificates_refused_total{reason=\"missing\"}"
        ),
        1
    );
}

#[tokio::test]
async fn a_crl_written_while_running_is_enforced() {
    let t = TempDir::new("crl-reload");
    let pki = Pki::new(&t.0.join("pki"), "Clients CA");
    pki.client("bob", None);
    let backend = echo_backend().await;
    let gw = TestGateway::start(|c| {
        target(c, "desk", backend);
        client_ca(c, &pki, ClientAuth::Optional);
    })
    .await;
    relays_as(&gw, &pki, Some("bob"), "/ws/desk")
        .await
        .expect("before");
    // A session bob keeps open meanwhile.
    let s = tls_as(gw.addr, Some(pki.identity("bob")), &[b"http/1.1"])
        .await
        .expect("tls");
    let mut open = gw.websocket_over(s, "/ws/desk").await.expect("ws");
    assert_eq!(read_binary(&mut open, RFB_VERSION.len()).await, RFB_VERSION);
    pki.revoke("bob");
    let mut refused = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if relays_as(&gw, &pki, Some("bob"), "/ws/desk").await.is_err() {
            refused = true;
            break;
        }
    }
    assert!(refused, "the new CRL was not picked up");
    // The open session is ended too, saying why.
    let reason = tokio::time::timeout(Duration::from_secs(10), close_reason(&mut open))
        .await
        .expect("the open session ended");
    assert!(
        reason.as_deref().is_some_and(|r| r.contains("revoked")),
        "{reason:?}"
    );
}

#[tokio::test]
async fn the_access_list_gives_targets_modes_and_native_defaults() {
    let t = TempDir::new("acl");
    let pki = Pki::new(&t.0.join("pki"), "Clients CA");
    pki.client("alice", Some("alice@example.com"));
    pki.client("carol", None);
    let (desk, lab) = (echo_backend().await, echo_backend().await);
    let gw = TestGateway::start(|c| {
        target(c, "desk", desk);
        target(c, "lab", lab);
        client_ca(c, &pki, ClientAuth::Optional);
        acl(
            c,
            r#"
            groups = { ops = ["email:alice@example.com"] }
            [[allow]]
            who = ["group:ops"]
            targets = ["*"]
            default_target = "lab"
            [[allow]]
            who = ["cn:carol"]
            targets = ["desk"]
            "#,
        );
    })
    .await;
    relays_as(&gw, &pki, Some("alice"), "/ws/lab")
        .await
        .expect("alice: all");
    relays_as(&gw, &pki, Some("carol"), "/ws/desk")
        .await
        .expect("carol: desk");
    let why = relays_as(&gw, &pki, Some("carol"), "/websockify?token=lab")
        .await
        .expect_err("carol: not lab");
    assert!(why.contains("carol may not use target 'lab'"), "{why}");

    // A native client (stunnel) inside TLS goes to the certificate's default target.
    let mut s = tls_as(gw.addr, Some(pki.identity("alice")), &[])
        .await
        .expect("tls");
    let mut version = [0u8; 12];
    s.read_exact(&mut version)
        .await
        .expect("the server speaks first");
    assert_eq!(&version, RFB_VERSION);
    s.write_all(b"ping").await.expect("send");
    let mut back = [0u8; 4];
    s.read_exact(&mut back).await.expect("echo");
    assert_eq!(&back, b"ping");
    // Carol has no default target and none is configured: closed.
    let mut s = tls_as(gw.addr, Some(pki.identity("carol")), &[])
        .await
        .expect("tls");
    assert_eq!(s.read(&mut version).await.unwrap_or(0), 0);
}

/// Issues a key through the API with the admin token; returns (id, key).
pub(crate) async fn issue_by_api(gw: &TestGateway, body: &str) -> (u16, serde_json::Value) {
    let mut s = gw.tls().await;
    let req = format!(
        "POST /api/otk HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        gw.addr,
        body.len()
    );
    let r = http(&mut s, &req).await;
    (
        r.status,
        serde_json::from_slice(&r.body).unwrap_or_default(),
    )
}

pub(crate) const TOKEN: &str = "test-admin-token-0123456789";

pub(crate) fn with_token(c: &mut gateway::Config, dir: &std::path::Path) {
    let p = dir.join("admin-token");
    std::fs::write(&p, format!("{TOKEN}\n")).expect("token");
    c.access.admin_token_file = Some(p);
}

#[tokio::test]
async fn one_time_keys_admit_once_through_the_api() {
    let t = TempDir::new("otk");
    let backend = echo_backend().await;
    let dir = t.0.clone();
    let audit = t.0.join("audit.jsonl");
    let audit2 = audit.clone();
    let gw = TestGateway::start(move |c| {
        target(c, "desk", backend);
        target(c, "lab", backend);
        with_token(c, &dir);
        c.audit_log = Some(audit2);
        c.web.public_url =
            Some(gateway::config::PublicUrl::parse("https://vnc.example.org").expect("url"));
    })
    .await;
    let (status, v) = issue_by_api(
        &gw,
        r#"{"target":"desk","ttl_seconds":60,"view_only":false}"#,
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let key = v["key"].as_str().expect("key").to_owned();
    let link = v["link"].as_str().expect("link");
    assert_eq!(
        link,
        format!("https://vnc.example.org/#otk={key}&target=desk")
    );

    // Another target does not use it up; then it works once; then it was used.
    let mut ws = gw
        .websocket(&format!("/ws/lab?otk={key}"), None)
        .await
        .expect("ws");
    assert!(close_reason(&mut ws)
        .await
        .unwrap_or_default()
        .contains("another target"));
    let mut ws = gw
        .websocket(&format!("/ws/desk?otk={key}"), None)
        .await
        .expect("ws");
    assert_eq!(read_binary(&mut ws, 12).await, RFB_VERSION);
    ws.send(Message::Binary(b"abc".to_vec().into()))
        .await
        .expect("send");
    assert_eq!(read_binary(&mut ws, 3).await, b"abc");
    ws.close(None).await.expect("close");
    drop(ws);
    let mut ws = gw
        .websocket(&format!("/websockify?token=desk&otk={key}"), None)
        .await
        .expect("ws");
    let why = close_reason(&mut ws).await.unwrap_or_default();
    assert!(why.contains("already used"), "{why}");

    // Targets: none for strangers, the key's for a key holder, all for the admin.
    let mut s = gw.tls().await;
    let r = http(&mut s, &get(gw.addr, "/api/targets", "")).await;
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&r.body).expect("json")["targets"],
        serde_json::json!([])
    );
    let (_, v2) = issue_by_api(&gw, r#"{"target":"lab"}"#).await;
    let k2 = v2["key"].as_str().expect("key").to_owned();
    let mut s = gw.tls().await;
    let r = http(&mut s, &get(gw.addr, &format!("/api/targets?otk={k2}"), "")).await;
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&r.body).expect("json")["targets"],
        serde_json::json!(["lab"])
    );
    let auth = format!("Authorization: Bearer {TOKEN}\r\n");
    let mut s = gw.tls().await;
    let r = http(&mut s, &get(gw.addr, "/api/targets", &auth)).await;
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&r.body).expect("json")["targets"],
        serde_json::json!(["desk", "lab"])
    );

    // Revoke the pending one; revoking again conflicts.
    let id = v2["id"].as_str().expect("id");
    for want in [204, 409] {
        let mut s = gw.tls().await;
        let req = format!(
            "DELETE /api/otk/{id} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Length: 0\r\n\r\n",
            gw.addr
        );
        assert_eq!(http(&mut s, &req).await.status, want);
    }
    let mut ws = gw
        .websocket(&format!("/ws/lab?otk={k2}"), None)
        .await
        .expect("ws");
    assert!(close_reason(&mut ws)
        .await
        .unwrap_or_default()
        .contains("revoked"));

    // Without the token: refused; a wrong token counts as a failure.
    let mut s = gw.tls().await;
    let body = r#"{"target":"desk"}"#;
    let req = format!("POST /api/otk HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", gw.addr, body.len());
    assert_eq!(http(&mut s, &req).await.status, 403);
    let mut s = gw.tls().await;
    let req = format!("POST /api/otk HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer nope\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", gw.addr, body.len());
    assert_eq!(http(&mut s, &req).await.status, 401);
    // From another site's page: refused before anything else.
    let mut s = gw.tls().await;
    let req = format!("POST /api/otk HTTP/1.1\r\nHost: {}\r\nOrigin: https://evil.example\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", gw.addr, body.len());
    assert_eq!(http(&mut s, &req).await.status, 403);

    // The audit log has the session, with the key's id and never the key.
    let mut text = String::new();
    for _ in 0..50 {
        text = std::fs::read_to_string(&audit).unwrap_or_default();
        if text.contains("\"outcome\":\"ended\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !text.contains(&key) && !text.contains(&k2),
        "no key in the audit log"
    );
    let ended: serde_json::Value = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["outcome"] == "ended")
        .expect("an ended session");
    assert_eq!(ended["key_id"], v["id"]);
    assert_eq!(ended["target"], "desk");
    assert_eq!(ended["mode"], "full");
    assert_eq!(ended["bytes_to_target"], 3);
    assert_eq!(ended["bytes_to_client"], 15);
    assert!(text.contains("already used"), "refusals are audited too");
}

#[tokio::test]
async fn repeated_failures_block_the_address_without_using_keys() {
    let t = TempDir::new("lockout");
    let backend = echo_backend().await;
    let dir = t.0.clone();
    let gw = TestGateway::start(move |c| {
        target(c, "desk", backend);
        with_token(c, &dir);
        c.limits.lockout_failures = 3;
        c.limits.lockout_block = Duration::from_secs(2);
    })
    .await;
    let (_, v) = issue_by_api(&gw, r#"{"target":"desk"}"#).await;
    let key = v["key"].as_str().expect("key").to_owned();
    for _ in 0..3 {
        let mut ws = gw
            .websocket("/ws/desk?otk=not-a-real-key", None)
            .await
            .expect("ws");
        assert!(close_reason(&mut ws)
            .await
            .unwrap_or_default()
            .contains("not valid"));
    }
    let mut ws = gw
        .websocket(&format!("/ws/desk?otk={key}"), None)
        .await
        .expect("ws");
    let why = close_reason(&mut ws).await.unwrap_or_default();
    assert!(why.contains("too many failed attempts"), "{why}");
    let m = gw.metrics().await;
    assert_eq!(metric(&m, "vncgate_lockout_blocked_addresses"), 1);
    assert_eq!(metric(&m, "vncgate_lockout_blocks_total"), 1);
    assert_eq!(
        metric(
            &m,
            "vncgate_auth_failures_total{credential=\"one_time_key\"}"
        ),
        3
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let mut ws = gw
        .websocket(&format!("/ws/desk?otk={key}"), None)
        .await
        .expect("ws");
    assert_eq!(
        read_binary(&mut ws, 12).await,
        RFB_VERSION,
        "the key was not used up while blocked"
    );
}
