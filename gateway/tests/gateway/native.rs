//! Native VNC clients (they wait for the server to speak): refused by default, relayed inside
//! TLS to `native_vnc.in_tls`, in clear only to `native_vnc.danger_plain`.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{closes_within, echo_backend, relay_to, TestGateway, RFB_VERSION};

#[tokio::test]
async fn a_silent_plain_client_is_refused_by_default() {
    let backend = echo_backend().await;
    let gw = TestGateway::start(|c| relay_to(c, "desk", backend)).await;
    let mut s = gw.tcp().await;
    // Nothing is sent: after the detection time the gateway closes without a byte.
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("closed within the detection time")
        .unwrap_or(0);
    assert_eq!(n, 0, "nothing is relayed in clear");
}

#[tokio::test]
async fn a_silent_plain_client_reaches_the_target_when_allowed() {
    let backend = echo_backend().await;
    let gw = TestGateway::start(|c| {
        relay_to(c, "desk", backend);
        c.native_vnc.danger_plain = Some("desk".into());
    })
    .await;
    let mut s = gw.tcp().await;
    let mut version = [0u8; 12];
    s.read_exact(&mut version)
        .await
        .expect("the server speaks first");
    assert_eq!(&version, RFB_VERSION);
    s.write_all(b"RFB 003.008\n").await.expect("client version");
    s.read_exact(&mut version).await.expect("echoed");
    assert_eq!(&version, RFB_VERSION);
}

#[tokio::test]
async fn a_silent_client_inside_tls_reaches_the_native_target() {
    let backend = echo_backend().await;
    let gw = TestGateway::start(|c| {
        relay_to(c, "desk", backend);
        c.native_vnc.in_tls = Some("desk".into());
    })
    .await;
    // stunnel and ss_vncviewer offer no ALPN.
    let (mut s, seen) = gw.tls_over(gw.tcp().await, &[]).await.expect("TLS");
    assert_eq!(seen, gw.fingerprint);
    let mut version = [0u8; 12];
    s.read_exact(&mut version)
        .await
        .expect("the server speaks first");
    assert_eq!(&version, RFB_VERSION);
    let payload = vec![0xa5u8; 300_000];
    s.write_all(&payload).await.expect("send");
    let mut back = vec![0u8; payload.len()];
    s.read_exact(&mut back).await.expect("echoed");
    assert_eq!(back, payload);
}

#[tokio::test]
async fn a_silent_client_inside_tls_is_closed_without_a_native_target() {
    let backend = echo_backend().await;
    let gw = TestGateway::start(|c| relay_to(c, "desk", backend)).await;
    let (mut s, _) = gw.tls_over(gw.tcp().await, &[]).await.expect("TLS");
    assert!(closes_within(&mut s, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn garbage_is_closed() {
    let gw = TestGateway::start(|_| {}).await;
    let mut s = gw.tcp().await;
    s.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").await.expect("send");
    assert!(closes_within(&mut s, Duration::from_secs(5)).await);
}
