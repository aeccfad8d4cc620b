//! PKCS#12 (`.p12`) files: a key and its certificate chain under one passphrase, as browsers
//! (NSS, Chrome, Firefox), Windows and macOS import a client certificate.
//!
//! Two encryptions:
//! - [`P12Encryption::Modern`] (default): PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC for
//!   keys and certificates, HMAC-SHA256 MAC — what OpenSSL 3 writes by default; NSS 3.x,
//!   current browsers and `openssl pkcs12` read it.
//! - [`P12Encryption::Legacy`]: pbeWithSHAAnd3-KeyTripleDES-CBC and an HMAC-SHA1 MAC, for
//!   importers from before PBES2 support (older Windows and macOS keychains). OpenSSL 3 still
//!   reads it without `-legacy`, since no RC2 is involved.

use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
    PrivateKeyChain,
};
use rustls_pki_types::CertificateDer;

use crate::generate::key::Passphrase;
use crate::{Error, Fingerprint};

/// Iterations of the PKCS#12 key derivations (encryption and MAC).
pub const ITERATIONS: u32 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum P12Encryption {
    #[default]
    Modern,
    Legacy,
}

/// A PKCS#12 file holding `key_pkcs8` with `chain` (leaf first), the key named `alias`.
pub fn build(
    alias: &str,
    key_pkcs8: &[u8],
    chain: &[CertificateDer<'_>],
    passphrase: &Passphrase,
    encryption: P12Encryption,
) -> Result<Vec<u8>, Error> {
    let fail = |detail: String| Error::Encode {
        what: "a PKCS#12 file",
        detail,
    };
    let leaf = chain
        .first()
        .ok_or_else(|| fail("no certificate".to_owned()))?;
    let key = PrivateKey::from_der(key_pkcs8).map_err(|e| fail(e.to_string()))?;
    let certs = chain
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.to_string()))?;
    // The local key ID ties the key bag to the leaf's certificate bag; any bytes unique within
    // the file do, and a fingerprint prefix is what OpenSSL uses too (SHA-1 there).
    let key_id = Fingerprint::of_der(leaf.as_ref()).0[..20].to_vec();
    let mut store = KeyStore::new();
    store.add_entry(
        alias,
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(key_id, key, certs)),
    );
    let (enc, mac) = match encryption {
        P12Encryption::Modern => (
            EncryptionAlgorithm::PbeWithHmacSha256AndAes256,
            MacAlgorithm::HmacSha256,
        ),
        P12Encryption::Legacy => (
            EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc,
            MacAlgorithm::HmacSha1,
        ),
    };
    store
        .writer(passphrase.expose())
        .encryption_algorithm(enc)
        .encryption_iterations(ITERATIONS)
        .mac_algorithm(mac)
        .mac_iterations(ITERATIONS)
        .write()
        .map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::profile::Profile;

    #[test]
    fn reads_back_with_the_passphrase_only() {
        let key = crate::generate::key::generate().expect("key");
        let cert = Profile::Client {
            common_name: "alice".into(),
            email: Some("alice@example.com".into()),
        }
        .params(30, std::time::SystemTime::now())
        .expect("params")
        .self_signed(&key)
        .expect("cert");
        let pass = Passphrase::new("p12 pass").expect("pass");
        for enc in [P12Encryption::Modern, P12Encryption::Legacy] {
            let der = build(
                "alice",
                &key.serialize_der(),
                &[cert.der().clone()],
                &pass,
                enc,
            )
            .expect("build");
            let back =
                KeyStore::from_pkcs12(&der, "p12 pass", p12_keystore::Pkcs12ImportPolicy::Relaxed)
                    .expect("read back");
            let (alias, chain) = back.private_key_chain().expect("key chain");
            assert_eq!(alias, "alice");
            assert_eq!(chain.key().as_der(), key.serialize_der().as_slice());
            assert_eq!(chain.certs()[0].as_der(), cert.der().as_ref());
            assert!(KeyStore::from_pkcs12(
                &der,
                "wrong",
                p12_keystore::Pkcs12ImportPolicy::Relaxed
            )
            .is_err());
        }
        assert!(build("x", &key.serialize_der(), &[], &pass, P12Encryption::Modern).is_err());
    }
}
