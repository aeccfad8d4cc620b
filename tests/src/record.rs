//! A recording TCP proxy: captures what a VNC server sends (and what the client sends) so a
//! real session can be replayed through `rfb` in unit tests.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Both directions of one proxied connection.
#[derive(Debug, Default, Clone)]
pub struct Capture {
    pub from_server: Vec<u8>,
    pub from_client: Vec<u8>,
}

pub struct Recorder {
    pub port: u16,
    handle: JoinHandle<anyhow::Result<Capture>>,
}

fn pipe(mut from: TcpStream, mut to: TcpStream, log: Arc<Mutex<Vec<u8>>>) {
    let mut buf = [0u8; 65536];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Ok(mut l) = log.lock() {
                    l.extend_from_slice(&buf[..n]);
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

impl Recorder {
    /// Listens on a free loopback port and proxies one connection to `server_port`.
    pub fn start(server_port: u16) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let handle = std::thread::spawn(move || -> anyhow::Result<Capture> {
            let (client, _) = listener.accept()?;
            let server = TcpStream::connect(("127.0.0.1", server_port))?;
            let (s_log, c_log) = (
                Arc::new(Mutex::new(Vec::new())),
                Arc::new(Mutex::new(Vec::new())),
            );
            let (c2, s2) = (client.try_clone()?, server.try_clone()?);
            let sl = s_log.clone();
            let down = std::thread::spawn(move || pipe(s2, c2, sl));
            pipe(client, server, c_log.clone());
            let _ = down.join();
            let take = |m: &Arc<Mutex<Vec<u8>>>| m.lock().map(|v| v.clone()).unwrap_or_default();
            Ok(Capture {
                from_server: take(&s_log),
                from_client: take(&c_log),
            })
        });
        Ok(Self { port, handle })
    }

    /// Waits for the proxied connection to end and returns what crossed it.
    pub fn finish(self) -> anyhow::Result<Capture> {
        self.handle
            .join()
            .map_err(|_| anyhow::anyhow!("recorder thread panicked"))?
    }
}

/// The encodings a client asked for, read from its SetEncodings message, given the client's
/// bytes of an RFB 3.8 session with security type None.
pub fn requested_encodings(from_client: &[u8]) -> Option<Vec<i32>> {
    // 12 version + 1 security type + 1 ClientInit + 20 SetPixelFormat, then SetEncodings.
    let m = from_client.get(34..)?;
    if *m.first()? != 2 {
        return None;
    }
    let n = usize::from(u16::from_be_bytes([*m.get(2)?, *m.get(3)?]));
    (0..n)
        .map(|i| {
            m.get(4 + 4 * i..8 + 4 * i)
                .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        })
        .collect()
}
