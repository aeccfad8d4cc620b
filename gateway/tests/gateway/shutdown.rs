//! Graceful shutdown: no new connections, idle HTTP connections close at once, relays get
//! the grace period and then a close frame saying why.

use std::time::Duration;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{
    closes_within, echo_backend, get, http, read_binary, relay_to, TestGateway, RFB_VERSION,
};

#[tokio::test]
async fn relays_are_told_after_the_grace_period() {
    let backend = echo_backend().await;
    let mut gw = TestGateway::start(|c| {
        relay_to(c, "desk", backend);
        c.limits.shutdown_grace = Duration::from_millis(500);
    })
    .await;
    let mut ws = gw.websocket("/ws/desk", None).await.expect("upgrade");
    assert_eq!(read_binary(&mut ws, RFB_VERSION.len()).await, RFB_VERSION);
    gw.stop();
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Close(f)))) => break f.expect("a reason"),
            Ok(Some(Ok(_))) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.code, CloseCode::Away);
    assert_eq!(close.reason.as_str(), "the gateway is shutting down");
    let served = tokio::time::timeout(Duration::from_secs(5), &mut gw.served).await;
    served
        .expect("serve returns")
        .expect("joins")
        .expect("no error");
    assert!(
        tokio::net::TcpStream::connect(gw.addr).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn idle_http_connections_do_not_hold_up_the_shutdown() {
    let mut gw = TestGateway::start(|c| c.limits.shutdown_grace = Duration::from_secs(30)).await;
    let mut s = gw.tls().await;
    assert_eq!(
        http(&mut s, &get(gw.addr, "/healthz", "")).await.status,
        200
    );
    gw.stop();
    assert!(closes_within(&mut s, Duration::from_secs(5)).await);
    let served = tokio::time::timeout(Duration::from_secs(5), &mut gw.served).await;
    served
        .expect("serve returns well before the grace period")
        .expect("joins")
        .expect("ok");
}
