//! A CA and certificates it issues, made fresh for a test (rcgen).

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// A certificate and its PKCS#8 key, DER.
pub(crate) struct Leaf {
    pub der: Vec<u8>,
    pub key: Vec<u8>,
}

/// A new root CA (DER) and one leaf for each of `names`, issued by it.
pub(crate) fn ca_and_leaves(names: &[&str]) -> (Vec<u8>, Vec<Leaf>) {
    let ca_key = KeyPair::generate().expect("key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let leaves = names
        .iter()
        .map(|name| {
            let key = KeyPair::generate().expect("key");
            let cert = CertificateParams::new(vec![(*name).to_owned()])
                .expect("params")
                .signed_by(&key, &issuer)
                .expect("leaf");
            Leaf {
                der: cert.der().to_vec(),
                key: key.serialize_der(),
            }
        })
        .collect();
    (ca.der().to_vec(), leaves)
}
