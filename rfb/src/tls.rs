//! TLS for VeNCrypt X509 subtypes: rustls's `ClientConnection` is itself sans-io, so it runs
//! inside the core. The server certificate is verified against CA data from the caller, or
//! against a pinned SHA-256 fingerprint of the leaf — never added to any trust store.
//!
//! Time is an input: certificate validity is checked against the time the shell last gave
//! [`crate::Client::set_time`], through [`InputTime`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};

use crate::error::Error;

/// How the server's certificate is trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsTrust {
    /// Verify the chain against these CA certificates (DER). When `server_name` is set the
    /// leaf must also be valid for it; otherwise any name is accepted, because behind a gateway
    /// the viewer does not know the name the server's certificate was made for.
    Ca {
        roots: Vec<Vec<u8>>,
        server_name: Option<String>,
    },
    /// Accept exactly the leaf certificate with this SHA-256 fingerprint.
    Pinned([u8; 32]),
    /// Trust on first use, in one connection: whatever certificate the server presents
    /// completes the TLS handshake (its signature over the handshake is still checked), then
    /// the client pauses — nothing goes into TLS and nothing the server sends is acted on —
    /// until the application has shown the certificate to the person and called
    /// [`crate::Client::trust_certificate`] or [`crate::Client::refuse_certificate`]
    /// ([`crate::Event::CertificateDecision`]). X509 subtypes are chosen with it only when the
    /// server offers nothing else this client can complete. A configured client certificate
    /// (`tls_identity`) would be presented during that handshake, before anyone vouched for
    /// the server: give one only with CA data or a pin.
    AskFirst,
}

impl TlsTrust {
    /// Whether this trust decides only after asking ([`TlsTrust::AskFirst`]).
    pub fn asks_first(&self) -> bool {
        matches!(self, Self::AskFirst)
    }
}

/// A client certificate chain (leaf first, DER) and its private key, presented to servers
/// that verify clients (x11vnc `-sslverify`, QEMU `verify-peer=yes`). `Debug` never shows
/// the key.
pub struct TlsIdentity {
    pub chain: Vec<Vec<u8>>,
    pub key: rustls_pki_types::PrivateKeyDer<'static>,
}

impl Clone for TlsIdentity {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("chain", &self.chain.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Why a certificate was refused, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertRejection {
    /// The chain does not lead to the configured CA.
    UnknownIssuer,
    Expired,
    NotYetValid,
    WrongName {
        expected: String,
    },
    Revoked,
    /// The leaf's fingerprint differs from the pinned one.
    PinMismatch {
        pinned: String,
    },
    Other(String),
}

impl std::fmt::Display for CertRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownIssuer => f.write_str(
                "it was not issued by the CA this link trusts — ask for a link with the right CA, or check that you reached the right server",
            ),
            Self::Expired => f.write_str("it has expired — renew the server's certificate"),
            Self::NotYetValid => f.write_str("it is not valid yet — check the clocks of this computer and the server"),
            Self::WrongName { expected } => write!(f, "it is not valid for the name {expected}"),
            Self::Revoked => f.write_str("it has been revoked"),
            Self::PinMismatch { pinned } => write!(
                f,
                "its fingerprint differs from the pinned {pinned}: the server's certificate changed, or this is not the same server"
            ),
            Self::Other(s) => f.write_str(s),
        }
    }
}

pub fn hex_colon(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn sha256(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// The current time as given by the shell (seconds since the Unix epoch; 0 = not given).
#[derive(Debug, Default)]
pub struct InputTime(AtomicU64);

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
pub struct Observed {
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
pub fn connect(
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
pub fn classify_alert(e: rustls::Error, presented_certificate: bool) -> Error {
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
