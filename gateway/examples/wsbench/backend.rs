//! The VNC-like sources the gateways relay to, and the plain TCP relay they are compared with.
//! Both print their ports on one stdout line and serve until stdin closes (the xtask holds
//! it: when the xtask goes, so do they).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Bytes per write of the `stream` source, and the relay's buffer each way (as vncgate's).
pub const CHUNK_BYTES: usize = 64 * 1024;

/// What a VNC server says first.
pub const GREETING: &[u8; 12] = b"RFB 003.008\n";

/// What the `burst` source sends after the greeting before it falls quiet: enough for a
/// relay to take full-size reads and send full-size messages.
pub const BURST_BYTES: usize = 256 * 1024;

/// How long a finished `stream` connection waits for its client to close.
const LINGER: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
struct Counters {
    /// Bytes the `stream` source has handed to the kernel, over all connections.
    sent: AtomicU64,
    accepted: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Stream { bytes: u64 },
    Rfb { bytes: u64 },
    Echo,
    Idle,
    Burst,
    Stats,
}

/// The desktop the `rfb` source pretends to be.
const RFB_WIDTH: u16 = 1280;
const RFB_HEIGHT: u16 = 800;
/// Rows per Raw rectangle: 1280 × 12 × 4 = 60 KiB of pixels per update.
const RFB_ROWS: u16 = 12;

/// Serves `stream`, `rfb`, `echo`, `idle`, `burst` and `stats` on loopback ports, printed as
/// `ports stream=P rfb=P echo=P idle=P burst=P stats=P`.
pub async fn serve(stream_bytes: u64) -> anyhow::Result<()> {
    let counters = Arc::new(Counters::default());
    let modes = [
        (
            "stream",
            Mode::Stream {
                bytes: stream_bytes,
            },
        ),
        (
            "rfb",
            Mode::Rfb {
                bytes: stream_bytes,
            },
        ),
        ("echo", Mode::Echo),
        ("idle", Mode::Idle),
        ("burst", Mode::Burst),
        ("stats", Mode::Stats),
    ];
    let mut line = String::from("ports");
    for (name, mode) in modes {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        line.push_str(&format!(" {name}={}", listener.local_addr()?.port()));
        tokio::spawn(accept_loop(listener, mode, counters.clone()));
    }
    println!("{line}");
    until_stdin_closes().await;
    Ok(())
}

async fn accept_loop(listener: TcpListener, mode: Mode, counters: Arc<Counters>) {
    loop {
        let sock = match listener.accept().await {
            Ok((sock, _)) => sock,
            Err(e) => {
                // Out of descriptors, most likely: report, breathe, go on.
                eprintln!("backend: accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = sock.set_nodelay(true);
        counters.accepted.fetch_add(1, Ordering::Relaxed);
        let counters = counters.clone();
        tokio::spawn(async move {
            let _ = match mode {
                Mode::Stream { bytes } => stream(sock, bytes, &counters.sent).await,
                Mode::Rfb { bytes } => rfb(sock, bytes, &counters.sent).await,
                Mode::Echo => echo(sock).await,
                Mode::Idle => idle(sock, 0).await,
                Mode::Burst => idle(sock, BURST_BYTES).await,
                Mode::Stats => stats(sock, &counters).await,
            };
        });
    }
}

/// Sends `bytes` in 64 KiB writes, closes its side, and waits for the client to close.
async fn stream(mut sock: TcpStream, bytes: u64, sent: &AtomicU64) -> std::io::Result<()> {
    // A changing pattern, so nothing along the way could get away with sending zeros.
    let chunk: Vec<u8> = (0..CHUNK_BYTES)
        .map(|i| u8::try_from(i % 251).unwrap_or(0))
        .collect();
    let mut left = bytes;
    while left > 0 {
        let take = usize::try_from(left).map_or(CHUNK_BYTES, |l| l.min(CHUNK_BYTES));
        let n = sock.write(&chunk[..take]).await?;
        if n == 0 {
            break;
        }
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        sent.fetch_add(n, Ordering::Relaxed);
        left = left.saturating_sub(n);
    }
    sock.shutdown().await?;
    let _ = tokio::time::timeout(LINGER, drain(&mut sock)).await;
    Ok(())
}

/// An RFB 3.8 server with security None, as a VNC server with a viewer attached: after the
/// handshake it sends about `bytes` of Raw framebuffer updates (whole messages, a changing
/// pattern) as fast as they are taken, closes its side, and waits for the client to close.
/// What the client sends after its ClientInit is read and dropped.
async fn rfb(sock: TcpStream, bytes: u64, sent: &AtomicU64) -> std::io::Result<()> {
    let (mut rd, mut wr) = sock.into_split();
    let mut scratch = [0u8; 12];
    wr.write_all(GREETING).await?;
    rd.read_exact(&mut scratch[..12]).await?;
    wr.write_all(&[1, 1]).await?; // one security type: None
    rd.read_exact(&mut scratch[..1]).await?;
    wr.write_all(&0u32.to_be_bytes()).await?; // SecurityResult: OK
    rd.read_exact(&mut scratch[..1]).await?; // ClientInit
    let name = b"wsbench";
    let mut init = Vec::new();
    init.extend_from_slice(&RFB_WIDTH.to_be_bytes());
    init.extend_from_slice(&RFB_HEIGHT.to_be_bytes());
    // 32 bits per pixel, depth 24, little-endian, true colour, 255 each, shifts 16 8 0.
    init.extend_from_slice(&[32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]);
    init.extend_from_slice(&u32::try_from(name.len()).unwrap_or(0).to_be_bytes());
    init.extend_from_slice(name);
    wr.write_all(&init).await?;
    let prologue = GREETING.len() + 2 + 4 + init.len();
    sent.fetch_add(u64::try_from(prologue).unwrap_or(0), Ordering::Relaxed);
    let reader = tokio::spawn(async move { drain(&mut rd).await });

    let pixels = usize::from(RFB_WIDTH) * usize::from(RFB_ROWS) * 4;
    let pattern: Vec<u8> = (0..pixels + 251)
        .map(|i| u8::try_from(i % 251).unwrap_or(0))
        .collect();
    let mut update = Vec::with_capacity(16 + pixels);
    let mut left = bytes;
    let mut row = 0u16;
    let mut frame = 0usize;
    while left > 0 {
        update.clear();
        update.extend_from_slice(&[0, 0, 0, 1]); // FramebufferUpdate, one rectangle
        for v in [0, row, RFB_WIDTH, RFB_ROWS] {
            update.extend_from_slice(&v.to_be_bytes());
        }
        update.extend_from_slice(&0i32.to_be_bytes()); // Raw
        update.extend_from_slice(&pattern[frame % 251..][..pixels]);
        wr.write_all(&update).await?;
        let n = u64::try_from(update.len()).unwrap_or(u64::MAX);
        sent.fetch_add(n, Ordering::Relaxed);
        left = left.saturating_sub(n);
        row = (row + RFB_ROWS) % (RFB_HEIGHT - RFB_ROWS + 1);
        frame += 1;
    }
    wr.shutdown().await?;
    let _ = tokio::time::timeout(LINGER, reader).await;
    Ok(())
}

async fn echo(mut sock: TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        let n = sock.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        sock.write_all(&buf[..n]).await?;
    }
}

/// The RFB greeting and `burst` more bytes, then silence until the client goes.
async fn idle(mut sock: TcpStream, burst: usize) -> std::io::Result<()> {
    sock.write_all(GREETING).await?;
    sock.write_all(&vec![0x5a; burst]).await?;
    drain(&mut sock).await;
    Ok(())
}

async fn stats(mut sock: TcpStream, counters: &Counters) -> std::io::Result<()> {
    let line = format!(
        "sent={} accepted={}\n",
        counters.sent.load(Ordering::Relaxed),
        counters.accepted.load(Ordering::Relaxed)
    );
    sock.write_all(line.as_bytes()).await?;
    sock.shutdown().await
}

/// Reads and drops until end of stream or an error.
async fn drain<R: AsyncRead + Unpin>(r: &mut R) {
    let mut buf = [0u8; 4096];
    while matches!(r.read(&mut buf).await, Ok(n) if n > 0) {}
}

/// Bytes the backend at `stats` has sent so far.
pub async fn sent_so_far(stats: SocketAddr) -> anyhow::Result<u64> {
    let mut sock = TcpStream::connect(stats).await.context("backend stats")?;
    let mut text = String::new();
    sock.read_to_string(&mut text).await?;
    text.split_whitespace()
        .find_map(|kv| kv.strip_prefix("sent="))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("backend stats: unexpected {text:?}"))
}

/// A plain TCP relay to each of `to`, printed as `ports P…` in the same order.
pub async fn relay(to: &[SocketAddr]) -> anyhow::Result<()> {
    let mut line = String::from("ports");
    for &target in to {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        line.push_str(&format!(" {}", listener.local_addr()?.port()));
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = inbound.set_nodelay(true);
                    let _ = outbound.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional_with_sizes(
                        &mut inbound,
                        &mut outbound,
                        CHUNK_BYTES,
                        CHUNK_BYTES,
                    )
                    .await;
                });
            }
        });
    }
    println!("{line}");
    until_stdin_closes().await;
    Ok(())
}

async fn until_stdin_closes() {
    let _ =
        tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink()))
            .await;
}
