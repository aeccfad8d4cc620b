//! PROXY protocol: required from trusted proxies (and giving the client's address to the
//! per-address limit and the metrics check), refused from everyone else.

use std::time::Duration;

use gateway::config::{Cidr, CidrSet};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::support::{closes_within, get, http, TestGateway};

fn v2_tcp4(src: [u8; 4], sport: u16) -> Vec<u8> {
    let mut h = gateway::proxy_protocol::V2_SIGNATURE.to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&[127, 0, 0, 1]);
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&8443u16.to_be_bytes());
    h
}

async fn with_header(gw: &TestGateway, header: &[u8]) -> TcpStream {
    let mut s = gw.tcp().await;
    s.write_all(header).await.expect("PROXY header");
    s
}

fn cidrs(list: &[&str]) -> CidrSet {
    CidrSet(
        list.iter()
            .map(|c| c.parse::<Cidr>().expect("cidr"))
            .collect(),
    )
}

#[tokio::test]
async fn trusted_proxies_give_the_client_address_to_limits_and_metrics() {
    let gw = TestGateway::start(|c| {
        c.proxy_protocol_from = cidrs(&["127.0.0.1"]);
        c.metrics_from = cidrs(&["192.0.2.10"]);
        c.limits.max_connections_per_address = 1;
    })
    .await;
    // Client 192.0.2.9 (v1) keeps a connection open.
    let a = with_header(&gw, b"PROXY TCP4 192.0.2.9 127.0.0.1 40000 8443\r\n").await;
    let (mut a, seen) = gw
        .tls_over(a, &[b"http/1.1"])
        .await
        .expect("TLS after the header");
    assert_eq!(seen, gw.fingerprint);
    let r = http(&mut a, &get(gw.addr, "/metrics", "")).await;
    assert_eq!(r.status, 404, "192.0.2.9 may not read metrics");

    // A second connection from 192.0.2.9 is over its limit, though it comes from 127.0.0.1 too.
    let b = with_header(&gw, b"PROXY TCP4 192.0.2.9 127.0.0.1 40001 8443\r\n").await;
    assert!(gw.tls_over(b, &[b"http/1.1"]).await.is_err(), "refused");

    // Client 192.0.2.10 (v2) is a different address, and may read metrics.
    let c = with_header(&gw, &v2_tcp4([192, 0, 2, 10], 40002)).await;
    let (mut c, _) = gw.tls_over(c, &[b"http/1.1"]).await.expect("TLS");
    let r = http(&mut c, &get(gw.addr, "/metrics", "")).await;
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body).expect("text");
    assert!(
        text.contains(
            "vncgate_connections_refused_total{reason=\"max_connections_per_address\"} 1"
        ),
        "{text}"
    );
    drop(a);
}

#[tokio::test]
async fn a_trusted_proxy_must_send_the_header() {
    let gw = TestGateway::start(|c| c.proxy_protocol_from = cidrs(&["127.0.0.0/8"])).await;
    // Straight TLS from a trusted address: its ClientHello is not a PROXY header.
    assert!(gw.tls_over(gw.tcp().await, &[b"http/1.1"]).await.is_err());
    // A malformed header.
    let mut s = with_header(&gw, b"PROXY TCP4 192.0.2.9 127.0.0.1 040000 8443\r\n").await;
    assert!(closes_within(&mut s, Duration::from_secs(5)).await);
    // LOCAL (a health check) uses the connection's own address: loopback may read metrics.
    let mut local = gateway::proxy_protocol::V2_SIGNATURE.to_vec();
    local.extend_from_slice(&[0x20, 0x00, 0, 0]);
    let s = with_header(&gw, &local).await;
    let (mut s, _) = gw.tls_over(s, &[b"http/1.1"]).await.expect("TLS");
    assert_eq!(
        http(&mut s, &get(gw.addr, "/metrics", "")).await.status,
        200
    );
}

#[tokio::test]
async fn untrusted_peers_may_not_send_a_header() {
    let gw = TestGateway::start(|_| {}).await;
    for header in [
        b"PROXY TCP4 192.0.2.9 127.0.0.1 40000 8443\r\n".to_vec(),
        v2_tcp4([192, 0, 2, 9], 40000),
    ] {
        let s = with_header(&gw, &header).await;
        assert!(gw.tls_over(s, &[b"http/1.1"]).await.is_err(), "refused");
    }
    let mut s = gw.tls().await;
    let text =
        String::from_utf8(http(&mut s, &get(gw.addr, "/metrics", "")).await.body).expect("text");
    assert!(
        text.contains("vncgate_connections_refused_total{reason=\"proxy_header_untrusted\"} 2"),
        "{text}"
    );
}
