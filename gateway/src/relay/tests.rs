//! The relay's invariants, with both ends in memory: a tokio-tungstenite client (another
//! implementation of RFC 6455 than the gateway's) on one side of `pump_websocket`, a
//! `tokio::io::duplex` standing in for the VNC server on the other.

use super::*;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, DuplexStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

const PIPE_BYTES: usize = 64 * 1024;

/// A relay under test: the browser's WebSocket, the VNC server's end, the running pump.
struct Harness {
    browser: WebSocketStream<DuplexStream>,
    server: DuplexStream,
    relay: tokio::task::JoinHandle<(RelayStats, RelayEnd, Metrics)>,
}

async fn start(ping_interval: Option<Duration>) -> Harness {
    start_with_limit(ping_interval, 4 << 20).await
}

async fn start_with_limit(ping_interval: Option<Duration>, max_message: usize) -> Harness {
    let (browser_io, gateway_io) = tokio::io::duplex(PIPE_BYTES);
    let (backend_io, server) = tokio::io::duplex(PIPE_BYTES);
    let relay = tokio::spawn(async move {
        let mut ws = Browser::new(gateway_io, max_message);
        let metrics = Metrics::default();
        let mut opts = PumpOptions {
            ping_interval,
            metrics: &metrics,
            shutdown: Shutdown::never(),
            view_only: None,
            client_prefix: Vec::new(),
            cert: None,
            counters: Default::default(),
            killed: None,
        };
        let (stats, end) = pump_websocket(&mut ws, backend_io, &mut opts).await;
        (stats, end, metrics)
    });
    let browser = WebSocketStream::from_raw_socket(browser_io, Role::Client, None).await;
    Harness {
        browser,
        server,
        relay,
    }
}

/// A byte pattern that detects loss, duplication and reordering.
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64 * 7 + u64::from(seed) * 13 + (i as u64 >> 16)) as u8)
        .collect()
}

async fn one_relay_both_ways(seed: u8, bytes: usize) -> (RelayStats, RelayEnd) {
    let Harness {
        browser,
        server,
        relay,
    } = start(None).await;
    let up = pattern(seed, bytes);
    let down = pattern(seed.wrapping_add(100), bytes);
    let (mut sink, mut stream) = browser.split();
    let (mut server_r, mut server_w) = tokio::io::split(server);

    let up_sent = up.clone();
    let browser_send = async move {
        // Messages of varying size, as the viewer sends them.
        let (mut at, mut size) = (0, 1);
        while at < up_sent.len() {
            let end = (at + size).min(up_sent.len());
            let msg = Message::Binary(up_sent[at..end].to_vec().into());
            sink.send(msg).await.expect("browser sends");
            at = end;
            size = size * 3 % 70_001 + 1;
        }
        sink
    };
    let browser_receive = async move {
        let mut got = Vec::new();
        let close = loop {
            match stream.next().await {
                Some(Ok(Message::Binary(b))) => got.extend_from_slice(&b),
                Some(Ok(Message::Close(frame))) => break frame,
                Some(Ok(_)) => {}
                other => panic!("browser: unexpected {other:?}"),
            }
        };
        // Drive the stream until the close handshake finishes.
        while stream.next().await.is_some() {}
        (got, close)
    };
    let (read_all_tx, read_all_rx) = tokio::sync::oneshot::channel();
    let server_read = async move {
        let mut got = vec![0u8; up.len()];
        server_r.read_exact(&mut got).await.expect("server reads");
        assert!(got == up, "relay {seed}: browser→server bytes differ");
        let _ = read_all_tx.send(());
        let mut rest = Vec::new();
        server_r
            .read_to_end(&mut rest)
            .await
            .expect("server sees a clean end");
        assert!(rest.is_empty());
    };
    let down_sent = down.clone();
    let server_write = async move {
        for chunk in down_sent.chunks(10_007) {
            server_w.write_all(chunk).await.expect("server writes");
        }
        // Close only once everything from the browser is in: closing earlier may cut the
        // browser's last messages, which is allowed but not what this test is about.
        let _ = read_all_rx.await;
        server_w.shutdown().await.expect("server closes");
    };
    let (_sink, (got_down, close), (), ()) =
        tokio::join!(browser_send, browser_receive, server_read, server_write);
    assert!(
        got_down == down,
        "relay {seed}: server→browser bytes differ"
    );
    let close = close.expect("close frame with a reason");
    assert_eq!(close.code, CloseCode::Normal);
    assert_eq!(
        close.reason.as_str(),
        "the VNC server closed the connection"
    );
    let (stats, end, metrics) = relay.await.expect("relay joins");
    assert_eq!(
        metrics.bytes_to_client.load(Ordering::Relaxed),
        u64::try_from(bytes).expect("fits")
    );
    (stats, end)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_byte_is_lost_through_8_concurrent_relays() {
    const BYTES: usize = 3 << 20;
    let relays: Vec<_> = (0..8u8)
        .map(|seed| tokio::spawn(one_relay_both_ways(seed, BYTES)))
        .collect();
    for r in relays {
        let (stats, end) = r.await.expect("relay task");
        assert_eq!(end, RelayEnd::TargetClosed);
        assert_eq!(stats.to_target, BYTES as u64);
        assert_eq!(stats.to_client, BYTES as u64);
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_browser_stops_the_server_reads() {
    let Harness {
        browser,
        mut server,
        relay,
    } = start(None).await;
    // The browser reads nothing. The server writes until the relay stops taking bytes.
    let chunk = vec![0x5a; 16 * 1024];
    let mut written = 0usize;
    while let Ok(r) = tokio::time::timeout(Duration::from_secs(1), server.write_all(&chunk)).await {
        r.expect("server writes");
        written += chunk.len();
        assert!(written < 64 << 20, "the relay buffered without bound");
    }
    // Pipes (2 × 64 KiB), one read buffer and one message in flight:
    // buffer: well under a megabyte however much the server wants to send.
    assert!(
        written < 1 << 20,
        "held {written} bytes for a browser that reads nothing"
    );
    assert!(!relay.is_finished(), "a slow browser is not an error");
    // Once the browser reads, everything arrives.
    let (_sink, mut stream) = browser.split();
    let mut got = 0usize;
    while got < written {
        match stream.next().await {
            Some(Ok(Message::Binary(b))) => {
                assert!(b.iter().all(|&x| x == 0x5a));
                got += b.len();
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, written);
}

#[tokio::test]
async fn a_browser_close_is_a_clean_end_for_the_server() {
    let Harness {
        mut browser,
        mut server,
        relay,
    } = start(None).await;
    browser
        .send(Message::Binary(b"RFB 003.008\n".to_vec().into()))
        .await
        .expect("send");
    browser.close(None).await.expect("close");
    let mut got = Vec::new();
    server
        .read_to_end(&mut got)
        .await
        .expect("clean end of stream");
    assert_eq!(got, b"RFB 003.008\n");
    let (stats, end, _) = relay.await.expect("joins");
    assert_eq!(end, RelayEnd::ClientClosed);
    assert_eq!(stats.to_target, 12);
}

#[tokio::test]
async fn text_from_the_browser_is_an_error_on_its_side() {
    let Harness {
        mut browser,
        mut server,
        relay,
    } = start(None).await;
    browser
        .send(Message::Text("hi".into()))
        .await
        .expect("send");
    let mut got = Vec::new();
    server
        .read_to_end(&mut got)
        .await
        .expect("server still gets a clean end");
    let (_, end, _) = relay.await.expect("joins");
    assert_eq!(end.side(), Some(Side::Client));
    assert!(end.to_string().contains("text message"), "{end}");
}

#[tokio::test(start_paused = true)]
async fn pings_keep_a_live_browser_and_end_a_dead_one() {
    // A browser that reads (and so answers pings) outlives many intervals.
    let live = start(Some(Duration::from_secs(30))).await;
    let (_sink, mut stream) = live.browser.split();
    let reader = tokio::spawn(async move { while stream.next().await.is_some() {} });
    tokio::time::sleep(Duration::from_secs(300)).await;
    assert!(!live.relay.is_finished());
    reader.abort();
    drop(live.server);

    // A browser that never reads answers no ping: the relay ends after two intervals.
    let dead = start(Some(Duration::from_secs(30))).await;
    let (_, end, _) = dead.relay.await.expect("joins");
    assert_eq!(
        end,
        RelayEnd::ClientUnresponsive {
            after: Duration::from_secs(60)
        }
    );
    drop(dead.browser);
}

#[tokio::test(start_paused = true)]
async fn a_browser_that_takes_nothing_for_two_intervals_is_gone() {
    let Harness {
        browser,
        mut server,
        relay,
    } = start(Some(Duration::from_secs(30))).await;
    // The server has much to say; the browser never reads.
    let writer = tokio::spawn(async move {
        let chunk = vec![1u8; 64 * 1024];
        while server.write_all(&chunk).await.is_ok() {}
    });
    let (_, end, _) = relay.await.expect("joins");
    assert_eq!(
        end,
        RelayEnd::ClientUnresponsive {
            after: Duration::from_secs(60)
        }
    );
    writer.abort();
    drop(browser);
}

#[tokio::test]
async fn a_browser_ping_is_answered_with_its_payload_while_bytes_flow() {
    let Harness {
        browser,
        mut server,
        relay,
    } = start(None).await;
    let (mut sink, mut stream) = browser.split();
    sink.send(Message::Ping(b"still there?".to_vec().into()))
        .await
        .expect("ping");
    server
        .write_all(b"RFB 003.008\n")
        .await
        .expect("server writes");
    let (mut pong, mut data) = (None, Vec::new());
    while pong.is_none() || data.len() < 12 {
        match stream.next().await {
            Some(Ok(Message::Pong(p))) => pong = Some(p.to_vec()),
            Some(Ok(Message::Binary(b))) => data.extend_from_slice(&b),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(pong.as_deref(), Some(&b"still there?"[..]));
    assert_eq!(data, b"RFB 003.008\n");
    drop(server);
    let (_, end, _) = relay.await.expect("joins");
    assert_eq!(end, RelayEnd::TargetClosed);
}

#[tokio::test]
async fn a_message_over_the_limit_is_refused_with_code_1009_and_never_reaches_the_server() {
    let Harness {
        browser,
        mut server,
        relay,
    } = start_with_limit(None, 1000).await;
    let (mut sink, mut stream) = browser.split();
    sink.send(Message::Binary(vec![1u8; 999].into()))
        .await
        .expect("send");
    let _ = sink.send(Message::Binary(vec![2u8; 1001].into())).await;
    let close = loop {
        match stream.next().await {
            Some(Ok(Message::Close(c))) => break c.expect("a close frame with a code"),
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(close.code, CloseCode::Size);
    assert!(
        close.reason.contains("max_websocket_message_bytes"),
        "{}",
        close.reason
    );
    let mut got = Vec::new();
    server.read_to_end(&mut got).await.expect("clean end");
    assert_eq!(got, vec![1u8; 999]);
    let (_, end, _) = relay.await.expect("joins");
    assert_eq!(end.side(), Some(Side::Client));
}

#[tokio::test]
async fn a_quiet_target_costs_no_buffer_and_a_busy_one_is_read_in_full_frames() {
    use browser::{FrameBuf, QUIET_READ_BYTES};
    let busy = FRAME_PAYLOAD_BYTES;
    let source = pattern(7, QUIET_READ_BYTES + busy + 100);
    let mut from: &[u8] = &source;
    let mut frame = FrameBuf::quiet();
    assert_eq!(frame.held(), 0);
    // Quiet: a stack read of at most 4 KiB, which filled its room, so the next is full size.
    assert_eq!(
        frame.read_from(&mut from).await.expect("read"),
        QUIET_READ_BYTES
    );
    assert_eq!(frame.payload(), &source[..QUIET_READ_BYTES]);
    assert!(frame.is_full());
    frame.reset(busy);
    assert_eq!(frame.read_from(&mut from).await.expect("read"), busy);
    assert!(frame.is_full());
    let at = QUIET_READ_BYTES;
    assert_eq!(frame.payload(), &source[at..at + busy]);
    frame.reset(busy);
    // A short read: what came is sent, and the buffer goes.
    assert_eq!(frame.read_from(&mut from).await.expect("read"), 100);
    assert!(!frame.is_full());
    frame.reset(busy);
    assert_eq!(frame.held(), 0);
    assert_eq!(frame.read_from(&mut from).await.expect("end"), 0);
}

/// A VNC server that never sends and refuses what it is sent.
struct RefusingServer;

impl tokio::io::AsyncRead for RefusingServer {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        _: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Pending
    }
}

impl tokio::io::AsyncWrite for RefusingServer {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        _: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn a_failed_write_to_the_server_ends_the_relay_with_1011_and_no_panic() {
    let (browser_io, gateway_io) = tokio::io::duplex(PIPE_BYTES);
    let relay = tokio::spawn(async move {
        let mut ws = Browser::new(gateway_io, 4 << 20);
        let metrics = Metrics::default();
        let mut opts = PumpOptions {
            ping_interval: None,
            metrics: &metrics,
            shutdown: Shutdown::never(),
            view_only: None,
            client_prefix: Vec::new(),
            cert: None,
            counters: Default::default(),
            killed: None,
        };
        pump_websocket(&mut ws, RefusingServer, &mut opts).await
    });
    let mut browser = WebSocketStream::from_raw_socket(browser_io, Role::Client, None).await;
    browser
        .send(Message::Binary(b"RFB 003.008\n".to_vec().into()))
        .await
        .expect("send");
    let close = loop {
        match browser.next().await {
            Some(Ok(Message::Close(c))) => break c.expect("a close frame with a code"),
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(close.code, CloseCode::Error);
    let (_, end) = relay.await.expect("the relay ends without a panic");
    assert_eq!(end.side(), Some(Side::Target));
    assert!(end.to_string().contains("write"), "{end}");
}
