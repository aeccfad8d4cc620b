//! The served certificate changes without a restart: on the reload signal (SIGHUP) and when
//! the files change; a broken file leaves the previous certificate serving.

use std::time::Duration;

use certs::Fingerprint;

use crate::support::{write_cert, TestGateway};

/// The fingerprint new connections see, once it differs from `old` (or after 10 s).
async fn served_after_change(gw: &TestGateway, old: Fingerprint) -> Fingerprint {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, seen) = gw
            .tls_over(gw.tcp().await, &[b"http/1.1"])
            .await
            .expect("TLS");
        if seen != old || tokio::time::Instant::now() > deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn reload_on_signal_keeps_the_old_certificate_when_the_new_one_is_broken() {
    let gw = TestGateway::start(|c| c.limits.cert_poll_interval = Duration::from_secs(3600)).await;
    let (mut open, seen) = gw
        .tls_over(gw.tcp().await, &[b"http/1.1"])
        .await
        .expect("TLS");
    assert_eq!(seen, gw.fingerprint);

    let second = write_cert(&gw.dir.0);
    gw.reload.send(()).await.expect("reload");
    assert_eq!(served_after_change(&gw, gw.fingerprint).await, second);

    // A key that is not a key: the reload fails and the second certificate stays.
    std::fs::write(
        gw.dir.0.join("server.key"),
        "-----BEGIN PRIVATE KEY-----\nnope\n",
    )
    .expect("break");
    gw.reload.send(()).await.expect("reload");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, seen) = gw
        .tls_over(gw.tcp().await, &[b"http/1.1"])
        .await
        .expect("still serving");
    assert_eq!(seen, second);

    // The connection opened before the reloads still works.
    let r = crate::support::http(&mut open, &crate::support::get(gw.addr, "/healthz", "")).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn changed_files_are_picked_up_by_polling() {
    let gw = TestGateway::start(|c| c.limits.cert_poll_interval = Duration::from_millis(100)).await;
    let second = write_cert(&gw.dir.0);
    assert_eq!(served_after_change(&gw, gw.fingerprint).await, second);
}
