//! [`RustlsEngine`]: the built-in [`TlsEngine`], rustls on ring with a verifier that reports
//! why it refused a certificate ([`CertRejection`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::{hex_colon, sha256, CertRejection, TlsEngine, TlsIdentity, TlsTrust};
use crate::error::Error;

/// A rustls client connection with the verifier's observations.
pub struct RustlsEngine {
    conn: rustls::ClientConnection,
    observed: Arc<Mutex<Observed>>,
    time: Arc<InputTime>,
    /// A client certificate is configured (an alert then means it was refused).
    presents_certificate: bool,
}

impl std::fmt::Debug for RustlsEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RustlsEngine")
            .field("handshaking", &self.conn.is_handshaking())
            .finish_non_exhaustive()
    }
}

impl RustlsEngine {
    /// Starts a TLS client for `trust`, presenting `identity` if the server asks; the
    /// ClientHello is ready for [`TlsEngine::transmit`] at once.
    pub fn new(
        trust: &TlsTrust,
        identity: Option<&TlsIdentity>,
        unix_seconds: u64,
    ) -> Result<Self, Error> {
        let time = Arc::new(InputTime::default());
        time.set(unix_seconds);
        let (mut conn, observed) = connect(trust, identity, time.clone())?;
        conn.set_buffer_limit(None);
        Ok(Self {
            conn,
            observed,
            time,
            presents_certificate: identity.is_some(),
        })
    }
}

impl TlsEngine for RustlsEngine {
    fn receive(&mut self, mut ciphertext: &[u8], plaintext: &mut Vec<u8>) -> Result<(), Error> {
        use std::io::Read;
        while !ciphertext.is_empty() {
            let used = self
                .conn
                .read_tls(&mut ciphertext)
                .map_err(|e| Error::Tls {
                    detail: e.to_string(),
                })?;
            // After the peer's close_notify rustls takes nothing more: what follows is dropped.
            if used == 0 {
                break;
            }
            let state = match self.conn.process_new_packets() {
                Ok(state) => state,
                Err(e) => {
                    let observed = self.observed.lock().ok();
                    let why = observed.as_ref().and_then(|o| o.rejection.clone());
                    let leaf = observed
                        .as_ref()
                        .and_then(|o| o.chain.first().cloned())
                        .unwrap_or_default();
                    return Err(match why {
                        Some(why) => Error::CertificateRejected {
                            why,
                            sha256: sha256(&leaf),
                        },
                        None => classify_alert(e, self.presents_certificate),
                    });
                }
            };
            let n = state.plaintext_bytes_to_read();
            if n > 0 {
                let start = plaintext.len();
                plaintext.resize(start + n, 0);
                let got = self
                    .conn
                    .reader()
                    .read(&mut plaintext[start..])
                    .unwrap_or(0);
                plaintext.truncate(start + got);
            }
        }
        Ok(())
    }

    fn send(&mut self, plaintext: &[u8]) {
        use std::io::Write;
        // Without a buffer limit rustls takes everything.
        let _ = self.conn.writer().write_all(plaintext);
    }

    fn transmit(&mut self, wire: &mut Vec<u8>) {
        while self.conn.wants_write() {
            if self.conn.write_tls(wire).is_err() {
                break;
            }
        }
    }

    fn handshake_complete(&self) -> bool {
        !self.conn.is_handshaking()
    }

    fn peer_chain(&self) -> Vec<Vec<u8>> {
        self.conn
            .peer_certificates()
            .unwrap_or_default()
            .iter()
            .map(|c| c.to_vec())
            .collect()
    }

    fn close(&mut self) {
        self.conn.send_close_notify();
    }

    fn set_time(&mut self, unix_seconds: u64) {
        self.time.set(unix_seconds);
    }
}

/// The current time as given by the shell (seconds since the Unix epoch; 0 = not given).
#[derive(Debug, Default)]
struct InputTime(AtomicU64);

impl InputTime {
    pub fn set(&self, unix_seconds: u64) {
        self.0.store(unix_seconds, Ordering::Relaxed);
    }
}

impl rustls::time_provider::TimeProvider for InputTime {
    fn current_time(&self) -> Option<UnixTime> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            s => Some(UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                s,
            ))),
        }
    }
}

/// What the verifier saw: the chain, and the typed reason if it refused it.
#[derive(Debug, Default)]
struct Observed {
    pub chain: Vec<Vec<u8>>,
    pub rejection: Option<CertRejection>,
}

#[derive(Debug)]
struct Verifier {
    trust: Trust,
    provider: Arc<CryptoProvider>,
    observed: Arc<Mutex<Observed>>,
}

#[derive(Debug)]
enum Trust {
    Ca {
        inner: Arc<WebPkiServerVerifier>,
        check_name: bool,
    },
    Pinned([u8; 32]),
    /// Any certificate, for the application to decide on after the handshake.
    AskFirst,
}

fn classify(e: &rustls::Error, expected_name: &str) -> CertRejection {
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                CertRejection::UnknownIssuer
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                CertRejection::Expired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                CertRejection::NotYetValid
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                CertRejection::WrongName {
                    expected: expected_name.to_owned(),
                }
            }
            CertificateError::Revoked => CertRejection::Revoked,
            other => CertRejection::Other(format!("{other:?}")),
        },
        other => CertRejection::Other(other.to_string()),
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.to_vec()];
        chain.extend(intermediates.iter().map(|c| c.to_vec()));
        let result = match &self.trust {
            Trust::Pinned(pin) => {
                if sha256(end_entity) == *pin {
                    Ok(ServerCertVerified::assertion())
                } else {
                    Err((
                        rustls::Error::InvalidCertificate(
                            CertificateError::ApplicationVerificationFailure,
                        ),
                        CertRejection::PinMismatch {
                            pinned: hex_colon(pin),
                        },
                    ))
                }
            }
            Trust::AskFirst => Ok(ServerCertVerified::assertion()),
            Trust::Ca { inner, check_name } => {
                match inner.verify_server_cert(
                    end_entity,
                    intermediates,
                    server_name,
                    ocsp_response,
                    now,
                ) {
                    Ok(v) => Ok(v),
                    Err(rustls::Error::InvalidCertificate(
                        CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. },
                    )) if !check_name => Ok(ServerCertVerified::assertion()),
                    Err(e) => {
                        let why = classify(&e, &server_name.to_str());
                        Err((e, why))
                    }
                }
            }
        };
        if let Ok(mut o) = self.observed.lock() {
            o.chain = chain;
            o.rejection = result.as_ref().err().map(|(_, why)| why.clone());
        }
        result.map_err(|(e, _)| e)
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

/// A name for a server whose real name is unknown; never sent (SNI is off then).
const UNNAMED: &str = "vnc-server.invalid";

/// Starts a TLS client for `trust`. Returns the connection and what its verifier observes.
fn connect(
    trust: &TlsTrust,
    identity: Option<&TlsIdentity>,
    time: Arc<InputTime>,
) -> Result<(rustls::ClientConnection, Arc<Mutex<Observed>>), Error> {
    let tls_err = |detail: String| Error::Tls { detail };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let observed = Arc::new(Mutex::new(Observed::default()));
    let (trust_impl, name) = match trust {
        TlsTrust::Pinned(pin) => (Trust::Pinned(*pin), None),
        TlsTrust::AskFirst => (Trust::AskFirst, None),
        TlsTrust::Ca { roots, server_name } => {
            let mut store = RootCertStore::empty();
            for (i, der) in roots.iter().enumerate() {
                store
                    .add(CertificateDer::from(der.clone()))
                    .map_err(|e| tls_err(format!("CA certificate {} is not usable: {e}", i + 1)))?;
            }
            let inner =
                WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                    .build()
                    .map_err(|e| tls_err(format!("cannot use the CA data: {e}")))?;
            (
                Trust::Ca {
                    inner,
                    check_name: server_name.is_some(),
                },
                server_name.clone(),
            )
        }
    };
    let verifier = Arc::new(Verifier {
        trust: trust_impl,
        provider: provider.clone(),
        observed: observed.clone(),
    });
    let builder = rustls::ClientConfig::builder_with_details(provider, time)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some(id) => {
            let chain = id
                .chain
                .iter()
                .map(|c| CertificateDer::from(c.clone()))
                .collect();
            let key = id.key.clone_key();
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls_err(format!("the client certificate or key is not usable: {e}")))?
        }
    };
    config.enable_sni = name.is_some();
    let server_name = ServerName::try_from(name.unwrap_or_else(|| UNNAMED.to_owned()))
        .map_err(|e| tls_err(format!("invalid server name: {e}")))?;
    let conn = rustls::ClientConnection::new(Arc::new(config), server_name)
        .map_err(|e| tls_err(e.to_string()))?;
    Ok((conn, observed))
}

/// Turns a TLS failure the server signalled into the error a user can act on.
fn classify_alert(e: rustls::Error, presented_certificate: bool) -> Error {
    use rustls::AlertDescription as A;
    match e {
        rustls::Error::AlertReceived(A::CertificateRequired) => Error::ClientCertificateRequired,
        rustls::Error::AlertReceived(A::HandshakeFailure) if !presented_certificate => {
            Error::ClientCertificateRequired
        }
        rustls::Error::AlertReceived(
            a @ (A::BadCertificate
            | A::UnknownCA
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::UnsupportedCertificate
            | A::AccessDenied
            | A::HandshakeFailure),
        ) => Error::ClientCertificateRefused {
            alert: format!("{a:?}"),
        },
        other => Error::Tls {
            detail: other.to_string(),
        },
    }
}
