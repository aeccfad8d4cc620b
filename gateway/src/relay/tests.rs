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
    let relay = spawn_pump(
        gateway_io,
        backend_io,
        max_message,
        ping_interval,
        None,
        None,
    );
    let browser = WebSocketStream::from_raw_socket(browser_io, Role::Client, None).await;
    Harness {
        browser,
        server,
        relay,
    }
}

/// Runs `pump_websocket` between the gateway's end of a browser's connection and a target.
fn spawn_pump<S, B>(
    gateway_io: S,
    backend: B,
    max_message: usize,
    ping_interval: Option<Duration>,
    view_only: Option<view_only::ViewOnly>,
    killed: Option<crate::sessions::KillWatch>,
) -> tokio::task::JoinHandle<(RelayStats, RelayEnd, Metrics)>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    B: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut ws = Browser::new(gateway_io, max_message);
        let metrics = Metrics::default();
        let mut opts = PumpOptions {
            ping_interval,
            metrics: &metrics,
            shutdown: Shutdown::never(),
            view_only,
            client_prefix: Vec::new(),
            cert: None,
            counters: Default::default(),
            killed,
        };
        let (stats, end) = pump_websocket(&mut ws, backend, &mut opts).await;
        (stats, end, metrics)
    })
}

/// Reads the browser's side until the gateway's close frame.
async fn close_frame(
    stream: &mut (impl futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
              + Unpin),
) -> tokio_tungstenite::tungstenite::protocol::CloseFrame {
    loop {
        match stream.next().await {
            Some(Ok(Message::Close(c))) => break c.expect("a close frame with a code"),
            Some(Ok(_)) => {}
            other => panic!("the browser wanted a close frame, got {other:?}"),
        }
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
    let close = close_frame(&mut browser).await;
    assert_eq!(close.code, CloseCode::Unsupported);
    // The browser answers and the gateway ends the connection.
    while browser.next().await.is_some() {}
    drop(browser);
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
    let close = close_frame(&mut stream).await;
    assert_eq!(close.code, CloseCode::Normal);
    while stream.next().await.is_some() {}
    drop((sink, stream));
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
    let close = close_frame(&mut stream).await;
    assert_eq!(close.code, CloseCode::Size);
    assert!(
        close.reason.contains("max_websocket_message_bytes"),
        "{}",
        close.reason
    );
    let mut got = Vec::new();
    server.read_to_end(&mut got).await.expect("clean end");
    assert_eq!(got, vec![1u8; 999]);
    while stream.next().await.is_some() {}
    drop((sink, stream));
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
    let relay = spawn_pump(gateway_io, RefusingServer, 4 << 20, None, None, None);
    let mut browser = WebSocketStream::from_raw_socket(browser_io, Role::Client, None).await;
    browser
        .send(Message::Binary(b"RFB 003.008\n".to_vec().into()))
        .await
        .expect("send");
    let close = close_frame(&mut browser).await;
    assert_eq!(close.code, CloseCode::Error);
    while browser.next().await.is_some() {}
    drop(browser);
    let (_, end, _) = relay.await.expect("the relay ends without a panic");
    assert_eq!(end.side(), Some(Side::Target));
    assert!(end.to_string().contains("write"), "{end}");
}

/// A ServerInit of a 64×48 desktop in 32-bit true colour.
fn server_init() -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&64u16.to_be_bytes());
    v.extend_from_slice(&48u16.to_be_bytes());
    rfb::PixelFormat::RGBX_LE.write(&mut v);
    v.extend_from_slice(&4u32.to_be_bytes());
    v.extend_from_slice(b"test");
    v
}

#[tokio::test]
async fn a_view_only_refusal_of_the_browsers_input_is_a_1008_close_that_names_it() {
    let (browser_io, gateway_io) = tokio::io::duplex(PIPE_BYTES);
    let (backend_io, mut server) = tokio::io::duplex(PIPE_BYTES);
    let view_only = view_only::ViewOnly {
        limits: rfb::Limits::default(),
        server_init: server_init(),
    };
    let relay = spawn_pump(gateway_io, backend_io, 4 << 20, None, Some(view_only), None);
    let mut browser = WebSocketStream::from_raw_socket(browser_io, Role::Client, None).await;
    // A key press is dropped; a message of no known type cannot be followed.
    let key = vec![4u8, 1, 0, 0, 0, 0, 0, 0x61];
    browser
        .send(Message::Binary(key.into()))
        .await
        .expect("send");
    browser
        .send(Message::Binary(vec![0xee, 0, 0, 0].into()))
        .await
        .expect("send");
    let close = close_frame(&mut browser).await;
    assert_eq!(close.code, CloseCode::Policy);
    assert!(
        close
            .reason
            .starts_with("the viewer sent a message a view-only session cannot follow"),
        "{}",
        close.reason
    );
    let mut got = Vec::new();
    server.read_to_end(&mut got).await.expect("clean end");
    assert!(got.is_empty(), "input reached the server: {got:?}");
    while browser.next().await.is_some() {}
    drop(browser);
    let (_, end, _) = relay.await.expect("joins");
    assert_eq!(end.side(), Some(Side::Client));
}

/// The frames a browser read until a close frame (its code and reason), or until the
/// connection ended or failed without one.
fn read_frames(mut got: &[u8]) -> (usize, Option<(u16, String)>) {
    let mut binary = 0;
    while got.len() >= 2 {
        let (len, at) = match got[1] & 0x7f {
            126 => (usize::from(u16::from_be_bytes([got[2], got[3]])), 4),
            127 => (
                usize::try_from(u64::from_be_bytes(got[2..10].try_into().expect("8 bytes")))
                    .expect("fits"),
                10,
            ),
            n => (usize::from(n), 2),
        };
        let Some(payload) = got.get(at..at + len) else {
            break;
        };
        match got[0] {
            0x82 => binary += len,
            0x88 => {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                let reason = String::from_utf8_lossy(&payload[2..]).into_owned();
                return (binary, Some((code, reason)));
            }
            other => panic!("an unexpected frame {other:#x}"),
        }
        got = &got[at + len..];
    }
    (binary, None)
}

const DESKTOP: usize = 256 * 1024;

/// A relay on real TCP, where a connection closed with unread bytes is reset, and a reset
/// throws away what the gateway had not sent yet: a browser with a small receive buffer, and
/// a VNC server that sends 256 KiB of desktop at once (most of it then waits in the gateway's
/// send buffer) and stays open until the relay ends.
async fn behind_the_desktop(
    max_message: usize,
    killed: Option<crate::sessions::KillWatch>,
) -> (
    tokio::net::TcpStream,
    tokio::task::JoinHandle<(RelayStats, RelayEnd, Metrics)>,
    tokio::task::JoinHandle<()>,
) {
    use tokio::net::TcpSocket;
    let listener = TcpSocket::new_v4().expect("socket");
    listener.set_send_buffer_size(1 << 20).expect("send buffer");
    listener
        .bind("127.0.0.1:0".parse().expect("address"))
        .expect("bind");
    let listener = listener.listen(1).expect("listen");
    let addr = listener.local_addr().expect("address");
    let browser = TcpSocket::new_v4().expect("socket");
    browser
        .set_recv_buffer_size(32 * 1024)
        .expect("receive buffer");
    let (browser, accepted) = tokio::join!(browser.connect(addr), listener.accept());
    let (gateway_io, _) = accepted.expect("accept");
    let (backend_io, mut server) = tokio::io::duplex(PIPE_BYTES);
    let relay = spawn_pump(gateway_io, backend_io, max_message, None, None, killed);
    let server = tokio::spawn(async move {
        server
            .write_all(&pattern(3, DESKTOP))
            .await
            .expect("server writes");
        // Open until the relay ends.
        let mut rest = Vec::new();
        let _ = server.read_to_end(&mut rest).await;
    });
    (browser.expect("connect"), relay, server)
}

/// Reads the browser's side until the gateway's close frame, or the end: the binary bytes
/// before it, and its code and reason.
async fn read_until_close<R: AsyncRead + Unpin>(browser: &mut R) -> (usize, Option<(u16, String)>) {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match browser.read(&mut buf).await {
            Ok(0) | Err(_) => return read_frames(&got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
        if let (binary, Some(close)) = read_frames(&got) {
            return (binary, Some(close));
        }
    }
}

#[tokio::test]
async fn a_refused_message_still_arriving_does_not_cost_the_browser_its_close_frame() {
    // Real TCP, where a connection closed with unread bytes is reset, and a reset throws
    // away what the gateway had not sent yet. A browser that has 256 KiB of the desktop to
    // read starts a message far over the limit and reads only after a pause: the close frame
    // waits behind the desktop's bytes, so the gateway must read (and drop) what the browser
    // still sends until the browser has it.
    let (mut browser, relay, server) = behind_the_desktop(1000, None).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut head = vec![0x82, 0xff];
    head.extend_from_slice(&(64u64 << 20).to_be_bytes());
    head.extend_from_slice(&[1, 2, 3, 4]);
    head.extend_from_slice(&[0x5a; 8192]);
    browser.write_all(&head).await.expect("browser writes");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (binary, close) = read_until_close(&mut browser).await;
    assert_eq!(binary, DESKTOP, "the desktop's bytes before the close");
    let (code, reason) = close.expect("the close frame arrived");
    assert_eq!(code, 1009);
    assert!(reason.contains("max_websocket_message_bytes"), "{reason}");
    drop(browser);
    let (_, end, _) = relay.await.expect("joins");
    assert_eq!(end.side(), Some(Side::Client));
    server.await.expect("server");
}

#[tokio::test]
async fn an_administrators_kill_reaches_a_browser_that_keeps_sending() {
    // Ended while the browser moves its pointer: what it sends is read and dropped until it
    // has the close, which waits behind the desktop's bytes.
    let live = crate::sessions::LiveSessions::new("test".into());
    let client = "127.0.0.1:4000".parse().expect("address");
    let registration = live.register(
        &crate::sessions::tests::route(),
        client,
        crate::admission::Via::WebSocket,
    );
    let (browser, relay, server) = behind_the_desktop(4 << 20, Some(registration.watch())).await;
    let (mut r, mut w) = browser.into_split();
    let pointer = tokio::spawn(async move {
        // A masked binary frame of a PointerEvent (5, 0, 0, 9, 0, 7), every millisecond.
        let mask = [1u8, 2, 3, 4];
        let mut frame = vec![0x82, 0x86];
        frame.extend_from_slice(&mask);
        frame.extend((0..6).map(|i| [5u8, 0, 0, 9, 0, 7][i] ^ mask[i % 4]));
        while w.write_all(&frame).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(live.kill(registration.id(), "admin"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (binary, close) = read_until_close(&mut r).await;
    pointer.abort();
    drop(r);
    assert_eq!(binary, DESKTOP, "the desktop's bytes before the close");
    let (code, reason) = close.expect("the close frame arrived");
    assert_eq!(code, 1008);
    assert_eq!(reason, "ended by an administrator");
    let (_, end, _) = relay.await.expect("joins");
    assert!(matches!(end, RelayEnd::Ended(_)), "{end:?}");
    server.await.expect("server");
}

/// A VNC server that takes nothing stops the relay reading the browser, whose answers to the
/// pings then wait behind its own bytes: after two intervals the VNC server is named as the
/// side that stopped, not the browser (which read everything and answered every ping).
#[tokio::test(start_paused = true)]
async fn a_server_that_takes_nothing_is_named_not_the_browser_behind_it() {
    let Harness {
        browser,
        server,
        relay,
    } = start(Some(Duration::from_secs(30))).await;
    let (mut sink, mut stream) = browser.split();
    let reader = tokio::spawn(async move { while stream.next().await.is_some() {} });
    let writer = tokio::spawn(async move {
        let chunk = Message::Binary(vec![1u8; 16 * 1024].into());
        while sink.send(chunk.clone()).await.is_ok() {}
    });
    let (_, end, _) = relay.await.expect("joins");
    assert!(
        matches!(end, RelayEnd::TargetUnresponsive { after } if after >= Duration::from_secs(60)),
        "{end:?}"
    );
    assert_eq!(end.side(), Some(Side::Target));
    assert_eq!(end.to_string(), "the VNC server took nothing for 60 s");
    writer.abort();
    reader.abort();
    drop(server);
}
