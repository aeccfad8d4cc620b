//! Client certificates (mutual TLS): the CA bundle that issues them (`--client-ca`, root and
//! intermediates) and the CRLs that revoke them (`--crl`), as a rustls client-certificate
//! verifier. The CRLs are re-read when their files change (checked every
//! `cert_poll_interval`) and on SIGHUP; a CRL that cannot be read leaves the previous ones in
//! force, so a bad file never turns revocation off.
//!
//! With CRLs, revocation is checked for the whole chain and a certificate whose issuer has no
//! CRL in the list is refused (rustls's safe default): give the CRL of every CA that issues
//! client certificates. A CRL past its `nextUpdate` is stale: it is logged as an error when
//! read, and the certificates of its CA are refused until a fresh one is in place (as OpenSSL
//! and nginx do) — stale revocation data never stays in force silently.
//!
//! Live connections of certificate holders are verified again after every reload and every
//! [`live_certs::RECHECK_INTERVAL`] (see [`super::live_certs`]), so a revocation also ends
//! the sessions already open.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use super::live_certs::{self, Ended, LiveCerts};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use tokio::sync::mpsc;

/// Whether a TLS client must present a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No certificate, no TLS connection.
    Required,
    /// A certificate is asked for and verified if given; without one the client may still use
    /// a one-time key.
    Optional,
}

impl ClientAuth {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "required" => Some(Self::Required),
            "optional" => Some(Self::Optional),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::Optional => "optional",
        }
    }
}

/// Where the client CA and its CRLs are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCaFiles {
    pub ca: PathBuf,
    pub crls: Vec<PathBuf>,
    pub mode: ClientAuth,
}

/// Why the client CA or a CRL cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ClientCaError {
    #[error("cannot read {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {error}; --client-ca needs the PEM certificates of the CAs that issue client certificates")]
    Pem { path: PathBuf, error: certs::Error },
    #[error("{path}: the certificate {index} cannot be a trust anchor: {error}")]
    Anchor {
        path: PathBuf,
        index: usize,
        error: rustls::Error,
    },
    #[error("{path} holds no CRL (expected PEM `X509 CRL` blocks or one DER CRL); make one with `vncgate certs crl`")]
    NoCrl { path: PathBuf },
    #[error("the client CA or a CRL cannot be used ({files}): {error}")]
    Verifier {
        files: String,
        error: rustls::server::VerifierBuilderError,
    },
}

fn read(path: &Path) -> Result<Vec<u8>, ClientCaError> {
    std::fs::read(path).map_err(|error| ClientCaError::Read {
        path: path.to_owned(),
        error,
    })
}

/// Reads the CA bundle into trust anchors.
pub fn load_roots(path: &Path) -> Result<RootCertStore, ClientCaError> {
    let chain =
        certs::pem::certificates(&path.display().to_string(), &read(path)?).map_err(|error| {
            ClientCaError::Pem {
                path: path.to_owned(),
                error,
            }
        })?;
    let mut roots = RootCertStore::empty();
    for (i, der) in chain.into_iter().enumerate() {
        roots.add(der).map_err(|error| ClientCaError::Anchor {
            path: path.to_owned(),
            index: i + 1,
            error,
        })?;
    }
    Ok(roots)
}

/// When a CRL says the next one is due (its `nextUpdate`), as Unix seconds; `None` when it
/// names none or cannot be read (rustls reports a CRL it cannot read).
pub fn crl_next_update(der: &[u8]) -> Option<i64> {
    use x509_parser::prelude::FromDer;
    let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(der).ok()?;
    crl.next_update().map(|t| t.timestamp())
}

/// Logs every CRL of `path` whose `nextUpdate` has passed.
fn warn_if_stale(path: &Path, crls: &[CertificateRevocationListDer<'_>]) {
    let now = crate::otk::unix_now();
    for crl in crls {
        if let Some(next) = crl_next_update(crl).filter(|&n| n <= now) {
            tracing::error!(
                crl = %path.display(),
                next_update = %crate::audit::rfc3339(std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(next).unwrap_or(0))),
                "the CRL has expired: certificates of its CA are refused until a fresh CRL is in place (vncgate certs crl, then SIGHUP or wait for the file check)"
            );
        }
    }
}

/// Reads one CRL file: PEM blocks, or a single DER CRL.
pub fn load_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, ClientCaError> {
    let bytes = read(path)?;
    let pem: Vec<_> = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .filter_map(Result::ok)
        .collect();
    if !pem.is_empty() {
        return Ok(pem);
    }
    if bytes.first() == Some(&0x30) {
        return Ok(vec![CertificateRevocationListDer::from(bytes)]);
    }
    Err(ClientCaError::NoCrl {
        path: path.to_owned(),
    })
}

fn build(
    files: &ClientCaFiles,
    roots: &Arc<RootCertStore>,
) -> Result<Arc<dyn ClientCertVerifier>, ClientCaError> {
    let mut crls = Vec::new();
    for p in &files.crls {
        let these = load_crls(p)?;
        warn_if_stale(p, &these);
        crls.extend(these);
    }
    let mut builder = WebPkiClientVerifier::builder_with_provider(
        roots.clone(),
        Arc::new(crate::tls::provider()),
    )
    .with_crls(crls)
    .enforce_revocation_expiration();
    if files.mode == ClientAuth::Optional {
        builder = builder.allow_unauthenticated();
    }
    builder.build().map_err(|error| ClientCaError::Verifier {
        files: std::iter::once(&files.ca)
            .chain(&files.crls)
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        error,
    })
}

/// The verifier rustls asks at each handshake; its CRLs can be replaced while running.
/// The CA bundle (and so the names sent in the certificate request) is read once, at start.
pub struct ClientVerifier {
    files: ClientCaFiles,
    roots: Arc<RootCertStore>,
    hints: Vec<DistinguishedName>,
    current: ArcSwap<Arc<dyn ClientCertVerifier>>,
    live: Arc<LiveCerts>,
}

impl std::fmt::Debug for ClientVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientVerifier")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl ClientVerifier {
    /// Reads the CA bundle and the CRLs.
    pub fn load(files: ClientCaFiles) -> Result<Arc<Self>, ClientCaError> {
        let roots = Arc::new(load_roots(&files.ca)?);
        let inner = build(&files, &roots)?;
        Ok(Arc::new(Self {
            hints: roots.subjects(),
            files,
            roots,
            current: ArcSwap::from_pointee(inner),
            live: Arc::default(),
        }))
    }

    /// The live connections of certificate holders, verified again on every reload.
    pub fn live(&self) -> &Arc<LiveCerts> {
        &self.live
    }

    /// Verifies every live connection's certificate again, now; ends those that fail.
    pub fn recheck_live(&self) -> Vec<Ended> {
        self.live
            .recheck(self.inner().as_ref().as_ref(), UnixTime::now())
    }

    pub fn files(&self) -> &ClientCaFiles {
        &self.files
    }

    /// Re-reads the CRLs; on error the ones in force stay.
    pub fn reload(&self) -> Result<(), ClientCaError> {
        let inner = build(&self.files, &self.roots)?;
        self.current.store(Arc::new(inner));
        Ok(())
    }

    fn inner(&self) -> Arc<Arc<dyn ClientCertVerifier>> {
        self.current.load_full()
    }
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.files.mode == ClientAuth::Required
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.inner()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner().supported_verify_schemes()
    }
}

/// Why a client certificate was refused during the handshake (each with its own metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertRefusal {
    Missing,
    Revoked,
    Expired,
    NotYetValid,
    UnknownCa,
    /// Its issuer has no CRL in the configured list.
    UnknownRevocationStatus,
    /// Its issuer's CRL is past its `nextUpdate`.
    CrlExpired,
    /// Not for client authentication, malformed, or otherwise unusable.
    Invalid,
}

impl CertRefusal {
    /// The refusal in a TLS error, if it is one about the client's certificate.
    pub fn of(e: &rustls::Error) -> Option<Self> {
        use CertificateError as C;
        Some(match e {
            rustls::Error::NoCertificatesPresented => Self::Missing,
            rustls::Error::InvalidCertificate(c) => match c {
                C::Revoked => Self::Revoked,
                C::Expired | C::ExpiredContext { .. } => Self::Expired,
                C::NotValidYet | C::NotValidYetContext { .. } => Self::NotYetValid,
                C::UnknownIssuer | C::BadSignature => Self::UnknownCa,
                C::UnknownRevocationStatus => Self::UnknownRevocationStatus,
                C::ExpiredRevocationList | C::ExpiredRevocationListContext { .. } => {
                    Self::CrlExpired
                }
                _ => Self::Invalid,
            },
            _ => return None,
        })
    }

    /// For the log.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Missing => "no client certificate was presented",
            Self::Revoked => "the client certificate is revoked",
            Self::Expired => "the client certificate has expired",
            Self::NotYetValid => "the client certificate is not valid yet",
            Self::UnknownCa => "the client certificate was not issued by the client CA",
            Self::UnknownRevocationStatus => {
                "no CRL covers the client certificate's issuer (add its CRL with --crl)"
            }
            Self::CrlExpired => {
                "the CRL of the client certificate's issuer has expired: the administrator must publish a fresh one"
            }
            Self::Invalid => "the client certificate cannot be used for client authentication",
        }
    }
}

/// Watches the CRL files and reloads the verifier when they change, or when `trigger` fires,
/// until every sender of `trigger` is gone.
pub async fn watch(
    verifier: Arc<ClientVerifier>,
    interval: Duration,
    mut trigger: mpsc::Receiver<()>,
) {
    type Stamp = Option<(SystemTime, u64, u64)>;
    fn stamps(files: &ClientCaFiles) -> Vec<Stamp> {
        use std::os::unix::fs::MetadataExt;
        files
            .crls
            .iter()
            .map(|p| {
                let m = std::fs::metadata(p).ok()?;
                Some((m.modified().ok()?, m.len(), m.ino()))
            })
            .collect()
    }
    let mut seen = stamps(verifier.files());
    let mut last_recheck = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        let force = tokio::select! {
            _ = tick.tick() => false,
            t = trigger.recv() => match t {
                Some(()) => true,
                None => return,
            },
        };
        let v = verifier.clone();
        let now_seen = seen.clone();
        let due = last_recheck.elapsed() >= live_certs::RECHECK_INTERVAL;
        let checked = tokio::task::spawn_blocking(move || {
            let current = stamps(v.files());
            if !force && current == now_seen {
                // Nothing changed; certificates still expire.
                let ended = if due { v.recheck_live() } else { Vec::new() };
                return (current, None, ended);
            }
            let result = v.reload();
            let ended = if result.is_ok() || due {
                v.recheck_live()
            } else {
                Vec::new()
            };
            (current, Some(result), ended)
        })
        .await;
        match checked {
            Ok((current, outcome, ended)) => {
                seen = current;
                if due || matches!(outcome, Some(Ok(()))) {
                    last_recheck = tokio::time::Instant::now();
                }
                match outcome {
                    None => {}
                    Some(Ok(())) => {
                        tracing::info!(crls = verifier.files().crls.len(), "client CRLs reloaded")
                    }
                    Some(Err(e)) => {
                        tracing::error!(error = %e, "client CRLs not reloaded; the previous ones stay in force")
                    }
                }
                for e in ended {
                    tracing::warn!(subject = %e.subject, reason = e.why.describe(), "ending a live connection: its client certificate no longer passes");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "CRL reload task failed");
                return;
            }
        }
    }
}
