//! A small blocking WebSocket-over-TLS client for gateway tests that need many clients, each
//! from a loopback source address of its own (a lockout is per address; behind HAProxy the
//! address reaches the gateway in the PROXY header). It trusts any server certificate: what
//! is tested is the gateway's admission and relay, not its certificate.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};

#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// What the gateway did with a WebSocket after its 101.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Relayed: bytes from the VNC server.
    Binary(Vec<u8>),
    /// Closed, with code and reason.
    Close(u16, String),
}

/// One open WebSocket.
pub struct Wss {
    io: StreamOwned<ClientConnection, TcpStream>,
}

/// Opens `wss://to/path` from source address `from` (port chosen by the kernel).
pub fn open(from: IpAddr, to: SocketAddr, path: &str) -> anyhow::Result<Wss> {
    open_as(from, to, path, None)
}

/// A client certificate: its PEM chain and key files.
pub struct ClientCert<'a> {
    pub cert: &'a std::path::Path,
    pub key: &'a std::path::Path,
}

/// [`open`], presenting `client`'s certificate if given.
pub fn open_as(
    from: IpAddr,
    to: SocketAddr,
    path: &str,
    client: Option<ClientCert<'_>>,
) -> anyhow::Result<Wss> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::new(from, 0).into())?;
    socket
        .connect_timeout(&to.into(), Duration::from_secs(5))
        .with_context(|| format!("connecting to {to} from {from}"))?;
    let tcp: TcpStream = socket.into();
    tcp.set_read_timeout(Some(Duration::from_secs(15)))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)));
    let config = match client {
        None => builder.with_no_client_auth(),
        Some(c) => {
            use rustls::pki_types::pem::PemObject;
            let chain = CertificateDer::pem_file_iter(c.cert)
                .with_context(|| format!("reading {}", c.cert.display()))?
                .collect::<Result<Vec<_>, _>>()?;
            let key = rustls::pki_types::PrivateKeyDer::from_pem_file(c.key)
                .with_context(|| format!("reading {}", c.key.display()))?;
            builder.with_client_auth_cert(chain, key)?
        }
    };
    let conn = ClientConnection::new(
        Arc::new(config),
        ServerName::try_from("vncgate")?.to_owned(),
    )?;
    let mut io = StreamOwned::new(conn, tcp);
    write!(
        io,
        "GET {path} HTTP/1.1\r\nHost: {to}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: binary\r\n\r\n"
    )?;
    io.flush()?;
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        io.read_exact(&mut b)
            .context("reading the upgrade answer")?;
        head.push(b[0]);
        if head.len() > 16 * 1024 {
            bail!("the upgrade answer is too long");
        }
    }
    let head = String::from_utf8_lossy(&head);
    if !head.starts_with("HTTP/1.1 101") {
        bail!("no upgrade: {}", head.lines().next().unwrap_or_default());
    }
    Ok(Wss { io })
}

impl Wss {
    /// The next data or close frame (pings and pongs are skipped).
    pub fn next_frame(&mut self) -> anyhow::Result<Frame> {
        loop {
            let mut h = [0u8; 2];
            self.io.read_exact(&mut h).context("reading a frame")?;
            let opcode = h[0] & 0x0f;
            let len = match h[1] & 0x7f {
                126 => {
                    let mut l = [0u8; 2];
                    self.io.read_exact(&mut l)?;
                    u64::from(u16::from_be_bytes(l))
                }
                127 => {
                    let mut l = [0u8; 8];
                    self.io.read_exact(&mut l)?;
                    u64::from_be_bytes(l)
                }
                n => u64::from(n),
            };
            if len > 16 << 20 {
                bail!("a frame of {len} bytes");
            }
            let mut payload = vec![0u8; usize::try_from(len)?];
            self.io.read_exact(&mut payload)?;
            match opcode {
                0x2 | 0x0 => return Ok(Frame::Binary(payload)),
                0x8 => {
                    let code = payload
                        .get(..2)
                        .map_or(1005, |c| u16::from_be_bytes([c[0], c[1]]));
                    let reason = String::from_utf8_lossy(payload.get(2..).unwrap_or_default());
                    return Ok(Frame::Close(code, reason.into_owned()));
                }
                _ => {}
            }
        }
    }

    /// Reads until the gateway closes; the close's reason.
    /// The reason of the gateway's close frame, answered as a browser answers it (its code
    /// echoed).
    pub fn close_reason(&mut self) -> anyhow::Result<String> {
        loop {
            if let Frame::Close(code, reason) = self.next_frame()? {
                let mask = [0x5au8, 0x11, 0xc3, 0x08];
                let mut frame = vec![0x88u8, 0x82];
                frame.extend_from_slice(&mask);
                frame.extend(code.to_be_bytes().iter().zip(mask).map(|(b, m)| b ^ m));
                // The gateway may have gone already: the reason is what counts.
                let _ = self.io.write_all(&frame).and_then(|()| self.io.flush());
                return Ok(reason);
            }
        }
    }

    /// [`Self::close_reason`], failing if no close comes within `within`.
    pub fn close_reason_within(&mut self, within: Duration) -> anyhow::Result<String> {
        self.io.sock.set_read_timeout(Some(within))?;
        let reason = self.close_reason();
        self.io
            .sock
            .set_read_timeout(Some(Duration::from_secs(15)))?;
        reason
    }

    /// Sends `data` in one masked binary frame.
    pub fn send(&mut self, data: &[u8]) -> anyhow::Result<()> {
        let mask = [0x37u8, 0xfa, 0x21, 0x3d];
        let mut frame = vec![0x82u8];
        match data.len() {
            n if n < 126 => frame.push(0x80 | u8::try_from(n)?),
            n => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&u16::try_from(n)?.to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.io.write_all(&frame)?;
        self.io.flush()?;
        Ok(())
    }
}
