//! WebSocket relays through the whole gateway: both paths, subprotocols, refusals as close
//! reasons, and the origin check.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::support::{
    closed_port, echo_backend, get, http, read_binary, relay_to, TestGateway, RFB_VERSION,
};

#[tokio::test]
async fn relays_at_both_paths_with_binary_or_no_subprotocol() {
    let backend = echo_backend().await;
    let gw = TestGateway::start(|c| relay_to(c, "desk", backend)).await;
    for (path, proto) in [
        ("/ws/desk", None),
        ("/websockify?token=desk", Some("binary")),
        ("/websockify?token=desk", None),
    ] {
        let mut ws = gw.websocket(path, proto).await.expect("upgrade");
        assert_eq!(
            read_binary(&mut ws, RFB_VERSION.len()).await,
            RFB_VERSION,
            "{path}"
        );
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        ws.send(Message::Binary(payload.clone().into()))
            .await
            .expect("send");
        assert_eq!(read_binary(&mut ws, payload.len()).await, payload, "{path}");
        ws.close(None).await.expect("close");
    }
    // The relay counted the bytes.
    let mut s = gw.tls().await;
    let text =
        String::from_utf8(http(&mut s, &get(gw.addr, "/metrics", "")).await.body).expect("text");
    assert!(text.contains("vncgate_relays_total 3"), "{text}");
}

async fn close_reason(gw: &TestGateway, path: &str) -> (CloseCode, String) {
    let mut ws = gw
        .websocket(path, None)
        .await
        .expect("upgrade (refusals come after it)");
    loop {
        match tokio::time::timeout(Duration::from_secs(15), ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(f))))) => return (f.code, f.reason.to_string()),
            Ok(Some(Ok(_))) => {}
            other => panic!("{path}: expected a close frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn refusals_arrive_as_close_reasons_naming_the_problem() {
    let backend = echo_backend().await;
    let gw = TestGateway::start(|c| {
        let (n, a) = gateway::config::parse_target(&format!("desk={backend}")).expect("target");
        c.targets.insert(n, a);
    })
    .await;
    let (code, reason) = close_reason(&gw, "/ws/desk").await;
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.contains("no authentication configured"), "{reason}");

    let down = closed_port().await;
    let gw = TestGateway::start(|c| relay_to(c, "desk", down)).await;
    let (code, reason) = close_reason(&gw, "/ws/desk").await;
    assert_eq!(code, CloseCode::Again);
    assert!(
        reason.starts_with("target 'desk' is not reachable"),
        "{reason}"
    );
    assert!(
        !reason.contains(&down.to_string()),
        "the internal address stays inside: {reason}"
    );
    let (code, reason) = close_reason(&gw, "/websockify?token=elsewhere").await;
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.contains("unknown target 'elsewhere'"), "{reason}");
}

#[tokio::test]
async fn bad_upgrades_get_an_http_error() {
    let backend = echo_backend().await;
    let gw = TestGateway::start(|c| relay_to(c, "desk", backend)).await;
    let upgrade = |origin: &str, extra: &str, path: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Origin: {origin}\r\n{extra}\r\n",
            gw.addr
        )
    };
    let mut s = gw.tls().await;
    let r = http(&mut s, &upgrade("https://evil.example", "", "/ws/desk")).await;
    assert_eq!(r.status, 403);
    let mut s = gw.tls().await;
    let own = format!("https://{}", gw.addr);
    let r = http(
        &mut s,
        &upgrade(&own, "Sec-WebSocket-Protocol: base64\r\n", "/ws/desk"),
    )
    .await;
    assert_eq!(r.status, 400);
    let mut s = gw.tls().await;
    let r = http(&mut s, &upgrade(&own, "", "/websockify")).await;
    assert_eq!(r.status, 400);
    assert!(String::from_utf8_lossy(&r.body).contains("?token=NAME"));
    let mut s = gw.tls().await;
    let r = http(&mut s, &get(gw.addr, "/ws/desk", "")).await;
    assert_eq!(r.status, 400);
    // tungstenite sees the refusal as an HTTP error.
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("wss://{}/ws/desk", gw.addr),
    )
    .expect("request");
    req.headers_mut()
        .insert("Origin", "https://evil.example".parse().expect("hv"));
    let err = tokio_tungstenite::client_async(req, gw.tls().await)
        .await
        .expect_err("403");
    assert!(
        matches!(err, WsError::Http(ref r) if r.status() == 403),
        "{err}"
    );
}

#[tokio::test]
async fn the_target_closing_is_a_normal_close_after_all_its_bytes() {
    // A VNC server that sends 1 MB and hangs up.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 31 % 256) as u8).collect();
    let sent = data.clone();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        tokio::io::AsyncWriteExt::write_all(&mut s, &sent)
            .await
            .expect("write");
    });
    let gw = TestGateway::start(|c| relay_to(c, "desk", addr)).await;
    let mut ws = gw
        .websocket("/ws/desk", Some("binary"))
        .await
        .expect("upgrade");
    let mut got = Vec::new();
    let close = loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => got.extend_from_slice(&b),
            Some(Ok(Message::Close(f))) => break f.expect("reason"),
            other => panic!("{other:?}"),
        }
    };
    assert!(
        got == data,
        "all {} bytes, in order, before the close",
        data.len()
    );
    assert_eq!(close.code, CloseCode::Normal);
    assert_eq!(
        close.reason.as_str(),
        "the VNC server closed the connection"
    );
}
