//! A CA and client certificates made per test with the certificate toolkit (test-only).

use std::time::SystemTime;

use certs::fs::Overwrite;
use certs::generate::key::KeyType;
use certs::generate::profile::Profile;
use certs::generate::store::authority::{NewCa, NewCert, Signing};
use certs::generate::store::{Name, Store};

/// Creates the store's root CA if it has none yet.
pub fn ca(store: &Store) {
    if store.cert_path(&Name::root()).exists() {
        return;
    }
    store
        .init_ca(&NewCa {
            common_name: "Test Client CA".into(),
            days: 30,
            path_len: None,
            key_type: KeyType::EcdsaP256,
            passphrase: None,
            overwrite: Overwrite::Refuse,
            now: SystemTime::now(),
        })
        .expect("init CA");
}

/// Issues a client certificate `name` and returns its DER.
pub fn client(store: &Store, name: &str, email: Option<&str>) -> Vec<u8> {
    ca(store);
    let name = Name::parse(name).expect("name");
    store
        .issue(&NewCert {
            name: name.clone(),
            profile: Profile::Client {
                common_name: name.as_str().to_owned(),
                email: email.map(str::to_owned),
            },
            days: 30,
            signing: Signing::Ca {
                name: Name::root(),
                passphrase: None,
            },
            key_type: KeyType::EcdsaP256,
            key_passphrase: None,
            overwrite: Overwrite::Refuse,
            now: SystemTime::now(),
        })
        .expect("issue client");
    store
        .read_chain(&name)
        .expect("chain")
        .first()
        .expect("leaf")
        .to_vec()
}
