//! TLS-ALPN-01 (RFC 8737) on the gateway's single port: [`AcmeResolver`] wraps the gateway's
//! certificate resolver. A ClientHello that offers ALPN `acme-tls/1` is the CA's validator: it
//! gets the challenge certificate for its SNI name (or no certificate, which ends the handshake);
//! every other ClientHello goes to the inner resolver untouched.
//!
//! For the validator to accept, the server's ALPN list must contain `acme-tls/1` (so rustls
//! selects it), and the connection must be closed after the handshake: see
//! [`is_acme_tls_alpn`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rcgen::{CertificateParams, CustomExtension, DistinguishedName, KeyPair};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::error::AcmeError;

/// The ALPN protocol of TLS-ALPN-01 validation.
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// The gateway's resolver plus the challenge certificates of validations in progress.
pub struct AcmeResolver {
    inner: Arc<dyn ResolvesServerCert>,
    /// Lower-case domain → the challenge certificate for it.
    challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
}

impl std::fmt::Debug for AcmeResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<String> = self.read().keys().cloned().collect();
        f.debug_struct("AcmeResolver")
            .field("inner", &self.inner)
            .field("challenges", &names)
            .finish()
    }
}

impl AcmeResolver {
    pub fn new(inner: Arc<dyn ResolvesServerCert>) -> Self {
        Self {
            inner,
            challenges: RwLock::new(HashMap::new()),
        }
    }

    /// Serves the RFC 8737 certificate for `domain` to validators until removed.
    /// `digest` is SHA-256 of the key authorization.
    pub fn add_challenge(&self, domain: &str, digest: &[u8]) -> Result<(), AcmeError> {
        let key = challenge_certificate(domain, digest)?;
        self.write()
            .insert(domain.to_ascii_lowercase(), Arc::new(key));
        Ok(())
    }

    pub fn remove_challenge(&self, domain: &str) {
        self.write().remove(&domain.to_ascii_lowercase());
    }

    /// How many challenge certificates are being served.
    pub fn pending(&self) -> usize {
        self.read().len()
    }

    // A panic while holding the lock cannot leave the map half-changed (each change is one
    // insert or remove), so a poisoned lock is still usable.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<CertifiedKey>>> {
        self.challenges.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<CertifiedKey>>> {
        self.challenges.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl ResolvesServerCert for AcmeResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let offers_acme = hello
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN));
        if !offers_acme {
            return self.inner.resolve(hello);
        }
        let name = hello.server_name()?.to_ascii_lowercase();
        let found = self.read().get(&name).cloned();
        if found.is_none() {
            tracing::debug!(%name, "acme-tls/1 ClientHello for a name without a pending challenge");
        }
        found
    }
}

/// Whether a finished handshake was a TLS-ALPN-01 validation: then the gateway closes the
/// connection (RFC 8737 §3: the validator only looks at the certificate).
pub fn is_acme_tls_alpn(connection: &rustls::ServerConnection) -> bool {
    connection.alpn_protocol() == Some(ACME_TLS_ALPN)
}

/// Adds `acme-tls/1` to a server configuration's ALPN list (after the gateway's own).
pub fn offer_acme_alpn(config: &mut rustls::ServerConfig) {
    if !config.alpn_protocols.iter().any(|p| p == ACME_TLS_ALPN) {
        config.alpn_protocols.push(ACME_TLS_ALPN.to_vec());
    }
}

/// A self-signed certificate for `domain` with the critical acmeIdentifier extension
/// (id-pe-acmeIdentifier, 1.3.6.1.5.5.7.1.31) holding `digest` (RFC 8737 §3).
pub fn challenge_certificate(domain: &str, digest: &[u8]) -> Result<CertifiedKey, AcmeError> {
    let fail = |detail: String| AcmeError::ChallengeCertificate {
        domain: domain.to_owned(),
        detail,
    };
    if digest.len() != 32 {
        return Err(fail(format!(
            "the digest has {} bytes, not 32",
            digest.len()
        )));
    }
    let mut params =
        CertificateParams::new(vec![domain.to_owned()]).map_err(|e| fail(e.to_string()))?;
    params.distinguished_name = DistinguishedName::new();
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(digest)];
    let key = KeyPair::generate().map_err(|e| fail(e.to_string()))?;
    let cert = params.self_signed(&key).map_err(|e| fail(e.to_string()))?;
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    // Not `CertifiedKey::from_der`: its consistency check parses the certificate with webpki,
    // which refuses the critical acmeIdentifier extension it does not know.
    let signing_key = crate::tls::provider()
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| fail(e.to_string()))?;
    Ok(CertifiedKey::new(
        vec![CertificateDer::from(cert.der().to_vec())],
        signing_key,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_certificate_carries_the_digest_in_a_critical_extension() {
        let digest = [7u8; 32];
        let key = challenge_certificate("vnc.example.org", &digest).expect("cert");
        let der = key.cert.first().expect("leaf");
        let info = certs::CertInfo::parse("challenge", der).expect("parse");
        assert_eq!(info.sans, ["DNS:vnc.example.org"]);
        // The extension: OID 1.3.6.1.5.5.7.1.31, critical, OCTET STRING(OCTET STRING(digest)).
        let oid = [0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x1f];
        let mut ext = oid.to_vec();
        ext.extend([0x01, 0x01, 0xff, 0x04, 0x22, 0x04, 0x20]);
        ext.extend(digest);
        assert!(der.windows(ext.len()).any(|w| w == ext.as_slice()));
        assert!(challenge_certificate("vnc.example.org", &[0; 31]).is_err());
    }
}
