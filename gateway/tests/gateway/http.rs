//! HTTP in TLS (files, health, metrics) and plain HTTP on the TLS port (redirect or 400).

use std::io::Read;
use std::time::Duration;

use crate::support::{closes_within, get, http, TestGateway};

#[tokio::test]
async fn serves_the_viewer_with_security_headers_gzip_and_etag() {
    let gw = TestGateway::start(|_| {}).await;
    let mut s = gw.tls().await;
    let plain = http(&mut s, &get(gw.addr, "/", "")).await;
    assert_eq!(plain.status, 200);
    assert_eq!(
        plain.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(plain
        .header("content-security-policy")
        .is_some_and(|v| v.contains("frame-ancestors 'none'")));
    assert_eq!(plain.header("x-content-type-options"), Some("nosniff"));
    assert!(plain.header("strict-transport-security").is_some());
    assert_eq!(plain.header("cache-control"), Some("no-cache"));
    let etag = plain.header("etag").expect("an ETag").to_owned();

    // Same connection (keep-alive): a revalidation gets 304 and no body.
    let again = http(
        &mut s,
        &get(gw.addr, "/", &format!("If-None-Match: {etag}\r\n")),
    )
    .await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());

    let head = http(
        &mut s,
        &format!("HEAD / HTTP/1.1\r\nHost: {}\r\n\r\n", gw.addr),
    )
    .await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());

    let missing = http(&mut s, &get(gw.addr, "/nothing.js", "")).await;
    assert_eq!(missing.status, 404);
    let traversal = http(&mut s, &get(gw.addr, "/../Cargo.toml", "")).await;
    assert_eq!(traversal.status, 404);
    let post = http(
        &mut s,
        &format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\n\r\n",
            gw.addr
        ),
    )
    .await;
    assert_eq!(post.status, 405);
}

#[tokio::test]
async fn web_root_files_are_served_gzipped_when_accepted() {
    let web = crate::support::TempDir::new("web");
    std::fs::write(
        web.0.join("index.html"),
        "<!doctype html><title>custom</title>",
    )
    .expect("write");
    let script = "console.log('vncgate');\n".repeat(500);
    std::fs::write(web.0.join("app.js"), &script).expect("write");
    let root = web.0.clone();
    let gw = TestGateway::start(move |c| c.web_root = Some(root)).await;
    let mut s = gw.tls().await;
    let r = http(&mut s, &get(gw.addr, "/", "")).await;
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("custom"));

    let plain = http(&mut s, &get(gw.addr, "/app.js", "")).await;
    assert_eq!(plain.body, script.as_bytes());
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"));
    let gz = http(
        &mut s,
        &get(gw.addr, "/app.js", "Accept-Encoding: br, gzip\r\n"),
    )
    .await;
    assert_eq!(gz.status, 200);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(
        gz.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert!(gz.body.len() < script.len() / 10, "{} bytes", gz.body.len());
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_end(&mut out)
        .expect("gzip");
    assert_eq!(out, script.as_bytes());
    let gz_etag = gz.header("etag").expect("etag").to_owned();
    assert_ne!(Some(gz_etag.as_str()), plain.header("etag"));
    let again = http(
        &mut s,
        &get(
            gw.addr,
            "/app.js",
            &format!("Accept-Encoding: gzip\r\nIf-None-Match: {gz_etag}\r\n"),
        ),
    )
    .await;
    assert_eq!(again.status, 304);
    // Declined with q=0: sent as it is.
    let no = http(
        &mut s,
        &get(gw.addr, "/app.js", "Accept-Encoding: gzip;q=0\r\n"),
    )
    .await;
    assert_eq!(no.header("content-encoding"), None);
}

#[tokio::test]
async fn health_and_metrics() {
    let gw = TestGateway::start(|_| {}).await;
    let mut s = gw.tls().await;
    let health = http(&mut s, &get(gw.addr, "/healthz", "")).await;
    assert_eq!((health.status, &health.body[..]), (200, &b"ok\n"[..]));
    let m = http(&mut s, &get(gw.addr, "/metrics", "")).await;
    assert_eq!(m.status, 200);
    assert!(m
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")));
    let text = String::from_utf8(m.body).expect("text");
    for name in [
        "vncgate_connections_total 1",
        "vncgate_connections_open 1",
        "vncgate_detected_total{result=\"tls\"} 1",
        "vncgate_detected_total{result=\"tls_http\"} 1",
        "vncgate_tls_handshake_failures_total{reason=\"timeout\"} 0",
        "vncgate_relay_bytes_total{direction=\"to_target\"} 0",
        "vncgate_relay_errors_total{side=\"client\"} 0",
        "vncgate_build_info{version=\"",
        "crypto=\"ring\"} 1",
    ] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }

    // Only the configured scrapers may read them.
    let gw = TestGateway::start(|c| c.metrics_from = gateway::config::CidrSet::default()).await;
    let mut s = gw.tls().await;
    assert_eq!(
        http(&mut s, &get(gw.addr, "/metrics", "")).await.status,
        404
    );
}

#[tokio::test]
async fn plain_http_is_redirected_to_https_on_the_same_port() {
    let gw = TestGateway::start(|_| {}).await;
    let mut s = gw.tcp().await;
    let r = http(
        &mut s,
        &get(gw.addr, "/pkg/app.js?x=1", "User-Agent: curl/8\r\n"),
    )
    .await;
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some(format!("https://{}/pkg/app.js?x=1", gw.addr).as_str())
    );
    assert_eq!(r.header("connection"), Some("close"));
    assert!(closes_within(&mut s, Duration::from_secs(2)).await);

    for bad in [
        "GET / HTTP/1.1\r\nHost: evil.example/x\r\n\r\n".to_owned(),
        "GET / HTTP/1.1\r\n\r\n".to_owned(),
        format!("POST / HTTP/1.1\r\nHost: {}\r\n\r\n", gw.addr),
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_owned(),
    ] {
        let mut s = gw.tcp().await;
        let r = http(&mut s, &bad).await;
        assert_eq!(r.status, 400, "{bad:?}");
        assert!(String::from_utf8_lossy(&r.body).contains("https://"));
    }
}

#[tokio::test]
async fn an_endless_plain_request_head_is_cut() {
    let gw = TestGateway::start(|c| c.limits.max_http_header_bytes = 512).await;
    let mut s = gw.tcp().await;
    let long = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(2000));
    let r = http(&mut s, &long).await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn tls_without_alpn_still_reaches_http() {
    let gw = TestGateway::start(|_| {}).await;
    let (mut s, _) = gw.tls_over(gw.tcp().await, &[]).await.expect("TLS");
    let r = http(&mut s, &get(gw.addr, "/healthz", "")).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn idle_and_slow_http_connections_are_closed() {
    let gw = TestGateway::start(|c| c.limits.http_header_timeout = Duration::from_secs(1)).await;
    // Idle after a request (keep-alive).
    let mut s = gw.tls().await;
    assert_eq!(
        http(&mut s, &get(gw.addr, "/healthz", "")).await.status,
        200
    );
    assert!(
        closes_within(&mut s, Duration::from_secs(3)).await,
        "idle keep-alive closed"
    );
    // A head trickled in too slowly (slowloris).
    let mut s = gw.tls().await;
    tokio::io::AsyncWriteExt::write_all(&mut s, b"GET / HTTP/1.1\r\n")
        .await
        .expect("send");
    assert!(
        closes_within(&mut s, Duration::from_secs(3)).await,
        "slow head closed"
    );
}
