//! A gateway started in-process on 127.0.0.1:0 with a certificate made for the test, real
//! clients for it (tokio-rustls, raw TCP, tokio-tungstenite) and fake VNC servers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use certs::Fingerprint;
use futures_util::StreamExt;
use gateway::config::{parse_target, AuthMode, Config};
use gateway::tls::{CertFiles, CertStore, Reloader};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::WebSocketStream;

/// What the first bytes from every fake VNC server are.
pub const RFB_VERSION: &[u8] = b"RFB 003.008\n";

/// A folder removed when the test ends.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("vncgate-it-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes a fresh self-signed certificate for localhost/127.0.0.1 into `dir` (renamed into
/// place, as deployment tools do) and returns its fingerprint.
pub fn write_cert(dir: &Path) -> Fingerprint {
    let issued = certs::generate::self_signed_server(
        "vncgate test",
        &["localhost".into(), "127.0.0.1".into()],
        2,
    )
    .expect("generate");
    for (name, data) in [
        ("server.crt", &issued.cert_pem),
        ("server.key", &issued.key_pem),
    ] {
        std::fs::write(dir.join("tmp"), data).expect("write");
        std::fs::rename(dir.join("tmp"), dir.join(name)).expect("rename");
    }
    Fingerprint::of_der(&issued.cert_der)
}

pub fn cert_files(dir: &Path) -> CertFiles {
    CertFiles {
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
        key_passphrase_file: None,
    }
}

/// A gateway running in this process.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub fingerprint: Fingerprint,
    pub dir: TempDir,
    /// Sends "reload the certificate now", as SIGHUP does.
    pub reload: tokio::sync::mpsc::Sender<()>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub served: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// A configuration with no authentication configured. The detection time stays far longer
/// than a test task can be held up between connecting and its first byte on a busy machine
/// (a client that speaks late is taken for a silent native one); the tests with a silent
/// client wait for the close instead.
pub fn config(dir: &Path) -> Config {
    let mut c = Config::new("127.0.0.1:0".parse().expect("addr"), dir.join("state"));
    c.limits.detect_timeout = Duration::from_secs(2);
    c
}

/// Adds target `name` → `addr` and relays without authentication.
pub fn relay_to(c: &mut Config, name: &str, addr: SocketAddr) {
    let (n, a) = parse_target(&format!("{name}={addr}")).expect("target");
    c.targets.insert(n, a);
    c.auth = AuthMode::DangerNone;
}

impl TestGateway {
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = TempDir::new("gw");
        let fingerprint = write_cert(&dir.0);
        let mut cfg = config(&dir.0);
        tweak(&mut cfg);
        let files = cert_files(&dir.0);
        let (_, key) = files.load_certified().expect("test certificate");
        let store = Arc::new(CertStore::new(key));
        let clients = cfg
            .access
            .client_ca
            .clone()
            .map(|f| gateway::auth::client_ca::ClientVerifier::load(f).expect("client CA"));
        if let Some(c) = &clients {
            let (keep, rx) = tokio::sync::mpsc::channel(1);
            // The sender lives as long as the test's runtime: the watcher polls until then.
            std::mem::forget(keep);
            tokio::spawn(gateway::auth::client_ca::watch(
                c.clone(),
                cfg.limits.cert_poll_interval,
                rx,
            ));
        }
        let tls = gateway::tls::TlsServer {
            config: gateway::tls::server_config_with_clients(
                store.clone(),
                clients
                    .clone()
                    .map(|c| c as Arc<dyn rustls::server::danger::ClientCertVerifier>),
            )
            .expect("tls config"),
            certificate: store.clone(),
            clients,
        };
        let (reload, reload_rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(Reloader::new(files, store).run(cfg.limits.cert_poll_interval, reload_rx));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(gateway::serve(listener, cfg, tls, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            fingerprint,
            dir,
            reload,
            stop: Some(stop),
            served,
        }
    }

    /// Starts the graceful shutdown (as SIGTERM does).
    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }

    pub async fn tcp(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.expect("connect")
    }

    /// A TLS connection offering `alpn`; returns it and the certificate the server showed.
    pub async fn tls_over(
        &self,
        tcp: TcpStream,
        alpn: &[&[u8]],
    ) -> std::io::Result<(TlsStream<TcpStream>, Fingerprint)> {
        let verifier = Arc::new(Pinned::default());
        let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
        let name = ServerName::try_from("localhost").expect("name");
        let stream = connector.connect(name, tcp).await?;
        let seen = verifier.seen().expect("the server showed a certificate");
        Ok((stream, seen))
    }

    pub async fn tls(&self) -> TlsStream<TcpStream> {
        let (s, seen) = self
            .tls_over(self.tcp().await, &[b"http/1.1"])
            .await
            .expect("TLS");
        assert_eq!(seen, self.fingerprint, "the test's own certificate");
        s
    }

    /// A WebSocket to `path` from this gateway's own origin.
    pub async fn websocket(
        &self,
        path: &str,
        subprotocol: Option<&str>,
    ) -> Result<WebSocketStream<TlsStream<TcpStream>>, tokio_tungstenite::tungstenite::Error> {
        let mut req = format!("wss://{}{path}", self.addr)
            .into_client_request()
            .expect("request");
        let origin = format!("https://{}", self.addr);
        req.headers_mut()
            .insert("Origin", HeaderValue::from_str(&origin).expect("origin"));
        if let Some(p) = subprotocol {
            req.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_str(p).expect("p"),
            );
        }
        let (ws, _) = tokio_tungstenite::client_async(req, self.tls().await).await?;
        Ok(ws)
    }

    /// A WebSocket to `path` over an already open stream (e.g. TLS with a client certificate).
    pub async fn websocket_over<S>(
        &self,
        stream: S,
        path: &str,
    ) -> Result<WebSocketStream<S>, tokio_tungstenite::tungstenite::Error>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let mut req = format!("wss://{}{path}", self.addr)
            .into_client_request()
            .expect("request");
        let origin = format!("https://{}", self.addr);
        req.headers_mut()
            .insert("Origin", HeaderValue::from_str(&origin).expect("origin"));
        let (ws, _) = tokio_tungstenite::client_async(req, stream).await?;
        Ok(ws)
    }

    /// `/metrics` as text over a connection presenting `name`'s certificate.
    pub async fn metrics_as(&self, pki: &crate::pki::Pki, name: &str) -> String {
        let mut s = crate::pki::tls_as(self.addr, Some(pki.identity(name)), &[b"http/1.1"])
            .await
            .expect("tls");
        let r = http(&mut s, &get(self.addr, "/metrics", "Connection: close\r\n")).await;
        String::from_utf8(r.body).expect("utf-8")
    }

    /// `/metrics` as text (from loopback, which may read it).
    pub async fn metrics(&self) -> String {
        let mut s = self.tls().await;
        let r = http(&mut s, &get(self.addr, "/metrics", "Connection: close\r\n")).await;
        String::from_utf8(r.body).expect("utf-8")
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A response read off the wire.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `request` (a complete HTTP/1.1 request head) and reads one response.
pub async fn http<S>(stream: &mut S, request: &str) -> Response
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send request");
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.expect("read response");
        assert!(
            n > 0,
            "connection closed before a response: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).expect("ascii head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = buf[head_end + 4..].to_vec();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let is_head = request.starts_with("HEAD ");
    while !is_head && status != 304 && body.len() < len {
        let mut chunk = vec![0u8; len - body.len()];
        let n = stream.read(&mut chunk).await.expect("read body");
        assert!(n > 0, "closed inside the body");
        body.extend_from_slice(&chunk[..n]);
    }
    Response {
        status,
        headers,
        body,
    }
}

/// A GET with the usual headers and any extra ones (`"Name: value\r\n"` each).
pub fn get(addr: SocketAddr, path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}\r\n")
}

/// Whether the peer closes `stream` (end of stream or reset) within `within`, reading and
/// discarding anything it sends first.
pub async fn closes_within<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    within: Duration,
) -> bool {
    tokio::time::timeout(within, async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// A fake VNC server: on each connection it sends the RFB version, then echoes everything.
pub async fn echo_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind backend");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                if s.write_all(RFB_VERSION).await.is_err() {
                    return;
                }
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// An address nothing listens on.
pub async fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr")
}

/// The close reason the gateway sent (after any data), or `None` if it just went away.
pub async fn close_reason<S>(ws: &mut WebSocketStream<S>) -> Option<String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| f.reason.to_string()),
            Ok(Some(Ok(_))) => {}
            _ => return None,
        }
    }
}

/// Reads binary messages until `want` bytes arrived.
pub async fn read_binary<S>(ws: &mut WebSocketStream<S>, want: usize) -> Vec<u8>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio_tungstenite::tungstenite::Message;
    let mut got = Vec::new();
    while got.len() < want {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => got.extend_from_slice(&b),
            Ok(Some(Ok(_))) => {}
            other => panic!("expected binary data, got {other:?}"),
        }
    }
    got
}

/// Accepts only certificates it is told about afterwards (the test compares what was seen),
/// checking the handshake signatures for real.
#[derive(Debug, Default)]
pub struct Pinned {
    seen: Mutex<Option<Fingerprint>>,
}

impl Pinned {
    pub fn seen(&self) -> Option<Fingerprint> {
        *self.seen.lock().expect("lock")
    }
}

fn algorithms() -> rustls::crypto::WebPkiSupportedAlgorithms {
    rustls::crypto::ring::default_provider().signature_verification_algorithms
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().expect("lock") = Some(Fingerprint::of_der(end_entity));
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &algorithms())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &algorithms())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        algorithms().supported_schemes()
    }
}
