//! The scenarios' client side: a plain TCP connection, or a WebSocket in TLS as a browser
//! makes it (ALPN `http/1.1`, subprotocol `binary`, no `Origin`: not a browser) that accepts
//! exactly one certificate, the gateway's self-signed one.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// How long a close handshake may take before the connection is just dropped.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Where a scenario connects.
#[derive(Clone)]
pub enum Endpoint {
    Tcp(SocketAddr),
    Wss {
        addr: SocketAddr,
        url: String,
        tls: TlsConnector,
    },
}

impl Endpoint {
    /// `tcp://ADDR` or `wss://ADDR/PATH` (with the certificate to accept).
    pub fn parse(url: &str, cert: Option<&Path>) -> anyhow::Result<Self> {
        if let Some(addr) = url.strip_prefix("tcp://") {
            return Ok(Self::Tcp(addr.parse().context("tcp://IP:PORT")?));
        }
        let Some(rest) = url.strip_prefix("wss://") else {
            bail!("{url}: expected tcp://… or wss://…");
        };
        let authority = rest.split('/').next().unwrap_or_default();
        let addr = authority.parse().context("wss://IP:PORT/PATH")?;
        let cert = cert.context("wss needs --cert (the gateway's certificate)")?;
        Ok(Self::Wss {
            addr,
            url: url.to_owned(),
            tls: connector(cert)?,
        })
    }

    /// Connects (TCP, then TLS and the WebSocket upgrade for wss). `read_buffer_bytes`: the
    /// WebSocket's read buffer (small for idle sessions, so that 10,000 of them fit here).
    pub async fn connect(&self, read_buffer_bytes: usize) -> anyhow::Result<Conn> {
        match self {
            Self::Tcp(addr) => {
                let sock = TcpStream::connect(addr).await?;
                sock.set_nodelay(true)?;
                Ok(Conn::Tcp(sock))
            }
            Self::Wss { addr, url, tls } => {
                let sock = TcpStream::connect(addr).await?;
                sock.set_nodelay(true)?;
                let ws = upgrade(sock, tls, url, read_buffer_bytes).await?;
                Ok(Conn::Ws(Box::new(ws)))
            }
        }
    }
}

/// TLS on `sock` (to the address it is connected to), then the WebSocket upgrade to `url`
/// with subprotocol `binary`, as a browser makes it.
pub async fn upgrade(
    sock: TcpStream,
    tls: &TlsConnector,
    url: &str,
    read_buffer_bytes: usize,
) -> anyhow::Result<WebSocketStream<TlsStream<TcpStream>>> {
    let name = ServerName::IpAddress(sock.peer_addr()?.ip().into());
    let tls = tls.connect(name, sock).await.context("TLS handshake")?;
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("binary"));
    let config = WebSocketConfig::default().read_buffer_size(read_buffer_bytes);
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, tls, Some(config))
        .await
        .context("WebSocket upgrade")?;
    Ok(ws)
}

/// One open session.
pub enum Conn {
    Tcp(TcpStream),
    Ws(Box<WebSocketStream<TlsStream<TcpStream>>>),
}

impl Conn {
    /// The TLS cipher suite negotiated (wss only).
    pub fn cipher(&self) -> Option<String> {
        match self {
            Self::Tcp(_) => None,
            Self::Ws(ws) => {
                let suite = ws.get_ref().get_ref().1.negotiated_cipher_suite()?;
                Some(format!("{:?}", suite.suite()))
            }
        }
    }

    /// Waits for the next payload and returns its length; `None` at the end of the stream
    /// (TCP end of stream; a WebSocket close frame or end).
    pub async fn recv(&mut self, scratch: &mut [u8]) -> anyhow::Result<Option<usize>> {
        match self {
            Self::Tcp(sock) => {
                let n = sock.read(scratch).await?;
                Ok((n > 0).then_some(n))
            }
            Self::Ws(ws) => loop {
                match ws.next().await {
                    Some(Ok(Message::Binary(data))) => return Ok(Some(data.len())),
                    Some(Ok(Message::Close(_))) | None => return Ok(None),
                    Some(Ok(Message::Text(_))) => bail!("text message from the gateway"),
                    // Pings are answered by tungstenite.
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.into()),
                }
            },
        }
    }

    /// Like [`Conn::recv`], but appends the payload to `out` (for a handshake; the bulk
    /// path only counts bytes). `false` at the end of the stream.
    pub async fn recv_into(&mut self, out: &mut Vec<u8>) -> anyhow::Result<bool> {
        match self {
            Self::Tcp(sock) => {
                let mut buf = [0u8; 16 * 1024];
                let n = sock.read(&mut buf).await?;
                out.extend_from_slice(&buf[..n]);
                Ok(n > 0)
            }
            Self::Ws(ws) => loop {
                match ws.next().await {
                    Some(Ok(Message::Binary(data))) => {
                        out.extend_from_slice(&data);
                        return Ok(true);
                    }
                    Some(Ok(Message::Close(_))) | None => return Ok(false),
                    Some(Ok(Message::Text(_))) => bail!("text message from the gateway"),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.into()),
                }
            },
        }
    }

    pub async fn send(&mut self, data: &[u8]) -> anyhow::Result<()> {
        match self {
            Self::Tcp(sock) => sock.write_all(data).await?,
            Self::Ws(ws) => ws.send(Message::binary(data.to_vec())).await?,
        }
        Ok(())
    }

    /// Ends the session politely (close frame, or TCP shutdown), bounded in time.
    pub async fn close(self) {
        let _ = tokio::time::timeout(CLOSE_WAIT, async move {
            match self {
                Self::Tcp(mut sock) => {
                    let _ = sock.shutdown().await;
                }
                Self::Ws(mut ws) => {
                    // A close frame, flushed.
                    let _ = ws.close().await;
                    while let Some(Ok(_)) = ws.next().await {}
                }
            }
        })
        .await;
    }
}

fn connector(cert: &Path) -> anyhow::Result<TlsConnector> {
    connector_with(cert, None)
}

/// A connector that accepts only `cert` and, with `identity` (certificate chain and key,
/// PEM), presents a client certificate.
pub fn connector_with(
    cert: &Path,
    identity: Option<(&Path, &Path)>,
) -> anyhow::Result<TlsConnector> {
    let pinned = CertificateDer::from_pem_file(cert)
        .with_context(|| format!("{}: no PEM certificate", cert.display()))?;
    let mut provider = rustls::crypto::ring::default_provider();
    // A browser's preference (Chrome and Firefox offer AES-128-GCM first), not ring's
    // (AES-256-GCM first): the gateways then run the cipher they would run for a browser.
    provider
        .cipher_suites
        .sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    let provider = Arc::new(provider);
    let verifier = Arc::new(Pinned {
        cert: pinned,
        provider: provider.clone(),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match identity {
        None => config.with_no_client_auth(),
        Some((chain, key)) => {
            let chain = CertificateDer::pem_file_iter(chain)
                .with_context(|| format!("{}: cannot read", chain.display()))?
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("{}: no PEM certificate", chain.display()))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .with_context(|| format!("{}: no PEM private key", key.display()))?;
            config.with_client_auth_cert(chain, key)?
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Accepts the one certificate given, whatever its name and issuer (a self-signed one on
/// loopback); the handshake signatures are still checked.
#[derive(Debug)]
struct Pinned {
    cert: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
