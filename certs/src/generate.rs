//! Making keys, certificates, CRLs, requests and PKCS#12 files (feature `generate`).
//!
//! - [`profile`]: what each kind of certificate contains, as rcgen parameters;
//! - [`key`]: P-256 keys, PKCS#8, passphrase encryption;
//! - [`crl`]: the next CRL of a CA;
//! - [`pkcs12`]: `.p12` files for browsers;
//! - [`store`]: the directory `vncgate certs` manages, and every operation on it.
//!
//! [`self_signed_server`] is the one-call certificate the gateway makes for itself on first
//! start when it has no other.

pub mod crl;
pub mod key;
pub mod pkcs12;
pub mod profile;
pub mod store;

use profile::{Profile, San};

use crate::Error;

/// A freshly made certificate and its private key, both PEM.
#[derive(Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

/// A self-signed TLS server certificate (ECDSA P-256) for `names`: each is a DNS name or an
/// IP address. Valid from yesterday for `days` days; the server profile of [`profile`].
pub fn self_signed_server(common_name: &str, names: &[String], days: u32) -> Result<Issued, Error> {
    // Lenient on purpose: the names come from this host (its hostname may hold a '_'), and the
    // gateway must still start; anything rcgen can encode is kept as a DNS name.
    let sans = names
        .iter()
        .map(|n| San::parse(n).unwrap_or_else(|_| San::Dns(n.clone())))
        .collect();
    let profile = Profile::Server {
        common_name: common_name.to_owned(),
        sans,
    };
    let params = profile.params(days, std::time::SystemTime::now())?;
    let key = key::generate()?;
    let cert = params
        .self_signed(&key)
        .map_err(Error::generate("a self-signed server certificate"))?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        cert_der: cert.der().to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_parses_back() {
        let names = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
            "localhost".to_owned(),
        ];
        let issued = self_signed_server("vncgate", &names, 30).expect("generate");
        let certs = crate::pem::certificates("cert", issued.cert_pem.as_bytes()).expect("cert");
        assert_eq!(certs[0].as_ref(), issued.cert_der.as_slice());
        crate::pem::private_key("key", issued.key_pem.as_bytes()).expect("key");
        let info = crate::CertInfo::parse("cert", &issued.cert_der).expect("info");
        assert_eq!(info.kind, crate::Kind::Server);
        assert!(info.self_issued);
        assert_eq!(info.sans, vec!["DNS:localhost", "IP:127.0.0.1", "IP:::1"]);
    }
}
