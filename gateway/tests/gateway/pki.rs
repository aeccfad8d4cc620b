//! A client CA made per test with the certificate toolkit, and TLS clients that present its
//! certificates.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use certs::fs::Overwrite;
use certs::generate::key::KeyType;
use certs::generate::profile::Profile;
use certs::generate::store::authority::{NewCa, NewCert, Signing};
use certs::generate::store::{Name, Store};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::support::Pinned;

/// A certificate directory with a root CA.
pub struct Pki {
    pub store: Store,
}

impl Pki {
    pub fn new(dir: &Path, cn: &str) -> Self {
        let store = Store::new(dir.to_owned());
        store
            .init_ca(&NewCa {
                common_name: cn.into(),
                days: 30,
                path_len: None,
                key_type: KeyType::EcdsaP256,
                passphrase: None,
                overwrite: Overwrite::Refuse,
                now: SystemTime::now(),
            })
            .expect("init CA");
        Self { store }
    }

    pub fn ca(&self) -> PathBuf {
        self.store.cert_path(&Name::root())
    }

    pub fn crl(&self) -> PathBuf {
        self.store.crl_path(&Name::root())
    }

    /// Issues client certificate `name`, valid from `now` for `days`.
    pub fn client_at(&self, name: &str, email: Option<&str>, now: SystemTime, days: u32) {
        let n = Name::parse(name).expect("name");
        self.store
            .issue(&NewCert {
                name: n.clone(),
                profile: Profile::Client {
                    common_name: name.into(),
                    email: email.map(str::to_owned),
                },
                days,
                signing: Signing::Ca {
                    name: Name::root(),
                    passphrase: None,
                },
                key_type: KeyType::EcdsaP256,
                key_passphrase: None,
                overwrite: Overwrite::Refuse,
                now,
            })
            .expect("issue");
    }

    pub fn client(&self, name: &str, email: Option<&str>) {
        self.client_at(name, email, SystemTime::now(), 30);
    }

    /// A certificate that expired yesterday.
    pub fn expired_client(&self, name: &str) {
        self.client_at(
            name,
            None,
            SystemTime::now() - Duration::from_secs(10 * 86_400),
            5,
        );
    }

    pub fn revoke(&self, name: &str) {
        self.revoke_at(name, 30, SystemTime::now());
    }

    /// Revokes `name` in a CRL issued at `now` whose next update is due `days` later.
    pub fn revoke_at(&self, name: &str, days: u32, now: SystemTime) {
        self.store
            .revoke(&Name::parse(name).expect("name"), None, None, days, now)
            .expect("revoke");
    }

    /// The chain and key of `name`, for a TLS client.
    pub fn identity(&self, name: &str) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let n = Name::parse(name).expect("name");
        let chain = self.store.read_chain(&n).expect("chain");
        let path = self.store.key_path(&n);
        let key = certs::pem::private_key("key", &std::fs::read(path).expect("key")).expect("pem");
        (chain, key)
    }
}

/// A TLS client configuration presenting `identity` if given. It keeps sessions for
/// resumption (rustls's default), so connections made with the same one try to resume.
pub fn client_config(
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    alpn: &[&[u8]],
) -> Arc<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(Pinned::default()));
    let mut cfg = match identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .expect("client identity"),
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(cfg)
}

/// A TLS connection to the gateway at `addr` with `cfg`.
pub async fn tls_with(
    addr: std::net::SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    // With TLS 1.3 the server's verdict on the client certificate arrives after the client's
    // handshake is done: a refused certificate shows as an error on the first read.
    tokio_rustls::TlsConnector::from(cfg)
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
}

/// A TLS connection to the gateway at `addr`, presenting `identity` if given.
pub async fn tls_as(
    addr: std::net::SocketAddr,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    alpn: &[&[u8]],
) -> std::io::Result<TlsStream<TcpStream>> {
    tls_with(addr, client_config(identity, alpn)).await
}
