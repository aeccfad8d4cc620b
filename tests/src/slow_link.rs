//! A slow link in user space: a TCP forwarder on loopback that gives each direction a rate and
//! a one-way delay, as a router with a bounded queue in front of a long, thin line would.
//!
//! This machine's kernel has no `netem`, and Chromium's own throttling leaves WebSockets
//! alone, so the benchmarks put this between the browser and the gateway instead. Each
//! direction is a reader that queues what it reads (at most [`QUEUE_BYTES`]: when the queue is
//! full it stops reading, and TCP's flow control slows the sender) and a writer that lets each
//! piece go once the line would have carried it: it leaves the queue when the line is free,
//! takes `bytes × 8 / rate` on the line, and arrives `delay` later.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;

/// The most read at once: about one packet, so the pacing is as fine as a real line's.
const PIECE_BYTES: usize = 1448;
/// The queue in front of the line, in bytes (as pieces).
pub const QUEUE_BYTES: usize = 64 * 1024;

/// A line's speed and length.
#[derive(Debug, Clone, Copy)]
pub struct Line {
    pub bits_per_second: u64,
    /// One way.
    pub delay: Duration,
}

impl Line {
    /// How long `bytes` take on the line.
    fn serialise(&self, bytes: usize) -> Duration {
        let bits = u64::try_from(bytes).unwrap_or(u64::MAX).saturating_mul(8);
        Duration::from_secs_f64(bits as f64 / self.bits_per_second.max(1) as f64)
    }
}

/// A running forwarder from `127.0.0.1:port` to its target; ends when dropped.
pub struct SlowLink {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl SlowLink {
    /// Listens on a free loopback port and forwards every connection to `to` over `line`.
    pub fn start(to: SocketAddr, line: Line) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("slow link: bind")?;
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        if let Ok(server) = TcpStream::connect(to) {
                            let _ = forward(client, server, line);
                        }
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(Self { port, stop })
    }
}

impl Drop for SlowLink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Both directions of one connection.
fn forward(client: TcpStream, server: TcpStream, line: Line) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    direction(client.try_clone()?, server.try_clone()?, line);
    direction(server, client, line);
    Ok(())
}

/// One direction: a reader queueing pieces with their arrival, a writer releasing them.
fn direction(mut from: TcpStream, to: TcpStream, line: Line) {
    let (tx, rx) = sync_channel::<(Instant, Vec<u8>)>(QUEUE_BYTES / PIECE_BYTES);
    thread::spawn(move || {
        let mut buf = vec![0u8; PIECE_BYTES];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let piece = buf.get(..n).unwrap_or_default().to_vec();
                    if tx.send((Instant::now(), piece)).is_err() {
                        break;
                    }
                }
            }
        }
        // Dropping `tx` tells the writer the stream ended.
    });
    thread::spawn(move || release(rx, to, line));
}

fn release(rx: Receiver<(Instant, Vec<u8>)>, mut to: TcpStream, line: Line) {
    let mut line_free = Instant::now();
    while let Ok((arrived, piece)) = rx.recv() {
        let start = line_free.max(arrived);
        line_free = start + line.serialise(piece.len());
        let due = line_free + line.delay;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        if to.write_all(&piece).is_err() {
            return;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 200 KB over 2 Mbit/s with 50 ms each way: about 0.8 s on the line, and a reply
    /// comes back no sooner than 100 ms.
    #[test]
    fn a_slow_link_takes_the_time_its_rate_and_delay_say() -> anyhow::Result<()> {
        let echo = TcpListener::bind("127.0.0.1:0")?;
        let to = echo.local_addr()?;
        thread::spawn(move || {
            if let Ok((mut s, _)) = echo.accept() {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(buf.get(..n).unwrap_or_default()).is_err() {
                        break;
                    }
                }
            }
        });
        let link = SlowLink::start(
            to,
            Line {
                bits_per_second: 2_000_000,
                delay: Duration::from_millis(50),
            },
        )?;
        let mut c = TcpStream::connect(("127.0.0.1", link.port))?;
        c.set_nodelay(true)?;
        let t0 = Instant::now();
        c.write_all(b"ping")?;
        let mut four = [0u8; 4];
        c.read_exact(&mut four)?;
        let round_trip = t0.elapsed();
        assert!(
            round_trip >= Duration::from_millis(100),
            "round trip {round_trip:?}"
        );
        assert!(
            round_trip < Duration::from_millis(400),
            "round trip {round_trip:?}"
        );

        let data = vec![0x5a; 200_000];
        let writer = {
            let mut c = c.try_clone()?;
            thread::spawn(move || c.write_all(&data))
        };
        let t0 = Instant::now();
        let mut got = vec![0u8; 200_000];
        c.read_exact(&mut got)?;
        let took = t0.elapsed();
        writer.join().expect("writer")?;
        assert!(got.iter().all(|&b| b == 0x5a));
        // 1.6 Mbit each way through two lines in series: at least 0.8 s.
        assert!(took >= Duration::from_millis(800), "took {took:?}");
        assert!(took < Duration::from_secs(4), "took {took:?}");
        Ok(())
    }
}
